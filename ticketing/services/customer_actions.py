"""What a signed-in contact can do to a ticket: reply, close, reopen. Nothing else is reachable from outside."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.models import Contact, Interaction, Ticket
from ticketing.services import tickets
from ticketing.services.attachments import AttachmentLimits, IncomingFile, rejection_reason, store_attachments
from ticketing.services.interactions import add_interaction
from ticketing.storage import AttachmentStore

MAX_REPLY_CHARS = 20000


class ActionRejected(ValueError):
    pass


def reply(
    session: Session, contact: Contact, ticket: Ticket, *, body: str, files: list[IncomingFile], now: datetime,
    store: AttachmentStore, limits: AttachmentLimits,
) -> Interaction:  # fmt: skip
    body = body.strip()
    if not body and not files:
        raise ActionRejected("Write a message or attach a file.")
    if len(body) > MAX_REPLY_CHARS:
        raise ActionRejected(f"Messages can be at most {MAX_REPLY_CHARS} characters.")
    if ticket.status == Status.CLOSED:
        raise ActionRejected("This ticket is closed. Please open a new request.")
    refusals = [f"{f.filename}: {r}" for i, f in enumerate(files) if (r := rejection_reason(f, limits, i))]
    if refusals:
        raise ActionRejected("Some files were not accepted: " + "; ".join(refusals))
    entry = add_interaction(
        session, ticket, type=InteractionType.EMAIL_INBOUND, actor=contact, body_text=body, now=now,
        meta={"channel": "portal"},
    )  # fmt: skip
    store_attachments(session, ticket, entry, files, store=store, limits=limits, now=now)
    if contact not in ticket.contacts:
        ticket.contacts.append(contact)
    return entry


def set_status(session: Session, contact: Contact, ticket: Ticket, new: Status, *, now: datetime) -> None:
    """Close an open ticket, or reopen a resolved one; the lifecycle's customer table decides."""
    try:
        tickets.change_status(session, ticket, new, actor=contact, now=now, by_customer=True)
    except ValueError as exc:
        raise ActionRejected(str(exc)) from exc
