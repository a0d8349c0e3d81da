"""Threading tokens: signed ticket tokens for plus-addressed Reply-To, the [#1234] subject token,
and our own unguessable Message-IDs."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

_SUBJECT_TOKEN = re.compile(r"\[#(\d{1,12})\]")
# support+t1234-abcdef0123@example.com: ticket number, then a truncated HMAC of it.
_PLUS_TOKEN = re.compile(r"^[^+@]+\+t(\d{1,12})-([0-9a-f]{10})@", re.IGNORECASE)
_SIG_LEN = 10


def _signature(secret: str, ticket_id: int) -> str:
    digest = hmac.new(secret.encode(), f"ticket:{ticket_id}".encode(), hashlib.sha256).hexdigest()
    return digest[:_SIG_LEN]


def reply_address(support_address: str, ticket_id: int, secret: str) -> str:
    """support@example.com -> support+t1234-<sig>@example.com"""
    local, _, domain = support_address.partition("@")
    return f"{local}+t{ticket_id}-{_signature(secret, ticket_id)}@{domain}"


def ticket_from_address(address: str, secret: str) -> int | None:
    """The ticket a plus-address names, only when its signature is ours (forged tokens are ignored)."""
    match = _PLUS_TOKEN.match(address.strip())
    if not match:
        return None
    ticket_id = int(match.group(1))
    if not hmac.compare_digest(match.group(2).lower(), _signature(secret, ticket_id)):
        return None
    return ticket_id


def subject_token(ticket_id: int) -> str:
    return f"[#{ticket_id}]"


def ticket_from_subject(subject: str) -> int | None:
    match = _SUBJECT_TOKEN.search(subject)
    return int(match.group(1)) if match else None


def subject_with_token(subject: str, ticket_id: int) -> str:
    token = subject_token(ticket_id)
    return subject if token in subject else f"{token} {subject}"


def new_message_id(ticket_id: int, domain: str) -> str:
    """Random part: nobody can guess our ids to forge a thread reference."""
    return f"t{ticket_id}.{secrets.token_hex(12)}@{domain}"
