"""Email: support mailboxes, every inbound message stored raw before processing, every outbound message,
and the Message-IDs that thread mail onto tickets."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.models.base import Base, UTCDateTime, str_enum, utcnow
from ticketing.models.staff import Team


class ImapSecurity(StrEnum):
    SSL = "ssl"  # implicit TLS (993)
    STARTTLS = "starttls"
    NONE = "none"  # loopback and tests only


class InboundStatus(StrEnum):
    RECEIVED = "received"  # stored, waiting for (or in) processing
    PROCESSED = "processed"
    IGNORED = "ignored"  # auto-replies and bounces that belong to no ticket, our own mail coming back
    FAILED = "failed"  # kept with its error; an admin can re-process it


class OutboundStatus(StrEnum):
    QUEUED = "queued"
    SENDING = "sending"  # a worker is talking to the SMTP server; the message is not complete there yet
    # The whole message reached the server but its answer did not reach us: it may have been delivered, so it is
    # never re-sent automatically (a duplicate reply is worse than asking an agent to check).
    UNCONFIRMED = "unconfirmed"
    SENT = "sent"
    FAILED = "failed"
    BOUNCED = "bounced"


class OutboundKind(StrEnum):
    REPLY = "reply"
    RECEIVED = "received"  # "we got your request"
    RESOLVED = "resolved"
    INVITE = "invite"  # portal account emails: not about a ticket
    PASSWORD_RESET = "password_reset"  # noqa: S105 - a kind of email, not a password
    MENTION = "mention"  # to a staff user mentioned in an internal note


class Mailbox(Base):
    """A support mailbox: its address, how to poll it, and where its tickets go."""

    __tablename__ = "mailbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    address: Mapped[str] = mapped_column(sa.String(255), unique=True)
    imap_host: Mapped[str | None] = mapped_column(sa.String(255))
    imap_port: Mapped[int | None]
    imap_security: Mapped[ImapSecurity] = mapped_column(str_enum(ImapSecurity), default=ImapSecurity.SSL)
    imap_username: Mapped[str | None] = mapped_column(sa.String(255))
    imap_password: Mapped[str | None] = mapped_column(sa.String(255))
    imap_folder: Mapped[str] = mapped_column(sa.String(255), default="INBOX")
    # Where stored messages are moved; empty = leave them in the folder, flagged \Seen.
    processed_folder: Mapped[str | None] = mapped_column(sa.String(255))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team.id"))
    active: Mapped[bool] = mapped_column(default=True)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(sa.Text)

    team: Mapped[Team | None] = relationship()

    def __str__(self) -> str:
        return f"{self.name} <{self.address}>"


class InboundMessage(Base):
    __tablename__ = "inbound_message"
    __table_args__ = (sa.Index("ix_inbound_status_received", "status", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The Message-ID, or a stable hash of the bytes when there is none: the same mail twice is one row.
    message_key: Mapped[str] = mapped_column(sa.String(255), unique=True)
    # Loaded only where it is read (processing, the admin's original view): a store's RETURNING, the admin list
    # and a retry do not carry megabytes back from the database.
    raw: Mapped[bytes] = mapped_column(sa.LargeBinary, deferred=True)
    size: Mapped[int]
    source: Mapped[str] = mapped_column(sa.String(16))  # imap, http, import
    mailbox_id: Mapped[int | None] = mapped_column(sa.ForeignKey("mailbox.id"))
    status: Mapped[InboundStatus] = mapped_column(str_enum(InboundStatus), default=InboundStatus.RECEIVED)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(sa.Text)
    # What processing decided, for admins: "new ticket", "appended (In-Reply-To)", "auto-reply ignored", ...
    outcome: Mapped[str | None] = mapped_column(sa.String(200))
    from_address: Mapped[str | None] = mapped_column(sa.String(255))
    subject: Mapped[str | None] = mapped_column(sa.String(300))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id"), index=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    mailbox: Mapped[Mailbox | None] = relationship()

    def __str__(self) -> str:
        return f"{self.from_address}: {self.subject}"


class OutboundMessage(Base):
    __tablename__ = "outbound_message"
    __table_args__ = (
        sa.Index("ix_outbound_status_created", "status", "created_at"),
        # The acknowledgement rate limit counts recent mail per recipient.
        sa.Index("ix_outbound_to_kind_created", "to_address", "kind", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    interaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("interaction.id"), index=True)
    kind: Mapped[OutboundKind] = mapped_column(str_enum(OutboundKind))
    message_id: Mapped[str] = mapped_column(sa.String(255), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(255))
    references: Mapped[str | None] = mapped_column(sa.Text)
    from_address: Mapped[str] = mapped_column(sa.String(255))
    reply_to: Mapped[str | None] = mapped_column(sa.String(255))
    to_address: Mapped[str] = mapped_column(sa.String(255))
    cc: Mapped[str | None] = mapped_column(sa.Text)
    subject: Mapped[str] = mapped_column(sa.String(400))
    body_text: Mapped[str] = mapped_column(sa.Text)
    body_html: Mapped[str | None] = mapped_column(sa.Text)
    # RFC 3834: notifications are auto-generated; human replies are not marked.
    auto_generated: Mapped[bool] = mapped_column(default=False)
    status: Mapped[OutboundStatus] = mapped_column(str_enum(OutboundStatus), default=OutboundStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address}: {self.subject}"


class MailThreadRef(Base):
    """Every Message-ID we know for a ticket (inbound, replies, notifications): one indexed lookup threads a reply."""

    __tablename__ = "mail_thread_ref"

    message_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    outbound: Mapped[bool] = mapped_column(default=False)
