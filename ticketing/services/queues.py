"""Agent queues: which tickets, in which order, one keyset page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ticketing.domain.lifecycle import ACTIVE, Status
from ticketing.domain.vocab import Priority
from ticketing.models import Contact, Customer, Interaction, Team, Ticket, TicketTag, User, ticket_assignees
from ticketing.services.staff_access import sees_everything, visible_clause

PAGE_SIZE = 50
BREACHING_HORIZON = timedelta(hours=4)  # the agent screens colour "< 4h left" amber too


@dataclass(frozen=True)
class Queue:
    key: str
    title: str
    managers_only: bool = False


QUEUES = [
    Queue("mine", "My tickets"),
    Queue("unassigned", "Unassigned"),
    Queue("breaching", "Breaching soon"),
    Queue("waiting", "Waiting on customer"),
    Queue("all", "All tickets", managers_only=True),
]
SORTS = {"updated", "due", "priority", "created"}


@dataclass(frozen=True)
class Filters:
    status: Status | None = None
    priority: Priority | None = None
    team_id: int | None = None
    tag: str | None = None
    query: str | None = None
    sort: str = "updated"


def _active() -> sa.ColumnElement[bool]:
    return Ticket.status.in_(list(ACTIVE))


def queue_clause(user: User, key: str) -> sa.ColumnElement[bool]:
    mine = sa.select(ticket_assignees.c.ticket_id).where(ticket_assignees.c.user_id == user.id)
    if key == "mine":
        return sa.and_(_active(), Ticket.id.in_(mine))
    if key == "unassigned":
        # NOT EXISTS, not NOT IN: with a desk's history of assignee rows, PostgreSQL ran NOT IN as a subplan over
        # the whole list for every active ticket (> 10 s at 1M tickets); NOT EXISTS is an anti-join.
        has_assignee = sa.exists().where(ticket_assignees.c.ticket_id == Ticket.id)
        return sa.and_(_active(), ~has_assignee)
    if key == "breaching":
        # Overdue ones first (their due date is earliest), then those due within the next hours.
        horizon = datetime.now(UTC) + BREACHING_HORIZON
        return sa.and_(_active(), Ticket.due_date.is_not(None), Ticket.due_date <= horizon)
    if key == "waiting":
        return Ticket.status == Status.WAITING_ON_CUSTOMER
    if key.startswith("team-") and key[5:].isdigit():
        return sa.and_(_active(), Ticket.assigned_team_id == int(key[5:]))
    if key == "all":
        return sa.true()
    raise ValueError(f"unknown queue {key!r}")


def _order(sort: str, key: str) -> tuple[Any, bool]:
    """(sort column, descending?) — 'breaching' is always most urgent first."""
    if key == "breaching" or sort == "due":
        return Ticket.due_date, False
    if sort == "created":
        return Ticket.created_at, True
    if sort == "priority":
        rank = sa.case({p.value: p.rank for p in Priority}, value=Ticket.priority)
        return rank, True
    return Ticket.updated_at, True


def page(
    session: Session, user: User, key: str, filters: Filters, *, after: tuple[Any, int] | None = None,
    limit: int = PAGE_SIZE,
) -> list[Ticket]:  # fmt: skip
    """One page of a queue, keyset-paginated on (sort key, id): constant cost however deep the page."""
    if key == "all" and not sees_everything(user):
        raise PermissionError("the All queue is for managers")
    column, descending = _order(filters.sort, key)
    stmt = sa.select(Ticket).where(visible_clause(user), queue_clause(user, key))
    if filters.status:
        stmt = stmt.where(Ticket.status == filters.status)
    if filters.priority:
        stmt = stmt.where(Ticket.priority == filters.priority)
    if filters.team_id:
        stmt = stmt.where(Ticket.assigned_team_id == filters.team_id)
    if filters.tag:
        stmt = stmt.where(Ticket.id.in_(sa.select(TicketTag.ticket_id).where(TicketTag.tag == filters.tag)))
    if filters.query:
        stmt = stmt.where(search_clause(filters.query))
    if key == "breaching" or filters.sort == "due":
        stmt = stmt.where(Ticket.due_date.is_not(None))  # ordering by time left needs a clock
    if after is not None:
        value, last_id = after
        row, bound = sa.tuple_(column, Ticket.id), sa.tuple_(value, last_id)
        stmt = stmt.where(row < bound if descending else row > bound)
    direction = (column.desc(), Ticket.id.desc()) if descending else (column.asc(), Ticket.id.asc())
    stmt = (
        stmt.order_by(*direction)
        .limit(limit)
        .options(selectinload(Ticket.assignees), selectinload(Ticket.customer), selectinload(Ticket.assigned_team))
    )
    return list(session.scalars(stmt))


def cursor_of(ticket: Ticket, filters: Filters, key: str) -> str:
    column, _ = _order(filters.sort, key)
    if key == "breaching" or filters.sort == "due":
        value: Any = ticket.due_date
    elif filters.sort == "created":
        value = ticket.created_at
    elif filters.sort == "priority":
        value = ticket.priority.rank
    else:
        value = ticket.updated_at
    encoded = value.isoformat() if isinstance(value, datetime) else ("" if value is None else str(value))
    return f"{encoded}|{ticket.id}"


def parse_cursor(raw: str | None, filters: Filters, key: str) -> tuple[Any, int] | None:
    if not raw or "|" not in raw:
        return None
    value, _, ident = raw.rpartition("|")
    if not ident.isdigit():
        return None
    try:
        if filters.sort == "priority" and key != "breaching":
            return int(value), int(ident)
        return (datetime.fromisoformat(value) if value else None), int(ident)
    except ValueError:
        return None


def search_clause(text: str) -> sa.ColumnElement[bool]:
    """Subject, any message body, the contact's name or email, the customer's name."""
    pattern = f"%{text.strip()[:100]}%"
    in_body = sa.select(Interaction.ticket_id).where(Interaction.body_text.ilike(pattern))
    by_contact = sa.select(Contact.id).where(sa.or_(Contact.email.ilike(pattern), Contact.name.ilike(pattern)))
    by_customer = sa.select(Customer.id).where(Customer.name.ilike(pattern))
    return sa.or_(
        Ticket.subject.ilike(pattern),
        Ticket.id.in_(in_body),
        Ticket.primary_contact_id.in_(by_contact),
        Ticket.customer_id.in_(by_customer),
    )


def counts(session: Session, user: User) -> dict[str, int]:
    """Ticket counts for the queue menu, one query per queue (all indexed)."""
    keys = [q.key for q in QUEUES if not q.managers_only or sees_everything(user)]
    keys += [f"team-{t.id}" for t in teams_for(session, user)]
    return {
        key: session.scalar(
            sa.select(sa.func.count()).select_from(Ticket).where(visible_clause(user), queue_clause(user, key))
        )
        or 0
        for key in keys
    }


def teams_for(session: Session, user: User) -> list[Team]:
    if sees_everything(user):
        return list(session.scalars(sa.select(Team).order_by(Team.name)))
    return sorted(user.teams, key=lambda t: t.name)
