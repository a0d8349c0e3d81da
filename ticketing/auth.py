"""Session loading for both kinds of people who sign in (staff users and portal contacts), and the start and end of
a signed-in session.

Sessions live in signed cookies, which the server cannot take back: a copy of the cookie made before sign-out
would otherwise stay valid for the whole cookie lifetime. So every sign-in gets a random session id, sign-out
records that id as revoked in Redis (for as long as a cookie carrying it could still be accepted), and the
loader refuses a revoked id or a session without one.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, current_app, session
from flask_login import login_user, logout_user
from redis.exceptions import RedisError

from ticketing.domain.ids import id_from
from ticketing.extensions import db, login_manager, redis_conn
from ticketing.models import Contact, User

log = logging.getLogger(__name__)
SESSION_ID_KEY = "_sid"


def _revoked_key(session_id: str) -> str:
    return f"session:revoked:{session_id}"


def start_session(principal: User | Contact) -> None:
    """Sign in on a brand-new session: nothing from before carries over (no fixation), and a fresh id."""
    session.clear()
    login_user(principal)
    session[SESSION_ID_KEY] = secrets.token_urlsafe(24)


def end_session() -> None:
    """Sign out, and revoke the session id so that a replayed copy of the old cookie signs nobody in."""
    session_id = session.get(SESSION_ID_KEY)
    if session_id:
        lifetime = int(current_app.permanent_session_lifetime.total_seconds())  # the cookie signature's max age
        try:
            redis_conn().set(_revoked_key(session_id), 1, ex=max(lifetime, 1))
        except RedisError:
            log.exception("could not revoke a session at sign-out (Redis unavailable)")
    logout_user()
    session.clear()


def _session_is_live() -> bool:
    session_id = session.get(SESSION_ID_KEY)
    if not session_id:
        return False  # made by something other than start_session
    try:
        return not redis_conn().exists(_revoked_key(session_id))
    except RedisError:
        # Like the rate limits: a Redis outage must not sign everybody out; revocations apply again once it is back.
        log.warning("could not check session revocation (Redis unavailable)")
        return True


def load_principal(session_id: str) -> User | Contact | None:
    kind, _, raw = session_id.partition(":")
    principal_id = id_from(raw)
    if principal_id is None:
        return None
    model = {"staff": User, "contact": Contact}.get(kind)
    if model is None or not _session_is_live():
        return None
    principal = db.session.get(model, principal_id)
    if isinstance(principal, Contact) and not principal.portal_enabled:
        return None
    return principal


def init_app(app: Flask) -> None:
    login_manager.user_loader(load_principal)
    login_manager.session_protection = "strong"
