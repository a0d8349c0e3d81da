"""Tests of the SLA clock. Expected instants are exact UTC literals.

Calendar facts used below: 2026-03-02 is a Monday; Europe/Berlin springs
forward on Sun 2026-03-29 and falls back on Sun 2026-10-25; America/New_York
springs forward on Sun 2026-03-08 and falls back on Sun 2026-11-01.
"""

from __future__ import annotations

import time as stopwatch
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ticketing.domain.sla_clock import (
    ALWAYS_OPEN,
    Pause,
    Period,
    WorkingCalendar,
    due_at,
    explain_due,
    time_left,
    working_periods,
    working_time_between,
)

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
NINE_TO_FIVE = ((time(9), time(17)),)
WHOLE_DAY = ((time(0), time(0)),)

BUSINESS = WorkingCalendar("Europe/Berlin", {day: NINE_TO_FIVE for day in range(5)})
LUNCH = WorkingCalendar("Europe/Berlin", {day: ((time(9), time(12)), (time(13), time(17))) for day in range(5)})
CHRISTMAS_2021 = frozenset({date(2021, 12, 24), date(2021, 12, 25), date(2021, 12, 26)})
CHRISTMAS = WorkingCalendar("Europe/Berlin", BUSINESS.hours, holidays=CHRISTMAS_2021)
NY_BUSINESS = WorkingCalendar("America/New_York", {day: NINE_TO_FIVE for day in range(5)})
NY_EVENINGS = WorkingCalendar("America/New_York", {day: ((time(18), time(0)),) for day in range(5)})
FULL_DAYS = WorkingCalendar("Europe/Berlin", {day: WHOLE_DAY for day in range(7)})
# always_open wins over the hours and holidays it is given.
OPEN_BERLIN = WorkingCalendar("Europe/Berlin", BUSINESS.hours, holidays=CHRISTMAS_2021, always_open=True)

H = timedelta(hours=1)
M = timedelta(minutes=1)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=BERLIN)


def sunday(*spans: tuple[time, time]) -> WorkingCalendar:
    return WorkingCalendar("Europe/Berlin", {6: spans})


# --- due_at without pauses ----------------------------------------------------

DUE_CASES = [
    pytest.param(BUSINESS, berlin(2026, 3, 6, 16), 4 * H, utc(2026, 3, 9, 11), id="fri-16h-plus-4h-is-mon-12h"),
    pytest.param(BUSINESS, berlin(2026, 3, 3, 7, 30), 2 * H, utc(2026, 3, 3, 10), id="before-opening"),
    pytest.param(BUSINESS, berlin(2026, 3, 3, 18), 2 * H, utc(2026, 3, 4, 10), id="after-closing"),
    pytest.param(BUSINESS, berlin(2026, 3, 3, 17), 1 * H, utc(2026, 3, 4, 9), id="exactly-at-closing"),
    pytest.param(BUSINESS, berlin(2026, 3, 7, 10), 2 * H, utc(2026, 3, 9, 10), id="opened-on-saturday"),
    pytest.param(BUSINESS, utc(2026, 3, 8, 23, 30), 1 * H, utc(2026, 3, 9, 9), id="sunday-in-utc-monday-in-berlin"),
    pytest.param(
        BUSINESS,
        datetime(2026, 3, 3, 14, tzinfo=timezone(timedelta(hours=5))),
        1 * H,
        utc(2026, 3, 3, 10),
        id="start-given-in-another-offset",
    ),
    pytest.param(BUSINESS, berlin(2026, 3, 3, 9), 8 * H, utc(2026, 3, 3, 16), id="ends-at-closing-not-next-morning"),
    pytest.param(BUSINESS, berlin(2026, 3, 2, 13), 24 * H, utc(2026, 3, 5, 12), id="three-working-days"),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 3, 16, 59, 30),
        90 * timedelta(seconds=1),
        utc(2026, 3, 4, 8, 1),
        id="seconds",
    ),
    pytest.param(BUSINESS, berlin(2026, 3, 3, 10, 15), timedelta(0), utc(2026, 3, 3, 9, 15), id="zero-target-in-hours"),
    pytest.param(BUSINESS, berlin(2026, 3, 7, 10), timedelta(0), utc(2026, 3, 9, 8), id="zero-target-on-weekend"),
    pytest.param(BUSINESS, berlin(2026, 3, 2, 9), 240 * H, utc(2026, 4, 10, 15), id="thirty-working-days-over-dst"),
    pytest.param(LUNCH, berlin(2026, 3, 3, 11), 2 * H, utc(2026, 3, 3, 13), id="lunch-break-skipped"),
    pytest.param(LUNCH, berlin(2026, 3, 3, 12, 30), 1 * H, utc(2026, 3, 3, 13), id="opened-during-lunch"),
    pytest.param(LUNCH, berlin(2026, 3, 3, 11), 8 * H, utc(2026, 3, 4, 11), id="ends-when-lunch-starts"),
    pytest.param(LUNCH, berlin(2026, 3, 3, 9), 7 * H, utc(2026, 3, 3, 16), id="whole-lunch-day"),
    pytest.param(CHRISTMAS, berlin(2021, 12, 23, 16), 8 * H, utc(2021, 12, 27, 15), id="christmas-holidays-skipped"),
    pytest.param(CHRISTMAS, berlin(2021, 12, 24, 10), 1 * H, utc(2021, 12, 27, 9), id="opened-on-a-holiday"),
    pytest.param(BUSINESS, berlin(2026, 3, 27, 16), 4 * H, utc(2026, 3, 30, 10), id="berlin-spring-forward-weekend"),
    pytest.param(
        NY_BUSINESS,
        datetime(2026, 3, 6, 15, tzinfo=NEW_YORK),
        4 * H,
        utc(2026, 3, 9, 15),
        id="new-york-spring-forward-weekend",
    ),
    pytest.param(
        NY_EVENINGS,
        datetime(2026, 3, 2, 21, tzinfo=NEW_YORK),
        4 * H,
        utc(2026, 3, 4, 0),
        id="evening-shift-local-date-before-utc-date",
    ),
    pytest.param(
        NY_BUSINESS,
        datetime(2026, 10, 30, 15, tzinfo=NEW_YORK),
        4 * H,
        utc(2026, 11, 2, 16),
        id="new-york-fall-back-weekend",
    ),
    pytest.param(FULL_DAYS, berlin(2026, 3, 28, 12), 24 * H, utc(2026, 3, 29, 11), id="24h-days-spring-forward"),
    pytest.param(FULL_DAYS, berlin(2026, 10, 24, 12), 24 * H, utc(2026, 10, 25, 10), id="24h-days-fall-back"),
]


@pytest.mark.parametrize(("calendar", "start", "target", "expected"), DUE_CASES)
def test_due_at(calendar: WorkingCalendar, start: datetime, target: timedelta, expected: datetime) -> None:
    due = due_at(start, target, calendar)
    assert due == expected
    assert due is not None and due.tzinfo is UTC


@pytest.mark.parametrize(
    ("calendar", "start", "target", "expected"),
    [
        pytest.param(ALWAYS_OPEN, utc(2026, 3, 6, 16), 4 * H, utc(2026, 3, 6, 20), id="always-open-4h"),
        pytest.param(ALWAYS_OPEN, utc(2026, 3, 6, 16), 100 * H, utc(2026, 3, 10, 20), id="always-open-over-weekend"),
        pytest.param(ALWAYS_OPEN, utc(2026, 3, 6, 16), timedelta(0), utc(2026, 3, 6, 16), id="always-open-zero"),
        pytest.param(OPEN_BERLIN, berlin(2026, 3, 7, 10), 8 * H, utc(2026, 3, 7, 17), id="berlin-24x7-saturday"),
        pytest.param(OPEN_BERLIN, berlin(2026, 3, 28, 12), 24 * H, utc(2026, 3, 29, 11), id="berlin-24x7-over-dst"),
        pytest.param(OPEN_BERLIN, berlin(2021, 12, 24, 10), 1 * H, utc(2021, 12, 24, 10), id="24x7-ignores-holidays"),
    ],
)
def test_due_at_24x7_is_start_plus_target(
    calendar: WorkingCalendar, start: datetime, target: timedelta, expected: datetime
) -> None:
    assert due_at(start, target, calendar) == expected


# --- working periods and DST ---------------------------------------------------

SPRING = (utc(2026, 3, 28), utc(2026, 3, 31))
FALL = (utc(2026, 10, 24), utc(2026, 10, 27))


@pytest.mark.parametrize(
    ("calendar", "window", "expected", "total"),
    [
        pytest.param(
            sunday(*WHOLE_DAY),
            SPRING,
            [(utc(2026, 3, 28, 23), utc(2026, 3, 29, 22))],
            23 * H,
            id="24h-spring-is-23h",
        ),
        pytest.param(
            sunday(*WHOLE_DAY),
            FALL,
            [(utc(2026, 10, 24, 22), utc(2026, 10, 25, 23))],
            25 * H,
            id="24h-fall-is-25h",
        ),
        pytest.param(
            sunday(*NINE_TO_FIVE),
            SPRING,
            [(utc(2026, 3, 29, 7), utc(2026, 3, 29, 15))],
            8 * H,
            id="9-17-spring",
        ),
        pytest.param(
            sunday(*NINE_TO_FIVE),
            FALL,
            [(utc(2026, 10, 25, 8), utc(2026, 10, 25, 16))],
            8 * H,
            id="9-17-fall",
        ),
        pytest.param(
            sunday((time(1), time(4))),
            SPRING,
            [(utc(2026, 3, 29, 0), utc(2026, 3, 29, 2))],
            2 * H,
            id="1-4-spring-skips-an-hour",
        ),
        pytest.param(
            sunday((time(1), time(4))),
            FALL,
            [(utc(2026, 10, 24, 23), utc(2026, 10, 25, 3))],
            4 * H,
            id="1-4-fall-repeats-an-hour",
        ),
        pytest.param(
            sunday((time(2, 30), time(4))),
            SPRING,
            [(utc(2026, 3, 29, 1), utc(2026, 3, 29, 2))],
            1 * H,
            id="skipped-opening-time-opens-at-the-jump",
        ),
        pytest.param(sunday((time(2), time(2, 59))), SPRING, [], timedelta(0), id="interval-inside-gap-is-empty"),
        pytest.param(
            sunday((time(2), time(2, 30))),
            FALL,
            [(utc(2026, 10, 25, 0), utc(2026, 10, 25, 0, 30))],
            30 * M,
            id="repeated-time-means-first-occurrence",
        ),
    ],
)
def test_dst_days(
    calendar: WorkingCalendar,
    window: tuple[datetime, datetime],
    expected: list[tuple[datetime, datetime]],
    total: timedelta,
) -> None:
    assert list(working_periods(*window, calendar)) == expected
    assert working_time_between(*window, calendar) == total


def test_dst_change_at_midnight_starts_the_day_at_the_jump() -> None:
    # Sao Paulo skipped 00:00-01:00 on Sun 2018-11-04: that day began at 01:00 (-02).
    calendar = WorkingCalendar("America/Sao_Paulo", {day: WHOLE_DAY for day in range(7)})
    sunday_only = WorkingCalendar("America/Sao_Paulo", {6: WHOLE_DAY})
    window = (utc(2018, 11, 3, 3), utc(2018, 11, 5, 2))  # Sat 00:00 -03 .. Mon 00:00 -02
    assert list(working_periods(*window, calendar)) == [window]
    assert list(working_periods(*window, sunday_only)) == [(utc(2018, 11, 4, 3), utc(2018, 11, 5, 2))]


@pytest.mark.parametrize(
    ("calendar", "start", "end", "expected"),
    [
        pytest.param(
            BUSINESS,
            berlin(2026, 3, 4, 12),
            berlin(2026, 3, 6, 10),
            [
                (utc(2026, 3, 4, 11), utc(2026, 3, 4, 16)),
                (utc(2026, 3, 5, 8), utc(2026, 3, 5, 16)),
                (utc(2026, 3, 6, 8), utc(2026, 3, 6, 9)),
            ],
            id="clipped-to-window",
        ),
        pytest.param(
            WorkingCalendar("Europe/Berlin", {0: ((time(12), time(17)), (time(9), time(12)))}),
            utc(2026, 3, 2),
            utc(2026, 3, 3),
            [(utc(2026, 3, 2, 8), utc(2026, 3, 2, 16))],
            id="adjacent-unsorted-intervals-merged",
        ),
        pytest.param(
            FULL_DAYS,
            utc(2026, 3, 2),
            utc(2026, 3, 5),
            [(utc(2026, 3, 2), utc(2026, 3, 5))],
            id="midnights-merged",
        ),
        pytest.param(ALWAYS_OPEN, utc(2026, 3, 2), utc(2026, 3, 5), [(utc(2026, 3, 2), utc(2026, 3, 5))], id="24x7"),
        pytest.param(BUSINESS, berlin(2026, 3, 7, 9), berlin(2026, 3, 8, 18), [], id="weekend-only"),
        pytest.param(BUSINESS, berlin(2026, 3, 3, 12), berlin(2026, 3, 3, 12), [], id="empty-window"),
        pytest.param(BUSINESS, berlin(2026, 3, 3, 12), berlin(2026, 3, 3, 10), [], id="reversed-window"),
    ],
)
def test_working_periods(
    calendar: WorkingCalendar, start: datetime, end: datetime, expected: list[tuple[datetime, datetime]]
) -> None:
    periods = list(working_periods(start, end, calendar))
    assert periods == expected
    assert all(a.tzinfo is UTC and b.tzinfo is UTC for a, b in periods)


@pytest.mark.parametrize(
    ("calendar", "start", "end", "pauses", "expected"),
    [
        pytest.param(BUSINESS, berlin(2026, 3, 2), berlin(2026, 3, 9), [], 40 * H, id="business-week"),
        pytest.param(CHRISTMAS, berlin(2021, 12, 20), berlin(2021, 12, 27), [], 32 * H, id="christmas-week"),
        pytest.param(BUSINESS, berlin(2026, 3, 3, 12), berlin(2026, 3, 3, 10), [], timedelta(0), id="end-before-start"),
        pytest.param(
            BUSINESS,
            berlin(2026, 3, 2, 9),
            berlin(2026, 3, 2, 17),
            [Pause(berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 11, 30))],
            6 * H + 30 * M,
            id="closed-pause-subtracted",
        ),
        pytest.param(
            BUSINESS,
            berlin(2026, 3, 2, 9),
            berlin(2026, 3, 3, 17),
            [Pause(berlin(2026, 3, 2, 11), None)],
            2 * H,
            id="open-pause-runs-to-end",
        ),
        pytest.param(
            BUSINESS,
            berlin(2026, 3, 2, 10),
            berlin(2026, 3, 2, 12),
            [Pause(berlin(2026, 3, 2, 8), berlin(2026, 3, 2, 11))],
            1 * H,
            id="pause-from-before-start",
        ),
        pytest.param(
            WorkingCalendar("Europe/Berlin", {}),
            utc(2026, 1, 1),
            utc(2036, 1, 1),
            [],
            timedelta(0),
            id="bounded-window-never-hits-the-guard",
        ),
    ],
)
def test_working_time_between(
    calendar: WorkingCalendar, start: datetime, end: datetime, pauses: list[Pause], expected: timedelta
) -> None:
    assert working_time_between(start, end, calendar, pauses) == expected


# --- pauses -------------------------------------------------------------------

PAUSE_CASES = [
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 2, 9),
        4 * H,
        [Pause(berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 11, 30))],
        utc(2026, 3, 2, 13, 30),
        id="pause-inside-hours",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 6, 14),
        8 * H,
        [Pause(berlin(2026, 3, 6, 15), berlin(2026, 3, 10, 11))],
        utc(2026, 3, 11, 9),
        id="fri-15h-to-tue-11h-pushes-12-working-hours",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 2, 10),
        2 * H,
        [Pause(berlin(2026, 3, 2, 8), berlin(2026, 3, 2, 11))],
        utc(2026, 3, 2, 12),
        id="pause-starting-before-start",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 2, 9),
        4 * H,
        [Pause(berlin(2026, 3, 2, 12), berlin(2026, 3, 3, 10))],
        utc(2026, 3, 3, 10),
        id="pause-ending-after-original-due",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 2, 9),
        4 * H,
        [Pause(berlin(2026, 3, 2, 15), berlin(2026, 3, 4, 12))],
        utc(2026, 3, 2, 12),
        id="pause-after-due-changes-nothing",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 6, 16),
        4 * H,
        [Pause(berlin(2026, 3, 6, 18), berlin(2026, 3, 9, 8))],
        utc(2026, 3, 9, 11),
        id="pause-outside-hours-changes-nothing",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 2, 9),
        4 * H,
        [
            Pause(berlin(2026, 3, 2, 14), berlin(2026, 3, 2, 14, 30)),
            Pause(berlin(2026, 3, 2, 11), berlin(2026, 3, 2, 12)),
            Pause(berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 11, 30)),
        ],
        utc(2026, 3, 2, 14, 30),
        id="overlapping-unsorted-pauses-merged",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 2, 9),
        4 * H,
        [
            Pause(berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 11)),
            Pause(berlin(2026, 3, 2, 11), berlin(2026, 3, 2, 12)),
            Pause(berlin(2026, 3, 2, 10, 15), berlin(2026, 3, 2, 10, 45)),
        ],
        utc(2026, 3, 2, 14),
        id="adjacent-and-nested-pauses",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 2, 9),
        4 * H,
        [Pause(berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 10))],
        utc(2026, 3, 2, 12),
        id="zero-length-pause",
    ),
    pytest.param(
        LUNCH,
        berlin(2026, 3, 3, 9),
        4 * H,
        [Pause(berlin(2026, 3, 3, 11), berlin(2026, 3, 3, 14))],
        utc(2026, 3, 3, 15),
        id="pause-over-lunch-pushes-only-working-time",
    ),
    pytest.param(
        ALWAYS_OPEN,
        utc(2026, 3, 2),
        10 * H,
        [Pause(utc(2026, 3, 2, 2), utc(2026, 3, 2, 5))],
        utc(2026, 3, 2, 13),
        id="24x7-minus-pause",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 2, 9),
        4 * H,
        [Pause(berlin(2026, 3, 2, 14), None)],
        utc(2026, 3, 2, 12),
        id="open-pause-after-target-used-up",
    ),
    pytest.param(
        BUSINESS,
        berlin(2026, 3, 2, 9),
        4 * H,
        [Pause(berlin(2026, 3, 2, 13), None)],
        utc(2026, 3, 2, 12),
        id="open-pause-starting-exactly-at-due",
    ),
]


@pytest.mark.parametrize(("calendar", "start", "target", "pauses", "expected"), PAUSE_CASES)
def test_due_at_with_pauses(
    calendar: WorkingCalendar, start: datetime, target: timedelta, pauses: list[Pause], expected: datetime
) -> None:
    assert due_at(start, target, calendar, pauses) == expected


@pytest.mark.parametrize(
    ("calendar", "start", "pauses", "counted"),
    [
        pytest.param(BUSINESS, berlin(2026, 3, 2, 9), [Pause(berlin(2026, 3, 2, 11), None)], 2 * H, id="mid-morning"),
        pytest.param(
            BUSINESS,
            berlin(2026, 3, 2, 9),
            [Pause(berlin(2026, 3, 1, 20), None)],
            timedelta(0),
            id="before-start",
        ),
        pytest.param(BUSINESS, berlin(2026, 3, 6, 16), [Pause(berlin(2026, 3, 7, 10), None)], 1 * H, id="on-weekend"),
        pytest.param(
            BUSINESS,
            berlin(2026, 3, 2, 9),
            [Pause(berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 11)), Pause(berlin(2026, 3, 2, 12), None)],
            2 * H,
            id="after-a-closed-pause",
        ),
        pytest.param(
            BUSINESS,
            berlin(2026, 3, 2, 9),
            [Pause(berlin(2026, 3, 2, 10), None), Pause(berlin(2026, 3, 2, 9, 30), berlin(2026, 3, 2, 11))],
            30 * M,
            id="merged-with-an-overlapping-closed-pause",
        ),
        pytest.param(ALWAYS_OPEN, utc(2026, 3, 2), [Pause(utc(2026, 3, 2, 3), None)], 3 * H, id="24x7"),
    ],
)
def test_open_pause_stops_the_clock(
    calendar: WorkingCalendar, start: datetime, pauses: list[Pause], counted: timedelta
) -> None:
    assert due_at(start, 4 * H, calendar, pauses) is None
    explanation = explain_due(start, 4 * H, calendar, pauses)
    assert explanation.due is None
    assert explanation.counted == counted
    assert sum((p.end - p.start for p in explanation.periods if p.kind == "working"), timedelta(0)) == counted


def test_open_pause_at_start_with_zero_target_is_not_due() -> None:
    explanation = explain_due(berlin(2026, 3, 2, 9), timedelta(0), BUSINESS, [Pause(berlin(2026, 3, 2, 9), None)])
    assert (explanation.due, explanation.counted, explanation.periods) == (None, timedelta(0), ())


@pytest.mark.parametrize(
    ("resumed", "expected_due"),
    [
        pytest.param(berlin(2026, 3, 4, 14, 40), utc(2026, 3, 5, 11, 25), id="resumed-two-days-later"),
        pytest.param(berlin(2026, 3, 7, 10), utc(2026, 3, 9, 13, 45), id="resumed-on-saturday"),
        pytest.param(berlin(2026, 3, 2, 13), utc(2026, 3, 3, 9, 45), id="resumed-same-day"),
    ],
)
def test_resume_continues_with_exactly_the_time_left(resumed: datetime, expected_due: datetime) -> None:
    start, target, paused_at = berlin(2026, 3, 2, 9), 8 * H, berlin(2026, 3, 2, 11, 15)
    while_paused = explain_due(start, target, BUSINESS, [Pause(paused_at, None)])
    assert (while_paused.due, while_paused.counted) == (None, 2 * H + 15 * M)

    pauses = [Pause(paused_at, resumed)]
    remaining = time_left(start, target, BUSINESS, pauses, now=resumed)
    assert remaining == target - while_paused.counted == 5 * H + 45 * M
    assert due_at(start, target, BUSINESS, pauses) == expected_due
    assert due_at(resumed, remaining, BUSINESS) == expected_due


# --- consistency between the functions ----------------------------------------

AGREEMENT_CASES = [
    pytest.param(case.values[0], case.values[1], case.values[2], [], id=case.id) for case in DUE_CASES
] + [pytest.param(*case.values[:4], id=case.id) for case in PAUSE_CASES]


@pytest.mark.parametrize(("calendar", "start", "target", "pauses"), AGREEMENT_CASES)
def test_working_time_until_due_is_the_target(
    calendar: WorkingCalendar, start: datetime, target: timedelta, pauses: list[Pause]
) -> None:
    due = due_at(start, target, calendar, pauses)
    assert due is not None
    assert working_time_between(start, due, calendar, pauses) == target
    assert time_left(start, target, calendar, pauses, now=due) == timedelta(0)


@pytest.mark.parametrize(
    "calendar",
    [
        pytest.param(BUSINESS, id="berlin"),
        pytest.param(LUNCH, id="lunch"),
        pytest.param(NY_BUSINESS, id="new-york"),
        pytest.param(FULL_DAYS, id="24h-days"),
        pytest.param(sunday((time(2, 30), time(4)), (time(9), time(17))), id="sundays-with-skipped-opening"),
    ],
)
def test_agreement_on_a_grid_across_a_dst_change(calendar: WorkingCalendar) -> None:
    pause = Pause(berlin(2026, 3, 26, 10, 10), berlin(2026, 3, 30, 14, 20))
    targets = [timedelta(0), M, 3 * H + 7 * M, 8 * H, 17 * H + 30 * M, 40 * H]
    for step in range(0, 14 * 24 * 60, 97):  # odd step: hits opening, closing and off hours
        start = berlin(2026, 3, 23) + step * M
        for target in targets:
            due = due_at(start, target, calendar, [pause])
            assert due is not None
            assert working_time_between(start, due, calendar, [pause]) == target, (start, target)


@pytest.mark.parametrize(("calendar", "start", "target", "pauses"), AGREEMENT_CASES)
def test_explanation_adds_up(
    calendar: WorkingCalendar, start: datetime, target: timedelta, pauses: list[Pause]
) -> None:
    explanation = explain_due(start, target, calendar, pauses)
    due = explanation.due
    assert due == due_at(start, target, calendar, pauses) and due is not None
    assert (explanation.target, explanation.counted) == (target, target)
    spans = [(p.start, p.end) for p in explanation.periods]
    assert spans == sorted(spans) and all(a < b for a, b in spans)
    assert all(b <= c for (_, b), (c, _) in zip(spans, spans[1:], strict=False))
    assert all(start <= a and b <= due for a, b in spans)
    working = sum((p.end - p.start for p in explanation.periods if p.kind == "working"), timedelta(0))
    paused_time = sum((p.end - p.start for p in explanation.periods if p.kind == "paused"), timedelta(0))
    assert working == target
    # Paused periods are exactly the working time the pauses took away before due.
    assert paused_time == working_time_between(start, due, calendar) - target


def test_explanation_periods_for_a_pause_over_a_weekend() -> None:
    explanation = explain_due(
        berlin(2026, 3, 6, 14), 8 * H, BUSINESS, [Pause(berlin(2026, 3, 6, 15), berlin(2026, 3, 10, 11))]
    )
    assert explanation.due == utc(2026, 3, 11, 9)
    assert explanation.periods == (
        Period(utc(2026, 3, 6, 13), utc(2026, 3, 6, 14), "working"),
        Period(utc(2026, 3, 6, 14), utc(2026, 3, 6, 16), "paused"),
        Period(utc(2026, 3, 9, 8), utc(2026, 3, 9, 16), "paused"),
        Period(utc(2026, 3, 10, 8), utc(2026, 3, 10, 10), "paused"),
        Period(utc(2026, 3, 10, 10), utc(2026, 3, 10, 16), "working"),
        Period(utc(2026, 3, 11, 8), utc(2026, 3, 11, 9), "working"),
    )


@pytest.mark.parametrize(
    ("calendar", "start", "target", "expected"),
    [
        pytest.param(
            ALWAYS_OPEN,
            utc(2026, 3, 2),
            400 * 24 * H,
            (Period(utc(2026, 3, 2), utc(2027, 4, 6), "working"),),
            id="24x7-is-one-period",
        ),
        pytest.param(
            FULL_DAYS,
            utc(2026, 3, 2),
            50 * H,
            (Period(utc(2026, 3, 2), utc(2026, 3, 4, 2), "working"),),
            id="midnights-merged",
        ),
        pytest.param(BUSINESS, berlin(2026, 3, 7, 10), timedelta(0), (), id="zero-target-has-no-periods"),
    ],
)
def test_explanation_merges_adjacent_periods(
    calendar: WorkingCalendar, start: datetime, target: timedelta, expected: tuple[Period, ...]
) -> None:
    assert explain_due(start, target, calendar).periods == expected


# --- summary ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calendar", "start", "target", "pauses", "tz", "expected"),
    [
        pytest.param(
            BUSINESS,
            berlin(2026, 3, 6, 16),
            4 * H,
            [Pause(berlin(2026, 3, 9, 10), berlin(2026, 3, 9, 10, 30))],
            "Europe/Berlin",
            [
                "Fri 6 Mar 16:00–17:00 Europe/Berlin: 1h 0m counted",
                "Mon 9 Mar 09:00–10:00 Europe/Berlin: 1h 0m counted",
                "Mon 9 Mar 10:00–10:30 Europe/Berlin: 0h 30m paused",
                "Mon 9 Mar 10:30–12:30 Europe/Berlin: 2h 0m counted",
                "Due Mon 9 Mar 12:30 Europe/Berlin (4h 0m of working time)",
            ],
            id="business-with-pause",
        ),
        pytest.param(
            BUSINESS,
            berlin(2026, 3, 2, 9),
            4 * H,
            [Pause(berlin(2026, 3, 2, 11), None)],
            "UTC",
            [
                "Mon 2 Mar 08:00–10:00 UTC: 2h 0m counted",
                "Clock stopped by an open pause: 2h 0m of 4h 0m counted",
            ],
            id="stopped-clock-shown-in-utc",
        ),
        pytest.param(
            sunday(*WHOLE_DAY),
            berlin(2026, 3, 29),
            23 * H,
            [],
            "Europe/Berlin",
            [
                "Sun 29 Mar 00:00–24:00 Europe/Berlin: 23h 0m counted",
                "Due Mon 30 Mar 00:00 Europe/Berlin (23h 0m of working time)",
            ],
            id="whole-short-day",
        ),
        pytest.param(
            ALWAYS_OPEN,
            berlin(2026, 3, 6, 16),
            50 * H,
            [],
            "Europe/Berlin",
            [
                "Fri 6 Mar 16:00 – Sun 8 Mar 18:00 Europe/Berlin: 50h 0m counted",
                "Due Sun 8 Mar 18:00 Europe/Berlin (50h 0m of working time)",
            ],
            id="multi-day-period",
        ),
    ],
)
def test_summary(
    calendar: WorkingCalendar,
    start: datetime,
    target: timedelta,
    pauses: list[Pause],
    tz: str,
    expected: list[str],
) -> None:
    assert explain_due(start, target, calendar, pauses).summary(tz) == expected


# --- time_left ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "pauses", "now", "expected"),
    [
        pytest.param(berlin(2026, 3, 2, 9), [], berlin(2026, 3, 2, 11), 2 * H, id="running"),
        pytest.param(berlin(2026, 3, 2, 9), [], berlin(2026, 3, 2, 13), timedelta(0), id="exactly-due"),
        pytest.param(berlin(2026, 3, 2, 9), [], berlin(2026, 3, 3, 10), -5 * H, id="overdue-in-working-time"),
        pytest.param(berlin(2026, 3, 2, 9), [], berlin(2026, 3, 2, 8), 4 * H, id="now-before-start"),
        pytest.param(berlin(2026, 3, 6, 16), [], berlin(2026, 3, 8, 12), 3 * H, id="weekend-does-not-tick"),
        pytest.param(
            berlin(2026, 3, 2, 9),
            [Pause(berlin(2026, 3, 2, 10), None)],
            berlin(2026, 3, 3, 12),
            3 * H,
            id="open-pause-freezes",
        ),
    ],
)
def test_time_left(start: datetime, pauses: list[Pause], now: datetime, expected: timedelta) -> None:
    assert time_left(start, 4 * H, BUSINESS, pauses, now) == expected


# --- validation and guards ----------------------------------------------------

NAIVE = datetime(2026, 3, 2, 9)
AWARE = berlin(2026, 3, 2, 9)


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: working_periods(NAIVE, AWARE, BUSINESS), id="working_periods-start"),
        pytest.param(lambda: working_time_between(AWARE, NAIVE, BUSINESS), id="working_time_between-end"),
        pytest.param(lambda: due_at(NAIVE, H, BUSINESS), id="due_at-start"),
        pytest.param(lambda: explain_due(NAIVE, H, BUSINESS), id="explain_due-start"),
        pytest.param(lambda: time_left(AWARE, H, BUSINESS, [], NAIVE), id="time_left-now"),
        pytest.param(lambda: Pause(NAIVE, None), id="pause-start"),
        pytest.param(lambda: Pause(AWARE, NAIVE), id="pause-end"),
    ],
)
def test_naive_datetimes_are_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        call()


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda: due_at(AWARE, -M, BUSINESS), id="due_at"),
        pytest.param(lambda: explain_due(AWARE, -M, BUSINESS), id="explain_due"),
        pytest.param(lambda: time_left(AWARE, -M, BUSINESS, [], AWARE), id="time_left"),
    ],
)
def test_negative_target_is_rejected(call: Callable[[], object]) -> None:
    with pytest.raises(ValueError, match="negative"):
        call()


@pytest.mark.parametrize(
    ("tz", "hours"),
    [
        pytest.param("Mars/Olympus_Mons", {}, id="unknown-tz"),
        pytest.param("Europe/Berlin", {0: ((time(17), time(9)),)}, id="start-after-end"),
        pytest.param("Europe/Berlin", {0: ((time(9), time(9)),)}, id="empty-interval"),
        pytest.param("Europe/Berlin", {7: NINE_TO_FIVE}, id="weekday-7"),
        pytest.param("Europe/Berlin", {0: ((time(9), time(12)), (time(11), time(14)))}, id="overlap"),
        pytest.param("Europe/Berlin", {0: (WHOLE_DAY[0], (time(9), time(10)))}, id="overlaps-whole-day"),
        pytest.param("Europe/Berlin", {0: ((time(9, tzinfo=UTC), time(17)),)}, id="aware-time"),
    ],
)
def test_invalid_calendars_are_rejected(tz: str, hours: dict[int, tuple[tuple[time, time], ...]]) -> None:
    with pytest.raises(ValueError):
        WorkingCalendar(tz, hours)


def test_pause_must_not_end_before_it_starts() -> None:
    with pytest.raises(ValueError, match="before it starts"):
        Pause(berlin(2026, 3, 2, 10), berlin(2026, 3, 2, 9))


def _every_day(first: date, days: int) -> frozenset[date]:
    return frozenset(first + timedelta(days=n) for n in range(days))


@pytest.mark.parametrize(
    "calendar",
    [
        pytest.param(WorkingCalendar("Europe/Berlin", {}), id="no-hours"),
        pytest.param(WorkingCalendar("Europe/Berlin", {0: ()}), id="empty-monday"),
        pytest.param(
            WorkingCalendar("Europe/Berlin", BUSINESS.hours, holidays=_every_day(date(2026, 1, 1), 6 * 366)),
            id="six-years-of-holidays",
        ),
    ],
)
def test_calendar_without_working_time_raises_instead_of_looping(calendar: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="no working time"):
        due_at(AWARE, H, calendar)
    with pytest.raises(ValueError, match="no working time"):
        due_at(AWARE, timedelta(0), calendar, [Pause(AWARE, None)])


def test_two_years_without_working_time_is_still_searched() -> None:
    calendar = WorkingCalendar("Europe/Berlin", BUSINESS.hours, holidays=_every_day(date(2026, 3, 2), 731))
    assert due_at(berlin(2026, 3, 2, 9), H, calendar) == utc(2028, 3, 2, 9)  # a Thursday


def test_calendar_is_immune_to_later_mutation_of_its_inputs() -> None:
    hours = {day: NINE_TO_FIVE for day in range(5)}
    calendar = WorkingCalendar("Europe/Berlin", hours)
    hours[5] = NINE_TO_FIVE
    assert due_at(berlin(2026, 3, 7, 10), H, calendar) == utc(2026, 3, 9, 9)
    assert hash(calendar) == hash(WorkingCalendar("Europe/Berlin", {day: NINE_TO_FIVE for day in range(5)}))


# --- performance --------------------------------------------------------------


def test_many_due_dates_are_fast() -> None:
    starts: Sequence[datetime] = [berlin(2026, 3, 2, 7) + n * 7 * M for n in range(10_000)]
    began = stopwatch.perf_counter()
    for start in starts:
        due_at(start, 40 * H, BUSINESS)
    assert stopwatch.perf_counter() - began < 1.0


def test_long_targets_step_by_day() -> None:
    began = stopwatch.perf_counter()
    due = due_at(berlin(2026, 3, 2, 10), 1000 * 8 * H, BUSINESS)  # 200 weeks of working days
    assert stopwatch.perf_counter() - began < 0.5
    assert due == utc(2029, 12, 31, 9)
