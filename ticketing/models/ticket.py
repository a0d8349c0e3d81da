"""The ticket aggregate: the ticket, its people, tags, SLA pauses and time entries."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.domain.lifecycle import Status
from ticketing.domain.vocab import Priority, Source
from ticketing.models.base import Base, UTCDateTime, str_enum, trigram_index, utcnow

if TYPE_CHECKING:
    from ticketing.models.customer import Contact, Customer
    from ticketing.models.interaction import Interaction
    from ticketing.models.sla import SlaPolicy
    from ticketing.models.staff import Team, User

ticket_assignees = sa.Table(
    "ticket_assignee",
    Base.metadata,
    sa.Column("ticket_id", sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True),
    # "My tickets" and every agent's visibility check ("or assigned to me") read by user first; with the ticket id
    # in the index they never touch the table (PostgreSQL scanned it rather than fetch a tenth of it by user_id).
    sa.Index("ix_ticket_assignee_user_ticket", "user_id", "ticket_id"),
)

ticket_contacts = sa.Table(
    "ticket_contact",
    Base.metadata,
    sa.Column("ticket_id", sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("contact_id", sa.ForeignKey("contact.id", ondelete="CASCADE"), primary_key=True, index=True),
)


# The active statuses as SQL, for the partial indexes (lifecycle.ACTIVE; a literal list so the planner can match it
# against the queries' `status IN (...)`).
ACTIVE_SQL = "status IN ('open', 'in_progress', 'pending', 'waiting_on_customer')"


class Category(Base):
    __tablename__ = "category"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    active: Mapped[bool] = mapped_column(default=True)

    def __str__(self) -> str:
        return self.name


class Ticket(Base):
    __tablename__ = "ticket"
    __table_args__ = (
        # Queues: a team's open work, newest activity first; lists keyed on (updated_at, id).
        sa.Index("ix_ticket_team_status_updated", "assigned_team_id", "status", "updated_at"),
        sa.Index("ix_ticket_status_updated", "status", "updated_at"),
        # The managers' All queue and its keyset pages: ORDER BY updated_at DESC, id DESC without a sort.
        sa.Index("ix_ticket_updated_id", "updated_at", "id"),
        # Newest first (the queues' "Newest" sort, the API's sort=created_at): without it every ticket was sorted.
        sa.Index("ix_ticket_created_id", "created_at", "id"),
        # A customer's tickets, newest first; with the id they also answer search's "tickets of the customers
        # named ..." from the index alone (as ix_ticket_contact_id does for "tickets of the contacts named ...":
        # reading each matching ticket's row for its id took half of a contact search's id collection).
        sa.Index("ix_ticket_customer_updated", "customer_id", "updated_at", "id"),
        sa.Index("ix_ticket_contact_id", "primary_contact_id", "id"),
        # The queues and their menu counts read only active tickets (~2 % of a desk's history): a small partial
        # index in queue order, covering what the counts test (index-only on PostgreSQL).
        sa.Index(
            "ix_ticket_active_team_updated",
            "assigned_team_id",
            "updated_at",
            "id",
            postgresql_include=["status", "due_date"],
            postgresql_where=sa.text(ACTIVE_SQL),
            sqlite_where=sa.text(ACTIVE_SQL),
        ),
        # My tickets and Unassigned: active tickets in queue order, each checked for its assignees. Without it
        # SQLite (which knows no column's value spread, only that a status has ~1/6 of the rows) walked
        # ix_ticket_updated_id through every ticket ever when the queue held under a page: over 40 ms at 100k tickets
        # for an agent with no open ticket of their own, or a desk with nothing unassigned; 1 ms with it.
        sa.Index(
            "ix_ticket_active_updated",
            "updated_at",
            "id",
            postgresql_where=sa.text(ACTIVE_SQL),
            sqlite_where=sa.text(ACTIVE_SQL),
        ),
        # Breaching soon: active tickets in due order.
        sa.Index(
            "ix_ticket_active_due",
            "due_date",
            "id",
            postgresql_where=sa.text(f"{ACTIVE_SQL} AND due_date IS NOT NULL"),
            sqlite_where=sa.text(f"{ACTIVE_SQL} AND due_date IS NOT NULL"),
        ),
        trigram_index("ix_ticket_subject_trgm", "subject"),
        sa.Index("ix_ticket_public_updated", "customer_id", "public_updated_at"),
        # SLA sweep: only unresolved, unbreached tickets are ever scanned (partial indexes on both backends).
        sa.Index(
            "ix_ticket_sla_due_open",
            "due_date",
            postgresql_where=sa.text("resolved_at IS NULL AND sla_breach_at IS NULL"),
            sqlite_where=sa.text("resolved_at IS NULL AND sla_breach_at IS NULL"),
        ),
        sa.Index(
            "ix_ticket_first_response_due_open",
            "first_response_due",
            # resolved_at too: a ticket closed without a reply must leave the index, or every sweep re-reads it.
            postgresql_where=sa.text(
                "first_response_at IS NULL AND first_response_breach_at IS NULL AND resolved_at IS NULL"
            ),
            sqlite_where=sa.text(
                "first_response_at IS NULL AND first_response_breach_at IS NULL AND resolved_at IS NULL"
            ),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(sa.String(300))
    status: Mapped[Status] = mapped_column(str_enum(Status), default=Status.OPEN)
    priority: Mapped[Priority] = mapped_column(str_enum(Priority), default=Priority.MEDIUM)
    source: Mapped[Source] = mapped_column(str_enum(Source), default=Source.MANUAL)
    source_email: Mapped[str | None] = mapped_column(sa.String(255))
    # Root Message-ID of the mail thread this ticket owns.
    email_thread_id: Mapped[str | None] = mapped_column(sa.String(255), index=True)

    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"))
    primary_contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contact.id"))
    assigned_team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team.id"))
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("category.id"), index=True)
    sla_policy_id: Mapped[int | None] = mapped_column(sa.ForeignKey("sla_policy.id"))
    # A reply to a Closed ticket opens a new one that points back at it; merges point at the survivor.
    linked_ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id"))
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ticket.id"))

    form_id: Mapped[int | None] = mapped_column(sa.ForeignKey("intake_form.id"))
    form_data: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    # SLA: targets (working minutes) captured at creation, the clock cycle's start, and the stamps.
    first_response_target_minutes: Mapped[int | None]
    resolution_target_minutes: Mapped[int | None]
    sla_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    due_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sla_breach_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_response_breach_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sla_warning_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # Moves only on changes a customer can see, so internal work never shows in the portal.
    public_updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="tickets")
    primary_contact: Mapped[Contact | None] = relationship(foreign_keys=[primary_contact_id])
    contacts: Mapped[list[Contact]] = relationship(secondary=ticket_contacts)
    assignees: Mapped[list[User]] = relationship(secondary=ticket_assignees, back_populates="assigned_tickets")
    assigned_team: Mapped[Team | None] = relationship()
    category: Mapped[Category | None] = relationship()
    sla_policy: Mapped[SlaPolicy | None] = relationship()
    tag_rows: Mapped[list[TicketTag]] = relationship(
        cascade="all, delete-orphan", order_by="TicketTag.tag", lazy="selectin"
    )
    interactions: Mapped[list[Interaction]] = relationship(
        back_populates="ticket", order_by="Interaction.created_at, Interaction.id", viewonly=True
    )
    sla_pauses: Mapped[list[SlaPause]] = relationship(cascade="all, delete-orphan", order_by="SlaPause.started_at")
    time_entries: Mapped[list[TimeEntry]] = relationship(back_populates="ticket", order_by="TimeEntry.work_date")

    @property
    def number(self) -> int:
        return self.id

    @property
    def tags(self) -> list[str]:
        return [row.tag for row in self.tag_rows]

    def __str__(self) -> str:
        return f"#{self.id} {self.subject}"


class TicketTag(Base):
    __tablename__ = "ticket_tag"
    __table_args__ = (sa.Index("ix_ticket_tag_tag", "tag", "ticket_id"),)

    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"), primary_key=True)
    tag: Mapped[str] = mapped_column(sa.String(64), primary_key=True)


class SlaPause(Base):
    """A stretch of the current SLA cycle during which the clock stood still (Pending / Waiting on Customer)."""

    __tablename__ = "sla_pause"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(sa.String(64), default="")


class TimeEntry(Base):
    __tablename__ = "time_entry"
    # Minutes per ticket (and per customer through its tickets) from the index alone on PostgreSQL.
    __table_args__ = (
        sa.Index("ix_time_entry_ticket_minutes", "ticket_id", postgresql_include=["minutes"]),
        sa.Index("ix_time_entry_work_date_id", "work_date", "id"),  # the Time entries list, newest first
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("ticket.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("staff_user.id"), index=True)
    minutes: Mapped[int]
    note: Mapped[str] = mapped_column(sa.Text, default="")
    work_date: Mapped[date] = mapped_column(sa.Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="time_entries")
    user: Mapped[User] = relationship()


# The trigram indexes (models.base.trigram_index) need pg_trgm, a trusted extension: the
# database's owner may create it. (The migration creates it too.)
sa.event.listen(
    Base.metadata,
    "before_create",
    sa.DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(dialect="postgresql"),
)
