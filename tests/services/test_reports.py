"""Manager reports on a small, exactly known data set, with the same numbers on SQLite and PostgreSQL.

The range is the week [START, END) = [Sun 1 Mar 2026 00:00, Sun 8 Mar 00:00) UTC. Twelve tickets are created
inside it (the first exactly at START), one more inside it is a duplicate merged into #1, one is created an
hour before START and one exactly at END. Offsets below are minutes after each ticket's creation.

  #   created   team   prio    tier        category source  1st reply  fr due  fr breach  resolved  due   breach
  1   +0h       Alpha  high    enterprise  Billing  email    30         60                 200       240
  2   +1h       Alpha  high    enterprise  Bug      email    90         60      yes        300       240   yes
  3   +2h       Alpha  medium  premium     Bug      portal   45         60                 600       480
  4   +3h       Alpha  medium  standard    Billing  portal   10         60                 -         480
  5   +4h       Alpha  low     standard    -        phone    120        -                  2000      -
  6   +5h       Beta   urgent  enterprise  Bug      phone    5          15                 100       120
  7   +6h       Beta   urgent  enterprise  Billing  email    -          15      yes        -         120   yes
  8   +24h      Beta   high    premium     Bug      portal   20         30                 1500      240   yes
  9   +48h      Beta   medium  -           -        email    -          60                 50        480
  10  +72h      -      medium  standard    Billing  web      300        60                 5000      480   yes
  11  +96h      -      low     premium     Bug      portal   60         240                4320      -
  12  +120h     Beta   high    enterprise  Bug      email    -          30                 -         240
  13  +2.5h     Alpha  medium  standard    Billing  email    -          60                 30        480   (merged)
  14  -1h       Beta   medium  enterprise  Bug      email    15         60                 -         480   yes
  15  +168h=END Alpha  medium  standard    Billing  portal   -          60                 -         480

Percentiles are percentile_cont (linear interpolation at 0-based position p * (n - 1)); e.g. the nine
first-response times 5 10 20 30 45 60 90 120 300 have median 45 and p90 120 + 0.2 * (300 - 120) = 156.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest

from ticketing.domain.lifecycle import Status
from ticketing.domain.vocab import Priority, Source, Tier
from ticketing.models import Category, Ticket, TimeEntry
from ticketing.services import reports
from ticketing.services.csv_export import report_csv, report_table, safe_cell, to_csv

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=7)
H = timedelta(hours=1)
M = timedelta(minutes=1)


@dataclass(frozen=True)
class Spec:
    created_h: float
    team: str | None
    priority: str
    tier: str | None
    category: str | None
    source: str
    fr: int | None
    fr_due: int | None
    fr_breach: int
    res: int | None
    due: int | None
    breach: int
    status: str


# Columns as in the table above; 1 in a breach column stamps the breach at the due moment.
SPECS: dict[int, Spec] = {
    1: Spec(0, "Alpha", "high", "enterprise", "Billing", "email", 30, 60, 0, 200, 240, 0, "resolved"),
    2: Spec(1, "Alpha", "high", "enterprise", "Bug", "email", 90, 60, 1, 300, 240, 1, "closed"),
    3: Spec(2, "Alpha", "medium", "premium", "Bug", "portal", 45, 60, 0, 600, 480, 0, "resolved"),
    4: Spec(3, "Alpha", "medium", "standard", "Billing", "portal", 10, 60, 0, None, 480, 0, "in_progress"),
    5: Spec(4, "Alpha", "low", "standard", None, "phone", 120, None, 0, 2000, None, 0, "resolved"),
    6: Spec(5, "Beta", "urgent", "enterprise", "Bug", "phone", 5, 15, 0, 100, 120, 0, "resolved"),
    7: Spec(6, "Beta", "urgent", "enterprise", "Billing", "email", None, 15, 1, None, 120, 1, "open"),
    8: Spec(24, "Beta", "high", "premium", "Bug", "portal", 20, 30, 0, 1500, 240, 1, "resolved"),
    9: Spec(48, "Beta", "medium", None, None, "email", None, 60, 0, 50, 480, 0, "closed"),
    10: Spec(72, None, "medium", "standard", "Billing", "web", 300, 60, 0, 5000, 480, 1, "resolved"),
    11: Spec(96, None, "low", "premium", "Bug", "portal", 60, 240, 0, 4320, None, 0, "resolved"),
    12: Spec(120, "Beta", "high", "enterprise", "Bug", "email", None, 30, 0, None, 240, 0, "pending"),
    13: Spec(2.5, "Alpha", "medium", "standard", "Billing", "email", None, 60, 0, 30, 480, 0, "closed"),
    14: Spec(-1, "Beta", "medium", "enterprise", "Bug", "email", 15, 60, 0, None, 480, 1, "open"),
    15: Spec(168, "Alpha", "medium", "standard", "Billing", "portal", None, 60, 0, None, 480, 0, "open"),
}  # fmt: skip

# (ticket, work date, minutes): the 8 March and 28 February entries fall outside [START, END).
TIME_ENTRIES = [
    (1, date(2026, 3, 1), 30),
    (1, date(2026, 3, 7), 45),
    (2, date(2026, 3, 8), 15),
    (3, date(2026, 3, 2), 60),
    (8, date(2026, 2, 28), 20),
    (8, date(2026, 3, 3), 40),
    (9, date(2026, 3, 4), 25),
    (10, date(2026, 3, 5), 100),
]


def _at(created: datetime, minutes: int | None) -> datetime | None:
    return None if minutes is None else created + minutes * M


@pytest.fixture
def data(db, make) -> dict[int, Ticket]:
    teams = {name: make.team(name) for name in ("Alpha", "Beta")}
    categories = {name: Category(name=name) for name in ("Billing", "Bug")}
    db.add_all(categories.values())
    customers = {
        Tier.ENTERPRISE: make.customer("Ent Co", tier=Tier.ENTERPRISE),
        Tier.PREMIUM: make.customer("Prem Co", tier=Tier.PREMIUM),
        Tier.STANDARD: make.customer("Std Co", tier=Tier.STANDARD),
    }
    made: dict[int, Ticket] = {}
    for number, spec in SPECS.items():
        created = START + spec.created_h * H
        ticket = make.ticket(
            now=created,
            contact=make.contact(customers[Tier(spec.tier)] if spec.tier else None),
            priority=Priority(spec.priority),
            source=Source(spec.source),
            team=teams[spec.team] if spec.team else None,
            category=categories[spec.category] if spec.category else None,
        )
        ticket.status = Status(spec.status)
        ticket.first_response_at = _at(created, spec.fr)
        ticket.first_response_due = _at(created, spec.fr_due)
        ticket.first_response_breach_at = _at(created, spec.fr_due) if spec.fr_breach else None
        ticket.resolved_at = _at(created, spec.res)
        ticket.due_date = _at(created, spec.due)
        ticket.sla_breach_at = _at(created, spec.due) if spec.breach else None
        made[number] = ticket
    made[13].merged_into_id = made[1].id
    agent = make.user()
    db.add_all(
        TimeEntry(ticket=made[n], user=agent, minutes=minutes, work_date=day) for n, day, minutes in TIME_ENTRIES
    )
    db.flush()
    return made


def counts(c: reports.SlaCounts) -> tuple[int, int, int, int, int, float | None]:
    return (c.total, c.met, c.missed, c.open_in_time, c.closed_unanswered, c.met_pct)


def sla_rows(report: reports.SlaReport) -> dict[str, tuple[object, object]]:
    return {g.group: (counts(g.resolution), counts(g.first_response)) for g in [*report.groups, report.overall]}


# --------------------------------------------------------------------------------------------------------
# SLA met vs missed
# --------------------------------------------------------------------------------------------------------


def test_sla_by_team(db, data) -> None:
    report = reports.sla_by(db, dimension="team", start=START, end=END)
    assert [g.group for g in report.groups] == ["Alpha", "Beta", "(none)"]
    # (total, met, missed, open in time, closed unanswered, met %)
    assert sla_rows(report) == {
        "Alpha": ((4, 1, 2, 1, 0, 33.3), (4, 3, 1, 0, 0, 75.0)),
        "Beta": ((5, 2, 2, 1, 0, 50.0), (5, 2, 1, 1, 1, 66.7)),
        "(none)": ((1, 0, 1, 0, 0, 0.0), (2, 1, 1, 0, 0, 50.0)),
        "all": ((10, 3, 5, 2, 0, 37.5), (11, 6, 3, 1, 1, 66.7)),
    }


def test_sla_by_priority_in_priority_order(db, data) -> None:
    report = reports.sla_by(db, dimension="priority", start=START, end=END)
    assert [g.group for g in report.groups] == ["low", "medium", "high", "urgent"]
    assert sla_rows(report) == {
        # #11 has a first-response target only: no resolution outcome, no percentage.
        "low": ((0, 0, 0, 0, 0, None), (1, 1, 0, 0, 0, 100.0)),
        "medium": ((4, 1, 2, 1, 0, 33.3), (4, 2, 1, 0, 1, 66.7)),
        "high": ((4, 1, 2, 1, 0, 33.3), (4, 2, 1, 1, 0, 66.7)),
        "urgent": ((2, 1, 1, 0, 0, 50.0), (2, 1, 1, 0, 0, 50.0)),
        "all": ((10, 3, 5, 2, 0, 37.5), (11, 6, 3, 1, 1, 66.7)),
    }


def test_sla_by_tier_answers_are_we_hitting_slas_for_enterprise(db, data) -> None:
    report = reports.sla_by(db, dimension="tier", start=START, end=END)
    assert [g.group for g in report.groups] == ["standard", "premium", "enterprise", "(none)"]
    assert sla_rows(report) == {
        "standard": ((2, 0, 1, 1, 0, 0.0), (2, 1, 1, 0, 0, 50.0)),
        "premium": ((2, 0, 2, 0, 0, 0.0), (3, 3, 0, 0, 0, 100.0)),
        "enterprise": ((5, 2, 2, 1, 0, 50.0), (5, 2, 2, 1, 0, 50.0)),
        "(none)": ((1, 1, 0, 0, 0, 100.0), (1, 0, 0, 0, 1, None)),
        "all": ((10, 3, 5, 2, 0, 37.5), (11, 6, 3, 1, 1, 66.7)),
    }


def test_sla_range_is_start_inclusive_end_exclusive(db, data) -> None:
    # Only #1 (created exactly at START) and #2; #14 (an hour before START) is out.
    early = reports.sla_by(db, dimension="team", start=START - H, end=START + 2 * H)
    assert sla_rows(early)["all"] == ((3, 1, 2, 0, 0, 33.3), (3, 2, 1, 0, 0, 66.7))
    first_hour = reports.sla_by(db, dimension="team", start=START, end=START + H)
    assert sla_rows(first_hour) == {
        "Alpha": ((1, 1, 0, 0, 0, 100.0), (1, 1, 0, 0, 0, 100.0)),
        "all": ((1, 1, 0, 0, 0, 100.0), (1, 1, 0, 0, 0, 100.0)),
    }
    # #15 is created exactly at END: only a range past END sees it.
    assert sla_rows(reports.sla_by(db, dimension="team", start=END, end=END + H))["all"][0][:4] == (1, 0, 0, 1)


def test_sla_of_an_empty_range(db, data) -> None:
    report = reports.sla_by(db, dimension="tier", start=END + H, end=END + 2 * H)
    assert report.groups == []
    assert counts(report.overall.resolution) == (0, 0, 0, 0, 0, None)


# --------------------------------------------------------------------------------------------------------
# Response-time distributions
# --------------------------------------------------------------------------------------------------------


def stats(report: reports.DistributionReport) -> dict[str, tuple[object, object]]:
    return {
        g.group: (
            (g.first_response.count, g.first_response.median, g.first_response.p90),
            (g.resolution.count, g.resolution.median, g.resolution.p90),
        )
        for g in report.groups
    }


def test_distribution_overall(db, data) -> None:
    report = reports.response_time_distribution(db, start=START, end=END)
    # First response: 5 10 20 30 45 60 90 120 300. Resolution: 50 100 200 300 600 1500 2000 4320 5000.
    assert stats(report) == {"all": ((9, 45.0, 156.0), (9, 600.0, 4456.0))}


def test_distribution_by_team(db, data) -> None:
    report = reports.response_time_distribution(db, start=START, end=END, dimension="team")
    assert [g.group for g in report.groups] == ["Alpha", "Beta", "(none)"]
    assert stats(report) == {
        # FR 10 30 45 90 120; resolution 200 300 600 2000 (even count: the median interpolates).
        "Alpha": ((5, 45.0, 108.0), (4, 450.0, 1580.0)),
        "Beta": ((2, 12.5, 18.5), (3, 100.0, 1220.0)),
        "(none)": ((2, 180.0, 276.0), (2, 4660.0, 4932.0)),
    }


def test_distribution_by_priority(db, data) -> None:
    report = reports.response_time_distribution(db, start=START, end=END, dimension="priority")
    assert [g.group for g in report.groups] == ["low", "medium", "high", "urgent"]
    assert stats(report) == {
        "low": ((2, 90.0, 114.0), (2, 3160.0, 4088.0)),
        "medium": ((3, 45.0, 249.0), (3, 600.0, 4120.0)),
        "high": ((3, 30.0, 78.0), (3, 300.0, 1260.0)),
        "urgent": ((1, 5.0, 5.0), (1, 100.0, 100.0)),
    }


def test_distribution_of_an_empty_range(db, data) -> None:
    report = reports.response_time_distribution(db, start=END + H, end=END + 2 * H)
    assert stats(report) == {"all": ((0, None, None), (0, None, None))}
    assert reports.response_time_distribution(db, start=END + H, end=END + 2 * H, dimension="team").groups == []


def test_histogram_buckets_are_lower_inclusive(db, data) -> None:
    report = reports.response_time_histogram(db, start=START, end=END)
    assert report.buckets == ["<1h", "1-4h", "4-8h", "8-24h", "1-3d", ">3d"]
    # A first reply at exactly 60 minutes (#11) is "1-4h"; a resolution at exactly 3 days (#11) is ">3d".
    assert report.first_response == [5, 3, 1, 0, 0, 0]
    assert report.resolution == [1, 2, 1, 1, 2, 2]


def test_minutes_between_keeps_seconds(db, make) -> None:
    ticket = make.ticket(now=START)
    ticket.first_response_at = START + timedelta(minutes=1, seconds=30)
    ticket.resolved_at = START + timedelta(days=400, seconds=6)
    db.flush()
    report = reports.response_time_distribution(db, start=START, end=END)
    assert stats(report) == {"all": ((1, 1.5, 1.5), (1, 576000.1, 576000.1))}


# --------------------------------------------------------------------------------------------------------
# Backlog
# --------------------------------------------------------------------------------------------------------


def backlog(report: reports.BacklogReport) -> dict[str, list[int]]:
    return {**{s.team: s.counts for s in report.series}, "total": report.total}


def test_backlog_per_day(db, data) -> None:
    report = reports.backlog_over_time(db, start=START, end=END, step="day")
    assert report.points == [START + timedelta(days=k) for k in range(1, 8)]
    # #8 is created exactly at the first point and counts there; #11 is resolved exactly at the last and does
    # not; #15 is created exactly at END, the last point; #14 (created before START) is open throughout;
    # #1, #6 and the merged #13 are opened and resolved before the first point.
    assert backlog(report) == {
        "Alpha": [2, 1, 1, 1, 1, 1, 2],
        "Beta": [3, 4, 2, 2, 3, 3, 3],
        "(none)": [0, 0, 1, 2, 2, 2, 0],
        "total": [5, 5, 4, 5, 6, 6, 5],
    }


def test_backlog_per_week_cuts_the_last_bucket_at_end(db, data) -> None:
    report = reports.backlog_over_time(db, start=START, end=START + timedelta(days=10), step="week")
    assert report.points == [START + timedelta(days=7), START + timedelta(days=10)]
    # The team-less #10 and #11 came and went between the two points: no series.
    assert backlog(report) == {"Alpha": [2, 2], "Beta": [3, 3], "total": [5, 5]}


def test_backlog_from_mid_range(db, data) -> None:
    # Points 1 Mar 12:00 and 2 Mar 12:00: #2 (resolved at 06:00) is gone, #3 is resolved exactly at 12:00,
    # #5 (resolved 2 Mar 13:20) is still open at the second point.
    report = reports.backlog_over_time(db, start=START - 12 * H, end=START + 36 * H, step="day")
    assert report.points == [START + 12 * H, START + 36 * H]
    assert backlog(report) == {"Alpha": [2, 2], "Beta": [2, 3], "total": [4, 5]}


def test_backlog_now_by_team_and_status(db, data) -> None:
    report = reports.backlog_now_by_team_status(db)
    assert report.statuses == ["open", "in_progress", "pending", "waiting_on_customer"]
    assert [(r.team, r.by_status, r.total) for r in report.rows] == [
        ("Alpha", {"open": 1, "in_progress": 1, "pending": 0, "waiting_on_customer": 0}, 2),
        ("Beta", {"open": 2, "in_progress": 0, "pending": 1, "waiting_on_customer": 0}, 3),
    ]
    assert report.total == 5


def test_backlog_refuses_too_many_buckets(db) -> None:
    with pytest.raises(ValueError, match="too many buckets"):
        reports.backlog_over_time(db, start=START, end=START + timedelta(days=1001), step="day")


# --------------------------------------------------------------------------------------------------------
# Volumes and time logged
# --------------------------------------------------------------------------------------------------------


def test_tickets_by_category_and_source(db, data) -> None:
    # The merged duplicate #13 still counts as volume; #14 and #15 are outside the range.
    by_category = reports.tickets_by(db, dimension="category", start=START, end=END)
    assert [(r.group, r.count) for r in by_category.rows] == [("Bug", 6), ("Billing", 5), ("(none)", 2)]
    assert by_category.total == 13
    by_source = reports.tickets_by(db, dimension="source", start=START, end=END)
    assert [(r.group, r.count) for r in by_source.rows] == [("email", 6), ("portal", 4), ("phone", 2), ("web", 1)]
    one_hour = reports.tickets_by(db, dimension="source", start=START + H, end=START + 2 * H)
    assert [(r.group, r.count) for r in one_hour.rows] == [("email", 1)]


def test_time_by_customer(db, data) -> None:
    report = reports.time_by_customer(db, start=START, end=END)
    assert [(r.customer, r.tier, r.minutes, r.tickets) for r in report.rows] == [
        ("Prem Co", "premium", 100, 2),
        ("Std Co", "standard", 100, 1),
        ("Ent Co", "enterprise", 75, 1),
        ("(none)", None, 25, 1),
    ]
    assert report.rows[-1].customer_id is None
    assert report.total_minutes == 300


def test_time_by_customer_takes_the_days_whose_midnight_is_in_range(db, data) -> None:
    # From 1 Mar noon to 8 Mar noon: 1 March is out (its midnight is before start), 8 March in.
    report = reports.time_by_customer(db, start=START + 12 * H, end=END + 12 * H)
    assert [(r.customer, r.minutes) for r in report.rows] == [
        ("Prem Co", 100),
        ("Std Co", 100),
        ("Ent Co", 60),
        ("(none)", 25),
    ]
    assert reports.work_date_range(START + 12 * H, END + 12 * H) == (date(2026, 3, 2), date(2026, 3, 9))


# --------------------------------------------------------------------------------------------------------
# Arguments, JSON
# --------------------------------------------------------------------------------------------------------


def test_ranges_must_be_aware_and_forward(db) -> None:
    with pytest.raises(ValueError, match="aware"):
        reports.tickets_by(db, dimension="source", start=datetime(2026, 3, 1), end=END)
    with pytest.raises(ValueError, match="after start"):
        reports.sla_by(db, dimension="team", start=END, end=START)


def test_every_report_is_json_friendly(db, data) -> None:
    results = [
        reports.sla_by(db, dimension="tier", start=START, end=END),
        reports.response_time_distribution(db, start=START, end=END, dimension="team"),
        reports.response_time_histogram(db, start=START, end=END),
        reports.backlog_over_time(db, start=START, end=END, step="day"),
        reports.backlog_now_by_team_status(db),
        reports.tickets_by(db, dimension="category", start=START, end=END),
        reports.time_by_customer(db, start=START, end=END),
    ]
    plain = [json.loads(json.dumps(reports.to_jsonable(r))) for r in results]
    assert plain[0]["groups"][2]["group"] == "enterprise"
    assert plain[0]["groups"][2]["resolution"]["met_pct"] == 50.0
    assert plain[3]["points"][0] == "2026-03-02T00:00:00+00:00"
    assert plain[3]["series"][0] == {"team": "Alpha", "counts": [2, 1, 1, 1, 1, 1, 2]}


# --------------------------------------------------------------------------------------------------------
# CSV
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://evil.example","click")', '"\'=HYPERLINK(""http://evil.example"",""click"")"'),
        ("+1", '"\'+1"'),
        ("-2+3", '"\'-2+3"'),
        ("@SUM(A1)", '"\'@SUM(A1)"'),
        ("\tfoo", '"\'\tfoo"'),
        ("\r=1+1", '"\'\r=1+1"'),
        ("plain text", '"plain text"'),
        ("a;=1+1", '"a;=1+1"'),  # quoted: a semicolon-splitting spreadsheet keeps it one text cell
        (-3, "-3"),
        (-2.5, "-2.5"),
        ("-3", '"\'-3"'),  # text that looks like a number is still text
        (None, '""'),
        (Tier.ENTERPRISE, '"enterprise"'),
    ],
)
def test_csv_neutralises_formula_cells(cell, written) -> None:
    assert to_csv(["h"], [[cell]]) == f'"h"\r\n{written}\r\n'


def test_csv_round_trips_as_text_with_the_quote(db) -> None:
    hostile = ["=cmd|' /C calc'!A0", "+1", "-2+3", "@SUM(A1)", "\tfoo", "plain", -3, None]
    text = to_csv(["=header", "b", "c", "d", "e", "f", "g", "h"], [hostile])
    header, row = list(csv.reader(io.StringIO(text)))
    assert header[0] == "'=header"
    assert row == ["'=cmd|' /C calc'!A0", "'+1", "'-2+3", "'@SUM(A1)", "'\tfoo", "plain", "-3", ""]
    assert safe_cell(True) == "true"
    assert safe_cell(datetime(2026, 3, 1, tzinfo=UTC)) == "2026-03-01T00:00:00+00:00"


def test_report_tables(db, data, make) -> None:
    headers, rows = report_table(reports.sla_by(db, dimension="team", start=START, end=END))
    assert headers[:3] == ["team", "resolution_total", "resolution_met"]
    assert rows[0] == ["Alpha", 4, 1, 2, 1, 33.3, 4, 3, 1, 0, 0, 75.0]
    assert rows[-1][0] == "all"
    assert report_table(reports.response_time_histogram(db, start=START, end=END)) == (
        ["bucket", "first_response", "resolution"],
        [["<1h", 5, 1], ["1-4h", 3, 2], ["4-8h", 1, 1], ["8-24h", 0, 1], ["1-3d", 0, 2], [">3d", 0, 2]],
    )
    headers, rows = report_table(reports.backlog_over_time(db, start=START, end=END, step="day"))
    assert headers == ["at", "Alpha", "Beta", "(none)", "total"]
    assert rows[0] == [START + timedelta(days=1), 2, 3, 0, 5]
    headers, rows = report_table(reports.backlog_now_by_team_status(db))
    assert headers == ["team", "open", "in_progress", "pending", "waiting_on_customer", "total"]
    assert rows == [["Alpha", 1, 1, 0, 0, 2], ["Beta", 2, 0, 1, 0, 3]]
    headers, rows = report_table(reports.response_time_distribution(db, start=START, end=END))
    assert rows == [["all", 9, 45.0, 156.0, 9, 600.0, 4456.0]]
    assert report_table(reports.time_by_customer(db, start=START, end=END))[1][0] == ["Prem Co", "premium", 100, 2]
    assert report_csv(reports.tickets_by(db, dimension="source", start=START, end=END)).splitlines() == [
        '"source","tickets"',
        '"email",6',
        '"portal",4',
        '"phone",2',
        '"web",1',
    ]
    # A hostile team name is neutralised on its way into the CSV.
    make.ticket(now=START, team=make.team("=HYPERLINK(1)"))
    db.flush()
    lines = report_csv(reports.backlog_now_by_team_status(db)).splitlines()
    assert lines[0] == '"team","open","in_progress","pending","waiting_on_customer","total"'
    assert lines[1] == '"\'=HYPERLINK(1)",1,0,0,0,1'


@pytest.mark.parametrize(
    ("values", "percent", "expected"),
    [
        ([7.0], 50, 7.0),  # one value is every percentile
        ([1.0, 2.0], 50, 1.5),
        ([5, 10, 20, 30, 45, 60, 90, 120, 300], 90, 156.0),  # 120 + 0.2 * (300 - 120)
        ([1.0, 2.0, 3.0, 4.0], 90, 3.7),  # position 2.7
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),  # the top rank has no next one
    ],
)
def test_percentile_cont_interpolates_like_postgresql(values, percent, expected) -> None:
    assert reports.percentile_cont(values, percent) == pytest.approx(expected)
