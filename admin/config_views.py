"""Flask-Admin views of the desk's configuration (admin only): staff, teams, SLA policies and business calendars,
intake forms, routing rules, canned responses, mailboxes, SMS provider, branding. Each form refuses what cannot work
(`ticketing.domain.config_rules`), and deleting a record that is still in use is refused or deactivates it
(`ticketing.services.config_usage`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import flash, request, url_for
from flask_admin.helpers import is_form_submitted
from flask_admin.model.form import InlineFormAdmin
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from wtforms import FileField, PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, StopValidation, ValidationError

from admin.base import AdminOnlyModelView, GuardedDeleteMixin, me
from ticketing.domain import config_rules
from ticketing.domain.business_hours import EXAMPLE, HoursError, format_hours, parse_hours
from ticketing.extensions import db
from ticketing.models import (
    Branding,
    BusinessCalendar,
    Holiday,
    IntakeForm,
    RoutingRule,
    SlaPolicy,
    SlaTarget,
    Team,
    User,
    utcnow,
)
from ticketing.services import config_usage
from ticketing.services.config_usage import Removal


def _trimmed(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def field_rule(check: Callable[[Any], Any]) -> Callable[[Any, Any], None]:
    """A WTForms validator from a domain check: its ConfigError becomes the field's error. Blank values are left to
    the field's own required/optional validators."""

    def validate(form: Any, field: Any) -> None:
        if field.data in (None, ""):
            return
        try:
            check(field.data)
        except config_rules.ConfigError as exc:
            raise ValidationError(str(exc)) from exc

    return validate


def _check_imap_host(form: Any, field: Any) -> None:
    """A host is needed as soon as any IMAP login setting is given (the poller skips host-less mailboxes).
    StopValidation: the Optional validator after this one would clear the error of an empty field."""
    login_given = bool(form.imap_port.data or _trimmed(form.imap_username.data) or form.imap_password.data)
    try:
        config_rules.check_imap_server(field.data, login_given=login_given)
    except config_rules.ConfigError as exc:
        raise StopValidation(str(exc)) from exc


class MailboxView(AdminOnlyModelView):
    column_list = ["name", "address", "imap_host", "imap_security", "team", "active", "last_polled_at", "last_error"]
    form_columns = ["name", "address", "imap_host", "imap_port", "imap_security", "imap_username", "imap_password",
                    "imap_folder", "processed_folder", "team", "active"]  # fmt: skip
    column_exclude_list = ["imap_password"]
    column_details_exclude_list = ["imap_password"]
    form_extra_fields = {"imap_password": PasswordField("IMAP password")}
    form_args = {
        "imap_host": {"filters": [_trimmed], "validators": [_check_imap_host]},
        "imap_port": {"validators": [field_rule(config_rules.check_port)]},
    }
    column_descriptions = {
        "imap_host": "The IMAP server's name, e.g. imap.example.com. Leave it, the port and the username empty for "
        "a mailbox that only receives mail through the HTTP intake.",
    }

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        model.address = model.address.strip().lower()
        if not form.imap_password.data and not is_created:
            # An empty password field means "keep the stored one" (it is never sent back to the browser).
            from sqlalchemy import inspect

            history = inspect(model).attrs.imap_password.history
            if history.deleted:
                model.imap_password = history.deleted[0]


class RoutingRuleView(AdminOnlyModelView):
    """Rules run in position order when a ticket is created; every condition given must match."""

    column_list = ["position", "name", "active", "stop_processing", "set_team", "set_priority", "auto_assign"]
    column_default_sort = ("position", False)
    form_columns = ["position", "name", "active", "stop_processing", "form", "category", "tag", "mailbox",
                    "customer_tier", "source", "keywords", "set_team", "set_priority", "set_category", "tags_to_add",
                    "auto_assign"]  # fmt: skip
    # Flask-Admin builds only the form_columns when they are given: an extra field must be named there too.
    form_extra_fields = {"tags_to_add": StringField("Add tags (comma-separated)")}
    column_descriptions = {"keywords": "Comma-separated; any one matching the subject or first message (whole words)."}

    def on_form_prefill(self, form: Any, id: Any) -> None:  # noqa: A002 - Flask-Admin's signature
        rule = db.session.get(RoutingRule, int(id))
        if rule is not None:
            form.tags_to_add.data = ", ".join(rule.add_tags or [])

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        from ticketing.services.tickets import normalise_tags

        model.add_tags = normalise_tags((form.tags_to_add.data or "").split(",")) or None


class SmsProviderView(AdminOnlyModelView):
    column_list = ["name", "base_url", "from_number", "active"]
    column_exclude_list = ["auth_token"]
    column_details_exclude_list = ["auth_token"]


class IntakeFormView(GuardedDeleteMixin, AdminOnlyModelView):
    """Intake forms: fields as JSON (validated), what submissions become, where the form may be embedded."""

    column_list = ["name", "slug", "public", "active", "team", "category", "priority"]
    form_columns = ["name", "slug", "description", "fields", "category", "team", "priority", "tags", "public",
                    "allowed_origins", "active"]  # fmt: skip
    form_widget_args = {"fields": {"rows": 16, "style": "font-family: monospace"}}
    column_descriptions = {
        "fields": 'A list like [{"name": "steps", "label": "Steps", "type": "long_text", "required": true}]; types: '
        "text, long_text, email, select, multi_select, checkbox, number, date, file (select types need options).",
        "allowed_origins": "Sites that may embed the form, space-separated, e.g. https://www.example.com",
        "slug": "Its web address: lowercase letters, digits and hyphens, e.g. billing-question.",
    }
    # Trimmed and lowercased before the uniqueness check, which compared the typed text with the stored slugs.
    form_args = {
        "slug": {
            "filters": [lambda v: v.strip().lower() if isinstance(v, str) else v],
            "validators": [field_rule(config_rules.normalise_slug)],
        }
    }
    column_formatters_detail = {
        "slug": lambda v, c, m, n: Markup(
            "{slug}<br><small>Public page: <a href='{page}'>{page}</a></small><br><small>Embed:</small>"
            '<pre>&lt;iframe src="{embed}" title="{name}" style="width:100%;height:900px;border:0"'
            "&gt;&lt;/iframe&gt;</pre>"
        ).format(
            slug=m.slug,
            page=url_for("portal.intake_form", slug=m.slug, _external=True),
            embed=url_for("portal.intake_form_embed", slug=m.slug, _external=True),
            name=m.name,
        )
    }
    can_view_details = True

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        from ticketing.domain.form_fields import FormDefinitionError, parse_fields

        try:
            parse_fields(model.fields or [])
        except FormDefinitionError as exc:
            raise ValidationError(str(exc)) from exc

    def removal(self, model: IntakeForm) -> Removal:
        return config_usage.intake_form_removal(db.session, model)


class BrandingView(AdminOnlyModelView):
    """Name, colour, support address and logo on every portal page and customer email."""

    can_delete = False
    column_list = ["product_name", "primary_color", "support_address", "updated_at"]
    form_columns = ["product_name", "primary_color", "support_address", "logo"]
    form_extra_fields = {"logo": FileField("Logo (PNG, JPEG, WebP or GIF, up to 512 KB)")}

    @property
    def can_create(self) -> bool:  # type: ignore[override]
        return db.session.scalar(sa.select(sa.func.count()).select_from(Branding)) == 0

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        from ticketing.extensions import attachment_store
        from ticketing.services import branding

        try:
            model.primary_color = branding.validate_colour(model.primary_color or "")
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        upload = request.files.get(form.logo.name)
        if upload and upload.filename:
            data = upload.read(branding.LOGO_MAX_BYTES + 1)
            if upload.mimetype not in branding.LOGO_TYPES or len(data) > branding.LOGO_MAX_BYTES:
                raise ValidationError("The logo must be a PNG, JPEG, WebP or GIF of at most 512 KB.")
            model.logo_key = attachment_store().put(data)
            model.logo_content_type = upload.mimetype
        model.updated_at = utcnow()


class UserView(GuardedDeleteMixin, AdminOnlyModelView):
    column_list = ["name", "email", "role", "teams", "active", "away"]
    column_details_exclude_list = ["password_hash"]
    column_searchable_list = ["name", "email"]
    form_columns = ["name", "email", "role", "teams", "active", "away", "new_password"]
    form_extra_fields = {"new_password": PasswordField("New password")}

    def on_model_change(self, form: Any, model: User, is_created: bool) -> None:
        model.email = model.email.strip().lower()
        if form.new_password.data:
            model.set_password(form.new_password.data)

    def removal(self, model: User) -> Removal:
        return config_usage.staff_removal(db.session, model, by=me())


def _one_default_policy(form: Any, field: Any) -> None:
    """No tier makes the policy the default; a second default was saved, and the clock picked either.
    StopValidation: the Optional validator after this one would clear the error of an empty field."""
    if field.data:
        return
    editing = getattr(form, "_obj", None)
    try:
        config_usage.check_single_default(db.session, editing.id if editing is not None else None)
    except config_rules.ConfigError as exc:
        raise StopValidation(str(exc)) from exc


class SlaPolicyView(GuardedDeleteMixin, AdminOnlyModelView):
    column_list = ["name", "tier", "calendar"]
    form_columns = ["name", "tier", "calendar"]
    column_descriptions = {"tier": "Leave empty for the default policy: customers whose tier has no policy of its "
                                   "own. There is one default."}  # fmt: skip
    form_args = {"tier": {"validators": [_one_default_policy]}}
    inline_models = [
        InlineFormAdmin(SlaTarget, form_columns=["id", "priority", "first_response_minutes", "resolution_minutes"])
    ]

    def removal(self, model: SlaPolicy) -> Removal:
        return config_usage.sla_policy_removal(db.session, model)


# How PostgreSQL and SQLite name the one-holiday-per-day constraint in their errors.
HOLIDAY_CONSTRAINT_MARKS = ("uq_holiday_calendar_day", "holiday.calendar_id, holiday.day")


class CalendarView(AdminOnlyModelView):
    """Working hours typed as lines ("Mon-Fri 09:00-17:00"); the form had none, so a calendar made here had no
    working time, and every ticket whose SLA policy used it failed to open."""

    column_list = ["name", "timezone", "hours", "always_open", "holiday_country"]
    column_labels = {"hours": "Working hours"}
    column_formatters = {"hours": lambda v, c, m, n: format_hours(m.hours) or "—"}
    column_formatters_detail = column_formatters
    form_columns = ["name", "timezone", "always_open", "working_hours", "holiday_country"]
    form_extra_fields = {
        "working_hours": TextAreaField(
            "Working hours",
            description=f"One line per day or days, local time, e.g. {EXAMPLE}; Sat 10:00-13:00, 14:00-16:00. "
            "Not needed when the calendar is always open.",
            render_kw={"rows": 4},
        )
    }
    inline_models = [(Holiday, {"form_columns": ["id", "day", "name"]})]

    def validate_form(self, form: Any) -> bool:
        valid = super().validate_form(form)
        holidays = getattr(form, "holidays", None)  # the delete and action forms have none
        if holidays is None or not is_form_submitted():
            return bool(valid)
        return _no_repeated_holidays(holidays) and bool(valid)

    def on_form_prefill(self, form: Any, id: Any) -> None:  # noqa: A002 - Flask-Admin's signature
        calendar = db.session.get(BusinessCalendar, int(id))
        if calendar is not None:
            form.working_hours.data = format_hours(calendar.hours)

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        from ticketing.domain.sla_clock import WorkingCalendar

        try:
            WorkingCalendar(tz=model.timezone or "", hours={})  # the clock's own check of the zone
        except ValueError as exc:
            raise ValidationError(f"Unknown time zone {model.timezone!r}: use a name such as Europe/London.") from exc
        try:
            model.hours = parse_hours(form.working_hours.data or "")
        except HoursError as exc:
            raise ValidationError(f"Working hours: {exc}") from exc
        if not model.hours and not model.always_open:
            raise ValidationError(f"Give the working hours (e.g. {EXAMPLE}) or tick Always open.")
        _keep_readded_holidays(model)

    def handle_view_exception(self, exc: Exception) -> bool:
        # What the form cannot see: a holiday another admin saved meanwhile, or two rows whose days were swapped.
        if isinstance(exc, IntegrityError) and any(m in str(exc.orig) for m in HOLIDAY_CONSTRAINT_MARKS):
            flash("Nothing was saved: two holidays of this calendar would have been on the same day (another admin "
                  "may have added one meanwhile, or two rows swapped days). Reload the calendar and save the "
                  "changes one at a time.", "error")  # fmt: skip
            return True
        return bool(super().handle_view_exception(exc))


def _keep_readded_holidays(calendar: BusinessCalendar) -> None:
    """A holiday removed and added again in one save keeps its stored row, renamed: the unit of work inserts before
    it deletes, so the new row met the old one in the one-holiday-per-day constraint."""
    removed = {h.day: h for h in db.session.deleted if isinstance(h, Holiday) and h.calendar_id == calendar.id}
    for row in [h for h in calendar.holidays if h.id is None and h.day in removed]:
        stored = removed.pop(row.day)
        stored.name = row.name
        db.session.add(stored)  # no longer to be deleted
        calendar.holidays.remove(row)  # a pending orphan: dropped, never inserted


def _no_repeated_holidays(holidays: Any) -> bool:
    """A day listed twice is an error on each of its rows; it reached the unique constraint (an IntegrityError)."""
    kept = [row for row in holidays.entries if not holidays.should_delete(row)]
    repeated = config_rules.duplicate_days(row.form.day.data for row in kept)
    for row in kept:
        day = row.form.day.data
        if day in repeated:
            message = f"{day:%d %b %Y} is listed more than once: a calendar has one holiday per day."
            row.form.day.errors = [*row.form.day.errors, message]
    return not repeated


class TeamView(GuardedDeleteMixin, AdminOnlyModelView):
    def removal(self, model: Team) -> Removal:
        return config_usage.team_removal(db.session, model)


class CannedResponseView(AdminOnlyModelView):
    form_args = {
        "title": {"filters": [_trimmed], "validators": [DataRequired("Give the response a title: agents pick it by "
                                                                     "its title."), Length(max=120)]},
        "body": {"validators": [DataRequired("Write the text of the response.")]},
    }  # fmt: skip
