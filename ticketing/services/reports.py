"""Manager reports: SLA met vs missed, response-time distributions, backlog, volumes and time logged.

Every report is one aggregate query (set-based SQL on both backends) returning a small, typed, JSON-friendly
result (`to_jsonable` turns any of them into plain dicts and lists for Chart.js or an API); nothing loads
tickets as ORM objects. Python only reshapes the handful of aggregate rows that come back (one exception: SQLite's
response-time percentiles, whose minutes are sorted in Python, as SQLite has no percentile aggregate).

Conventions shared by every report:

* Date ranges are half-open: ``start <= created_at < end`` (aware datetimes, compared in UTC).
* Missing groups are labelled ``"(none)"`` (no team, no customer, no category). Enum groups carry the
  stored value (``"high"``, ``"enterprise"``, ``"in_progress"``).
* Durations are wall-clock minutes between ``created_at`` and the stamp (not working minutes), see
  `minutes_between`. Results are rounded to two decimals, so both backends report the same numbers.
* Percentiles are PostgreSQL's ``percentile_cont``: linear interpolation between the two nearest ranks,
  at 0-based position ``p * (n - 1)`` of the sorted values. On SQLite the values are sorted in Python and
  interpolated the same way (see `percentile_cont`).
* Merged tickets (``merged_into_id`` set) are duplicates closed by the merge: they are left out of the SLA
  and response-time reports (the merge is not a resolution) but still count as volume and backlog.
"""

from __future__ import annotations

import dataclasses
import math
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from enum import Enum
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.domain.lifecycle import ACTIVE, Status
from ticketing.domain.vocab import Priority, Tier
from ticketing.models import Category, Customer, Team, Ticket, TimeEntry, UTCDateTime

NONE_LABEL = "(none)"
ALL_LABEL = "all"
MAX_BUCKETS = 1000

SlaDimension = Literal["team", "priority", "tier"]
TimeDimension = Literal["team", "priority"]
CountDimension = Literal["category", "source"]
Step = Literal["day", "week"]

STEPS: dict[str, timedelta] = {"day": timedelta(days=1), "week": timedelta(weeks=1)}

# Histogram buckets in minutes: lower bound inclusive, upper bound exclusive (None: unbounded).
HISTOGRAM_BUCKETS: tuple[tuple[str, float | None, float | None], ...] = (
    ("<1h", None, 60),
    ("1-4h", 60, 240),
    ("4-8h", 240, 480),
    ("8-24h", 480, 1440),
    ("1-3d", 1440, 4320),
    (">3d", 4320, None),
)

# --------------------------------------------------------------------------------------------------------
# Result types
# --------------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SlaCounts:
    """Tickets of a group that carry the target, by outcome.

    met: answered/resolved by the due moment and never breached. missed: breached, or answered/resolved after
    the due moment. open_in_time: no outcome yet and not breached. closed_unanswered (first response only):
    resolved without any reply and never breached, so the target was neither met nor missed.
    met_pct: met / (met + missed) * 100, one decimal; None while nothing has an outcome.
    """

    total: int
    met: int
    missed: int
    open_in_time: int
    closed_unanswered: int
    met_pct: float | None

    @classmethod
    def of(cls, met: int, missed: int, open_in_time: int, closed_unanswered: int = 0) -> SlaCounts:
        decided = met + missed
        return cls(
            total=decided + open_in_time + closed_unanswered,
            met=met,
            missed=missed,
            open_in_time=open_in_time,
            closed_unanswered=closed_unanswered,
            met_pct=round(100.0 * met / decided, 1) if decided else None,
        )

    def __add__(self, other: SlaCounts) -> SlaCounts:
        return SlaCounts.of(
            self.met + other.met,
            self.missed + other.missed,
            self.open_in_time + other.open_in_time,
            self.closed_unanswered + other.closed_unanswered,
        )


@dataclasses.dataclass(frozen=True)
class SlaGroup:
    group: str
    resolution: SlaCounts
    first_response: SlaCounts


@dataclasses.dataclass(frozen=True)
class SlaReport:
    dimension: SlaDimension
    start: datetime
    end: datetime
    groups: list[SlaGroup]
    overall: SlaGroup


@dataclasses.dataclass(frozen=True)
class TimeStats:
    """Wall-clock minutes: how many tickets, the median and the 90th percentile (None when count is 0)."""

    count: int
    median: float | None
    p90: float | None


@dataclasses.dataclass(frozen=True)
class DistributionGroup:
    group: str
    first_response: TimeStats
    resolution: TimeStats


@dataclasses.dataclass(frozen=True)
class DistributionReport:
    dimension: TimeDimension | None
    start: datetime
    end: datetime
    groups: list[DistributionGroup]


@dataclasses.dataclass(frozen=True)
class HistogramReport:
    """Tickets per time bucket (labels in `buckets`), for first response and for resolution."""

    start: datetime
    end: datetime
    buckets: list[str]
    first_response: list[int]
    resolution: list[int]


@dataclasses.dataclass(frozen=True)
class BacklogSeries:
    team: str
    counts: list[int]


@dataclasses.dataclass(frozen=True)
class BacklogReport:
    """Open tickets at each moment of `points` (the bucket ends), per team and in total."""

    start: datetime
    end: datetime
    step: Step
    points: list[datetime]
    series: list[BacklogSeries]
    total: list[int]


@dataclasses.dataclass(frozen=True)
class BacklogNowRow:
    team: str
    by_status: dict[str, int]
    total: int


@dataclasses.dataclass(frozen=True)
class BacklogNowReport:
    statuses: list[str]
    rows: list[BacklogNowRow]
    total: int


@dataclasses.dataclass(frozen=True)
class CountRow:
    group: str
    count: int


@dataclasses.dataclass(frozen=True)
class CountReport:
    dimension: CountDimension
    start: datetime
    end: datetime
    rows: list[CountRow]
    total: int


@dataclasses.dataclass(frozen=True)
class CustomerTime:
    customer_id: int | None
    customer: str
    tier: str | None
    minutes: int
    tickets: int


@dataclasses.dataclass(frozen=True)
class TimeReport:
    start: datetime
    end: datetime
    rows: list[CustomerTime]
    total_minutes: int


Report = SlaReport | DistributionReport | HistogramReport | BacklogReport | BacklogNowReport | CountReport | TimeReport

# --------------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------------


def dialect_of(session: Session) -> str:
    return session.get_bind().dialect.name


def minutes_between(dialect: str, later: Any, earlier: Any) -> sa.ColumnElement[Any]:
    """Wall-clock minutes from `earlier` to `later` (NULL if either is NULL), as a float.

    PostgreSQL subtracts the timestamps (microseconds, as a double). SQLite stores naive UTC text, so it goes through
    julianday(); the difference is rounded to whole milliseconds (SQLite's own precision) to cancel the
    floating-point noise of two large Julian day numbers.
    """
    if dialect == "postgresql":
        # date_part is EXTRACT returning double precision: EXTRACT's numeric result costs several times more
        # on PostgreSQL 14+, which matters when a report evaluates it a dozen times per ticket.
        return sa.func.date_part("epoch", later - earlier, type_=sa.Float) / 60.0
    return sa.cast(sa.func.round((sa.func.julianday(later) - sa.func.julianday(earlier)) * 86_400_000), sa.Float) / (
        60_000.0
    )


REPORT_WORK_MEM = "64MB"  # PostgreSQL: sort memory of the percentile reports (this statement only)


@contextmanager
def _work_mem(session: Session, size: str) -> Iterator[None]:
    """PostgreSQL's work_mem for the statements inside, set back afterwards (SET LOCAL would last to the end of
    the transaction: the request's other statements keep the server's setting)."""
    previous = session.execute(sa.text("SELECT current_setting('work_mem')")).scalar_one()
    session.execute(sa.text("SELECT set_config('work_mem', :size, true)"), {"size": size})
    try:
        yield
    finally:
        session.execute(sa.text("SELECT set_config('work_mem', :size, true)"), {"size": previous})


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be an aware datetime")
    return value.astimezone(UTC)


def _range(start: datetime, end: datetime) -> tuple[datetime, datetime]:
    start, end = _aware(start, "start"), _aware(end, "end")
    if end <= start:
        raise ValueError("end must be after start")
    return start, end


def _ts(value: datetime) -> sa.BindParameter[datetime]:
    """A bound timestamp in the columns' storage format (naive UTC text on SQLite)."""
    return sa.literal(value, UTCDateTime())


def _created_in(start: datetime, end: datetime) -> sa.ColumnElement[bool]:
    return sa.and_(Ticket.created_at >= start, Ticket.created_at < end)


def _label(value: Any) -> str:
    if value is None:
        return NONE_LABEL
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 2)


_PRIORITY_ORDER = {p.value: p.rank for p in Priority}
_TIER_ORDER = {t.value: i for i, t in enumerate(Tier)}


def _group_order(dimension: str | None, label: str) -> tuple[int, int, str]:
    """Priorities and tiers in their natural order, names alphabetically; "(none)" last."""
    if label == NONE_LABEL:
        return (1, 0, "")
    if dimension == "priority":
        return (0, _PRIORITY_ORDER.get(label, 99), label)
    if dimension == "tier":
        return (0, _TIER_ORDER.get(label, 99), label)
    return (0, 0, label.casefold())


def _count_if(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
    return sa.func.count(sa.case((condition, 1)))


# --------------------------------------------------------------------------------------------------------
# SLA met vs missed
# --------------------------------------------------------------------------------------------------------


def _sla_columns() -> list[sa.ColumnElement[int]]:
    t = Ticket
    res_target = t.due_date.is_not(None)
    fr_target = t.first_response_due.is_not(None)
    return [
        _count_if(
            sa.and_(res_target, t.resolved_at.is_not(None), t.resolved_at <= t.due_date, t.sla_breach_at.is_(None))
        ).label("res_met"),
        _count_if(sa.and_(res_target, sa.or_(t.sla_breach_at.is_not(None), t.resolved_at > t.due_date))).label(
            "res_missed"
        ),
        _count_if(sa.and_(res_target, t.resolved_at.is_(None), t.sla_breach_at.is_(None))).label("res_open"),
        _count_if(
            sa.and_(
                fr_target,
                t.first_response_at.is_not(None),
                t.first_response_at <= t.first_response_due,
                t.first_response_breach_at.is_(None),
            )
        ).label("fr_met"),
        _count_if(
            sa.and_(
                fr_target,
                sa.or_(t.first_response_breach_at.is_not(None), t.first_response_at > t.first_response_due),
            )
        ).label("fr_missed"),
        _count_if(
            sa.and_(
                fr_target,
                t.first_response_at.is_(None),
                t.first_response_breach_at.is_(None),
                t.resolved_at.is_(None),
            )
        ).label("fr_open"),
        _count_if(
            sa.and_(
                fr_target,
                t.first_response_at.is_(None),
                t.first_response_breach_at.is_(None),
                t.resolved_at.is_not(None),
            )
        ).label("fr_closed_unanswered"),
    ]


def sla_by(session: Session, *, dimension: SlaDimension, start: datetime, end: datetime) -> SlaReport:
    """SLA outcomes of the tickets created in [start, end) that carry a target, per team, priority or tier.

    Resolution counts cover tickets with a due_date, first-response counts those with a first_response_due.
    One GROUP BY with conditional counts.
    """
    start, end = _range(start, end)
    query: Any
    if dimension == "team":
        query = sa.select(Team.name.label("grp"), *_sla_columns()).select_from(Ticket).outerjoin(Team)
        group: Any = Team.name
    elif dimension == "tier":
        query = sa.select(Customer.tier.label("grp"), *_sla_columns()).select_from(Ticket).outerjoin(Customer)
        group = Customer.tier
    elif dimension == "priority":
        query = sa.select(Ticket.priority.label("grp"), *_sla_columns()).select_from(Ticket)
        group = Ticket.priority
    else:
        raise ValueError(f"unknown dimension {dimension!r}")
    query = query.where(
        _created_in(start, end),
        Ticket.merged_into_id.is_(None),
        sa.or_(Ticket.due_date.is_not(None), Ticket.first_response_due.is_not(None)),
    ).group_by(group)
    groups = [
        SlaGroup(
            group=_label(row.grp),
            resolution=SlaCounts.of(row.res_met, row.res_missed, row.res_open),
            first_response=SlaCounts.of(row.fr_met, row.fr_missed, row.fr_open, row.fr_closed_unanswered),
        )
        for row in session.execute(query)
    ]
    groups.sort(key=lambda g: _group_order(dimension, g.group))
    empty = SlaCounts.of(0, 0, 0)
    overall = SlaGroup(
        group=ALL_LABEL,
        resolution=sum((g.resolution for g in groups), empty),
        first_response=sum((g.first_response for g in groups), empty),
    )
    return SlaReport(dimension=dimension, start=start, end=end, groups=groups, overall=overall)


# --------------------------------------------------------------------------------------------------------
# First-response and resolution times
# --------------------------------------------------------------------------------------------------------


def _time_group(dimension: TimeDimension | None) -> tuple[Any, list[Any]]:
    """The group expression and the outer joins it needs."""
    if dimension is None:
        return sa.literal_column(f"'{ALL_LABEL}'", sa.String), []
    if dimension == "team":
        # The team's id, named afterwards (`_team_names`): grouping a year of tickets by the name sorted them by
        # a collated text, several times slower than by an integer.
        return Ticket.assigned_team_id, []
    if dimension == "priority":
        return Ticket.priority, []
    raise ValueError(f"unknown dimension {dimension!r}")


def _team_names(session: Session, dimension: TimeDimension | None) -> dict[Any, str]:
    if dimension != "team":
        return {}
    return {team_id: name for team_id, name in session.execute(sa.select(Team.id, Team.name))}


def _timed_tickets(dialect: str, dimension: TimeDimension | None, start: datetime, end: datetime) -> Any:
    """One row per ticket created in range with a reply or a resolution: group, fr and res minutes.

    OFFSET 0 keeps it a subquery of its own (LIMIT -1 OFFSET 0 on SQLite): pulled up into the outer query, every
    use of fr or res there (a percentile's sort key, each histogram bound) would compute the difference again,
    a dozen times per ticket.
    """
    group, joins = _time_group(dimension)
    query = sa.select(
        group.label("grp"),
        minutes_between(dialect, Ticket.first_response_at, Ticket.created_at).label("fr"),
        minutes_between(dialect, Ticket.resolved_at, Ticket.created_at).label("res"),
    ).select_from(Ticket)
    for target in joins:
        query = query.outerjoin(target)
    return query.where(
        _created_in(start, end),
        Ticket.merged_into_id.is_(None),
        sa.or_(Ticket.first_response_at.is_not(None), Ticket.resolved_at.is_not(None)),
    ).offset(0)


def percentile_cont(ordered: list[float], percent: int) -> float:
    """PostgreSQL's percentile_cont of sorted values: at 0-based position P * (n - 1) / 100, interpolated
    between the two nearest ranks (the position's integer part and remainder computed in integers, so no rank is
    ever off by a rounding error)."""
    lo, rest = divmod(percent * (len(ordered) - 1), 100)
    low = ordered[lo]
    high = ordered[lo + 1] if rest else low
    return low + (high - low) * rest / 100


def response_time_distribution(
    session: Session, *, start: datetime, end: datetime, dimension: TimeDimension | None = None
) -> DistributionReport:
    """Median and p90 of first-response and resolution minutes of the tickets created in [start, end).

    First response: tickets with a first_response_at; resolution: tickets with a resolved_at (currently
    resolved or closed; a reopened ticket counts again once resolved again, from its creation).
    PostgreSQL: percentile_cont in one GROUP BY. SQLite: one scan of the values, sorted and interpolated here.
    """
    start, end = _range(start, end)
    dialect = dialect_of(session)
    base = _timed_tickets(dialect, dimension, start, end).subquery("base")
    stats: dict[str, dict[str, TimeStats]] = defaultdict(dict)
    if dialect == "postgresql":
        # One sort per clock and group for both percentiles (an array of fractions), in memory: the year's values
        # of one clock are tens of MB, over the default work_mem, and a sort spilled to disk doubled the report.
        both = sa.literal([0.5, 0.9], sa.ARRAY(sa.Float))
        query = sa.select(
            base.c.grp,
            sa.func.count(base.c.fr),
            sa.func.percentile_cont(both).within_group(base.c.fr),
            sa.func.count(base.c.res),
            sa.func.percentile_cont(both).within_group(base.c.res),
        ).group_by(base.c.grp)
        with _work_mem(session, REPORT_WORK_MEM):
            rows = session.execute(query).all()
        names = _team_names(session, dimension)
        for grp, fr_n, fr_p, res_n, res_p in rows:
            fr_50, fr_90 = fr_p or (None, None)
            res_50, res_90 = res_p or (None, None)
            label = _label(names.get(grp, grp))
            stats[label]["first_response"] = TimeStats(fr_n, _round(fr_50), _round(fr_90))
            stats[label]["resolution"] = TimeStats(res_n, _round(res_50), _round(res_90))
    else:
        # SQLite has no percentile aggregate: the year's minutes come back as one plain scan and are sorted here
        # (window functions ranking them in SQL sorted through a temporary B-tree, several times slower).
        values: dict[Any, dict[str, list[float]]] = defaultdict(lambda: {"first_response": [], "resolution": []})
        for grp, fr, res in session.execute(sa.select(base.c.grp, base.c.fr, base.c.res)):
            lists = values[grp]
            if fr is not None:
                lists["first_response"].append(fr)
            if res is not None:
                lists["resolution"].append(res)
        names = _team_names(session, dimension)
        for grp, lists in values.items():
            for metric, found in lists.items():
                if found:
                    found.sort()
                    p50, p90 = percentile_cont(found, 50), percentile_cont(found, 90)
                    stats[_label(names.get(grp, grp))][metric] = TimeStats(len(found), _round(p50), _round(p90))
    if dimension is None:
        stats.setdefault(ALL_LABEL, {})
    empty = TimeStats(0, None, None)
    groups = [
        DistributionGroup(
            group=grp,
            first_response=by_metric.get("first_response", empty),
            resolution=by_metric.get("resolution", empty),
        )
        for grp, by_metric in stats.items()
    ]
    groups.sort(key=lambda g: _group_order(dimension, g.group))
    return DistributionReport(dimension=dimension, start=start, end=end, groups=groups)


def response_time_histogram(session: Session, *, start: datetime, end: datetime) -> HistogramReport:
    """Tickets created in [start, end) per fixed time bucket (`HISTOGRAM_BUCKETS`), for both clocks.

    One pass with conditional counts: each bucket holds lower <= minutes < upper.
    """
    start, end = _range(start, end)
    base = _timed_tickets(dialect_of(session), None, start, end).subquery("base")

    def bucket(metric: Any) -> sa.ColumnElement[int]:
        """The bucket index of a ticket's minutes (NULL without them): each value compared once per bound."""
        whens = [(metric < upper, index) for index, (_, _, upper) in enumerate(HISTOGRAM_BUCKETS) if upper is not None]
        return sa.case((metric.is_(None), None), *whens, else_=len(HISTOGRAM_BUCKETS) - 1)

    # One pass: a count per (first-response bucket, resolution bucket) pair, at most 49 rows, summed up here.
    fr_bucket, res_bucket = bucket(base.c.fr).label("fr_b"), bucket(base.c.res).label("res_b")
    query = sa.select(fr_bucket, res_bucket, sa.func.count()).group_by(fr_bucket, res_bucket)
    n = len(HISTOGRAM_BUCKETS)
    first_response, resolution = [0] * n, [0] * n
    for fr_b, res_b, count in session.execute(query):
        if fr_b is not None:
            first_response[fr_b] += count
        if res_b is not None:
            resolution[res_b] += count
    return HistogramReport(
        start=start,
        end=end,
        buckets=[b[0] for b in HISTOGRAM_BUCKETS],
        first_response=first_response,
        resolution=resolution,
    )


# --------------------------------------------------------------------------------------------------------
# Backlog
# --------------------------------------------------------------------------------------------------------


def backlog_points(start: datetime, end: datetime, step: Step) -> list[datetime]:
    """The bucket ends start + k * step (k = 1, 2, ...), the last one cut back to `end`."""
    start, end = _range(start, end)
    if step not in STEPS:
        raise ValueError(f"unknown step {step!r}")
    size = STEPS[step]
    count = math.ceil((end - start) / size)
    if count > MAX_BUCKETS:
        raise ValueError(f"too many buckets ({count}); use a larger step or a shorter range")
    return [min(start + k * size, end) for k in range(1, count + 1)]


def _bucket_index(dialect: str, moment: Any, start: datetime, step: timedelta) -> sa.ColumnElement[int]:
    """The first bucket k (1-based) whose end start + k * step is at or after `moment` (1 for the past)."""
    if dialect == "postgresql":
        seconds = sa.func.date_part("epoch", moment - _ts(start), type_=sa.Float)
        return sa.cast(sa.func.greatest(1, sa.func.ceil(seconds / int(step.total_seconds()))), sa.Integer)
    step_ms = int(step.total_seconds()) * 1000
    ms = sa.cast(sa.func.round((sa.func.julianday(moment) - sa.func.julianday(_ts(start))) * 86_400_000), sa.Integer)
    return sa.case((ms <= 0, 1), else_=(ms + (step_ms - 1)) // step_ms)


def backlog_over_time(session: Session, *, start: datetime, end: datetime, step: Step = "day") -> BacklogReport:
    """Open tickets per team at every bucket end t of `backlog_points` (t in (start, end]).

    Teams with no open ticket at any t are left out; `total` sums the teams.

    A ticket is open at t when created_at <= t and (resolved_at IS NULL or resolved_at > t), with the
    current team (team moves are not replayed). One query, linear in the tickets: each candidate ticket
    (created by the last t, not resolved by the first) adds +1 at the first bucket its creation falls into
    and -1 at the first bucket its resolution falls into; a running SUM over the generated bucket series
    (generate_series on PostgreSQL, a recursive CTE on SQLite) per team gives the open count at each t.
    That equals the join "buckets x tickets ON created_at <= t AND NOT resolved_at <= t" row for row, without
    the buckets-times-tickets comparisons.
    """
    points = backlog_points(start, end, step)
    start, end = _range(start, end)
    dialect = dialect_of(session)
    size = STEPS[step]
    first, last = points[0], points[-1]

    # A resolution stamped before creation (bad data) counts as at creation: never open.
    resolved = sa.case((Ticket.resolved_at < Ticket.created_at, Ticket.created_at), else_=Ticket.resolved_at)
    team_key = sa.func.coalesce(Ticket.assigned_team_id, 0)
    candidates = sa.and_(
        Ticket.created_at <= last,
        sa.or_(Ticket.resolved_at.is_(None), Ticket.resolved_at > first),
    )
    # One scan: each candidate ticket's opening and closing bucket (NULL: still open at the last point),
    # counted per (team, opening, closing); then each pair becomes a +n and (if it closes) a -n event.
    per_ticket = (
        sa.select(
            team_key.label("team_id"),
            _bucket_index(dialect, Ticket.created_at, start, size).label("k_open"),
            sa.case(
                (
                    sa.and_(Ticket.resolved_at.is_not(None), resolved <= last),
                    _bucket_index(dialect, resolved, start, size),
                )
            ).label("k_close"),
        )
        .where(candidates)
        .subquery("per_ticket")
    )
    # Referenced twice below, so PostgreSQL computes it once (a CTE used more than once is materialised).
    pairs = (
        sa.select(per_ticket.c.team_id, per_ticket.c.k_open, per_ticket.c.k_close, sa.func.count().label("n"))
        .group_by(per_ticket.c.team_id, per_ticket.c.k_open, per_ticket.c.k_close)
        .cte("pairs")
    )
    events = sa.union_all(
        sa.select(pairs.c.team_id, pairs.c.k_open.label("k"), pairs.c.n.label("d")),
        sa.select(pairs.c.team_id, pairs.c.k_close, -pairs.c.n).where(pairs.c.k_close.is_not(None)),
    ).subquery("events")
    deltas = (
        sa.select(events.c.team_id, events.c.k, sa.func.sum(events.c.d).label("d"))
        .group_by(events.c.team_id, events.c.k)
        .cte("deltas")
    )
    if dialect == "postgresql":
        series: Any = sa.select(sa.func.generate_series(1, len(points)).label("k")).cte("series")
    else:
        series = sa.select(sa.literal_column("1", sa.Integer).label("k")).cte("series", recursive=True)
        series = series.union_all(sa.select(series.c.k + 1).where(series.c.k < len(points)))
    teams = sa.select(deltas.c.team_id).distinct().cte("teams")
    running = sa.func.sum(sa.func.coalesce(deltas.c.d, 0)).over(partition_by=teams.c.team_id, order_by=series.c.k)
    query = (
        sa.select(series.c.k, teams.c.team_id, Team.name, running.label("open"))
        .select_from(series)
        .join(teams, sa.true())
        .outerjoin(deltas, sa.and_(deltas.c.k == series.c.k, deltas.c.team_id == teams.c.team_id))
        .outerjoin(Team, Team.id == teams.c.team_id)
    )
    counts: dict[str, list[int]] = {}
    for k, _team_id, name, open_count in session.execute(query):
        counts.setdefault(_label(name), [0] * len(points))[k - 1] = int(open_count)
    # Teams whose tickets only came and went between two points have nothing to show.
    counts = {name: values for name, values in counts.items() if any(values)}
    series_out = [BacklogSeries(team=name, counts=counts[name]) for name in sorted(counts, key=_team_sort)]
    total = [sum(values) for values in zip(*counts.values(), strict=True)] if counts else [0] * len(points)
    return BacklogReport(start=start, end=end, step=step, points=points, series=series_out, total=total)


def _team_sort(name: str) -> tuple[int, int, str]:
    return _group_order("team", name)


ACTIVE_ORDER = [s for s in Status if s in ACTIVE]


def backlog_now_by_team_status(session: Session) -> BacklogNowReport:
    """Tickets open right now (an active status), per team and status: one GROUP BY on the queue index."""
    per = (
        sa.select(Ticket.assigned_team_id, Ticket.status, sa.func.count().label("n"))
        .where(Ticket.status.in_(ACTIVE_ORDER))
        .group_by(Ticket.assigned_team_id, Ticket.status)
        .subquery("per")
    )
    query = (
        sa.select(Team.name, per.c.status, per.c.n).select_from(per).outerjoin(Team, Team.id == per.c.assigned_team_id)
    )
    statuses = [s.value for s in ACTIVE_ORDER]
    by_team: dict[str, dict[str, int]] = {}
    for name, status, n in session.execute(query):
        row = by_team.setdefault(_label(name), dict.fromkeys(statuses, 0))
        row[_label(status)] += int(n)
    rows = [
        BacklogNowRow(team=name, by_status=by_team[name], total=sum(by_team[name].values()))
        for name in sorted(by_team, key=_team_sort)
    ]
    return BacklogNowReport(statuses=statuses, rows=rows, total=sum(r.total for r in rows))


# --------------------------------------------------------------------------------------------------------
# Volumes and time logged
# --------------------------------------------------------------------------------------------------------


def tickets_by(session: Session, *, dimension: CountDimension, start: datetime, end: datetime) -> CountReport:
    """Tickets created in [start, end) per category or source, largest first."""
    start, end = _range(start, end)
    if dimension == "category":
        group: Any = Category.name
        query = sa.select(group, sa.func.count()).select_from(Ticket).outerjoin(Category)
    elif dimension == "source":
        group = Ticket.source
        query = sa.select(group, sa.func.count()).select_from(Ticket)
    else:
        raise ValueError(f"unknown dimension {dimension!r}")
    query = query.where(_created_in(start, end)).group_by(group)
    rows = [CountRow(group=_label(g), count=int(n)) for g, n in session.execute(query)]
    rows.sort(key=lambda r: (-r.count, r.group == NONE_LABEL, r.group.casefold()))
    return CountReport(dimension=dimension, start=start, end=end, rows=rows, total=sum(r.count for r in rows))


def work_date_range(start: datetime, end: datetime) -> tuple[date, date]:
    """The work dates [first, stop) whose midnight (UTC) lies in [start, end)."""
    start, end = _range(start, end)
    first = start.date() if start.time() == datetime.min.time() else start.date() + timedelta(days=1)
    stop = end.date() if end.time() == datetime.min.time() else end.date() + timedelta(days=1)
    return first, stop


def time_by_customer(session: Session, *, start: datetime, end: datetime) -> TimeReport:
    """Minutes logged per customer (with tier and tickets worked on), most first.

    A time entry counts when its work_date's midnight (UTC) lies in [start, end): midnight-to-midnight
    ranges take exactly their days, a range ending "now" includes today.
    """
    start, end = _range(start, end)
    first, stop = work_date_range(start, end)
    minutes = sa.func.sum(TimeEntry.minutes)
    query = (
        sa.select(
            Customer.id,
            Customer.name,
            Customer.tier,
            minutes.label("minutes"),
            sa.func.count(sa.distinct(TimeEntry.ticket_id)),
        )
        .select_from(TimeEntry)
        .join(Ticket, Ticket.id == TimeEntry.ticket_id)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .where(TimeEntry.work_date >= first, TimeEntry.work_date < stop)
        .group_by(Customer.id, Customer.name, Customer.tier)
        .order_by(minutes.desc(), Customer.name.asc().nulls_last(), Customer.id)
    )
    rows = [
        CustomerTime(
            customer_id=cid,
            customer=name if name is not None else NONE_LABEL,
            tier=_label(tier) if tier is not None else None,
            minutes=int(total),
            tickets=int(n),
        )
        for cid, name, tier, total, n in session.execute(query)
    ]
    return TimeReport(start=start, end=end, rows=rows, total_minutes=sum(r.minutes for r in rows))


# --------------------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------------------


def to_jsonable(value: Any) -> Any:
    """Plain dicts, lists, numbers and strings (datetimes as ISO 8601, enums by value) for json.dumps."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
