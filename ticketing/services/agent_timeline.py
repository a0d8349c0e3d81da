"""A ticket's whole timeline as the agents' workspace shows it: every entry, internal ones included, with its
author's name, its attachments and the delivery state of the emails it sent.

Plain rows, not ORM objects: the page only reads them, and loading eleven interactions with their authors,
attachments and emails as objects (joined eager loads) cost more than the rest of the page's SQL together.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.domain.visibility import InteractionType, SmsStatus, entry_label, is_customer_visible
from ticketing.models import Attachment, Contact, Interaction, OutboundMessage, User
from ticketing.models.base import read_rows
from ticketing.models.mail import OutboundStatus


@dataclass(frozen=True, slots=True)
class FileLink:
    id: int
    filename: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """An email an entry sent (a reply, or a copy sent again) and where it stands."""

    id: int
    to_address: str
    status: OutboundStatus
    last_error: str | None


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    id: int
    type: InteractionType
    author_contact_id: int | None
    body_text: str
    body_html: str | None
    email_from: str | None
    inbound_message_id: int | None
    sms_status: SmsStatus | None
    duration_minutes: int | None
    meta: dict[str, Any] | None
    created_at: datetime
    author_name: str
    attachments: list[FileLink] = field(default_factory=list)
    outbound_messages: list[Delivery] = field(default_factory=list)

    @property
    def label(self) -> str:
        return entry_label(self.type, self.email_from)

    @property
    def is_customer_visible(self) -> bool:
        return is_customer_visible(self.type, self.sms_status)


def read_timeline(session: Session, ticket_id: int) -> list[TimelineEntry]:
    """Every entry of the ticket, oldest first, in two statements: the entries with their authors' names, then their
    files and sent emails."""
    values = {"ticket_id": ticket_id}
    files: defaultdict[int, list[FileLink]] = defaultdict(list)
    emails: defaultdict[int, list[Delivery]] = defaultdict(list)
    for row in read_rows(session, _extras_statement(), values):
        if row.kind == "email":
            emails[row.interaction_id].append(Delivery(row.id, row.label, row.status, row.last_error))
        else:
            files[row.interaction_id].append(FileLink(row.id, row.label))
    return [
        TimelineEntry(
            *row[:-2],
            author_name=row.staff_name or row.contact_name or "System",
            attachments=files.get(row.id, []),
            outbound_messages=emails.get(row.id, []),
        )  # fmt: skip
        for row in read_rows(session, _entries_statement(), values)
    ]


@cache
def _entries_statement() -> sa.Select[Any]:
    """Built once; the ticket as the parameter ticket_id. The columns in TimelineEntry's order, then the authors'
    names."""
    i = Interaction
    return (
        sa.select(
            i.id,
            i.type,
            i.author_contact_id,
            i.body_text,
            i.body_html,
            i.email_from,
            i.inbound_message_id,
            i.sms_status,
            i.duration_minutes,
            i.meta,
            i.created_at,
            User.name.label("staff_name"),
            sa.func.coalesce(sa.func.nullif(Contact.name, ""), Contact.email).label("contact_name"),
        )  # fmt: skip
        .outerjoin(User, User.id == i.author_user_id)
        .outerjoin(Contact, Contact.id == i.author_contact_id)
        .where(i.ticket_id == sa.bindparam("ticket_id", type_=sa.Integer))
        .order_by(i.created_at, i.id)
    )


@cache
def _extras_statement() -> sa.Select[Any]:
    """The sent emails (first: the union's columns take their types) and files of the ticket's entries, in id order.
    By the entries, not by the rows' own ticket_id: an entry's files and emails are its own wherever it moved."""
    entries = sa.select(Interaction.id).where(Interaction.ticket_id == sa.bindparam("ticket_id", type_=sa.Integer))
    no_text = sa.cast(sa.null(), sa.String)
    emails = sa.select(
        sa.literal("email").label("kind"),
        OutboundMessage.interaction_id,
        OutboundMessage.id,
        OutboundMessage.to_address.label("label"),
        OutboundMessage.status,
        OutboundMessage.last_error,
    ).where(OutboundMessage.interaction_id.in_(entries))
    files = sa.select(
        sa.literal("file"), Attachment.interaction_id, Attachment.id, Attachment.filename, no_text, no_text
    ).where(Attachment.interaction_id.in_(entries))
    both = sa.union_all(emails, files).subquery()
    return sa.select(both).order_by(both.c.kind, both.c.id)
