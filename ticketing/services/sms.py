"""SMS to a contact: logged only, or sent through the admin's provider (then the customer sees it)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing import events
from ticketing.domain.visibility import InteractionType, SmsStatus
from ticketing.models import Contact, Interaction, SmsProvider, Ticket, User
from ticketing.services.audit import touch
from ticketing.services.interactions import add_interaction

MAX_SMS_CHARS = 1600


class SmsError(ValueError):
    pass


def active_provider(session: Session) -> SmsProvider | None:
    return session.scalar(sa.select(SmsProvider).where(SmsProvider.active).order_by(SmsProvider.id).limit(1))


def record_sms(
    session: Session, ticket: Ticket, *, agent: User, contact: Contact, body: str, send: bool, now: datetime
) -> Interaction:
    """`send=False` logs an SMS exchanged elsewhere (internal); `send=True` queues it for the provider."""
    body = body.strip()
    if not body or len(body) > MAX_SMS_CHARS:
        raise SmsError(f"An SMS needs 1 to {MAX_SMS_CHARS} characters.")
    if not contact.phone:
        raise SmsError(f"{contact.display_name} has no phone number.")
    if send and active_provider(session) is None:
        raise SmsError("No SMS provider is configured: the SMS can only be logged.")
    entry = add_interaction(
        session, ticket, type=InteractionType.SMS, actor=agent, body_text=body, now=now,
        sms_status=SmsStatus.QUEUED if send else SmsStatus.LOGGED, meta={"to": contact.phone},
    )  # fmt: skip
    if send:
        events.defer_job(session, "ticketing.jobs.send_sms", entry.id)
    return entry


def mark_sent(entry: Interaction, *, provider_id: str, now: datetime) -> None:
    entry.sms_status = SmsStatus.SENT
    entry.meta = {**(entry.meta or {}), "provider_id": provider_id}
    touch(entry.ticket, now, customer_visible=True)  # from now on the customer sees it


def mark_failed(entry: Interaction, *, error: str) -> None:
    entry.sms_status = SmsStatus.FAILED
    entry.meta = {**(entry.meta or {}), "error": error[:500]}
