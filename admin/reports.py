"""Manager reports: SLA met vs missed, response times, backlog, volume, time per customer; charts and CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Response, abort, request
from flask.typing import ResponseReturnValue
from flask_admin import expose

from admin.base import StaffView
from ticketing.domain.vocab import StaffRole
from ticketing.extensions import db
from ticketing.services import csv_export, reports

DIMENSIONS = ("tier", "team", "priority")


def _range() -> tuple[datetime, datetime]:
    """[start, end) from ?start=YYYY-MM-DD&end=YYYY-MM-DD (end inclusive as a day); default: the last 90 days."""
    today = datetime.now(UTC).date()
    try:
        start_day = date.fromisoformat(request.args["start"]) if request.args.get("start") else today - timedelta(89)
        end_day = date.fromisoformat(request.args["end"]) if request.args.get("end") else today
    except ValueError:
        abort(400, "Dates look like 2026-01-31.")
    if end_day < start_day or (end_day - start_day).days > 3 * 366:
        abort(400, "Choose an end after the start, at most three years apart.")
    start = datetime.combine(start_day, datetime.min.time(), UTC)
    return start, datetime.combine(end_day + timedelta(days=1), datetime.min.time(), UTC)


def _all(dimension: str, start: datetime, end: datetime) -> dict[str, Any]:
    session = db.session()
    step = "day" if (end - start).days <= 62 else "week"
    return {
        "sla": reports.sla_by(session, dimension=dimension, start=start, end=end),  # type: ignore[arg-type]
        "distribution": reports.response_time_distribution(session, start=start, end=end, dimension="team"),
        "histogram": reports.response_time_histogram(session, start=start, end=end),
        "backlog": reports.backlog_over_time(session, start=start, end=end, step=step),  # type: ignore[arg-type]
        "backlog_now": reports.backlog_now_by_team_status(session),
        "by_category": reports.tickets_by(session, dimension="category", start=start, end=end),
        "by_source": reports.tickets_by(session, dimension="source", start=start, end=end),
        "time": reports.time_by_customer(session, start=start, end=end),
    }


class ReportsView(StaffView):
    roles = frozenset({StaffRole.MANAGER, StaffRole.ADMIN})

    @expose("/")
    def index(self) -> ResponseReturnValue:
        dimension = request.args.get("dim") if request.args.get("dim") in DIMENSIONS else "tier"
        start, end = _range()
        data = _all(dimension, start, end)
        charts = {name: reports.to_jsonable(report) for name, report in data.items()}
        return self.render("agent/reports.html", dimension=dimension, dimensions=DIMENSIONS, start=start,
                           end=end - timedelta(days=1), charts=charts, **data)  # fmt: skip

    @expose("/<report>.csv")
    def csv(self, report: str) -> ResponseReturnValue:
        dimension = request.args.get("dim") if request.args.get("dim") in DIMENSIONS else "tier"
        start, end = _range()
        data = _all(dimension, start, end)
        if report not in data:
            abort(404)
        body = csv_export.report_csv(data[report])
        filename = f"{report}-{start.date()}-{(end - timedelta(days=1)).date()}.csv"
        return Response(
            body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
        )
