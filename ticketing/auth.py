"""Session loading for both kinds of people who sign in: staff users and portal contacts."""

from __future__ import annotations

from flask import Flask

from ticketing.extensions import db, login_manager
from ticketing.models import Contact, User


def load_principal(session_id: str) -> User | Contact | None:
    kind, _, raw = session_id.partition(":")
    if not raw.isdigit():
        return None
    model = {"staff": User, "contact": Contact}.get(kind)
    if model is None:
        return None
    principal = db.session.get(model, int(raw))
    if isinstance(principal, Contact) and not principal.portal_enabled:
        return None
    return principal


def init_app(app: Flask) -> None:
    login_manager.user_loader(load_principal)
    login_manager.session_protection = "strong"
