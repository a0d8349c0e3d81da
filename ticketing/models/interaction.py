"""The timeline: every touchpoint on a ticket, and the files attached to them."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.domain.visibility import CUSTOMER_VISIBLE_TYPES, InteractionType, SmsStatus, entry_label
from ticketing.models.base import Base, UTCDateTime, str_enum, trigram_index, utcnow

if TYPE_CHECKING:
    from ticketing.models.customer import Contact
    from ticketing.models.mail import OutboundMessage
    from ticketing.models.staff import User
    from ticketing.models.ticket import Ticket


class Interaction(Base):
    __tablename__ = "interaction"
    __table_args__ = (
        sa.Index("ix_interaction_ticket_created", "ticket_id", "created_at", "id"),
        # The agents' Timeline list, newest first: without it a page sorted every interaction (2.5 s at 2M).
        sa.Index("ix_interaction_created_id", "created_at", "id"),
        trigram_index("ix_interaction_body_trgm", "body_text"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"))
    type: Mapped[InteractionType] = mapped_column(str_enum(InteractionType))
    # Author: a staff user, a contact, or neither (the system).
    author_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id"))
    author_contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contact.id"), index=True)
    body_text: Mapped[str] = mapped_column(sa.Text, default="")
    # Already sanitised with the allow-list; safe to render as markup.
    body_html: Mapped[str | None] = mapped_column(sa.Text)

    # Email types: the threading headers and addresses.
    message_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)
    in_reply_to: Mapped[str | None] = mapped_column(sa.String(255))
    references: Mapped[str | None] = mapped_column(sa.Text)
    email_subject: Mapped[str | None] = mapped_column(sa.String(300))
    email_from: Mapped[str | None] = mapped_column(sa.String(255))
    email_to: Mapped[str | None] = mapped_column(sa.Text)
    email_cc: Mapped[str | None] = mapped_column(sa.Text)

    # The stored raw email this entry came from (unique: one message never makes two entries).
    inbound_message_id: Mapped[int | None] = mapped_column(sa.ForeignKey("inbound_message.id"), unique=True)

    sms_status: Mapped[SmsStatus | None] = mapped_column(str_enum(SmsStatus))
    # Calls and meetings.
    duration_minutes: Mapped[int | None]
    # SYSTEM entries: {"field": ..., "old": ..., "new": ...}; other structured extras.
    # None is SQL NULL, and an entry without meta sends it as NULL: a batch's entries, with and without meta, then
    # share one INSERT (the ORM leaves a JSON column that reads None as JSON null out of the statement instead).
    meta: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON(none_as_null=True))

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="interactions")
    author_user: Mapped[User | None] = relationship()
    author_contact: Mapped[Contact | None] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(back_populates="interaction", order_by="Attachment.id")
    # A reply's email (and any copy sent again): its delivery state on the agent's timeline.
    outbound_messages: Mapped[list[OutboundMessage]] = relationship(viewonly=True, order_by="OutboundMessage.id")

    @property
    def author_name(self) -> str:
        if self.author_user is not None:
            return self.author_user.name
        if self.author_contact is not None:
            return self.author_contact.display_name
        return "System"

    @property
    def label(self) -> str:
        """What the timeline calls it (`entry_label`)."""
        return entry_label(self.type, self.email_from)

    @property
    def is_customer_visible(self) -> bool:
        from ticketing.domain.visibility import is_customer_visible

        return is_customer_visible(self.type, self.sms_status)

    @classmethod
    def customer_visible_clause(cls) -> sa.ColumnElement[bool]:
        """The SQL twin of domain.visibility.is_customer_visible."""
        return sa.or_(
            cls.type.in_(list(CUSTOMER_VISIBLE_TYPES)),
            sa.and_(cls.type == InteractionType.SMS, cls.sms_status == SmsStatus.SENT),
        )


class Attachment(Base):
    __tablename__ = "attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    interaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("interaction.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(255), default="application/octet-stream")
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    # Generated storage key; the original filename never touches the file system.
    storage_key: Mapped[str] = mapped_column(sa.String(80), unique=True)
    content_id: Mapped[str | None] = mapped_column(sa.String(255))
    inline: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    interaction: Mapped[Interaction | None] = relationship(back_populates="attachments")
    ticket: Mapped[Ticket] = relationship()  # set instead of ticket_id for a ticket not flushed yet
