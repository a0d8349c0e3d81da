from datetime import UTC, datetime

import pytest

from ticketing.domain.lifecycle import (
    TRANSITIONS,
    Status,
    TransitionError,
    can_transition,
    status_after_customer_reply,
    transition,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
T1 = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
S = Status

ALLOWED = [
    (S.OPEN, S.IN_PROGRESS),
    (S.OPEN, S.PENDING),
    (S.OPEN, S.WAITING_ON_CUSTOMER),
    (S.OPEN, S.RESOLVED),
    (S.OPEN, S.CLOSED),
    (S.IN_PROGRESS, S.OPEN),
    (S.PENDING, S.IN_PROGRESS),
    (S.WAITING_ON_CUSTOMER, S.OPEN),
    (S.RESOLVED, S.OPEN),
    (S.RESOLVED, S.IN_PROGRESS),
    (S.RESOLVED, S.CLOSED),
]
FORBIDDEN = [
    (S.CLOSED, S.OPEN),
    (S.CLOSED, S.RESOLVED),
    (S.CLOSED, S.IN_PROGRESS),
    (S.RESOLVED, S.PENDING),
    (S.RESOLVED, S.WAITING_ON_CUSTOMER),
    (S.OPEN, S.OPEN),
]


@pytest.mark.parametrize(("old", "new"), ALLOWED, ids=lambda s: s.value)
def test_allowed_transitions(old: Status, new: Status) -> None:
    assert can_transition(old, new)
    transition(old, new, now=T1, resolved_at=None, closed_at=None)


@pytest.mark.parametrize(("old", "new"), FORBIDDEN, ids=lambda s: s.value)
def test_forbidden_transitions_raise(old: Status, new: Status) -> None:
    with pytest.raises(TransitionError):
        transition(old, new, now=T1, resolved_at=None, closed_at=None)


def test_closed_is_final_and_every_status_has_a_row() -> None:
    assert set(TRANSITIONS) == set(Status)
    assert TRANSITIONS[S.CLOSED] == frozenset()


@pytest.mark.parametrize(
    ("old", "new", "resolved_before", "resolved_after", "closed_after", "pause_starts", "pause_ends", "reopened"),
    [
        (S.OPEN, S.RESOLVED, None, T1, None, False, False, False),
        (S.IN_PROGRESS, S.CLOSED, None, T1, T1, False, False, False),  # closing directly also resolves
        (S.RESOLVED, S.CLOSED, T0, T0, T1, False, False, False),  # keeps the original resolve time
        (S.RESOLVED, S.OPEN, T0, None, None, False, False, True),  # reopen clears resolved_at
        (S.OPEN, S.PENDING, None, None, None, True, False, False),
        (S.PENDING, S.WAITING_ON_CUSTOMER, None, None, None, False, False, False),  # stays paused
        (S.WAITING_ON_CUSTOMER, S.IN_PROGRESS, None, None, None, False, True, False),
        (S.PENDING, S.RESOLVED, None, T1, None, False, True, False),
    ],
)
def test_transition_effects(
    old, new, resolved_before, resolved_after, closed_after, pause_starts, pause_ends, reopened
) -> None:
    change = transition(old, new, now=T1, resolved_at=resolved_before, closed_at=None)
    assert change.resolved_at == resolved_after
    assert change.closed_at == closed_after
    assert (change.pause_starts, change.pause_ends, change.reopened) == (pause_starts, pause_ends, reopened)


@pytest.mark.parametrize(
    ("old", "new", "allowed"),
    [
        (S.OPEN, S.CLOSED, True),
        (S.RESOLVED, S.OPEN, True),
        (S.OPEN, S.RESOLVED, False),
        (S.OPEN, S.IN_PROGRESS, False),
        (S.CLOSED, S.OPEN, False),
        (S.WAITING_ON_CUSTOMER, S.CLOSED, True),
    ],
)
def test_customer_may_only_close_or_reopen(old: Status, new: Status, allowed: bool) -> None:
    assert can_transition(old, new, by_customer=True) is allowed


@pytest.mark.parametrize(
    ("current", "after"),
    [
        (S.WAITING_ON_CUSTOMER, S.OPEN),
        (S.PENDING, S.OPEN),
        (S.RESOLVED, S.OPEN),
        (S.OPEN, None),
        (S.IN_PROGRESS, None),
        (S.CLOSED, None),
    ],
)
def test_status_after_customer_reply(current: Status, after: Status | None) -> None:
    assert status_after_customer_reply(current) == after
