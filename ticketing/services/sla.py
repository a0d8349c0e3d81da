"""Bridges stored SLA policies and calendars to the pure SLA clock, and keeps a ticket's due dates true."""

from __future__ import annotations

import logging
from datetime import datetime, time, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ticketing.domain import sla_clock
from ticketing.domain.sla_clock import DueExplanation, Pause, WorkingCalendar
from ticketing.domain.vocab import Priority, Tier
from ticketing.models import BusinessCalendar, Holiday, SlaPause, SlaPolicy, SlaTarget, Ticket
from ticketing.services import txcache

log = logging.getLogger(__name__)


def _parse_time(text: str) -> time:
    # "24:00" closes a day; the clock represents it as midnight (time(0)) at the interval's end.
    if text in ("24:00", "24:00:00"):
        return time(0)
    return time.fromisoformat(text)


def working_calendar(calendar: BusinessCalendar | None) -> WorkingCalendar:
    if calendar is None:
        return sla_clock.ALWAYS_OPEN
    hours = {
        int(day): tuple((_parse_time(start), _parse_time(end)) for start, end in intervals)
        for day, intervals in (calendar.hours or {}).items()
        if intervals and not calendar.always_open
    }
    if not hours:
        if not calendar.always_open:
            # No working time at all (a calendar saved before its form had hours): the clock counts every hour,
            # logged, rather than refusing to open the ticket (sla_clock finds no due date in such a calendar).
            log.warning("business calendar %r has no working hours: its SLA clocks count every hour", calendar.name)
        return WorkingCalendar(tz=calendar.timezone, hours={}, always_open=True)
    return WorkingCalendar(tz=calendar.timezone, hours=hours, holidays=frozenset(h.day for h in calendar.holidays))


def policy_for_tier(session: Session, tier: Tier | None) -> SlaPolicy | None:
    """The tier's own policy, else the default one (tier NULL); read once per transaction, with its targets."""

    def load() -> SlaPolicy | None:
        with session.no_autoflush:  # a ticket being created is not flushed just to read the policies
            policies = session.scalars(
                sa.select(SlaPolicy)
                .where(sa.or_(SlaPolicy.tier == tier, SlaPolicy.tier.is_(None)))
                .options(
                    selectinload(SlaPolicy.targets),
                    selectinload(SlaPolicy.calendar).selectinload(BusinessCalendar.holidays),
                )
            ).all()
        return next((p for p in policies if p.tier == tier), None) or next(
            (p for p in policies if p.tier is None), None
        )

    return txcache.memo(
        session, ("sla_policy", tier), load, depends_on=(SlaPolicy, SlaTarget, BusinessCalendar, Holiday)
    )


def target_for(policy: SlaPolicy | None, priority: Priority) -> SlaTarget | None:
    if policy is None:
        return None
    return next((t for t in policy.targets if t.priority == priority), None)


def _cycle_pauses(ticket: Ticket) -> list[Pause]:
    start = ticket.sla_started_at
    return [Pause(p.started_at, p.ended_at) for p in ticket.sla_pauses if start is None or p.started_at >= start]


def _calendar_of(ticket: Ticket) -> WorkingCalendar:
    return working_calendar(ticket.sla_policy.calendar if ticket.sla_policy else None)


def recompute_due_dates(ticket: Ticket) -> None:
    """Due dates from the targets, the calendar and the pauses of the current clock cycle."""
    if ticket.sla_started_at is None:
        return
    calendar, pauses = _calendar_of(ticket), _cycle_pauses(ticket)
    if ticket.first_response_target_minutes is not None and ticket.first_response_at is None:
        ticket.first_response_due = sla_clock.due_at(
            ticket.sla_started_at, timedelta(minutes=ticket.first_response_target_minutes), calendar, pauses
        )
    elif ticket.first_response_target_minutes is None:
        ticket.first_response_due = None
    ticket.due_date = (
        None
        if ticket.resolution_target_minutes is None
        else sla_clock.due_at(
            ticket.sla_started_at, timedelta(minutes=ticket.resolution_target_minutes), calendar, pauses
        )
    )


def apply_policy(session: Session, ticket: Ticket) -> None:
    """Pick the policy for the customer's tier and the ticket's priority, then recompute."""
    tier = ticket.customer.tier if ticket.customer else None
    ticket.sla_policy = policy_for_tier(session, tier)
    target = target_for(ticket.sla_policy, ticket.priority)
    ticket.first_response_target_minutes = target.first_response_minutes if target else None
    ticket.resolution_target_minutes = target.resolution_minutes if target else None
    recompute_due_dates(ticket)


def start_clock(session: Session, ticket: Ticket, now: datetime) -> None:
    ticket.sla_started_at = now
    apply_policy(session, ticket)


def pause_clock(ticket: Ticket, now: datetime, reason: str) -> None:
    if any(p.ended_at is None for p in ticket.sla_pauses):
        return
    ticket.sla_pauses.append(SlaPause(started_at=now, reason=reason))
    recompute_due_dates(ticket)


def resume_clock(ticket: Ticket, now: datetime) -> None:
    for pause in ticket.sla_pauses:
        if pause.ended_at is None:
            pause.ended_at = now
    recompute_due_dates(ticket)


def restart_clock(ticket: Ticket, now: datetime) -> None:
    """Reopened after Resolved: a new resolution cycle with the full target from now."""
    resume_clock(ticket, now)
    ticket.sla_started_at = now
    ticket.sla_warning_at = None
    recompute_due_dates(ticket)


def explain_resolution_due(ticket: Ticket) -> DueExplanation | None:
    if ticket.sla_started_at is None or ticket.resolution_target_minutes is None:
        return None
    return sla_clock.explain_due(
        ticket.sla_started_at,
        timedelta(minutes=ticket.resolution_target_minutes),
        _calendar_of(ticket),
        _cycle_pauses(ticket),
    )


def resolution_time_left(ticket: Ticket, now: datetime) -> timedelta | None:
    if ticket.sla_started_at is None or ticket.resolution_target_minutes is None:
        return None
    return sla_clock.time_left(
        ticket.sla_started_at,
        timedelta(minutes=ticket.resolution_target_minutes),
        _calendar_of(ticket),
        _cycle_pauses(ticket),
        now,
    )
