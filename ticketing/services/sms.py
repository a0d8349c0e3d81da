"""SMS to a contact: logged only, or sent through the admin's provider (then the customer sees it)."""

from __future__ import annotations

from datetime import datetime, timedelta

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


def claim(session: Session, interaction_id: int, *, now: datetime) -> Interaction | None:
    """QUEUED -> SENDING by a compare-and-set UPDATE: of two jobs for one SMS (a retry and a recovery) only one
    calls the provider, on SQLite too, and no row lock is held during the call."""
    claimed = session.scalar(
        sa.update(Interaction)
        .where(Interaction.id == interaction_id, Interaction.type == InteractionType.SMS,
               Interaction.sms_status == SmsStatus.QUEUED)
        .values(sms_status=SmsStatus.SENDING)
        .returning(Interaction.id)
        .execution_options(synchronize_session=False)
    )  # fmt: skip
    if claimed is None:
        return None
    entry = session.get_one(Interaction, interaction_id, populate_existing=True)
    entry.meta = {**(entry.meta or {}), "claimed_at": now.isoformat()}
    return entry


def release(entry: Interaction, *, error: str, final: bool) -> None:
    """The provider call failed: back to QUEUED for the job's retry, or FAILED after the last one."""
    if final:
        mark_failed(entry, error=error)
    else:
        entry.sms_status = SmsStatus.QUEUED
        entry.meta = {**(entry.meta or {}), "error": error[:500]}


def recover(session: Session, *, now: datetime, queued_before: datetime, lease: timedelta) -> tuple[list[int], int]:
    """After lost jobs (Redis restarted, a worker killed): the ids of QUEUED SMS older than `queued_before`, to
    send again (the claim makes a second job for one SMS harmless), and the number of SENDING ones claimed longer
    than `lease` ago (longer than the send job's timeout), now FAILED: whether the provider took them is unknown,
    so they are not sent twice; the agent sees why on the timeline and decides."""
    queued = list(
        session.scalars(
            sa.select(Interaction.id).where(Interaction.type == InteractionType.SMS,
                                            Interaction.sms_status == SmsStatus.QUEUED,
                                            Interaction.created_at < queued_before)
        )
    )  # fmt: skip
    sending = session.scalars(
        sa.select(Interaction).where(
            Interaction.type == InteractionType.SMS, Interaction.sms_status == SmsStatus.SENDING
        )
    ).all()
    abandoned = [e for e in sending if now - _claimed_at(e) > lease]
    for entry in abandoned:
        mark_failed(entry, error="delivery unknown: the worker stopped while the provider was being called; "
                                 "check with the provider before sending it again")  # fmt: skip
    return queued, len(abandoned)


def _claimed_at(entry: Interaction) -> datetime:
    stamp = (entry.meta or {}).get("claimed_at")
    return datetime.fromisoformat(stamp) if stamp else entry.created_at
