"""What the agent workspace keeps: canned responses, in-app notifications, the SMS provider settings."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.models.base import Base, UTCDateTime, utcnow
from ticketing.models.staff import User


class CannedResponse(Base):
    """A reusable reply; {customer}, {contact}, {ticket} and {agent} are filled in when it is used."""

    __tablename__ = "canned_response"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(120), unique=True)
    body: Mapped[str] = mapped_column(sa.Text)

    def __str__(self) -> str:
        return self.title


class Notification(Base):
    """In-app notice for a staff user (e.g. an @mention in an internal note)."""

    __tablename__ = "notification"
    __table_args__ = (sa.Index("ix_notification_user_unread", "user_id", "read_at", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"))
    interaction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("interaction.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship()


class SmsProvider(Base):
    """A Twilio-style HTTP API (POST {base_url}/Accounts/{account}/Messages.json, HTTP Basic auth)."""

    __tablename__ = "sms_provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(80), default="SMS")
    base_url: Mapped[str] = mapped_column(sa.String(255))
    account_id: Mapped[str] = mapped_column(sa.String(120))
    auth_token: Mapped[str] = mapped_column(sa.String(255))
    from_number: Mapped[str] = mapped_column(sa.String(40))
    active: Mapped[bool] = mapped_column(default=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.from_number})"
