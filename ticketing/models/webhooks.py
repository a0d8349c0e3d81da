"""Outgoing webhooks: subscriptions, the transactional outbox of events, deliveries and every attempt.

webhook_event is the outbox: a row is written in the same transaction as the change that emitted the event,
so nothing is lost between COMMIT and enqueue. Fan-out turns an event into one webhook_delivery per matching
subscription; every HTTP attempt of a delivery is a webhook_attempt row.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.models.base import Base, UTCDateTime, str_enum, utcnow
from ticketing.models.customer import Customer
from ticketing.models.staff import Team

# An auto-incrementing 64-bit key on PostgreSQL; SQLite only auto-increments INTEGER PRIMARY KEY.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # ready to send (new, waiting behind an earlier delivery of its ticket, or recovered)
    SENDING = "sending"  # claimed by a worker until lease_until
    RETRYING = "retrying"  # an attempt failed; the next one is due at next_attempt_at
    DELIVERED = "delivered"  # a 2xx was recorded (exactly once)
    FAILED = "failed"  # gave up: attempts exhausted or the target was refused
    CANCELLED = "cancelled"  # the subscription was disabled before it went out

    @property
    def label(self) -> str:
        return self.value.title()


# Deliveries that still hold their place in their (subscription, ticket) line.
ACTIVE_STATUSES = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.RETRYING)


class WebhookSubscription(Base):
    """An admin's subscription of a URL to some event types, with an optional filter."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    url: Mapped[str] = mapped_column(sa.String(2000))
    # The HMAC key; generated on create, shown once, never displayed again.
    secret: Mapped[str] = mapped_column(sa.String(128))
    # Event types delivered (see ticketing.events.EVENT_TYPES); empty = every type.
    event_types: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Filter: only tickets of this team / this customer (at the time of the event).
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team.id", ondelete="SET NULL"))
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id", ondelete="SET NULL"))
    # Filter: interaction.created only for entries the customer can see.
    customer_visible_only: Mapped[bool] = mapped_column(default=False)
    # The receiver belongs to (or shows things to) the customer: implies customer_visible_only, drops events
    # that are about internal-only changes, and strips internal fields from the snapshot.
    customer_facing: Mapped[bool] = mapped_column(default=False)
    # Addresses an admin explicitly allows although the SSRF guard refuses them ("10.0.0.5", "127.0.0.1:8080",
    # "[::1]:9000"), separated by spaces or commas. Cloud metadata addresses can never be allowed.
    allowed_address: Mapped[str | None] = mapped_column(sa.String(500))
    enabled: Mapped[bool] = mapped_column(default=True)
    consecutive_failures: Mapped[int] = mapped_column(default=0)
    disabled_reason: Mapped[str | None] = mapped_column(sa.String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)  # admin edits

    team: Mapped[Team | None] = relationship()
    customer: Mapped[Customer | None] = relationship()

    def __str__(self) -> str:
        return self.name


class WebhookEvent(Base):
    """The outbox: one domain event, its payload (ticket snapshot included) frozen inside the transaction."""

    __tablename__ = "webhook_event"
    __table_args__ = (
        # Ordering check: "is an earlier event of this ticket not fanned out yet?"
        sa.Index("ix_webhook_event_ticket_seq", "ticket_id", "seq"),
        # Recovery: undispatched events, oldest first.
        sa.Index("ix_webhook_event_dispatched_created", "dispatched", "created_at"),
    )

    # Commit order within a ticket (writers of one ticket serialise on its row); the ordering key of deliveries.
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # The DomainEvent id: X-Bluehill-Event-Id, what receivers dedupe on.
    id: Mapped[str] = mapped_column(sa.String(32), unique=True)
    type: Mapped[str] = mapped_column(sa.String(40))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    payload: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    dispatched: Mapped[bool] = mapped_column(default=False)

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class WebhookDelivery(Base):
    """One event to one subscription. Re-sending from the admin screen creates a fresh row."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # Ordering: the earlier deliveries of the same subscription and ticket.
        sa.Index("ix_webhook_delivery_line", "subscription_id", "ticket_id", "event_seq"),
        # Recovery: stuck pending / retrying / sending rows.
        sa.Index("ix_webhook_delivery_status_next", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_seq: Mapped[int] = mapped_column(BigId, sa.ForeignKey("webhook_event.seq", ondelete="CASCADE"), index=True)
    subscription_id: Mapped[int] = mapped_column(sa.ForeignKey("webhook_subscription.id", ondelete="CASCADE"))
    ticket_id: Mapped[int | None]  # copied from the event: the ordering line
    status: Mapped[DeliveryStatus] = mapped_column(str_enum(DeliveryStatus), default=DeliveryStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # While SENDING: who holds it and until when; an expired lease means the worker died mid-delivery.
    lease_token: Mapped[str | None] = mapped_column(sa.String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_status_code: Mapped[int | None]
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    resend_of_id: Mapped[int | None] = mapped_column(BigId, sa.ForeignKey("webhook_delivery.id", ondelete="SET NULL"))

    event: Mapped[WebhookEvent] = relationship()
    subscription: Mapped[WebhookSubscription] = relationship()
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery", order_by="WebhookAttempt.number", cascade="all, delete-orphan"
    )

    def __str__(self) -> str:
        return f"delivery {self.id}"


class WebhookAttempt(Base):
    """One HTTP attempt of a delivery: what came back and how long it took."""

    __tablename__ = "webhook_attempt"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("webhook_delivery.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    url: Mapped[str] = mapped_column(sa.String(2000))
    # NULL while in flight, and when the worker died before an outcome was known.
    success: Mapped[bool | None]
    status_code: Mapped[int | None]
    latency_ms: Mapped[int | None]
    response_excerpt: Mapped[str | None] = mapped_column(sa.Text)
    error: Mapped[str | None] = mapped_column(sa.Text)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")

    def __str__(self) -> str:
        return f"attempt {self.number} of delivery {self.delivery_id}"
