"""Time spent on tickets, summed per ticket and per customer."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.models import Ticket, TimeEntry, User
from ticketing.services.audit import record_change

MAX_MINUTES_PER_ENTRY = 24 * 60


def log_time(
    session: Session,
    ticket: Ticket,
    *,
    user: User,
    minutes: int,
    now: datetime,
    note: str = "",
    work_date: date | None = None,
) -> TimeEntry:
    if not 0 < minutes <= MAX_MINUTES_PER_ENTRY:
        raise ValueError(f"minutes must be between 1 and {MAX_MINUTES_PER_ENTRY}")
    entry = TimeEntry(
        ticket=ticket,
        user=user,
        minutes=minutes,
        note=note.strip(),
        work_date=work_date or now.date(),
        created_at=now,
    )
    session.add(entry)
    record_change(
        session,
        ticket,
        field="time_logged",
        old=None,
        new=f"{minutes} min",
        actor=user,
        now=now,
        customer_visible=False,
    )
    return entry


def minutes_on_ticket(session: Session, ticket_id: int) -> int:
    total = session.scalar(sa.select(sa.func.sum(TimeEntry.minutes)).where(TimeEntry.ticket_id == ticket_id))
    return int(total or 0)


def minutes_for_customer(session: Session, customer_id: int) -> int:
    total = session.scalar(
        sa.select(sa.func.sum(TimeEntry.minutes)).join(Ticket).where(Ticket.customer_id == customer_id)
    )
    return int(total or 0)
