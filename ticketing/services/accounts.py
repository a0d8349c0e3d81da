"""Portal accounts: password sign-in, and single-use, expiring invitation and reset links."""

from __future__ import annotations

import hashlib
from datetime import datetime

import sqlalchemy as sa
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from ticketing import events
from ticketing.models import Contact, OutboundKind, OutboundMessage
from ticketing.services.enrichment import normalise_email
from ticketing.services.mail_outbound import one_line
from ticketing.services.mail_policy import MailPolicy
from ticketing.services.mail_render import render

MIN_PASSWORD_LENGTH = 10
INVITE_MAX_AGE = 7 * 24 * 3600
RESET_MAX_AGE = 2 * 3600
# Checked when the email is unknown, so "unknown" and "wrong password" take the same time.
_DUMMY_HASH = generate_password_hash("not-a-real-password")


def authenticate(session: Session, email: str, password: str) -> Contact | None:
    contact = session.scalar(sa.select(Contact).where(Contact.email == normalise_email(email)))
    if contact is None or not contact.password_hash or not contact.portal_enabled:
        check_password_hash(_DUMMY_HASH, password)
        return None
    return contact if contact.check_password(password) else None


def _fingerprint(contact: Contact) -> str:
    # Changes when the password does: a used link (which sets a password) stops working.
    return hashlib.sha256((contact.password_hash or "none").encode()).hexdigest()[:16]


def _serializer(secret: str, purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret, salt=f"portal-{purpose}")


def make_token(contact: Contact, purpose: str, secret: str) -> str:
    return str(_serializer(secret, purpose).dumps([contact.id, _fingerprint(contact)]))


def contact_for_token(session: Session, token: str, purpose: str, secret: str) -> Contact | None:
    max_age = INVITE_MAX_AGE if purpose == "invite" else RESET_MAX_AGE
    try:
        contact_id, fingerprint = _serializer(secret, purpose).loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired, ValueError, TypeError):
        return None
    contact = session.get(Contact, contact_id)
    if contact is None or not contact.portal_enabled or fingerprint != _fingerprint(contact):
        return None
    return contact


def set_password(contact: Contact, password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"Use at least {MIN_PASSWORD_LENGTH} characters.")
    contact.set_password(password)


def queue_link_email(
    session: Session, contact: Contact, *, purpose: str, link: str, policy: MailPolicy, now: datetime
) -> OutboundMessage:
    kind = OutboundKind.INVITE if purpose == "invite" else OutboundKind.PASSWORD_RESET
    from ticketing.domain import mail_tokens

    text, html = render(
        purpose, name=contact.name or "there", link=link, product_name=policy.product_name, ticket_id=None,
        portal_url="",
    )  # fmt: skip
    subject = f"Your {policy.product_name} account" if purpose == "invite" else "Reset your password"
    outbound = OutboundMessage(
        ticket_id=None, kind=kind, message_id=mail_tokens.new_message_id(0, policy.message_domain),
        from_address=policy.support_address, to_address=contact.email, subject=one_line(subject),
        body_text=text, body_html=html, auto_generated=True, created_at=now,
    )  # fmt: skip
    session.add(outbound)
    session.flush()
    events.defer_job(session, "ticketing.jobs.send_outbound", outbound.id)
    return outbound
