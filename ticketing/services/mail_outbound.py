"""Outbound email: agent replies and customer notifications, queued as rows and sent by a job.

Each message gets its own unguessable Message-ID, the thread's In-Reply-To/References and a signed reply
address, so the customer's client shows one conversation and replies thread back. Only customer-visible
content ever goes into these emails.

Sending is at most once past the handover (see ticketing.mail.smtp): QUEUED -> SENDING (claimed by one worker,
committed) -> UNCONFIRMED (committed just before the final dot of DATA) -> SENT. A worker that dies while SENDING
leaves a message the server discarded: recovery puts it back to QUEUED after a lease and it is sent again with
the same Message-ID and Date. One that dies while UNCONFIRMED may have delivered it: it stays UNCONFIRMED for an
agent to check, never sent twice. While SENDING or UNCONFIRMED, `sent_at` holds when the attempt started.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing import events
from ticketing.domain import mail_tokens
from ticketing.domain.visibility import InteractionType
from ticketing.models import (
    Attachment,
    Interaction,
    MailThreadRef,
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
    Ticket,
    User,
)
from ticketing.services.html import markdown_to_html
from ticketing.services.interactions import add_interaction
from ticketing.services.mail_policy import MailPolicy
from ticketing.services.mail_render import render
from ticketing.storage import AttachmentStore

MAX_REFERENCES = 20


def one_line(value: str, limit: int = 300) -> str:
    """Header values built from customer input: no CR/LF (no header injection), bounded length."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())[:limit]


def _thread(session: Session, ticket: Ticket, own: str | None = None) -> tuple[list[str], str | None]:
    """Message-IDs of the conversation, oldest first (root first), for References; and the customer's latest one
    (In-Reply-To). One query. `own`: the message being built (a reply's entry is stored first, with its id), which
    is not its own parent: with no earlier mail, a reply said it answered itself."""
    rows = session.execute(
        sa.select(Interaction.message_id, Interaction.type)
        .where(Interaction.ticket_id == ticket.id, Interaction.message_id.is_not(None))
        .where(Interaction.message_id != own if own else sa.true())
        .order_by(Interaction.created_at, Interaction.id)
    ).all()
    last_inbound = next((m for m, kind in reversed(rows) if kind == InteractionType.EMAIL_INBOUND), None)
    ids = list(dict.fromkeys([*([ticket.email_thread_id] if ticket.email_thread_id else []), *(m for m, _ in rows)]))
    if len(ids) > MAX_REFERENCES:  # keep the root and the most recent ones
        ids = [ids[0], *ids[-(MAX_REFERENCES - 1) :]]
    return ids, last_inbound


def _recipients(ticket: Ticket) -> tuple[str | None, list[str]]:
    primary = ticket.primary_contact.email if ticket.primary_contact else ticket.source_email
    others = [c.email for c in ticket.contacts if c.email != primary]
    return primary, others


def _queue(
    session: Session, ticket: Ticket, *, kind: OutboundKind, to: str, cc: list[str], body_text: str,
    body_html: str | None, policy: MailPolicy, now: datetime, message_id: str | None = None,
    interaction: Interaction | None = None, thread_ids: tuple[list[str], str | None] | None = None,
) -> OutboundMessage:  # fmt: skip
    thread, last_inbound = thread_ids or _thread(session, ticket, own=message_id)
    message_id = message_id or mail_tokens.new_message_id(ticket.id, policy.message_domain)
    outbound = OutboundMessage(
        ticket_id=ticket.id, interaction_id=interaction.id if interaction else None, kind=kind, message_id=message_id,
        in_reply_to=last_inbound or (thread[-1] if thread else None),
        references=" ".join(f"<{i}>" for i in thread) or None, from_address=policy.support_address,
        reply_to=mail_tokens.reply_address(policy.support_address, ticket.id, policy.token_secret), to_address=to,
        cc=", ".join(cc) or None, subject=one_line(mail_tokens.subject_with_token(ticket.subject, ticket.id), 400),
        body_text=body_text, body_html=body_html, auto_generated=kind != OutboundKind.REPLY, created_at=now,
    )  # fmt: skip
    session.add(outbound)
    session.add(MailThreadRef(message_id=message_id, ticket_id=ticket.id, outbound=True))
    # One job (and one SMTP session) for the emails a transaction queues: a batch of inbound mail acknowledges
    # each new ticket, and a job per email was most of a worker's time in that batch. Not flushed here: the
    # job gets the id after COMMIT.
    events.defer_batch(session, "ticketing.jobs.send_outbound_batch", events.IdOf(outbound))
    return outbound


def _context(ticket: Ticket, policy: MailPolicy) -> dict[str, object]:
    contact = ticket.primary_contact
    return {
        "name": (contact.name if contact and contact.name else "there"),
        "ticket_id": ticket.id,
        "subject": ticket.subject,
        "product_name": policy.product_name,
        "portal_url": f"{policy.portal_url.rstrip('/')}/tickets/{ticket.id}" if policy.portal_url else "",
    }


def acknowledgements_this_hour(session: Session, addresses: Sequence[str], now: datetime) -> dict[str, int]:
    """The acknowledgements each address got in the last hour (addresses with none are left out)."""
    if not addresses:
        return {}
    rows = session.execute(
        sa.select(OutboundMessage.to_address, sa.func.count())
        .where(
            OutboundMessage.to_address.in_(sorted(set(addresses))),
            OutboundMessage.kind == OutboundKind.RECEIVED,
            OutboundMessage.created_at > now - timedelta(hours=1),
        )
        .group_by(OutboundMessage.to_address)
    )
    return {address: count for address, count in rows}


def _already_queued(session: Session, ticket: Ticket, kind: OutboundKind, since: datetime | None = None) -> bool:
    """Jobs run at least once (RQ re-runs a job whose worker died after committing): one notice per occasion."""
    query = sa.select(OutboundMessage.id).where(OutboundMessage.ticket_id == ticket.id, OutboundMessage.kind == kind)
    if since is not None:
        query = query.where(OutboundMessage.created_at >= since)
    return session.scalar(query.limit(1)) is not None


@dataclass(frozen=True)
class OpenedHere:
    """What a caller that opened the ticket in its own transaction knows without asking the database: no
    acknowledgement can be queued for it yet, its thread is the one email that opened it, and (counted for a
    whole batch of inbound mail at once) how many acknowledgements the sender got in the last hour."""

    acks_this_hour: int
    message_id: str | None  # of the email that opened it


def queue_acknowledgement(
    session: Session, ticket: Ticket, *, policy: MailPolicy, now: datetime, opened: OpenedHere | None = None
) -> OutboundMessage | None:
    """'We received your request' — capped per sender per hour so a loop can't turn into a storm."""
    to, _ = _recipients(ticket)
    if opened is None:
        if _already_queued(session, ticket, OutboundKind.RECEIVED):  # a re-run job (worker died after its commit)
            return None
        sent_this_hour = acknowledgements_this_hour(session, [to], now).get(to, 0) if to else 0
        thread = None
    else:
        sent_this_hour = opened.acks_this_hour
        thread = ([opened.message_id], opened.message_id) if opened.message_id else ([], None)
    if not to or sent_this_hour >= policy.ack_limit_per_hour:
        return None
    text, html = render("received", **_context(ticket, policy))
    return _queue(session, ticket, kind=OutboundKind.RECEIVED, to=to, cc=[], body_text=text, body_html=html,
                  policy=policy, now=now, thread_ids=thread)  # fmt: skip


def queue_resolved_notice(
    session: Session, ticket: Ticket, *, policy: MailPolicy, now: datetime
) -> OutboundMessage | None:
    to, _ = _recipients(ticket)
    if not to or _already_queued(session, ticket, OutboundKind.RESOLVED, since=ticket.resolved_at):
        return None
    text, html = render("resolved", **_context(ticket, policy))
    return _queue(session, ticket, kind=OutboundKind.RESOLVED, to=to, cc=[], body_text=text, body_html=html,
                  policy=policy, now=now)  # fmt: skip


def reply_to_customer(
    session: Session, ticket: Ticket, *, agent: User, body: str, policy: MailPolicy, now: datetime
) -> Interaction:
    """An agent's reply: an EMAIL_OUTBOUND on the timeline and an email to the ticket's contacts."""
    to, cc = _recipients(ticket)
    if not to:
        raise ValueError("this ticket has no customer email address to reply to")
    message_id = mail_tokens.new_message_id(ticket.id, policy.message_domain)
    body_html = markdown_to_html(body)
    entry = add_interaction(
        session, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=agent, body_text=body, body_html=body_html,
        now=now, message_id=message_id, email_from=policy.support_address, email_to=to,
        email_cc=", ".join(cc) or None, email_subject=mail_tokens.subject_with_token(ticket.subject, ticket.id),
    )  # fmt: skip
    context = {**_context(ticket, policy), "body_text": body, "body_html": body_html, "agent_name": agent.name}
    text, html = render("reply", **context)
    outbound = _queue(session, ticket, kind=OutboundKind.REPLY, to=to, cc=cc, body_text=text, body_html=html,
                      policy=policy, now=now, message_id=message_id, interaction=entry)  # fmt: skip
    entry.in_reply_to = outbound.in_reply_to
    entry.references = outbound.references
    return entry


@dataclass(frozen=True)
class OutgoingFile:
    filename: str
    content_type: str
    data: bytes


def files_of(session: Session, outbound: OutboundMessage, store: AttachmentStore) -> list[OutgoingFile]:
    """The files the agent attached to the reply this email sends (its timeline entry's, not inline images), in the
    order attached: the customer sees them on the timeline, and gets them with the email."""
    if outbound.interaction_id is None or outbound.kind != OutboundKind.REPLY:
        return []
    rows = session.scalars(
        sa.select(Attachment)
        .where(Attachment.interaction_id == outbound.interaction_id, Attachment.inline.is_(False))
        .order_by(Attachment.id)
    )
    return [OutgoingFile(row.filename, row.content_type, store.get(row.storage_key)) for row in rows]


def build_email(outbound: OutboundMessage, *, product_name: str, files: Sequence[OutgoingFile] = ()) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = Address(display_name=one_line(product_name, 100), addr_spec=outbound.from_address)
    msg["To"] = outbound.to_address
    if outbound.cc:
        msg["Cc"] = outbound.cc
    if outbound.reply_to:
        msg["Reply-To"] = outbound.reply_to
    msg["Subject"] = one_line(outbound.subject, 400)
    msg["Message-ID"] = f"<{outbound.message_id}>"
    msg["Date"] = format_datetime(outbound.created_at)
    if outbound.in_reply_to:
        msg["In-Reply-To"] = f"<{outbound.in_reply_to}>"
    if outbound.references:
        msg["References"] = outbound.references
    if outbound.auto_generated:
        # RFC 3834: automatic mail says so, and asks other robots not to answer it.
        msg["Auto-Submitted"] = "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg["Precedence"] = "bulk"
    if outbound.ticket_id is not None:
        msg["X-Bluehill-Ticket"] = str(outbound.ticket_id)
    msg.set_content(outbound.body_text)
    if outbound.body_html:
        msg.add_alternative(outbound.body_html, subtype="html")
    for file in files:
        maintype, _, subtype = file.content_type.partition("/")
        if not (maintype and subtype) or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"  # a type typed by the uploader's browser: not trusted
        msg.add_attachment(file.data, maintype=maintype, subtype=subtype, filename=one_line(file.filename, 200))
    return msg


# --- sending states (the job in ticketing.jobs drives them; each step is committed by the caller) -------------


def claim(session: Session, outbound_ids: Sequence[int], *, now: datetime) -> dict[int, OutboundMessage]:
    """QUEUED -> SENDING, by id, for those still queued: a compare-and-set UPDATE, so of two jobs for one message
    (a retry and a recovery) only one sends, on SQLite too, and no row lock is held while talking to the SMTP
    server. One UPDATE and one SELECT for a whole batch."""
    claimed = session.scalars(
        sa.update(OutboundMessage)
        .where(OutboundMessage.id.in_(outbound_ids), OutboundMessage.status == OutboundStatus.QUEUED)
        .values(status=OutboundStatus.SENDING, sent_at=now, attempts=OutboundMessage.attempts + 1)
        .returning(OutboundMessage.id)
        .execution_options(synchronize_session=False)
    ).all()
    if not claimed:
        return {}
    rows = session.scalars(
        sa.select(OutboundMessage).where(OutboundMessage.id.in_(claimed)).execution_options(populate_existing=True)
    )
    return {row.id: row for row in rows}


def unclaim(session: Session, outbound_ids: Sequence[int]) -> None:
    """Claimed but not tried (the batch stopped early): queued again, as they were."""
    session.execute(
        sa.update(OutboundMessage)
        .where(OutboundMessage.id.in_(outbound_ids), OutboundMessage.status == OutboundStatus.SENDING)
        .values(status=OutboundStatus.QUEUED, attempts=OutboundMessage.attempts - 1)
        .execution_options(synchronize_session=False)
    )


def handed_over(outbound: OutboundMessage) -> None:
    outbound.status = OutboundStatus.UNCONFIRMED
    outbound.last_error = "handed to the mail server; its answer never arrived (not re-sent: the customer may have it)"


def mark_sent(outbound: OutboundMessage, *, now: datetime) -> None:
    outbound.status = OutboundStatus.SENT
    outbound.sent_at = now
    outbound.last_error = None


def mark_failed(outbound: OutboundMessage, error: str, *, final: bool) -> None:
    """A failure before the handover: the server has no complete message, so another attempt cannot duplicate it."""
    outbound.status = OutboundStatus.FAILED if final else OutboundStatus.QUEUED
    outbound.last_error = error[:2000]


def mark_unknown(outbound: OutboundMessage, error: str) -> None:
    outbound.status = OutboundStatus.UNCONFIRMED
    outbound.last_error = f"not re-sent, the customer may have it: {error}"[:2000]


RESENDABLE = frozenset({OutboundStatus.FAILED, OutboundStatus.UNCONFIRMED})


def resend(session: Session, outbound: OutboundMessage, *, actor: User, now: datetime) -> None:
    """Staff send a failed or unconfirmed email again: queued once more under the same Message-ID (a mail client
    that already has it shows it once), with a note on its ticket (if it has one) saying who did it."""
    if outbound.status not in RESENDABLE:
        raise ValueError("Only a failed or unconfirmed email can be sent again.")
    was = outbound.status
    outbound.status, outbound.last_error = OutboundStatus.QUEUED, None
    if outbound.ticket_id is not None:
        ticket = session.get_one(Ticket, outbound.ticket_id)
        note = f"{actor.name} sent “{outbound.subject}” to {outbound.to_address} again (it was {was.value})."
        add_interaction(session, ticket, type=InteractionType.SYSTEM, actor=actor, now=now, body_text=note)
    events.defer_job(session, "ticketing.jobs.send_outbound", outbound.id)


def release_abandoned(session: Session, *, started_before: datetime) -> list[int]:
    """SENDING rows whose worker died before the handover go back to QUEUED (returns their ids)."""
    return list(
        session.scalars(
            sa.update(OutboundMessage)
            .where(OutboundMessage.status == OutboundStatus.SENDING, OutboundMessage.sent_at < started_before)
            .values(status=OutboundStatus.QUEUED, last_error="the worker stopped before the message was complete")
            .returning(OutboundMessage.id)
            .execution_options(synchronize_session=False)
        )
    )
