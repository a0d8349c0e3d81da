"""@mentions in internal notes: the mentioned colleague gets an in-app notice and an email, if they may open the
ticket."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing import events
from ticketing.domain import mail_tokens
from ticketing.models import Interaction, Notification, OutboundKind, OutboundMessage, Ticket, User
from ticketing.services import staff_access
from ticketing.services.mail_policy import MailPolicy

# @lena or @lena.fischer: the local part of a colleague's email address, or a first name no one else has.
MENTION = re.compile(r"(?<![\w.@])@([a-z0-9][a-z0-9._-]{0,63})", re.IGNORECASE)


def _local_part(user: User) -> str:
    return user.email.split("@", 1)[0].lower()


def _first_name(user: User) -> str:
    return user.name.split(maxsplit=1)[0].casefold() if user.name.strip() else ""


def mentioned_users(session: Session, text: str) -> list[User]:
    """The active staff users a text mentions, in id order. A handle is a user's email local part (@agent for
    agent@…); a handle that is nobody's local part may be a first name (@priya for "Priya Shah"), case-insensitive,
    when exactly one active user has it."""
    handles = {h.lower().rstrip(".") for h in MENTION.findall(text)}
    if not handles:
        return []
    users = session.scalars(sa.select(User).where(User.active).order_by(User.id)).all()
    local_parts = {_local_part(u) for u in users}
    first_names = Counter(_first_name(u) for u in users)
    unique_names = {name for name, count in first_names.items() if count == 1} & (handles - local_parts)
    return [u for u in users if _local_part(u) in handles or _first_name(u) in unique_names]


@dataclass(frozen=True)
class MentionResult:
    """Who was notified, and who was mentioned but not notified because they may not open the ticket (the author
    is told, and may share it with them another way)."""

    notified: list[User]
    without_access: list[User]


def notify_mentions(
    session: Session, ticket: Ticket, note: Interaction, *, author: User, policy: MailPolicy, now: datetime,
    ticket_url: str,
) -> MentionResult:  # fmt: skip
    """A notice and an email for each colleague the note mentions who may open the ticket (the same rule as the
    workspace: staff_access.can_open); the others are only reported back, the note's text never reaches them."""
    mentioned = [u for u in mentioned_users(session, note.body_text) if u.id != author.id]
    may_open = {u.id for u in mentioned if staff_access.can_open(session, u, ticket.id)}
    result = MentionResult([u for u in mentioned if u.id in may_open], [u for u in mentioned if u.id not in may_open])
    for user in result.notified:
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
    return result


def unread(session: Session, user: User, limit: int = 20) -> list[Notification]:
    return list(
        session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
    )
