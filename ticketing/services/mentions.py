"""@mentions in internal notes: the mentioned colleague gets an in-app notice and an email."""

from __future__ import annotations

import re
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing import events
from ticketing.domain import mail_tokens
from ticketing.models import Interaction, Notification, OutboundKind, OutboundMessage, Ticket, User
from ticketing.services.mail_policy import MailPolicy

# @lena or @lena.fischer: the local part of a colleague's email address.
MENTION = re.compile(r"(?<![\w.@])@([a-z0-9][a-z0-9._-]{0,63})", re.IGNORECASE)


def mentioned_users(session: Session, text: str) -> list[User]:
    handles = {h.lower().rstrip(".") for h in MENTION.findall(text)}
    if not handles:
        return []
    users = session.scalars(sa.select(User).where(User.active)).all()
    return [u for u in users if u.email.split("@", 1)[0].lower() in handles]


def notify_mentions(
    session: Session, ticket: Ticket, note: Interaction, *, author: User, policy: MailPolicy, now: datetime,
    ticket_url: str,
) -> list[User]:  # fmt: skip
    notified = [u for u in mentioned_users(session, note.body_text) if u.id != author.id]
    for user in notified:
        text = f"{author.name} mentioned you on #{ticket.id} {ticket.subject}"[:300]
        session.add(Notification(user_id=user.id, ticket_id=ticket.id, interaction_id=note.id, text=text,
                                 created_at=now))  # fmt: skip
        # Staff-only mail: the internal note may be quoted here, it never goes to a customer.
        outbound = OutboundMessage(
            ticket_id=ticket.id, kind=OutboundKind.MENTION,
            message_id=mail_tokens.new_message_id(ticket.id, policy.message_domain),
            from_address=policy.support_address, to_address=user.email, subject=text, auto_generated=True,
            body_text=f"{text}:\n\n{note.body_text}\n\n{ticket_url}", created_at=now,
        )  # fmt: skip
        session.add(outbound)
        session.flush()
        events.defer_job(session, "ticketing.jobs.send_outbound", outbound.id)
    return notified


def unread(session: Session, user: User, limit: int = 20) -> list[Notification]:
    return list(
        session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
    )
