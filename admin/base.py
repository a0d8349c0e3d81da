"""Access gates shared by every agent screen: staff only, some areas only for some roles."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from enum import Enum
from typing import Any

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView, expose
from flask_admin import form as admin_form
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla import filters as sqla_filters
from flask_admin.contrib.sqla.filters import FilterConverter
from flask_admin.contrib.sqla.form import AdminModelConverter
from flask_admin.model import filters, typefmt
from flask_admin.model.form import converts
from flask_login import current_user
from werkzeug.exceptions import Forbidden
from wtforms import validators

from ticketing.domain.ids import id_from
from ticketing.domain.vocab import StaffRole
from ticketing.extensions import db
from ticketing.redirects import has_control_characters
from ticketing.services.config_usage import Removal, Verdict

# Where a screen sends you back to afterwards (Flask-Admin's ?url=, the queues' back=, sign-in's next=).
RETURN_ADDRESS_PARAMS = ("url", "back", "next")


def staff_role() -> StaffRole | None:
    if not current_user.is_authenticated or not getattr(current_user, "is_staff", False):
        return None
    return current_user.role


class GatedMixin:
    """Staff only; `roles` narrows a view further (admins configure, managers report)."""

    roles: frozenset[StaffRole] = frozenset(StaffRole)

    def is_accessible(self) -> bool:
        role = staff_role()
        return role is not None and role in self.roles

    def _handle_view(self, name: str, **kwargs: Any) -> Any:
        # A return address with a CR/LF would reach the Location header and fail there (a 500): refuse it up front.
        if any(has_control_characters(v) for p in RETURN_ADDRESS_PARAMS for v in request.values.getlist(p)):
            abort(400, "That return address is not valid.")
        return super()._handle_view(name, **kwargs)  # type: ignore[misc]

    def inaccessible_callback(self, name: str, **kwargs: Any) -> Any:
        if staff_role() is None:
            return redirect(url_for("agent_auth.login", next=request.full_path.removesuffix("?")))  # "/admin/?"
        raise Forbidden("Your role does not give access to this screen.")


class StaffIndexView(GatedMixin, AdminIndexView):
    @expose("/")
    def index(self) -> Any:
        return redirect(url_for("queues.index"))  # agents start in their queues


class StaffView(GatedMixin, BaseView):
    pass


class _MemberOnly:
    """A value that names no member of the enum is an invalid filter value, like a bad date: Flask-Admin then
    flashes "Invalid Filter Value" and ignores the filter. Its enum filters look members up with
    `enum_class[value]`, and the KeyError of an unknown name (?flt0_0=unconfirmed) escaped as a 500."""

    def clean(self, value: Any) -> Any:
        try:
            return super().clean(value)  # type: ignore[misc]
        except KeyError as missing:
            raise ValueError(f"not a member: {value!r}") from missing


class EnumEqualFilter(_MemberOnly, sqla_filters.EnumEqualFilter):
    pass


class EnumNotEqualFilter(_MemberOnly, sqla_filters.EnumFilterNotEqual):
    pass


class EnumInListFilter(_MemberOnly, sqla_filters.EnumFilterInList):
    pass


class EnumNotInListFilter(_MemberOnly, sqla_filters.EnumFilterNotInList):
    pass


def _as_utc(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, list | tuple):
        return type(value)(_as_utc(v) for v in value)
    return value


class _UtcValue:
    """A date-time filter's value is UTC, like the column (the form's value has no zone): a naive one was refused
    by UTCDateTime, and every date filter answered 500."""

    def clean(self, value: Any) -> Any:
        return _as_utc(super().clean(value))  # type: ignore[misc]


_UTC_DATETIME_FILTERS = tuple(
    type(f"Utc{cls.__name__}", (_UtcValue, cls), {}) for cls in FilterConverter.datetime_filters
)


class TicketingFilterConverter(FilterConverter):
    """Our UTCDateTime columns filter like any datetime column; enum filters refuse non-members as invalid."""

    enum = (
        EnumEqualFilter,
        EnumNotEqualFilter,
        sqla_filters.EnumFilterEmpty,
        EnumInListFilter,
        EnumNotInListFilter,
    )

    @filters.convert("utcdatetime")
    def conv_utc_datetime(self, column: Any, name: str, **kwargs: Any) -> Any:
        return [flt(column, name, **kwargs) for flt in _UTC_DATETIME_FILTERS]

    @filters.convert("enum")
    def conv_enum(self, column: Any, name: str, options: Any = None, **kwargs: Any) -> Any:
        # The filters look a value up by member name; Flask-Admin offered the stored values ("open"), so picking
        # one from the list answered "Invalid Filter Value". Offer the names, shown by their labels ("Open").
        members = getattr(column.type, "enum_class", None)
        if not options and members is not None:
            options = [(member.name, str(getattr(member, "label", member.name))) for member in members]
        return super().conv_enum(column, name, options, **kwargs)


class TicketingModelConverter(AdminModelConverter):
    """Form fields for our enums (stored by value, models.base.str_enum): the values to choose from, shown by their
    labels, with the stored member chosen. Flask-Admin compared the stored member's name (PREMIUM) with the values
    (premium), so every edit page showed the first choice, and saving the form unchanged overwrote the record."""

    @converts("sqlalchemy.sql.sqltypes.Enum")
    def convert_enum(self, column: Any, field_args: Any, **extra: Any) -> Any:
        members = getattr(column.type, "enum_class", None)
        if members is None:
            return super().convert_enum(column, field_args, **extra)
        choices = [(m.value, str(getattr(m, "label", m.value))) for m in members]
        accepted: list[Any] = [value for value, _label in choices]
        if column.nullable:
            field_args["allow_blank"] = True
            accepted.append(None)
        self._nullable_common(column, field_args)
        field_args["choices"] = choices
        field_args["validators"].append(validators.AnyOf(accepted))
        field_args["coerce"] = lambda v: v.value if isinstance(v, Enum) else v if v is None else str(v)
        return admin_form.Select2Field(**field_args)


def _label(view: Any, value: Enum, name: str) -> str:
    return str(getattr(value, "label", value.name))


def _when(view: Any, value: datetime, name: str) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC")


# Enum labels ("In Progress", not IN_PROGRESS) and minute-precision times in lists and detail pages.
TYPE_FORMATTERS = {Enum: _label, datetime: _when, **typefmt.BASE_FORMATTERS}
DETAIL_TYPE_FORMATTERS = {Enum: _label, datetime: _when, **typefmt.DETAIL_FORMATTERS}


class StaffModelView(GatedMixin, ModelView):
    page_size = 50
    model_form_converter = TicketingModelConverter
    column_type_formatters = TYPE_FORMATTERS
    column_type_formatters_detail = DETAIL_TYPE_FORMATTERS
    filter_converter = TicketingFilterConverter()
    can_view_details = True

    @action("delete", "Delete", "Are you sure you want to delete selected records?")
    def action_delete(self, ids: tuple[str, ...]) -> None:
        # The list's checkboxes post ids as text, and Flask-Admin looks them up as text: PostgreSQL refused
        # "integer = character varying", so the Delete action of every list answered 500 there.
        super().action_delete(row_ids(self.model, ids))


def row_ids(model: Any, ids: Sequence[str]) -> tuple[Any, ...]:
    """A list's selected ids in the type of the model's primary key (integer keys: digits only)."""
    keys = sa.inspect(model).primary_key
    if len(keys) == 1 and keys[0].type.python_type is int:
        return tuple(found for i in ids if (found := id_from(i)) is not None)
    return tuple(ids)


class GuardedDeleteMixin:
    """Delete asks the services first (`removal`): a record still in use is deactivated instead, or kept, and the
    admin is told which records use it. Flask-Admin deleted it, leaving rows pointing at nothing on SQLite, a raw
    IntegrityError on PostgreSQL, or silently cascading to rows that mattered."""

    def removal(self, model: Any) -> Removal:
        """What deleting `model` may do; each view using the mixin answers with its config_usage function."""
        raise NotImplementedError  # a view with the mixin and no removal of its own is a programming error

    def delete_model(self, model: Any) -> bool:
        outcome = self.removal(model)
        if outcome.verdict is Verdict.DELETE:
            return super().delete_model(model)  # type: ignore[misc, no-any-return]
        if outcome.verdict is Verdict.REFUSE:
            db.session.rollback()
            flash(outcome.message, "error")
        else:
            db.session.commit()
            flash(outcome.message, "warning")
        return False


class RoleLimitedMixin:
    """Every staff role may look (`roles`); fewer may change: `edit_roles` create and edit, `delete_roles` delete.
    An agent could delete a customer (its tickets then pointed at nothing), raise its tier (and so its SLA) or
    delete a colleague's logged time."""

    edit_roles: frozenset[StaffRole] = frozenset(StaffRole)
    delete_roles: frozenset[StaffRole] = frozenset({StaffRole.ADMIN})

    @property
    def can_create(self) -> bool:
        return staff_role() in self.edit_roles

    @property
    def can_edit(self) -> bool:
        return staff_role() in self.edit_roles

    @property
    def can_delete(self) -> bool:
        return staff_role() in self.delete_roles


class AdminOnlyModelView(StaffModelView):
    roles = frozenset({StaffRole.ADMIN})


class ManagerModelView(StaffModelView):
    roles = frozenset({StaffRole.MANAGER, StaffRole.ADMIN})


def me() -> Any:
    """The signed-in staff user itself (services compare types; a proxy is not the object)."""
    return current_user._get_current_object()
