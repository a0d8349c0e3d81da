"""CSV export of the manager reports, safe to open in a spreadsheet.

Spreadsheet formula injection (OWASP "CSV Injection"): a cell whose text starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return may be run as a formula by Excel, LibreOffice or Google Sheets (think
``=HYPERLINK(...)`` in a ticket subject or a customer name). Such cells get a leading ``'`` so they are read as
text. Real numbers (int, float, Decimal) are written as numbers, so -3 stays -3; the same text "-3" is
neutralised like any other string. Text cells are always quoted (csv.QUOTE_NONNUMERIC), so a cell can never
be split on a delimiter the spreadsheet guesses (``;`` in many European locales) into a second,
unneutralised cell.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum

from ticketing.services.reports import (
    BacklogNowReport,
    BacklogReport,
    CountReport,
    DistributionReport,
    HistogramReport,
    Report,
    SlaCounts,
    SlaReport,
    TimeReport,
    TimeStats,
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

Table = tuple[list[str], list[list[object]]]


def safe_cell(value: object) -> object:
    """The value as the CSV writer should see it: numbers as numbers, everything else as neutralised text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, Enum):
        value = value.value
    text = value.isoformat() if isinstance(value, datetime | date) else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def to_csv(headers: list[str], rows: Iterable[Sequence[object]]) -> str:
    """The table as CSV text (RFC 4180 line ends), every cell passed through `safe_cell`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in headers])
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------------
# Each report as (headers, rows)
# --------------------------------------------------------------------------------------------------------


def _sla_cells(counts: SlaCounts, *, first_response: bool) -> list[object]:
    cells: list[object] = [counts.total, counts.met, counts.missed, counts.open_in_time]
    if first_response:
        cells.append(counts.closed_unanswered)
    cells.append(counts.met_pct)
    return cells


def _sla_table(report: SlaReport) -> Table:
    headers = [
        report.dimension,
        "resolution_total",
        "resolution_met",
        "resolution_missed",
        "resolution_open_in_time",
        "resolution_met_pct",
        "first_response_total",
        "first_response_met",
        "first_response_missed",
        "first_response_open_in_time",
        "first_response_closed_unanswered",
        "first_response_met_pct",
    ]
    rows = [
        [g.group, *_sla_cells(g.resolution, first_response=False), *_sla_cells(g.first_response, first_response=True)]
        for g in [*report.groups, report.overall]
    ]
    return headers, rows


def _stats_cells(stats: TimeStats) -> list[object]:
    return [stats.count, stats.median, stats.p90]


def _distribution_table(report: DistributionReport) -> Table:
    headers = [
        report.dimension or "group",
        "first_response_count",
        "first_response_median_minutes",
        "first_response_p90_minutes",
        "resolution_count",
        "resolution_median_minutes",
        "resolution_p90_minutes",
    ]
    rows = [[g.group, *_stats_cells(g.first_response), *_stats_cells(g.resolution)] for g in report.groups]
    return headers, rows


def _histogram_table(report: HistogramReport) -> Table:
    rows: list[list[object]] = [
        [bucket, fr, res]
        for bucket, fr, res in zip(report.buckets, report.first_response, report.resolution, strict=True)
    ]
    return ["bucket", "first_response", "resolution"], rows


def _backlog_table(report: BacklogReport) -> Table:
    headers = ["at", *(s.team for s in report.series), "total"]
    rows: list[list[object]] = [
        [point, *(s.counts[i] for s in report.series), report.total[i]] for i, point in enumerate(report.points)
    ]
    return headers, rows


def _backlog_now_table(report: BacklogNowReport) -> Table:
    headers = ["team", *report.statuses, "total"]
    rows: list[list[object]] = [[r.team, *(r.by_status[s] for s in report.statuses), r.total] for r in report.rows]
    return headers, rows


def _count_table(report: CountReport) -> Table:
    return [report.dimension, "tickets"], [[r.group, r.count] for r in report.rows]


def _time_table(report: TimeReport) -> Table:
    rows: list[list[object]] = [[r.customer, r.tier, r.minutes, r.tickets] for r in report.rows]
    return ["customer", "tier", "minutes", "tickets"], rows


def report_table(report: Report) -> Table:
    """Headers and rows of any report result, ready for `to_csv` (or an HTML table)."""
    if isinstance(report, SlaReport):
        return _sla_table(report)
    if isinstance(report, DistributionReport):
        return _distribution_table(report)
    if isinstance(report, HistogramReport):
        return _histogram_table(report)
    if isinstance(report, BacklogReport):
        return _backlog_table(report)
    if isinstance(report, BacklogNowReport):
        return _backlog_now_table(report)
    if isinstance(report, CountReport):
        return _count_table(report)
    if isinstance(report, TimeReport):
        return _time_table(report)
    raise TypeError(f"not a report: {type(report).__name__}")


def report_csv(report: Report) -> str:
    headers, rows = report_table(report)
    return to_csv(headers, rows)
