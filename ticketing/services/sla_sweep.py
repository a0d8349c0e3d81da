"""The periodic SLA sweep: set-based stamps of breaches and warnings, each event emitted once per ticket.

Every UPDATE is guarded by "not stamped yet", so two sweeps racing (or a sweep re-run after a crash)
stamp each ticket once; the RETURNING ids tell which tickets this run stamped, and only those get events.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from ticketing import events
from ticketing.domain.visibility import InteractionType
from ticketing.models import Interaction, Ticket, UTCDateTime


@dataclass(frozen=True)
class SweepResult:
    resolution_breached: list[int]
    first_response_breached: list[int]
    warned: list[int]


def _stamp(session: Session, column: Any, value: Any, *conditions: sa.ColumnElement[bool]) -> list[int]:
    """UPDATE ticket SET column = value WHERE conditions RETURNING id: the ids this run stamped."""
    stmt = (
        sa.update(Ticket)
        .where(*conditions)
        .values({column: value})
        .returning(Ticket.id)
        .execution_options(synchronize_session=False)
    )
    return list(session.scalars(stmt))


def _id_set(session: Session, ticket_ids: list[int]) -> sa.ColumnElement[bool]:
    """`ticket.id` in a list, as ONE bound parameter (an array / a JSON text), not thousands."""
    if session.get_bind().dialect.name == "postgresql":
        return Ticket.id == sa.any_(sa.literal(ticket_ids, ARRAY(sa.Integer)))
    values: sa.Select[tuple[int]] = sa.select(sa.literal_column("value")).select_from(
        sa.func.json_each(sa.literal(json.dumps(ticket_ids)))
    )
    return Ticket.id.in_(values)


def _audit(session: Session, ticket_ids: list[int], text: str, kind: str, now: datetime) -> None:
    """One INSERT ... SELECT writes the SYSTEM entry of every stamped ticket."""
    if not ticket_ids:
        return
    rows = sa.select(
        Ticket.id,
        sa.literal(InteractionType.SYSTEM.value),
        sa.literal(text),
        sa.literal({"sla": kind}, sa.JSON),
        sa.literal(now, UTCDateTime()),
    ).where(_id_set(session, ticket_ids))
    session.execute(sa.insert(Interaction).from_select(["ticket_id", "type", "body_text", "meta", "created_at"], rows))


def sweep(session: Session, *, now: datetime, warn_before: timedelta) -> SweepResult:
    resolution = _stamp(
        session,
        Ticket.sla_breach_at,
        Ticket.due_date,
        Ticket.resolved_at.is_(None),
        Ticket.sla_breach_at.is_(None),
        Ticket.due_date <= now,
    )
    first_response = _stamp(
        session,
        Ticket.first_response_breach_at,
        Ticket.first_response_due,
        Ticket.first_response_at.is_(None),
        Ticket.first_response_breach_at.is_(None),
        Ticket.first_response_due <= now,
        Ticket.resolved_at.is_(None),
    )
    warned = _stamp(
        session,
        Ticket.sla_warning_at,
        now,
        Ticket.resolved_at.is_(None),
        Ticket.sla_breach_at.is_(None),
        Ticket.sla_warning_at.is_(None),
        Ticket.due_date <= now + warn_before,
        Ticket.due_date > now,
    )
    _audit(session, resolution, "SLA breached: resolution target passed", "resolution", now)
    _audit(session, first_response, "SLA breached: first-response target passed", "first_response", now)
    _audit(session, warned, f"SLA warning: resolution due within {warn_before}", "warning", now)
    for tid in resolution:
        events.emit(session, "sla.breached", now=now, ticket_id=tid, target="resolution")
    for tid in first_response:
        events.emit(session, "sla.breached", now=now, ticket_id=tid, target="first_response")
    for tid in warned:
        events.emit(session, "sla.warning", now=now, ticket_id=tid, target="resolution")
    return SweepResult(resolution, first_response, warned)
