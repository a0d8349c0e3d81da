"""Bearer-token authentication and the per-token rate-limit key.

Only the Authorization header authenticates: a browser's session cookie never does, which is also why the
blueprint can be exempt from CSRF.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Response, current_app, g, request
from flask_limiter.util import get_remote_address

from api.errors import ApiError
from ticketing.extensions import db
from ticketing.models import Contact, User, utcnow
from ticketing.models.api_tokens import ApiToken
from ticketing.services import api_tokens

DEFAULT_RATE_LIMIT = "600 per minute"
# Failed authentications per client address; past it, every request from there gets 429 until the window moves on
# (whatever token it carries), so guessing tokens is throttled as well as hopeless.
DEFAULT_AUTH_FAILURE_LIMIT = "30 per minute"


@dataclass(frozen=True)
class Principal:
    token: ApiToken
    user: User | None
    contact: Contact | None

    @property
    def is_staff(self) -> bool:
        return self.user is not None

    @property
    def actor(self) -> User | Contact:
        owner = self.user or self.contact
        if owner is None:  # a token always has exactly one owner (check constraint)
            raise ApiError(401, "The token has no owner.", code="invalid_token")
        return owner


def _bearer() -> str | None:
    scheme, _, text = request.headers.get("Authorization", "").partition(" ")
    return text.strip() if scheme.lower() == "bearer" and text.strip() else None


def rate_limit_key() -> str:
    """Per token (by its public prefix); requests without a well-formed token share their address's bucket."""
    text = _bearer()
    parts = api_tokens.split(text) if text else None
    return f"api-token:{parts[0]}" if parts else f"api-ip:{get_remote_address()}"


def rate_limit() -> str:
    return str(current_app.config.get("API_RATE_LIMIT") or DEFAULT_RATE_LIMIT)


def auth_failure_limit() -> str:
    return str(current_app.config.get("API_AUTH_FAILURE_LIMIT") or DEFAULT_AUTH_FAILURE_LIMIT)


def is_auth_failure(response: Response) -> bool:
    return response.status_code == 401


def authenticate() -> None:
    """before_request of the blueprint: every endpoint but the OpenAPI document needs a live token."""
    if request.endpoint in {"api.openapi_document", "api.unmatched"} or request.method == "OPTIONS":
        return
    text = _bearer()
    if text is None:
        raise ApiError(401, "Send an API token: Authorization: Bearer <token>.", code="missing_token")
    now = utcnow()
    token = api_tokens.authenticate(db.session, text, now=now)
    if token is None:
        raise ApiError(401, "The token is not valid (unknown, revoked or expired).", code="invalid_token")
    if api_tokens.touch(token, now):
        db.session.commit()  # bookkeeping only, at most once a minute per token
    g.api_principal = Principal(token=token, user=token.user, contact=None if token.user else token.contact)


def principal() -> Principal:
    found = g.get("api_principal")
    if found is None:
        raise ApiError(401, "Send an API token: Authorization: Bearer <token>.", code="missing_token")
    return found


def staff() -> User:
    """The staff user behind the token; 403 for customer tokens."""
    who = principal()
    if who.user is None:
        raise ApiError(403, "This endpoint is for staff tokens.")
    return who.user


def customer() -> Contact:
    """The contact behind a customer token; 403 for staff tokens."""
    who = principal()
    if who.contact is None:
        raise ApiError(403, "This endpoint is for customer tokens.")
    return who.contact
