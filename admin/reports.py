"""Manager reports: SLA met vs missed, response times, backlog, volume, time per customer; charts and CSV."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Response, abort, flash, request
from flask.typing import ResponseReturnValue
from flask_admin import expose
from sqlalchemy.orm import Session

from admin.base import StaffView
from ticketing.domain.vocab import StaffRole
from ticketing.extensions import db
from ticketing.services import csv_export, queues, reports

DIMENSIONS = ("tier", "team", "priority")


class RangeError(ValueError):
    pass


def _range(args: Mapping[str, str]) -> tuple[datetime, datetime]:
    """[start, end) from ?start=YYYY-MM-DD&end=YYYY-MM-DD (end inclusive as a day); default (`{}`): the last 90 days.
    RangeError for dates that are none, or a range that is backwards or over three years."""
    today = datetime.now(UTC).date()
    try:
        start_day = date.fromisoformat(args["start"]) if args.get("start") else today - timedelta(89)
        end_day = date.fromisoformat(args["end"]) if args.get("end") else today
    except ValueError:
        raise RangeError("Dates look like 2026-01-31.") from None
    if end_day < start_day or (end_day - start_day).days > 3 * 366:
        raise RangeError("Choose an end after the start, at most three years apart.")
    start = datetime.combine(start_day, datetime.min.time(), UTC)
    return start, datetime.combine(end_day + timedelta(days=1), datetime.min.time(), UTC)


REPORTS: dict[str, Callable[[Session, str, datetime, datetime], Any]] = {
    "sla": lambda s, dim, a, b: reports.sla_by(s, dimension=dim, start=a, end=b),  # type: ignore[arg-type]
    "distribution": lambda s, dim, a, b: reports.response_time_distribution(s, start=a, end=b, dimension="team"),
    "histogram": lambda s, dim, a, b: reports.response_time_histogram(s, start=a, end=b),
    "backlog": lambda s, dim, a, b: reports.backlog_over_time(
        s, start=a, end=b, step="day" if (b - a).days <= 62 else "week"
    ),
    "backlog_now": lambda s, dim, a, b: reports.backlog_now_by_team_status(s),
    "by_category": lambda s, dim, a, b: reports.tickets_by(s, dimension="category", start=a, end=b),
    "by_source": lambda s, dim, a, b: reports.tickets_by(s, dimension="source", start=a, end=b),
    "time": lambda s, dim, a, b: reports.time_by_customer(s, start=a, end=b),
}
# Each report reads a year of tickets in a second or less at 1M tickets, so the page (all eight) takes seconds:
# results are kept per process for up to a minute, keyed by the parameters, so going back to the page, switching
# the SLA dimension or downloading a CSV does not redo the work; a committed change to tickets drops them.
CACHE_SECONDS = 60
_cache: dict[tuple[str, str, datetime, datetime], tuple[float, Any]] = {}
_lock = threading.Lock()


def _forget() -> None:
    with _lock:
        _cache.clear()


queues.on_tickets_changed.append(_forget)  # a committed ticket change makes every cached report stale


def _report(name: str, dimension: str, start: datetime, end: datetime) -> Any:
    key = (name, dimension if name == "sla" else "", start, end)
    now = time.monotonic()
    with _lock:
        hit = _cache.get(key)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    value = REPORTS[name](db.session(), dimension, start, end)
    with _lock:
        for old in [k for k, (at, _) in _cache.items() if now - at >= CACHE_SECONDS]:
            del _cache[old]
        _cache[key] = (now, value)
    return value


def _all(dimension: str, start: datetime, end: datetime) -> dict[str, Any]:
    return {name: _report(name, dimension, start, end) for name in REPORTS}


class ReportsView(StaffView):
    roles = frozenset({StaffRole.MANAGER, StaffRole.ADMIN})

    @expose("/")
    def index(self) -> ResponseReturnValue:
        dimension = request.args.get("dim") if request.args.get("dim") in DIMENSIONS else "tier"
        try:
            start, end = _range(request.args)
        except RangeError as exc:
            # Said on the page, with the form to correct it, over the last 90 days (it replaced the whole page).
            flash(f"{exc} Showing the last 90 days.", "warning")
            start, end = _range({})
        data = _all(dimension, start, end)
        charts = {name: reports.to_jsonable(report) for name, report in data.items()}
        return self.render("agent/reports.html", dimension=dimension, dimensions=DIMENSIONS, start=start,
                           end=end - timedelta(days=1), charts=charts, **data)  # fmt: skip

    @expose("/<report>.csv")
    def csv(self, report: str) -> ResponseReturnValue:
        dimension = request.args.get("dim") if request.args.get("dim") in DIMENSIONS else "tier"
        try:
            start, end = _range(request.args)
        except RangeError as exc:
            abort(400, str(exc))  # a download has no page to say it on
        if report not in REPORTS:
            abort(404)
        body = csv_export.report_csv(_report(report, dimension, start, end))
        filename = f"{report}-{start.date()}-{(end - timedelta(days=1)).date()}.csv"
        return Response(
            body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
