"""SLA clock: how much working time a ticket has used, and when it is due.

Time counts only inside the working intervals of a business calendar and not
while the ticket is paused (Pending / Waiting on Customer). The module is pure:
callers pass every instant, "now" included, so results are reproducible.
All datetimes must be timezone-aware; every datetime returned is in UTC.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from itertools import pairwise
from types import MappingProxyType
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Interval = tuple[datetime, datetime]
DayHours = tuple[tuple[time, time], ...]

_MIDNIGHT = time(0)
_ONE_DAY = timedelta(days=1)
_ONE_SECOND = timedelta(seconds=1)
_ZERO = timedelta(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A calendar without working time for this long is misconfigured; fail loudly
# instead of searching for a due date forever.
_MAX_IDLE_DAYS = 366 * 5
# Stands for "no end": the end of an open pause or of an unbounded search.
_NEVER = datetime.max.replace(tzinfo=UTC)
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class WorkingCalendar:
    """Business calendar in which SLA time counts.

    ``hours`` maps a weekday (0=Mon .. 6=Sun) to local working intervals
    ``(start, end)`` with ``start < end``. ``end == time(0)`` means 24:00, so
    ``(time(0), time(0))`` is the whole day. A missing weekday is closed.
    ``holidays`` are local dates closed all day. With ``always_open`` every
    instant counts and ``hours``/``holidays`` are ignored.

    Around DST changes, interval bounds are wall-clock times: a bound the clock
    skips (02:30 on a spring-forward day) becomes the instant of the jump, and a
    repeated one (fall-back) means its first occurrence.
    """

    tz: str
    hours: Mapping[int, DayHours] = field(hash=False)
    holidays: frozenset[date] = frozenset()
    always_open: bool = False

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.tz!r}") from exc
        # Own, read-only copies: mutating the caller's dict must not move deadlines.
        hours = {day: _checked_day(day, spans) for day, spans in self.hours.items()}
        object.__setattr__(self, "hours", MappingProxyType(hours))
        object.__setattr__(self, "holidays", frozenset(self.holidays))


ALWAYS_OPEN = WorkingCalendar(tz="UTC", hours={}, always_open=True)


@dataclass(frozen=True)
class Pause:
    """A span in which the ticket waited (e.g. on the customer); ``end=None`` = still paused."""

    start: datetime
    end: datetime | None

    def __post_init__(self) -> None:
        start = _utc(self.start, "pause start")
        if self.end is not None and _utc(self.end, "pause end") < start:
            raise ValueError("pause ends before it starts")


@dataclass(frozen=True)
class Period:
    """A UTC span of working time: ``kind`` is "working" (counted) or "paused"."""

    start: datetime
    end: datetime
    kind: str


@dataclass(frozen=True)
class DueExplanation:
    """Result of :func:`explain_due`, with the periods that produced it."""

    due: datetime | None  # None: an open pause stopped the clock before the target
    target: timedelta
    counted: timedelta  # == target when due is set, else counted until the open pause
    periods: tuple[Period, ...]  # working and paused periods up to due, in order

    def summary(self, tz: str) -> list[str]:
        """Human-readable lines, times shown in ``tz``."""
        zone = ZoneInfo(tz)
        lines = [_describe(period, zone, tz) for period in self.periods]
        if self.due is None:
            lines.append(
                f"Clock stopped by an open pause: {_duration(self.counted)} of {_duration(self.target)} counted"
            )
        else:
            due = _stamp(self.due.astimezone(zone))
            lines.append(f"Due {due} {tz} ({_duration(self.target)} of working time)")
        return lines


def working_periods(start: datetime, end: datetime, calendar: WorkingCalendar) -> Iterator[Interval]:
    """UTC intervals of working time within [start, end), in order, adjacent ones merged."""
    # Validate now, not on the first next() of a generator.
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        return iter(())
    return _merge_intervals(_working_stream(start, calendar, end))


def working_time_between(
    start: datetime,
    end: datetime,
    calendar: WorkingCalendar,
    pauses: Sequence[Pause] = (),
) -> timedelta:
    """Counted time in [start, end): working time not paused; an open pause runs to ``end``."""
    start, end = _utc(start, "start"), _utc(end, "end")
    if end <= start:
        return _ZERO
    spans = _merge_pauses(pauses)
    total = _ZERO
    for w_start, w_end in _working_stream(start, calendar, end):
        for piece_start, piece_end, paused in _split(w_start, w_end, spans):
            if not paused:
                total += piece_end - piece_start
    return total


def due_at(
    start: datetime,
    target: timedelta,
    calendar: WorkingCalendar,
    pauses: Sequence[Pause] = (),
) -> datetime | None:
    """Instant at which ``target`` of counted time has elapsed since ``start``.

    None when an open pause stops the clock first. A zero target gives the
    first counted instant at or after ``start``.
    """
    return explain_due(start, target, calendar, pauses).due


def explain_due(
    start: datetime,
    target: timedelta,
    calendar: WorkingCalendar,
    pauses: Sequence[Pause] = (),
) -> DueExplanation:
    """Same computation as :func:`due_at`, keeping the periods that add up to ``target``."""
    start = _utc(start, "start")
    _check_target(target)
    closed = _merge_pauses(pauses)
    # Merged pauses are disjoint, so only the last one can be open; from its
    # start nothing will ever count again.
    stop = closed.pop()[0] if closed and closed[-1][1] == _NEVER else _NEVER
    remaining = target
    periods: list[Period] = []
    for w_start, w_end in _working_stream(start, calendar):
        if w_start >= stop:
            break
        for piece_start, piece_end, paused in _split(w_start, min(w_end, stop), closed):
            if paused:
                periods.append(Period(piece_start, piece_end, "paused"))
                continue
            if piece_end - piece_start >= remaining:
                due = piece_start + remaining
                if due > piece_start:
                    periods.append(Period(piece_start, due, "working"))
                return DueExplanation(due, target, target, _merge_periods(periods))
            periods.append(Period(piece_start, piece_end, "working"))
            remaining -= piece_end - piece_start
    return DueExplanation(None, target, target - remaining, _merge_periods(periods))


def time_left(
    start: datetime,
    target: timedelta,
    calendar: WorkingCalendar,
    pauses: Sequence[Pause],
    now: datetime,
) -> timedelta:
    """``target`` minus the time counted up to ``now``; negative once overdue."""
    _check_target(target)
    return target - working_time_between(start, now, calendar, pauses)


def _checked_day(day: int, spans: Sequence[tuple[time, time]]) -> DayHours:
    """Validate one weekday's intervals and return them sorted."""
    if day not in range(7):
        raise ValueError(f"weekday must be 0 (Mon) .. 6 (Sun), got {day!r}")
    for opens, closes in spans:
        if opens.tzinfo is not None or closes.tzinfo is not None:
            raise ValueError("working hours are local wall times; drop tzinfo")
        if closes != _MIDNIGHT and not opens < closes:
            raise ValueError(f"working interval must have start < end: {opens}-{closes}")
    ordered = tuple(sorted(spans))
    for (_, prev_closes), (next_opens, _) in pairwise(ordered):
        if prev_closes == _MIDNIGHT or next_opens < prev_closes:
            raise ValueError(f"overlapping working intervals on weekday {day}")
    return ordered


def _working_stream(start: datetime, calendar: WorkingCalendar, end: datetime = _NEVER) -> Iterator[Interval]:
    """Working intervals clipped to [start, end), in order; endless by default.

    Walks whole local days, so long targets cost one step per day, not per minute.
    """
    if calendar.always_open:
        if start < end:
            yield start, end
        return
    zone = ZoneInfo(calendar.tz)
    day = start.astimezone(zone).date()
    last = date.max if end == _NEVER else end.astimezone(zone).date()
    idle_days = 0
    while day <= last:
        idle_days += 1
        for opens, closes in _day_intervals(day, calendar):
            if closes > start and opens < end:
                idle_days = 0
                yield max(opens, start), min(closes, end)
        if idle_days > _MAX_IDLE_DAYS and end == _NEVER:
            raise ValueError(f"calendar has no working time in the {_MAX_IDLE_DAYS} days after {start}")
        day += _ONE_DAY


# Calendars are immutable and the same days recur for every open ticket, so the
# DST-aware conversions of a day are worth remembering.
@lru_cache(maxsize=4096)
def _day_intervals(day: date, calendar: WorkingCalendar) -> tuple[Interval, ...]:
    """The UTC working intervals of one local date."""
    if day in calendar.holidays:
        return ()
    zone = ZoneInfo(calendar.tz)
    intervals = []
    for opens, closes in calendar.hours.get(day.weekday(), ()):
        close_day = day + _ONE_DAY if closes == _MIDNIGHT else day
        start, end = _wall_to_utc(day, opens, zone), _wall_to_utc(close_day, closes, zone)
        if start < end:  # an interval entirely inside a DST gap is empty
            intervals.append((start, end))
    return tuple(intervals)


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo) -> datetime:
    """UTC instant of a local wall time; skipped wall times map to the jump."""
    local = datetime.combine(day, wall, tzinfo=zone)
    # PEP 495: fold=0 reads a wall time with the offset before a transition,
    # fold=1 with the offset after; a larger offset after means a skipped time.
    before, after = local.utcoffset(), local.replace(fold=1).utcoffset()
    if before is not None and after is not None and after > before:
        return _jump_instant(local, zone, after)
    return local.astimezone(UTC)


def _jump_instant(local: datetime, zone: ZoneInfo, after: timedelta) -> datetime:
    """Instant at which the clock jumps over the skipped wall time ``local``."""
    # fold=1 lands before the jump, fold=0 at/after it; bisect on whole seconds,
    # the resolution of tz transitions. The range is at most the gap (~1h).
    low = (local.replace(fold=1).astimezone(UTC) - _EPOCH) // _ONE_SECOND
    high = (local.astimezone(UTC) - _EPOCH) // _ONE_SECOND
    while high - low > 1:
        middle = (low + high) // 2
        if (_EPOCH + middle * _ONE_SECOND).astimezone(zone).utcoffset() == after:
            high = middle
        else:
            low = middle
    return _EPOCH + high * _ONE_SECOND


def _merge_pauses(pauses: Sequence[Pause]) -> list[Interval]:
    """Pauses as sorted, disjoint UTC spans; an open pause ends at ``_NEVER``."""
    spans = sorted(
        (_utc(p.start, "pause start"), _NEVER if p.end is None else _utc(p.end, "pause end")) for p in pauses
    )
    merged: list[Interval] = []
    for p_start, p_end in spans:
        if p_start >= p_end:
            continue  # zero-length pauses pause nothing
        if merged and p_start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], p_end))
        else:
            merged.append((p_start, p_end))
    return merged


def _split(start: datetime, end: datetime, pauses: Sequence[Interval]) -> Iterator[tuple[datetime, datetime, bool]]:
    """Cut [start, end) into ``(from, to, paused)`` pieces; pauses sorted and disjoint."""
    cursor = start
    # Skip pauses that ended before this interval without rescanning them.
    for index in range(bisect_right(pauses, start, key=lambda span: span[1]), len(pauses)):
        p_start, p_end = pauses[index]
        if p_start >= end:
            break
        paused_from = max(p_start, cursor)
        if paused_from > cursor:
            yield cursor, paused_from, False
        cursor = min(p_end, end)
        yield paused_from, cursor, True
    if cursor < end:
        yield cursor, end, False


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value!r}")
    return value.astimezone(UTC)


def _check_target(target: timedelta) -> None:
    if target < _ZERO:
        raise ValueError(f"target must not be negative, got {target}")


def _merge_intervals(intervals: Iterator[Interval]) -> Iterator[Interval]:
    pending: Interval | None = None
    for start, end in intervals:
        if pending is not None and pending[1] == start:
            pending = (pending[0], end)
            continue
        if pending is not None:
            yield pending
        pending = (start, end)
    if pending is not None:
        yield pending


def _merge_periods(periods: list[Period]) -> tuple[Period, ...]:
    # Day boundaries of 24h calendars and adjacent intervals are one period to a reader.
    merged: list[Period] = []
    for period in periods:
        last = merged[-1] if merged else None
        if last is not None and last.kind == period.kind and last.end == period.start:
            merged[-1] = Period(last.start, period.end, period.kind)
        else:
            merged.append(period)
    return tuple(merged)


def _describe(period: Period, zone: ZoneInfo, tz: str) -> str:
    start, end = period.start.astimezone(zone), period.end.astimezone(zone)
    if end.date() == start.date():
        span = f"{_stamp(start)}–{end:%H:%M}"
    elif end.time() == _MIDNIGHT and end.date() == start.date() + _ONE_DAY:
        span = f"{_stamp(start)}–24:00"
    else:
        span = f"{_stamp(start)} – {_stamp(end)}"
    length = _duration(period.end - period.start)
    what = f"{length} counted" if period.kind == "working" else f"{length} paused"
    return f"{span} {tz}: {what}"


def _stamp(moment: datetime) -> str:
    # Own names instead of %a/%b: output must not depend on the process locale.
    day, month = _DAY_NAMES[moment.weekday()], _MONTH_NAMES[moment.month - 1]
    return f"{day} {moment.day} {month} {moment:%H:%M}"


def _duration(span: timedelta) -> str:
    minutes = int(span.total_seconds()) // 60
    return f"{minutes // 60}h {minutes % 60}m"
