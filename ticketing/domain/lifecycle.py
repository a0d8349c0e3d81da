"""Ticket status lifecycle: which moves are allowed and what each one does to the clocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    PENDING = "pending"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {"in_progress": "In Progress", "waiting_on_customer": "Waiting on Customer"}.get(
            self.value, self.value.title()
        )


ACTIVE = frozenset({Status.OPEN, Status.IN_PROGRESS, Status.PENDING, Status.WAITING_ON_CUSTOMER})
# The SLA clock stands still while we wait on someone else.
PAUSED = frozenset({Status.PENDING, Status.WAITING_ON_CUSTOMER})
DONE = frozenset({Status.RESOLVED, Status.CLOSED})

# From -> allowed targets. Closed is final: a customer writing again opens a new, linked ticket.
TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.OPEN: frozenset(
        {Status.IN_PROGRESS, Status.PENDING, Status.WAITING_ON_CUSTOMER, Status.RESOLVED, Status.CLOSED}
    ),
    Status.IN_PROGRESS: frozenset(
        {Status.OPEN, Status.PENDING, Status.WAITING_ON_CUSTOMER, Status.RESOLVED, Status.CLOSED}
    ),
    Status.PENDING: frozenset(
        {Status.OPEN, Status.IN_PROGRESS, Status.WAITING_ON_CUSTOMER, Status.RESOLVED, Status.CLOSED}
    ),
    Status.WAITING_ON_CUSTOMER: frozenset(
        {Status.OPEN, Status.IN_PROGRESS, Status.PENDING, Status.RESOLVED, Status.CLOSED}
    ),
    Status.RESOLVED: frozenset({Status.OPEN, Status.IN_PROGRESS, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}

# What a customer may do from the portal: close an active ticket, reopen a resolved one.
CUSTOMER_TRANSITIONS: dict[Status, frozenset[Status]] = {
    **{s: frozenset({Status.CLOSED}) for s in ACTIVE},
    Status.RESOLVED: frozenset({Status.OPEN, Status.CLOSED}),
    Status.CLOSED: frozenset(),
}


class TransitionError(ValueError):
    pass


@dataclass(frozen=True)
class StatusChange:
    """What a transition does to the ticket's timestamps and SLA clock."""

    old: Status
    new: Status
    resolved_at: datetime | None  # the value the ticket must now hold
    closed_at: datetime | None
    pause_starts: bool  # open an SLA pause now
    pause_ends: bool  # close the open SLA pause now
    reopened: bool  # Resolved -> active: the resolution clock restarts from now


def can_transition(old: Status, new: Status, *, by_customer: bool = False) -> bool:
    table = CUSTOMER_TRANSITIONS if by_customer else TRANSITIONS
    return new in table[old]


def transition(
    old: Status,
    new: Status,
    *,
    now: datetime,
    resolved_at: datetime | None,
    closed_at: datetime | None,
    by_customer: bool = False,
) -> StatusChange:
    if old == new:
        raise TransitionError(f"ticket is already {new.label}")
    if not can_transition(old, new, by_customer=by_customer):
        raise TransitionError(f"cannot move a ticket from {old.label} to {new.label}")
    reopened = old in DONE and new in ACTIVE
    if new in DONE:
        # Closing straight from an active status also counts as resolving it.
        resolved_at = resolved_at or now
    elif reopened:
        resolved_at = None
    if new == Status.CLOSED:
        closed_at = now
    return StatusChange(
        old=old,
        new=new,
        resolved_at=resolved_at,
        closed_at=closed_at,
        pause_starts=new in PAUSED and old not in PAUSED,
        pause_ends=old in PAUSED and new not in PAUSED,
        reopened=reopened,
    )


def status_after_customer_reply(current: Status) -> Status | None:
    """A customer writing back: waiting/pending/resolved tickets return to Open; Closed needs a new ticket."""
    if current in PAUSED or current == Status.RESOLVED:
        return Status.OPEN
    return None
