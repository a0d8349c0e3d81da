"""API tokens (admins only): issue one for a staff user or a portal contact, see when each was last used, revoke.

The token text is shown once, in the flash message after creating it; only its SHA-256 digest is stored.
Wiring (admin/__init__.py or admin/views.add_views):
`admin.add_view(ApiTokenView(ApiToken, db, name="API tokens", endpoint="api_tokens", category="Configuration"))`
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

import sqlalchemy as sa
from flask import flash
from flask_admin.actions import action
from flask_admin.contrib.sqla.fields import QuerySelectField
from flask_admin.form import BaseForm
from markupsafe import Markup
from wtforms import DateTimeLocalField, StringField
from wtforms.validators import DataRequired, Length, Optional

from admin.base import AdminOnlyModelView, me
from ticketing.extensions import db
from ticketing.models import Contact, User, utcnow
from ticketing.models.api_tokens import ApiToken
from ticketing.services import api_tokens


def _active_staff() -> list[User]:
    return list(db.session.scalars(sa.select(User).where(User.active).order_by(User.name)))


def _portal_contacts() -> list[Contact]:
    return list(db.session.scalars(sa.select(Contact).where(Contact.portal_enabled).order_by(Contact.email)))


class NewTokenForm(BaseForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)],
                       description="What uses it, e.g. 'CRM sync' or 'Acme's status page'.")  # fmt: skip
    user = QuerySelectField("Staff user", query_factory=_active_staff, allow_blank=True, blank_text="—",
                            description="The token acts as this user, with the user's role and teams.")  # fmt: skip
    contact = QuerySelectField(
        "Or: portal contact", query_factory=_portal_contacts, allow_blank=True, blank_text="—",
        description="Customer scope: exactly what the contact sees in the portal (the whole customer for a "
        "contact whose portal role is 'customer').",
    )  # fmt: skip
    expires_at = DateTimeLocalField("Expires (UTC, optional)", validators=[Optional()], format="%Y-%m-%dT%H:%M")


def _owner(view: Any, context: Any, model: ApiToken, name: str) -> str:
    if model.user is not None:
        return f"{model.user.name} (staff, {model.user.role.value})"
    if model.contact is not None:
        return f"{model.contact} (customer scope, {model.contact.portal_role.value})"
    return "—"


def _state(view: Any, context: Any, model: ApiToken, name: str) -> str:
    now = utcnow()
    if model.revoked_at is not None:
        return "revoked"
    if model.expires_at is not None and model.expires_at <= now:
        return "expired"
    return "active" if api_tokens.is_usable(model, now) else "owner disabled"


class ApiTokenView(AdminOnlyModelView):
    can_create = True
    can_edit = False
    can_delete = False  # revoke instead: the row keeps who had access, and until when
    column_list = ["name", "token_prefix", "owner", "state", "created_at", "last_used_at", "expires_at",
                   "revoked_at", "created_by"]  # fmt: skip
    column_labels = {"token_prefix": "Prefix", "last_used_at": "Last used"}
    column_default_sort = ("created_at", True)
    column_searchable_list = ["name", "token_prefix"]
    column_filters = ["revoked_at", "expires_at", "last_used_at"]
    column_details_exclude_list = ["token_hash"]
    column_formatters = {"owner": _owner, "state": _state, "token_prefix": lambda v, c, m, n: m.display}
    column_formatters_detail = column_formatters

    def get_create_form(self) -> type[BaseForm]:
        return NewTokenForm

    def create_model(self, form: Any) -> Any:
        expires = form.expires_at.data.replace(tzinfo=UTC) if form.expires_at.data else None
        try:
            token, text = api_tokens.issue(
                db.session, name=form.name.data or "", user=form.user.data, contact=form.contact.data,
                expires_at=expires, created_by=me(), now=utcnow(),
            )  # fmt: skip
            db.session.commit()
        except api_tokens.TokenError as exc:
            db.session.rollback()
            flash(f"No token created: {exc}.", "danger")
            return False
        flash(Markup("Token <strong>{}</strong> created. Copy it now — it is shown only this once:<br>"
                     "<code class='user-select-all'>{}</code>").format(token.name, text), "warning")  # fmt: skip
        return token

    @action("revoke", "Revoke", "Revoke the selected tokens? Programs using them lose access at once.")
    def action_revoke(self, ids: list[str]) -> None:
        now, revoked = utcnow(), 0
        for token in db.session.scalars(sa.select(ApiToken).where(ApiToken.id.in_([int(i) for i in ids]))):
            revoked += api_tokens.revoke(token, now=now)
        db.session.commit()
        flash(f"{revoked} token(s) revoked.", "success")
