"""Issuing, checking and revoking API tokens.

A token reads `bh_<prefix>_<secret>`: the 8-character hex prefix finds the row, the secret is 256 random bits.
Only sha256(token) is stored and compared in constant time. A slow password hash (bcrypt, argon2) protects
low-entropy secrets people choose from offline guessing; a 256-bit random secret cannot be guessed whatever the
hash costs, so a slow hash would only add ~100 ms of CPU to every API request (and make the endpoint a cheap
way to burn CPU) without making a leaked table any less useless to an attacker.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.models import Contact, User
from ticketing.models.api_tokens import ApiToken

SCHEME = "bh"
PREFIX_CHARS = 8
# last_used_at is written at most this often per token (not on every request).
TOUCH_EVERY = timedelta(minutes=1)


class TokenError(ValueError):
    pass


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def split(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed token, else None."""
    scheme, _, rest = token.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != SCHEME or len(prefix) != PREFIX_CHARS or len(secret) < 20 or len(token) > 200:
        return None
    if any(c not in "0123456789abcdef" for c in prefix):
        return None
    return prefix, secret


def issue(
    session: Session,
    *,
    name: str,
    now: datetime,
    user: User | None = None,
    contact: Contact | None = None,
    expires_at: datetime | None = None,
    created_by: User | None = None,
) -> tuple[ApiToken, str]:
    """A new token for exactly one owner; returns the row and the token text (never stored, shown once)."""
    if (user is None) == (contact is None):
        raise TokenError("a token belongs to exactly one staff user or one contact")
    name = " ".join(name.split())[:120]
    if not name:
        raise TokenError("give the token a name")
    if expires_at is not None and expires_at <= now:
        raise TokenError("the expiry must be in the future")
    while True:
        prefix = secrets.token_hex(PREFIX_CHARS // 2)
        if session.scalar(sa.select(ApiToken.id).where(ApiToken.token_prefix == prefix)) is None:
            break
    text = f"{SCHEME}_{prefix}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        name=name,
        token_prefix=prefix,
        token_hash=digest(text),
        user=user,
        contact=contact,
        created_by=created_by,
        created_at=now,
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    return token, text


def is_usable(token: ApiToken, now: datetime) -> bool:
    if token.revoked_at is not None:
        return False
    if token.expires_at is not None and token.expires_at <= now:
        return False
    if token.user is not None:
        return token.user.active
    return token.contact is not None and token.contact.portal_enabled


def authenticate(session: Session, text: str, *, now: datetime) -> ApiToken | None:
    """The live token this text names, or None (unknown, wrong secret, revoked, expired, owner disabled)."""
    parts = split(text)
    if parts is None:
        return None
    token = session.scalar(sa.select(ApiToken).where(ApiToken.token_prefix == parts[0]))
    # Compare even when no row was found, so a miss and a wrong secret take the same time.
    expected = token.token_hash if token is not None else digest("")
    if not hmac.compare_digest(expected, digest(text)) or token is None:
        return None
    return token if is_usable(token, now) else None


def touch(token: ApiToken, now: datetime) -> bool:
    """Stamp last_used_at when it is older than TOUCH_EVERY; True when something changed."""
    if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
        return False
    token.last_used_at = now
    return True


def revoke(token: ApiToken, *, now: datetime) -> bool:
    if token.revoked_at is not None:
        return False
    token.revoked_at = now
    return True
