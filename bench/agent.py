"""Benchmark of the agent screens: queue pages, the ticket workspace and the manager reports, at 1M tickets.

    python bench/agent.py [--pg-tickets 1000000] [--sqlite-tickets 100000] [--backends postgresql,sqlite]
                          [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432] [--requests 100] [--warmup 20]
                          [--report-runs 3] [--slow 1.0] [--slow-requests 5] [--assignee-history]
                          [--probe-timeout 10] [--explain] [--keep-db NAME]

One fill per backend (--pg-tickets on the throw-away PostgreSQL database bench_agent, --sqlite-tickets in a
temporary SQLite file), both alive at once so they are measured interleaved; filled with bulk SQL (INSERT ...
SELECT over generate_series on PostgreSQL, over a recursive CTE on SQLite; secondary indexes built after the
fill), then ANALYZE (VACUUM ANALYZE on PostgreSQL); on SQLite then the search indexes its migration makes over bodies
and subjects (queues.SEARCH_INDEX_DDL: FTS5 trigram tables and triggers, see benchkit.add_search_indexes):

  staff         3 teams, 9 agents (3 per team), 1 manager; one shared password hash
  customers     1,000 (60 % standard, 30 % premium, 10 % enterprise), one domain and 3 contacts each
  tickets       created evenly over the year before `now` (the start of the current hour: the app reads the wall
                clock) with ids in creation order, spread over the customers; ~2 % active (90 % of the last 3
                days' tickets, 20 % of the 11 days before, 0.6 % of older ones, those mostly pending or waiting on
                the customer), the rest resolved (the last week's) or closed; priorities 30/45/18/7 % low/medium/
                high/urgent with 24x7 targets by priority (5 % without SLA); 92 % owned by a team, 8 % in the
                general inbox; 6 categories (10 % none); first response, resolution, closing, due dates and the
                sweep's breach stamps consistent with the status and the targets (~15 % late first responses,
                ~12 % late resolutions); paused (pending/waiting) tickets without a due date and with an open
                sla_pause row
  assignees     one ticket_assignee row for 75 % of the active tickets, a second one on every 17th of those; an
                agent only ever gets tickets of their own team or of the general inbox. The app never removes
                assignees on resolution, so a real desk also has rows for ~all resolved/closed tickets:
                --assignee-history fills those too; without it the history probe (below) adds them at the end
  tags          on 10 % of the tickets (a second one on 2 %); time entries on ~14 %; ticket_contact rows
  interactions  2 per ticket: the customer's email, then the reply (at first_response_at) or a system row;
                the workspace ticket (an in-progress ticket of team 1, assigned to agent 1, opened 4 days before
                `now`) has its opening email and 10 follow-ups: customer emails, replies, internal notes, a
                phone call and system rows

Measured through the real app stack (create_app, Flask's test client, no network), signed in once as agent 1
(team 1) and once as the manager (POST /agent/login with the CSRF token of the GET). Server time is the WSGI call
up to the last body byte, request teardown included. Every round requests each job once for every backend, in a
fresh random order (fixed seed), so load from elsewhere on the machine falls on all of them alike; --warmup
rounds untimed, then --requests timed ones (a smoke run, every backend under 50,000 tickets: 5 + 25 by
default). A job whose first (probe) request takes longer than --slow seconds
is requested only --slow-requests times after one warm-up. The jobs per backend:

  routes        agent:   /admin/queues/mine, /admin/queues/team-1, /admin/queues/unassigned,
                         /admin/queues/breaching, /admin/queues/waiting, /admin/ticket/<id> (workspace)
                manager: /admin/queues/all, /admin/queues/all?after=<cursor> (the keyset page 90 % down All),
                         /admin/queues/all?q=<a contact's email>, /admin/ticket/<id> (the same workspace)
  baseline      for each route, the bare indexed SQL for the same page of rows (SELECT id ... ORDER BY <the
                queue's keys> LIMIT 51, the app's page size + 1; for the workspace the ticket row and its
                interactions), served through the same stack by a route registered on the bench's app only
                (behind the same staff sign-in: session cookie, user load, same engine and pool); and
  bare SQL      the same statements run directly on the engine (pool checkout to last row), no HTTP at all

The queue menu's counts are kept in Redis for 30 s per user (stale after any ticket change once 5 s old): the timed
requests read them from the cache; the assignee history probe below times the count statement itself (the cache
miss).
The workspace loads its customer panel with a second request (htmx), not timed here.

Every queue route is checked to show exactly the first 50 ids of its baseline (and a next-page link exactly when
the baseline found a 51st row), the workspace to show all 11 timeline entries.

Reports: GET /admin/reports/?start=<a year ago>&end=<today>&dim=tier as the manager (all eight reports of the
page in one request), and each report function of ticketing.services.reports called directly with the session
(sla_by for each dimension, response_time_distribution, response_time_histogram, backlog_over_time by week,
backlog_now_by_team_status, tickets_by category and source, time_by_customer); 1 warm-up then --report-runs
runs each, beside the bare scan of the year (SELECT count(*) of the tickets created in it).

Aims: each queue page and the workspace within 3x of its baseline request (median); each report under 1 s at
--pg-tickets. For a missed aim the slowest statement of the route (a cursor-execute timer) is printed with its
plan: EXPLAIN (ANALYZE, BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite (--explain: for every route and
report).

Search probe (informational, no aim: no indexed baseline does what these do): the manager's All queue searched for
a word in every customer email ("invoice": the page walks the queue), a number found in many texts ("4711": the
matching ids, then their page), a ticket number ("#<id>") and two letters ("ab": no text searched); median of 5.
Beside them the manager's My tickets, which is empty (nothing is assigned to the manager): a queue holding under a
page is walked to its end, through every active ticket.

Assignee history probe (without --assignee-history): adds the ticket_assignee rows of the resolved/closed tickets,
then runs the queue-menu count statement (a queue page's cache miss) and the Mine/Unassigned page queries once,
each under --probe-timeout, the Unassigned count rewritten with NOT EXISTS beside them, with the plans of the
first cancelled statement (EXPLAIN) and of the rewrite (EXPLAIN (ANALYZE, BUFFERS)).

Redis db 10 is flushed at the start and the end; the database and the temporary file are removed, unless
--keep-db NAME: then the PostgreSQL database NAME and the SQLite file NAME.sqlite3 in the temporary directory are
kept (with what was filled and when: the table bench_agent_fill) and a later run of the same size reuses them (the
fill's NOW, the models' indexes created or dropped to match, the history probe's rows taken out again).

`python bench/<script>.py` puts bench/ first on sys.path, where bench/portal.py shadows the project's `portal`
package (which create_app imports): the block before the project imports below takes bench/ off the path.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import benchkit
import sqlalchemy as sa
from benchkit import (
    IsolatedClient,
    Series,
    ServerTimer,
    SqlRecorder,
    create_pg_database,
    drop_pg_database,
    ms,
    ratio,
    timed,
)
from flask import Flask, abort
from flask.testing import FlaskClient
from redis import Redis
from werkzeug.security import generate_password_hash

# `python bench/agent.py` puts bench/ first on sys.path, where bench/portal.py shadows the project's `portal`
# package: take bench/ off the path before anything imports `portal` (and put the project root on it, for
# `python bench/agent.py` from anywhere).
benchkit.unshadow_project_packages(project_root=True)

from admin.base import staff_role  # noqa: E402
from ticketing.app import create_app  # noqa: E402
from ticketing.extensions import db  # noqa: E402
from ticketing.models import (  # noqa: E402
    CannedResponse,
    Category,
    Contact,
    Customer,
    CustomerDomain,
    Interaction,
    SlaPause,
    Team,
    Ticket,
    TicketTag,
    TimeEntry,
    User,
    UTCDateTime,
    team_members,
    ticket_assignees,
    ticket_contacts,
)
from ticketing.services import queues, reports  # noqa: E402

# Every timestamp of the fill is relative to NOW, the start of the current hour: the app reads the wall clock (the
# Breaching soon queue is "due before now + 4 h", the SLA cells count from now), so the data must be current.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
REDIS_URL = "redis://127.0.0.1:6379/10"
PG_DATABASE = "bench_agent"
PASSWORD = "bench-agent-pass-1"  # noqa: S105  (the bench's own staff, in a throw-away database)
YEAR = 31_536_000
DAY = 86_400
WEEK = 7 * DAY
CUSTOMERS = 1_000
CONTACTS_PER_CUSTOMER = 3
TEAMS = ["Billing", "Platform", "Success"]
AGENTS_PER_TEAM = 3
AGENTS = len(TEAMS) * AGENTS_PER_TEAM
MANAGER_ID = AGENTS + 1
AGENT_ID, AGENT_TEAM = 1, 1  # the measured agent: agent 1 of team 1
CATEGORIES = ["Billing question", "Bug report", "How-to", "Account access", "Feature request", "Data export"]
TAGS = ["billing", "bug", "feature-request", "vip", "refund", "outage", "onboarding", "sso"]
ACTIVE_SQL = "('open', 'in_progress', 'pending', 'waiting_on_customer')"
PAGE = queues.PAGE_SIZE  # 50; the app fetches PAGE + 1 rows to know whether there is a next page
QUEUE_AIM = 3.0  # route median <= 3x its baseline request median
REPORT_AIM = 1.0  # seconds, each report at --pg-tickets
SEED = 1  # the request order within each round
# A smoke run (every backend under SMOKE_TICKETS) checks that everything works end to end, in well under a minute:
# fewer requests by default (a round of all jobs costs ~0.5 s of server time even on tiny fills).
SMOKE_TICKETS, SMOKE_REQUESTS, SMOKE_WARMUP = 50_000, 25, 5
REPORT_START, REPORT_END = (NOW - timedelta(days=365)).date(), NOW.date()  # the page's ?start=&end= (end inclusive)
KEPT_TABLE = "bench_agent_fill"  # --keep-db: what was filled (size, history, NOW), so a rerun can reuse it


def set_now(now: datetime) -> None:
    """A reused fill (--keep-db) keeps the NOW it was filled at: its stamps, report range and workspace age."""
    global NOW, REPORT_START, REPORT_END
    NOW = now
    REPORT_START, REPORT_END = (NOW - timedelta(days=365)).date(), NOW.date()


CUSTOMER_TEXT = (
    "we exported the monthly figures again this morning and the totals in the CSV still differ from the ones on "
    "the invoice. The difference is in the tax column for the second half of the month; the numbers from our "
    "finance system are attached. Could you check whether the March run used the old rates? We need this before "
    "the quarterly close on Friday. Thanks, and kind regards from the finance team"
)
REPLY_TEXT = (
    "Hello, thanks for the details. We re-ran the export on our side with the rates from the invoice and found "
    "the same gap in the tax column. Our billing engineers are looking into the rate table used for the March "
    "run; I will update you here as soon as we know more. Kind regards, Bluehill Support"
)
# The workspace ticket's timeline after its opening email: (hours after opening, type, author).
FOLLOW_UPS: list[tuple[int, str, str]] = [
    (1, "system", "none"),
    (2, "internal_note", "staff"),
    (3, "email_outbound", "staff"),
    (20, "email_inbound", "contact"),
    (21, "system", "none"),
    (24, "email_outbound", "staff"),
    (26, "internal_note", "staff"),
    (44, "phone_call", "staff"),
    (46, "email_inbound", "contact"),
    (50, "email_outbound", "staff"),
]
WORKSPACE_AGE_HOURS = 96  # the workspace ticket was opened 4 days before NOW


def marker(ticket_id: int, k: int) -> str:
    """A unique text in the k-th timeline entry of the workspace ticket (k = 0: the opening email)."""
    return f"[entry {k} of #{ticket_id}]"


# --------------------------------------------------------------------------------------------------------
# The fill: bulk INSERT ... SELECT, ids explicit; per-ticket pseudo-random digits from multiplicative hashes.
# --------------------------------------------------------------------------------------------------------


def _series(dialect: str, n: int) -> tuple[str, str]:
    """(WITH prefix, FROM item) producing rows i = 1..n."""
    if dialect == "postgresql":
        return "", f"generate_series(CAST(1 AS bigint), CAST({n} AS bigint)) AS s(i)"
    return f"WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) ", "s"


def _ts(dialect: str, offset: str) -> str:
    """The SQL timestamp NOW + offset seconds (NULL stays NULL), in the column's storage format."""
    if dialect == "postgresql":
        return f"(CAST(:now AS timestamptz) + ({offset}) * INTERVAL '1 second')"
    # SQLAlchemy's SQLite DateTime format; UTCDateTime stores naive UTC so string order is time order.
    return f"(strftime('%Y-%m-%d %H:%M:%S', :now, ({offset}) || ' seconds') || '.000000')"


def _date_of(dialect: str, column: str) -> str:
    if dialect == "postgresql":
        return f"CAST({column} AT TIME ZONE 'UTC' AS date)"
    return f"substr({column}, 1, 10)"


def _insert(table: str, columns: dict[str, str], source: str, prefix: str = "", where: str = "") -> str:
    select_list = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    return f"INSERT INTO {table} ({', '.join(columns)}) {prefix}SELECT {select_list} FROM {source} {where}"


def _agent_of(team: str, ticket_id: str) -> str:
    """The agent working a ticket: one of its team's three (or any agent for the general inbox)."""
    return (
        f"(CASE WHEN {team} IS NULL THEN 1 + {ticket_id} % {AGENTS} "
        f"ELSE {AGENTS_PER_TEAM} * ({team} - 1) + 1 + ({ticket_id} / 7) % {AGENTS_PER_TEAM} END)"
    )


def ticket_insert(dialect: str, n: int) -> str:
    """INSERT ... SELECT of the ticket rows, in layers; offsets are seconds relative to NOW (< 0: past)."""
    prefix, series = _series(dialect, n)
    # PostgreSQL would pull the layers up into one another, copying each expression into every use (a tree
    # that grows with every layer, evaluated per row): OFFSET 0 keeps each layer a subquery of its own.
    fence = " OFFSET 0" if dialect == "postgresql" else ""
    # L1: creation offset (evenly over the year, ids in creation order) and six independent-looking digits.
    l1 = (
        f"SELECT i, -((({n} - i) * {YEAR}) / {n}) - 60 AS co, (i * 2654435761) % 10007 AS r1, "
        f"(i * 40503) % 9973 AS r2, (i * 7919) % 1009 AS r3, (i * 104729) % 10009 AS r4, "
        f"(i * 69069) % 10037 AS r5, (i * 22695477) % 10039 AS r6 FROM {series}"
    )
    # L2: active?, customer, team, SLA targets (minutes, by priority; r4 % 20 = 7: no SLA).
    l2 = (
        "SELECT l1.*, "
        f"CASE WHEN (co > -{3 * DAY} AND r1 % 100 < 90) OR (co <= -{3 * DAY} AND co > -{2 * WEEK} AND r1 % 100 < 20) "
        "OR r1 % 1000 < 6 THEN 1 ELSE 0 END AS act, "
        f"1 + (i * 48271) % {CUSTOMERS} AS c, "
        "CASE WHEN r4 % 100 < 8 THEN NULL ELSE 1 + r4 % 3 END AS team, "
        "CASE WHEN r4 % 20 = 7 THEN NULL WHEN r3 % 100 < 30 THEN 480 WHEN r3 % 100 < 75 THEN 240 "
        "WHEN r3 % 100 < 93 THEN 60 ELSE 30 END AS fr_t, "
        "CASE WHEN r4 % 20 = 7 THEN NULL WHEN r3 % 100 < 30 THEN 2880 WHEN r3 % 100 < 75 THEN 1440 "
        "WHEN r3 % 100 < 93 THEN 480 ELSE 240 END AS res_t "
        f"FROM ({l1}{fence}) AS l1"
    )
    # L3: status, closed without a reply (3 % of the done ones), first-response and resolution delays (seconds;
    # ~15 % / ~12 % late).
    l3 = (
        "SELECT l2.*, "
        f"CASE WHEN act = 1 AND co > -{3 * DAY} THEN (CASE WHEN r2 % 10 < 5 THEN 'open' WHEN r2 % 10 < 8 THEN "
        "'in_progress' WHEN r2 % 10 = 8 THEN 'pending' ELSE 'waiting_on_customer' END) "
        "WHEN act = 1 THEN (CASE WHEN r2 % 10 < 2 THEN 'open' WHEN r2 % 10 < 4 THEN 'in_progress' "
        "WHEN r2 % 10 < 6 THEN 'pending' ELSE 'waiting_on_customer' END) "
        f"WHEN co < -{WEEK} AND r2 % 10 < 8 THEN 'closed' ELSE 'resolved' END AS st, "
        "CASE WHEN act = 0 AND r4 % 33 = 0 THEN 1 ELSE 0 END AS unans, "
        "CASE WHEN fr_t IS NULL THEN 1800 + (r5 * 37) % 36000 WHEN r5 % 100 < 85 THEN fr_t * 60 * (5 + r5 % 80) / 100 "
        "ELSE fr_t * 60 * (110 + r5 % 200) / 100 END AS frd, "
        "CASE WHEN res_t IS NULL THEN 3600 + (r6 * 4001) % 345600 "
        "WHEN r6 % 100 < 88 THEN res_t * 60 * (10 + r6 % 88) / 100 "
        "ELSE res_t * 60 * (105 + r6 % 300) / 100 END AS resd "
        f"FROM ({l2}{fence}) AS l2"
    )
    # L4: offsets of the stamps; a third of the open tickets unanswered; paused ones without a due date (the
    # clock stands still).
    l4 = (
        "SELECT l3.*, "
        "CASE WHEN unans = 1 OR (st = 'open' AND r1 % 3 = 0) OR co + frd >= 0 THEN NULL ELSE co + frd END AS fra, "
        "CASE WHEN act = 1 THEN NULL WHEN co + resd < -60 THEN co + resd ELSE co / 10 END AS rso, "
        "CASE WHEN res_t IS NULL OR st IN ('pending', 'waiting_on_customer') THEN NULL ELSE co + res_t * 60 END "
        "AS due, "
        "CASE WHEN fr_t IS NULL THEN NULL ELSE co + fr_t * 60 END AS frdue "
        f"FROM ({l3}{fence}) AS l3"
    )
    # L5: a reply never after the resolution; closing two days after it; the sweep's stamps.
    l5 = (
        "SELECT l4.*, "
        "CASE WHEN fra IS NOT NULL AND rso IS NOT NULL AND fra > rso THEN rso ELSE fra END AS fr, "
        f"CASE WHEN st = 'closed' THEN (CASE WHEN rso + {2 * DAY} < -60 THEN rso + {2 * DAY} ELSE rso / 2 END) "
        "END AS clo "
        f"FROM ({l4}{fence}) AS l4"
    )
    l6 = (
        "SELECT l5.*, "
        "CASE WHEN due IS NULL THEN NULL WHEN act = 0 AND rso > due THEN due WHEN act = 1 AND due < 0 THEN due "
        "END AS breach, "
        "CASE WHEN frdue IS NULL THEN NULL WHEN fr IS NOT NULL AND fr > frdue THEN frdue "
        "WHEN fr IS NULL AND frdue < COALESCE(rso, 0) THEN frdue END AS frbreach, "
        "CASE WHEN act = 0 THEN COALESCE(clo, rso) ELSE COALESCE(fr, co) * (100 - r3 % 97) / 100 END AS upd "
        f"FROM ({l5}{fence}) AS l5"
    )
    ts = lambda offset: _ts(dialect, offset)  # noqa: E731
    subjects = [
        "Export totals differ from the invoice",
        "Cannot sign in with SSO",
        "Webhook deliveries failing",
        "Question about our plan",
        "Report shows wrong time zone",
        "Need an extra seat",
        "API returns 502 since this morning",
        "How do I change the billing address?",
    ]
    subject = (
        "CASE i % 8 " + " ".join(f"WHEN {k} THEN '{s}'" for k, s in enumerate(subjects)) + " END || ', case ' || i"
    )
    columns = {
        "id": "i",
        "subject": subject,
        "status": "st",
        "priority": "CASE WHEN r3 % 100 < 30 THEN 'low' WHEN r3 % 100 < 75 THEN 'medium' "
        "WHEN r3 % 100 < 93 THEN 'high' ELSE 'urgent' END",
        "source": "CASE WHEN (r5 / 100) % 20 < 11 THEN 'email' WHEN (r5 / 100) % 20 < 16 THEN 'portal' "
        "WHEN (r5 / 100) % 20 < 18 THEN 'web' WHEN (r5 / 100) % 20 = 18 THEN 'phone' ELSE 'api' END",
        "customer_id": "c",
        "primary_contact_id": f"{CONTACTS_PER_CUSTOMER} * (c - 1) + 1 + i % {CONTACTS_PER_CUSTOMER}",
        "assigned_team_id": "team",
        "category_id": f"CASE WHEN r6 % 10 = 0 THEN NULL ELSE 1 + (r6 / 10) % {len(CATEGORIES)} END",
        "first_response_target_minutes": "fr_t",
        "resolution_target_minutes": "res_t",
        "sla_started_at": ts("co"),
        "first_response_due": ts("frdue"),
        "due_date": ts("due"),
        "first_response_at": ts("fr"),
        "resolved_at": ts("rso"),
        "closed_at": ts("clo"),
        "sla_breach_at": ts("breach"),
        "first_response_breach_at": ts("frbreach"),
        "created_at": ts("co"),
        "updated_at": ts("upd"),
        "public_updated_at": ts("upd"),
    }
    return _insert("ticket", columns, f"({l6}{fence}) AS l6", prefix)


# The app never removes assignees on resolution: a desk's resolved and closed tickets keep theirs (97 % of them
# here). Only with --assignee-history is it part of the fill; otherwise the history probe adds it at the end.
ASSIGNEE_HISTORY = (
    f"INSERT INTO ticket_assignee (ticket_id, user_id) SELECT id, {_agent_of('assigned_team_id', 'id')} "
    f"FROM ticket WHERE status NOT IN {ACTIVE_SQL} AND id % 31 <> 0"
)


def fill_statements(dialect: str, n: int, history: bool) -> list[tuple[str, str]]:
    """(what, SQL) in order; a statement may use the parameters :now and :yes."""
    ts = lambda offset: _ts(dialect, offset)  # noqa: E731
    contacts = CUSTOMERS * CONTACTS_PER_CUSTOMER
    statements: list[tuple[str, str]] = []

    def series_insert(what: str, table: str, rows: int, columns: dict[str, str]) -> None:
        prefix, series = _series(dialect, rows)
        statements.append((what, _insert(table, columns, series, prefix)))

    series_insert(
        "customer",
        "customer",
        CUSTOMERS,
        {
            "id": "i",
            "name": "'Customer ' || i",
            "tier": "CASE WHEN i % 10 < 6 THEN 'standard' WHEN i % 10 < 9 THEN 'premium' ELSE 'enterprise' END",
            "notes": "''",
            "created_at": ts(f"-{2 * YEAR} + i * 60"),
        },
    )
    series_insert(
        "customer_domain",
        "customer_domain",
        CUSTOMERS,
        {"id": "i", "customer_id": "i", "domain": "'c' || i || '.example'"},
    )
    series_insert(
        "contact",
        "contact",
        contacts,
        {
            "id": "i",
            "customer_id": f"(i - 1) / {CONTACTS_PER_CUSTOMER} + 1",
            "name": "'Person ' || i",
            "email": f"'p' || ((i - 1) % {CONTACTS_PER_CUSTOMER} + 1) || '@c' || "
            f"((i - 1) / {CONTACTS_PER_CUSTOMER} + 1) || '.example'",
            "portal_role": f"CASE WHEN (i - 1) % {CONTACTS_PER_CUSTOMER} = 0 THEN 'customer' ELSE 'own' END",
            "portal_enabled": ":yes",
            "created_at": ts(f"-{2 * YEAR} + i * 60"),
        },
    )
    statements.append(("ticket", ticket_insert(dialect, n)))
    statements.append(
        (
            "ticket_contact",
            "INSERT INTO ticket_contact (ticket_id, contact_id) SELECT id, primary_contact_id FROM ticket",
        )
    )
    active = f"status IN {ACTIVE_SQL}"
    statements.append(
        (
            "ticket_assignee",
            f"INSERT INTO ticket_assignee (ticket_id, user_id) SELECT id, {_agent_of('assigned_team_id', 'id')} "
            f"FROM ticket WHERE {active} AND (id * 7) % 4 <> 0",
        )
    )
    second = (
        f"(CASE WHEN assigned_team_id IS NULL THEN 1 + (id + 1) % {AGENTS} ELSE {AGENTS_PER_TEAM} * "
        f"(assigned_team_id - 1) + 1 + (id / 7 + 1) % {AGENTS_PER_TEAM} END)"
    )
    statements.append(
        (
            "ticket_assignee (second)",
            f"INSERT INTO ticket_assignee (ticket_id, user_id) SELECT id, {second} FROM ticket "
            f"WHERE {active} AND (id * 7) % 4 <> 0 AND id % 17 = 0",
        )
    )
    if history:
        statements.append(("ticket_assignee (history)", ASSIGNEE_HISTORY))
    tag = "CASE {k} " + " ".join(f"WHEN {k} THEN '{t}'" for k, t in enumerate(TAGS)) + " END"
    statements.append(
        (
            "ticket_tag",
            f"INSERT INTO ticket_tag (ticket_id, tag) SELECT id, {tag.format(k=f'(id / 11) % {len(TAGS)}')} "
            "FROM ticket WHERE id % 10 = 3",
        )
    )
    statements.append(
        (
            "ticket_tag (second)",
            f"INSERT INTO ticket_tag (ticket_id, tag) SELECT id, {tag.format(k=f'((id / 11) % {len(TAGS)} + 4) % 8')} "
            "FROM ticket WHERE id % 50 = 3",
        )
    )
    statements.append(
        (
            "sla_pause",
            "INSERT INTO sla_pause (id, ticket_id, started_at, ended_at, reason) "
            "SELECT id, id, updated_at, NULL, status FROM ticket WHERE status IN ('pending', 'waiting_on_customer')",
        )
    )
    statements.append(
        (
            "time_entry",
            "INSERT INTO time_entry (id, ticket_id, user_id, minutes, note, work_date, created_at) "
            f"SELECT id, id, {_agent_of('assigned_team_id', 'id')}, 5 + (id * 13) % 115, '', "
            f"{_date_of(dialect, 'updated_at')}, updated_at FROM ticket "
            "WHERE id % 7 = 2 AND first_response_at IS NOT NULL",
        )
    )
    contact_email = (
        f"'p' || ((t.primary_contact_id - 1) % {CONTACTS_PER_CUSTOMER} + 1) || '@c' || t.customer_id || '.example'"
    )
    statements.append(
        (
            "interaction (customer emails)",
            _insert(
                "interaction",
                {
                    "id": "t.id",
                    "ticket_id": "t.id",
                    "type": "'email_inbound'",
                    "author_contact_id": "t.primary_contact_id",
                    "body_text": f"'Hello, regarding case ' || t.id || ': {CUSTOMER_TEXT}'",
                    "email_subject": "t.subject",
                    "email_from": contact_email,
                    "created_at": "t.created_at",
                },
                "ticket AS t",
            ),
        )
    )
    statements.append(
        (
            "interaction (replies / system rows)",
            _insert(
                "interaction",
                {
                    "id": f"{n} + t.id",
                    "ticket_id": "t.id",
                    "type": "CASE WHEN t.first_response_at IS NULL THEN 'system' ELSE 'email_outbound' END",
                    "author_user_id": "CASE WHEN t.first_response_at IS NULL THEN NULL "
                    f"ELSE {_agent_of('t.assigned_team_id', 't.id')} END",
                    "body_text": "CASE WHEN t.first_response_at IS NULL THEN 'Ticket created from email and routed "
                    f"to the team queue.' ELSE '{REPLY_TEXT}' END",
                    "email_subject": "CASE WHEN t.first_response_at IS NULL THEN NULL ELSE 'Re: ' || t.subject END",
                    "created_at": "COALESCE(t.first_response_at, t.created_at)",
                },
                "ticket AS t",
            ),
        )
    )
    return statements


FILLED = [
    Team.__table__,
    User.__table__,
    team_members,
    Category.__table__,
    CannedResponse.__table__,
    Customer.__table__,
    CustomerDomain.__table__,
    Contact.__table__,
    Ticket.__table__,
    ticket_contacts,
    ticket_assignees,
    TicketTag.__table__,
    SlaPause.__table__,
    TimeEntry.__table__,
    Interaction.__table__,
]


def small_rows(password_hash: str) -> list[tuple[sa.Table, list[dict[str, Any]]]]:
    created = NOW - timedelta(days=800)
    staff = [
        {
            "id": k,
            "name": f"Agent {k}",
            "email": f"agent{k}@bluehill.test",
            "password_hash": password_hash,
            "role": "agent",
            "active": True,
            "away": False,
            "created_at": created,
        }
        for k in range(1, AGENTS + 1)
    ]
    staff.append(
        {
            "id": MANAGER_ID,
            "name": "Morgan Manager",
            "email": "manager@bluehill.test",
            "password_hash": password_hash,
            "role": "manager",
            "active": True,
            "away": False,
            "created_at": created,
        }
    )
    return [
        (Team.__table__, [{"id": k, "name": name, "description": ""} for k, name in enumerate(TEAMS, 1)]),
        (User.__table__, staff),
        (
            team_members,
            [{"team_id": (k - 1) // AGENTS_PER_TEAM + 1, "user_id": k} for k in range(1, AGENTS + 1)],
        ),
        (Category.__table__, [{"id": k, "name": name, "active": True} for k, name in enumerate(CATEGORIES, 1)]),
        (
            CannedResponse.__table__,
            [
                {"id": k, "title": f"Canned reply {k}", "body": f"Hello {{contact}}, canned answer {k}. {{agent}}"}
                for k in range(1, 6)
            ],
        ),
    ]


@dataclass
class Fill:
    tickets: int
    counts: dict[str, int]
    workspace_id: int
    fill_seconds: float
    index_seconds: float
    analyze_seconds: float

    @property
    def seconds(self) -> float:
        return self.fill_seconds + self.index_seconds + self.analyze_seconds


def now_param(dialect: str) -> Any:
    return NOW.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S") if dialect == "sqlite" else NOW


def make_workspace_ticket(conn: sa.Connection, n: int) -> int:
    """An in-progress ticket of team 1 opened 4 days ago, assigned to agent 1, with 10 follow-ups."""
    opened = NOW - timedelta(hours=WORKSPACE_AGE_HOURS)
    t = Ticket.__table__
    ticket_id = conn.execute(
        sa.select(t.c.id).where(t.c.created_at <= opened, t.c.assigned_team_id == AGENT_TEAM).order_by(t.c.id.desc())
    ).scalar()
    assert ticket_id is not None, "no team-1 ticket old enough for the workspace"
    contact_id = conn.execute(sa.select(t.c.primary_contact_id).where(t.c.id == ticket_id)).scalar_one()
    times = [opened] + [opened + timedelta(hours=h) for h, _, _ in FOLLOW_UPS]
    first_reply = next(opened + timedelta(hours=h) for h, kind, _ in FOLLOW_UPS if kind == "email_outbound")
    conn.execute(
        t.update()
        .where(t.c.id == ticket_id)
        .values(
            status="in_progress",
            priority="high",
            first_response_target_minutes=60,
            resolution_target_minutes=480,
            sla_started_at=opened,
            first_response_due=opened + timedelta(minutes=60),
            due_date=opened + timedelta(minutes=480),
            first_response_at=first_reply,
            first_response_breach_at=opened + timedelta(minutes=60),
            sla_breach_at=opened + timedelta(minutes=480),
            resolved_at=None,
            closed_at=None,
            created_at=opened,
            updated_at=times[-1],
            public_updated_at=times[-1],
        )
    )
    conn.execute(ticket_assignees.delete().where(ticket_assignees.c.ticket_id == ticket_id))
    conn.execute(ticket_assignees.insert().values(ticket_id=ticket_id, user_id=AGENT_ID))
    conn.execute(SlaPause.__table__.delete().where(SlaPause.__table__.c.ticket_id == ticket_id))
    i = Interaction.__table__
    conn.execute(i.delete().where(i.c.ticket_id == ticket_id))
    entries = [(0, "email_inbound", "contact")] + [(h, kind, who) for h, kind, who in FOLLOW_UPS]
    rows = []
    for k, ((_, kind, who), at) in enumerate(zip(entries, times, strict=True)):
        text = {
            "email_inbound": f"Hello, regarding case {ticket_id}: {CUSTOMER_TEXT}",
            "email_outbound": REPLY_TEXT,
            "internal_note": "Checked the rate table: the March run used last year's VAT rates. Asked billing.",
            "phone_call": "Called the customer's finance lead, explained the fix and the corrected invoice.",
            "system": "Status changed from Open to In Progress" if k == 5 else "Assigned to Agent 1",
        }[kind]
        rows.append(
            {
                "id": 2 * n + 1 + k,
                "ticket_id": ticket_id,
                "type": kind,
                "author_user_id": AGENT_ID if who == "staff" else None,
                "author_contact_id": contact_id if who == "contact" else None,
                "body_text": f"{marker(ticket_id, k)} {text}",
                "email_subject": "Export totals differ from the invoice" if kind.startswith("email") else None,
                "duration_minutes": 12 if kind == "phone_call" else None,
                "created_at": at,
            }
        )
    conn.execute(i.insert(), rows)
    return ticket_id


def fill(url: str, dialect: str, tickets: int, password_hash: str, history: bool) -> Fill:
    """Bulk fill on a dedicated engine (its pragmas/settings never reach the measured pool)."""
    engine = sa.create_engine(url)
    indexes = sorted((index for table in FILLED for index in table.indexes), key=lambda index: index.name or "")
    try:
        with engine.begin() as conn:
            if dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB for the fill and the index builds
            else:
                conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
                # No foreign-key triggers during the fill (the generated rows are consistent by construction;
                # 4 FK lookups per ticket row would double the fill). Local to this transaction.
                conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
            for index in indexes:
                index.drop(conn)
            started = time.perf_counter()
            for table, rows in small_rows(password_hash):
                conn.execute(table.insert(), rows)
            params = {"now": now_param(dialect), "yes": True}
            for _what, sql in fill_statements(dialect, tickets, history):
                used = {name: value for name, value in params.items() if re.search(rf":{name}\b", sql)}
                conn.execute(sa.text(sql), used)
            workspace_id = make_workspace_ticket(conn, tickets)
            fill_seconds = time.perf_counter() - started
            index_seconds, _ = timed(lambda: [index.create(conn) for index in indexes])
            if dialect == "postgresql":  # explicit ids: move the sequences past them
                for table in FILLED:
                    if "id" in table.c:
                        conn.exec_driver_sql(
                            f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                            f"(SELECT COALESCE(max(id), 0) + 1 FROM {table.name}), false)"
                        )
        if dialect == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                names = ", ".join(table.name for table in FILLED)
                analyze_seconds, _ = timed(lambda: conn.exec_driver_sql(f"VACUUM ANALYZE {names}"))
        else:
            with engine.begin() as conn:
                analyze_seconds, _ = timed(lambda: conn.exec_driver_sql("ANALYZE"))
        counts = count_rows(engine)
    finally:
        engine.dispose()
    assert counts["ticket"] == tickets and counts["interaction"] == 2 * tickets + len(FOLLOW_UPS) - 1, counts
    return Fill(tickets, counts, workspace_id, fill_seconds, index_seconds, analyze_seconds)


def count_rows(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        counts = {
            table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() for table in FILLED
        }
        t = Ticket.__table__
        counts["active tickets"] = conn.execute(
            sa.select(sa.func.count()).select_from(t).where(sa.text(f"status IN {ACTIVE_SQL}"))
        ).scalar_one()
    return counts


# --keep-db: a filled database survives the run and a later run with the same size reuses it (a 1M fill takes
# minutes). The kept table records what was filled; indexes are brought in line with the models on reuse.


def kept_fill(url: str, tickets: int, history: bool) -> Fill | None:
    """The fill recorded in a kept database, when it matches (size and history); sets NOW to its fill time."""
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(KEPT_TABLE):
            return None
        with engine.connect() as conn:
            row = conn.exec_driver_sql(f"SELECT tickets, history, filled_now, workspace_id FROM {KEPT_TABLE}").first()
        if row is None or row[0] != tickets or bool(row[1]) != history:
            return None
        set_now(datetime.fromisoformat(row[2]))
        created, dropped = sync_indexes(engine)
        if created or dropped:
            print(f"    kept database: indexes created {created or '-'}, dropped {dropped or '-'}", flush=True)
        counts = count_rows(engine)
    finally:
        engine.dispose()
    return Fill(tickets, counts, row[3], 0.0, 0.0, 0.0)


def record_fill(url: str, filled: Fill, history: bool) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {KEPT_TABLE}")
            conn.exec_driver_sql(
                f"CREATE TABLE {KEPT_TABLE} (tickets integer, history integer, filled_now varchar(40), "
                "workspace_id integer)"
            )
            conn.execute(
                sa.text(f"INSERT INTO {KEPT_TABLE} VALUES (:n, :h, :now, :w)"),
                {"n": filled.tickets, "h": int(history), "now": NOW.isoformat(), "w": filled.workspace_id},
            )
    finally:
        engine.dispose()


def sync_indexes(engine: sa.Engine) -> tuple[list[str], list[str]]:
    """Create the models' indexes missing from a kept database, drop the ones the models no longer declare, and
    make again the ones whose columns changed."""
    declared = {index.name: index for table in FILLED for index in table.indexes}
    inspector = sa.inspect(engine)
    present = {
        index["name"]: list(index["column_names"])
        for table in FILLED
        for index in inspector.get_indexes(table.name)
        if not index.get("duplicates_constraint")
    }
    changed = {
        name
        for name, index in declared.items()
        if name in present and None not in present[name] and present[name] != [c.name for c in index.columns]
    }
    created, dropped = [], []
    with engine.begin() as conn:
        for name in sorted((set(present) - set(declared)) | changed):
            if name:
                conn.exec_driver_sql(f'DROP INDEX "{name}"')
                dropped.append(name)
        for name, index in declared.items():
            if name not in present or name in changed:
                index.create(conn)
                created.append(str(name))
    if created:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE")
    return created, dropped


def forget_history(target: Target) -> None:
    """Take the history probe's assignee rows out of a kept database again (the fill has active tickets' only)."""
    with target.engine.begin() as conn:
        conn.exec_driver_sql(
            f"DELETE FROM ticket_assignee WHERE ticket_id IN (SELECT id FROM ticket WHERE status NOT IN {ACTIVE_SQL})"
        )
    with target.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE ticket_assignee" if target.dialect == "postgresql" else "ANALYZE")


# --------------------------------------------------------------------------------------------------------
# Baselines: the bare SQL for the same page of rows (the app fetches PAGE + 1 to know about a next page).
# --------------------------------------------------------------------------------------------------------


@dataclass
class Spec:
    """Bare statements; run() gives the ids of the page (or, for the workspace, [ticket id, interactions])."""

    statements: list[sa.TextClause]
    params: Callable[[], dict[str, Any]]
    workspace: bool = False

    def run(self, executor: sa.Connection | sa.orm.Session) -> list[int]:
        params = self.params()
        if self.workspace:
            ticket = executor.execute(self.statements[0], params).one()
            entries = executor.execute(self.statements[1], params).all()
            return [ticket[0], len(entries)]
        return [row[0] for row in executor.execute(self.statements[0], params)]


def _text(sql: str, **types: Any) -> sa.TextClause:
    return sa.text(sql).bindparams(*(sa.bindparam(name, type_=type_) for name, type_ in types.items()))


def _breaching_horizon() -> datetime:
    """The app's horizon for Breaching soon, read from the app so the baseline follows it."""
    return datetime.now(UTC) + queues.BREACHING_HORIZON


def baseline_specs(workspace_id: int, deep: tuple[datetime, int], email: str) -> dict[str, Spec]:
    limit = PAGE + 1
    newest = "ORDER BY t.updated_at DESC, t.id DESC"
    mine_or_inbox = "(t.assigned_team_id = :team OR t.assigned_team_id IS NULL)"
    agent = {"user": AGENT_ID, "team": AGENT_TEAM}
    return {
        "mine": Spec(
            [
                _text(
                    "SELECT t.id FROM ticket AS t JOIN ticket_assignee AS a ON a.ticket_id = t.id "
                    f"WHERE a.user_id = :user AND t.status IN {ACTIVE_SQL} {newest} LIMIT {limit}"
                )
            ],
            lambda: agent,
        ),
        "team": Spec(
            [
                _text(
                    f"SELECT t.id FROM ticket AS t WHERE t.assigned_team_id = :team AND t.status IN {ACTIVE_SQL} "
                    f"{newest} LIMIT {limit}"
                )
            ],
            lambda: agent,
        ),
        "unassigned": Spec(
            [
                _text(
                    f"SELECT t.id FROM ticket AS t WHERE t.status IN {ACTIVE_SQL} AND {mine_or_inbox} AND NOT EXISTS "
                    f"(SELECT 1 FROM ticket_assignee AS a WHERE a.ticket_id = t.id) {newest} LIMIT {limit}"
                )
            ],
            lambda: agent,
        ),
        "breaching": Spec(
            [
                _text(
                    f"SELECT t.id FROM ticket AS t WHERE t.status IN {ACTIVE_SQL} AND {mine_or_inbox} AND "
                    "t.due_date IS NOT NULL AND t.due_date <= :horizon ORDER BY t.due_date, t.id "
                    f"LIMIT {limit}",
                    horizon=UTCDateTime(),
                )
            ],
            lambda: {**agent, "horizon": _breaching_horizon()},
        ),
        "waiting": Spec(
            [
                _text(
                    f"SELECT t.id FROM ticket AS t WHERE t.status = 'waiting_on_customer' AND {mine_or_inbox} "
                    f"{newest} LIMIT {limit}"
                )
            ],
            lambda: agent,
        ),
        "all": Spec([_text(f"SELECT t.id FROM ticket AS t {newest} LIMIT {limit}")], dict),
        "deep": Spec(
            [
                _text(
                    f"SELECT t.id FROM ticket AS t WHERE (t.updated_at, t.id) < (:value, :last) {newest} LIMIT {limit}",
                    value=UTCDateTime(),
                )
            ],
            lambda: {"value": deep[0], "last": deep[1]},
        ),
        "search": Spec(
            [
                _text(
                    "SELECT t.id FROM ticket AS t JOIN contact AS c ON c.id = t.primary_contact_id "
                    f"WHERE c.email = :email {newest} LIMIT {limit}"
                )
            ],
            lambda: {"email": email},
        ),
        "workspace": Spec(
            [
                _text("SELECT * FROM ticket WHERE id = :ticket"),
                _text("SELECT * FROM interaction WHERE ticket_id = :ticket ORDER BY created_at, id"),
            ],
            lambda: {"ticket": workspace_id},
            workspace=True,
        ),
    }


# --------------------------------------------------------------------------------------------------------
# Measuring: server time per request (a WSGI wrapper) and the SQL inside it (cursor-execute events).
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    role: str
    key: str  # also the baseline's key
    name: str
    path: str


ROUTE, REQUEST, SQL = "route", "baseline request", "bare SQL"


@dataclass
class Job:
    target: Target
    route: Route
    kind: str  # ROUTE, REQUEST or SQL
    warmup: int
    requests: int
    series: Series = field(default_factory=Series)
    probe_seconds: float = 0.0

    def run(self) -> tuple[float, dict[str, float], int]:
        target = self.target
        if self.kind == SQL:
            spec = target.specs[self.route.key]
            started = time.perf_counter()
            with target.engine.connect() as conn:
                spec.run(conn)
            return time.perf_counter() - started, {}, 0
        path = self.route.path if self.kind == ROUTE else f"/bench/baseline/{self.route.key}"
        target.recorder.begin()
        response = target.clients[self.route.role].get(path)
        statements, calls = target.recorder.end()
        assert response.status_code == 200, (target.backend, self.kind, path, response.status_code)
        return target.timer.last, statements, calls


@dataclass
class Target:
    """One filled database with its own app instance, signed-in clients and recorder."""

    backend: str
    dialect: str
    version: str
    fill: Fill
    app: Flask
    engine: sa.Engine
    timer: ServerTimer
    recorder: SqlRecorder
    clients: dict[str, FlaskClient]
    specs: dict[str, Spec]
    routes: list[Route]
    checks: list[str]
    access: dict[str, str] = field(default_factory=dict)  # baseline key -> its access path
    jobs: dict[tuple[str, str, str], Job] = field(default_factory=dict)  # (role, key, kind)
    reports: dict[str, Series] = field(default_factory=dict)
    plans: list[str] = field(default_factory=list)
    history: list[str] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')
_ROW = re.compile(r'<td class="subject"><a href="/admin/ticket/(\d+)"')


def login(client: FlaskClient, email: str) -> None:
    page = client.get("/agent/login").get_data(as_text=True)
    match = _CSRF.search(page)
    assert match, "no CSRF token on the sign-in page"
    token = match.group(1) or match.group(2)
    response = client.post("/agent/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def baseline_view(specs: dict[str, Spec]) -> Callable[[str], Any]:
    def view(key: str) -> Any:
        if staff_role() is None:  # the staff sign-in gate of every agent screen
            abort(403)
        spec = specs.get(key)
        if spec is None:
            abort(404)
        ids = spec.run(db.session)
        return ",".join(map(str, ids)), 200, {"Content-Type": "text/plain; charset=utf-8"}

    return view


def routes_for(workspace_id: int, cursor: str, email: str) -> list[Route]:
    return [
        Route("agent", "mine", "/admin/queues/mine", "/admin/queues/mine"),
        Route("agent", "team", f"/admin/queues/team-{AGENT_TEAM}", f"/admin/queues/team-{AGENT_TEAM}"),
        Route("agent", "unassigned", "/admin/queues/unassigned", "/admin/queues/unassigned"),
        Route("agent", "breaching", "/admin/queues/breaching", "/admin/queues/breaching"),
        Route("agent", "waiting", "/admin/queues/waiting", "/admin/queues/waiting"),
        Route("agent", "workspace", "/admin/ticket/<id> (workspace)", f"/admin/ticket/{workspace_id}"),
        Route("manager", "all", "/admin/queues/all", "/admin/queues/all"),
        Route(
            "manager",
            "deep",
            "/admin/queues/all?after= (90 % down)",
            "/admin/queues/all?" + urlencode({"after": cursor}),
        ),
        Route(
            "manager", "search", "/admin/queues/all?q=<contact email>", "/admin/queues/all?" + urlencode({"q": email})
        ),
        Route("manager", "workspace", "/admin/ticket/<id> (workspace)", f"/admin/ticket/{workspace_id}"),
    ]


def check_routes(target: Target) -> None:
    """Every queue page shows exactly the baseline's first 50 ids (and a next link iff it found a 51st); the
    workspace shows all of its timeline; the agent may not open All."""
    for route in target.routes:
        page = target.clients[route.role].get(route.path)
        assert page.status_code == 200, (route.path, page.status_code)
        text = page.get_data(as_text=True)
        with target.app.app_context():
            expected = target.specs[route.key].run(db.session)
            db.session.remove()
        if route.key == "workspace":
            missing = [k for k in range(len(FOLLOW_UPS) + 1) if marker(target.fill.workspace_id, k) not in text]
            assert not missing and expected == [target.fill.workspace_id, len(FOLLOW_UPS) + 1], (missing, expected)
            continue
        shown = [int(i) for i in _ROW.findall(text)]
        assert shown == expected[:PAGE], (route.path, shown[:5], expected[:5], len(shown), len(expected))
        assert ("Next page" in text) == (len(expected) > PAGE), route.path
        assert shown, f"{route.path}: an empty page proves nothing"
    target.checks.append(
        f"each of the {sum(r.key != 'workspace' for r in target.routes)} queue pages showed exactly the first "
        f"{PAGE} ids of its baseline, in order, with a next-page link"
    )
    target.checks.append(
        f"the workspace (agent and manager) showed all {len(FOLLOW_UPS) + 1} timeline entries of ticket "
        f"#{target.fill.workspace_id}"
    )
    denied = target.clients["agent"].get("/admin/queues/all").status_code
    assert denied == 403, denied
    target.checks.append("the agent gets 403 on the All queue")


def access_path(target: Target, spec: Spec) -> str:
    """How the bare statements reach their rows (from their plans): the indexes used, or a full scan."""
    target.recorder.begin()
    with target.engine.connect() as conn:
        spec.run(conn)
    statements, _ = target.recorder.end()
    paths: list[str] = []
    for statement in statements:
        for line in explain_lines(target.dialect, target.engine, statement, target.recorder.params[statement], False):
            if target.dialect == "postgresql":
                found = re.search(
                    r"(Seq Scan on \w+|(?:Index|Index Only|Bitmap Index) Scan(?: Backward)? (?:using|on) \w+)", line
                )
            else:
                found = re.search(
                    r"((?:SCAN|SEARCH) \w+(?: AS \w+)?(?: USING [A-Z ]*?INDEX \w+| USING INTEGER PRIMARY KEY)?)", line
                )
            if found and found.group(1) not in paths:
                paths.append(found.group(1))
    return "; ".join(paths)


def search_index(url: str) -> str:
    """SQLite: the migration's search indexes (FTS5 over bodies and subjects, kept by triggers), built over the fill
    when missing."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            found = conn.exec_driver_sql("SELECT count(*) FROM sqlite_master WHERE name = 'ticket_search'")
            present = found.scalar_one()
        if present:
            return "kept"
        started = time.perf_counter()
        benchkit.add_search_indexes(engine)
        return f"built in {time.perf_counter() - started:.1f} s"
    finally:
        engine.dispose()


def prepare_target(
    backend: str, url: str, dialect: str, tickets: int, args: argparse.Namespace, password_hash: str
) -> Target:
    benchkit.create_schema(url, {"REDIS_URL": REDIS_URL, "SECRET_KEY": "bench"}, search_indexes=False)
    filled = kept_fill(url, tickets, args.assignee_history) if args.keep_db else None
    if filled is not None:
        print(f"[{backend}] reusing the kept fill of {tickets:,} tickets (now = {NOW.isoformat()})", flush=True)
    else:
        print(f"[{backend}] filling {tickets:,} tickets ...", flush=True)
        filled = fill(url, dialect, tickets, password_hash, args.assignee_history)
        if args.keep_db:
            record_fill(url, filled, args.assignee_history)
    if dialect == "sqlite":
        print(f"[{backend}] search indexes: {search_index(url)}", flush=True)
    print(
        f"[{backend}] {filled.tickets:,} tickets ({filled.counts['active tickets']:,} active), "
        f"{filled.counts['interaction']:,} interactions, {filled.counts['ticket_assignee']:,} assignee rows: fill "
        f"{filled.fill_seconds:.1f} s, indexes {filled.index_seconds:.1f} s, "
        f"{'VACUUM ' if dialect == 'postgresql' else ''}ANALYZE {filled.analyze_seconds:.1f} s",
        flush=True,
    )
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": "bench",
            "RATELIMIT_ENABLED": False,
            "WTF_CSRF_ENABLED": True,
        }
    )
    timer = ServerTimer(app.wsgi_app)
    app.wsgi_app = timer  # type: ignore[method-assign]
    app.test_client_class = IsolatedClient
    recorder = SqlRecorder()
    with app.app_context():
        engine = db.engine
        recorder.attach(engine)
        with engine.connect() as conn:
            version = str(
                conn.exec_driver_sql("SHOW server_version").scalar_one()
                if dialect == "postgresql"
                else conn.exec_driver_sql("SELECT sqlite_version()").scalar_one()
            )
            position = int(0.9 * tickets)
            deep_id = conn.execute(
                sa.text(f"SELECT id FROM ticket ORDER BY updated_at DESC, id DESC LIMIT 1 OFFSET {position}")
            ).scalar_one()
        deep_ticket = db.session.get(Ticket, deep_id)
        assert deep_ticket is not None
        cursor = queues.cursor_of(deep_ticket, queues.Filters(), "all")
        deep = (deep_ticket.updated_at, deep_ticket.id)
        db.session.remove()
    email = f"p2@c{CUSTOMERS // 2}.example"
    specs = baseline_specs(filled.workspace_id, deep, email)
    app.add_url_rule("/bench/baseline/<key>", "bench_baseline", baseline_view(specs))
    clients = {"agent": app.test_client(), "manager": app.test_client()}
    login(clients["agent"], f"agent{AGENT_ID}@bluehill.test")
    login(clients["manager"], "manager@bluehill.test")
    target = Target(
        backend,
        dialect,
        version,
        filled,
        app,
        engine,
        timer,
        recorder,
        clients,
        specs,
        routes_for(filled.workspace_id, cursor, email),
        [],
    )
    check_routes(target)
    target.access = {key: access_path(target, spec) for key, spec in specs.items()}
    return target


# --------------------------------------------------------------------------------------------------------
# The rounds: every job once per round for every backend, in a fresh random order.
# --------------------------------------------------------------------------------------------------------


def make_jobs(targets: list[Target], args: argparse.Namespace) -> list[Job]:
    """One job per (backend, role, route, kind); each is probed once (untimed) to find the slow ones."""
    jobs = []
    for target in targets:
        for route in target.routes:
            for kind in (ROUTE, REQUEST, SQL):
                if kind != ROUTE and route.role == "manager" and route.key == "workspace":
                    continue  # one baseline for the workspace (the agent's)
                job = Job(target, route, kind, args.warmup, args.requests)
                job.probe_seconds, _, _ = job.run()
                if job.probe_seconds > args.slow:
                    job.warmup, job.requests = 1, args.slow_requests
                target.jobs[(route.role, route.key, kind)] = job
                jobs.append(job)
    return jobs


def measure(jobs: list[Job]) -> float:
    order = random.Random(SEED)
    started = time.perf_counter()
    rounds = max(job.warmup + job.requests for job in jobs)
    for round_ in range(rounds):
        active = [job for job in jobs if round_ < job.warmup + job.requests]
        order.shuffle(active)
        for job in active:
            seconds, statements, calls = job.run()
            if round_ >= job.warmup:
                job.series.add(seconds, statements, calls)
        if (round_ + 1) % 20 == 0:
            print(f"    round {round_ + 1}/{rounds}: {time.perf_counter() - started:.0f} s", flush=True)
    return time.perf_counter() - started


def report_range() -> tuple[datetime, datetime]:
    """What the page's ?start=&end= become (admin/reports._range): [start 00:00, the day after end 00:00)."""
    start = datetime.combine(REPORT_START, datetime.min.time(), UTC)
    return start, datetime.combine(REPORT_END + timedelta(days=1), datetime.min.time(), UTC)


REPORT_PAGE = "GET /admin/reports/ (all 8 reports, dim=tier)"
REPORT_BASE = "baseline: SELECT count(*) of the year's tickets"
REPORTS: dict[str, Callable[[sa.orm.Session, datetime, datetime], Any]] = {
    "sla_by(dimension='tier')": lambda s, a, b: reports.sla_by(s, dimension="tier", start=a, end=b),
    "sla_by(dimension='team')": lambda s, a, b: reports.sla_by(s, dimension="team", start=a, end=b),
    "sla_by(dimension='priority')": lambda s, a, b: reports.sla_by(s, dimension="priority", start=a, end=b),
    "response_time_distribution(team)": lambda s, a, b: reports.response_time_distribution(
        s, start=a, end=b, dimension="team"
    ),
    "response_time_histogram()": lambda s, a, b: reports.response_time_histogram(s, start=a, end=b),
    "backlog_over_time(step='week')": lambda s, a, b: reports.backlog_over_time(s, start=a, end=b, step="week"),
    "backlog_now_by_team_status()": lambda s, a, b: reports.backlog_now_by_team_status(s),
    "tickets_by(dimension='category')": lambda s, a, b: reports.tickets_by(s, dimension="category", start=a, end=b),
    "tickets_by(dimension='source')": lambda s, a, b: reports.tickets_by(s, dimension="source", start=a, end=b),
    "time_by_customer()": lambda s, a, b: reports.time_by_customer(s, start=a, end=b),
}


def measure_reports(targets: list[Target], runs: int) -> float:
    """1 warm-up, then `runs` timed runs of the page and of each report function, the backends interleaved."""
    start, end = report_range()
    path = "/admin/reports/?" + urlencode(
        {"start": REPORT_START.isoformat(), "end": REPORT_END.isoformat(), "dim": "tier"}
    )
    base = _text(
        "SELECT count(*) FROM ticket WHERE created_at >= :a AND created_at < :b", a=UTCDateTime(), b=UTCDateTime()
    )
    started = time.perf_counter()
    for run in range(1 + runs):
        for target in targets:
            target.recorder.begin()
            response = target.clients["manager"].get(path)
            statements, calls = target.recorder.end()
            assert response.status_code == 200, response.status_code
            if run:
                target.reports.setdefault(REPORT_PAGE, Series()).add(target.timer.last, statements, calls)
            with target.app.app_context():
                for name, function in [(REPORT_BASE, None), *REPORTS.items()]:
                    target.recorder.begin()
                    began = time.perf_counter()
                    if function is None:
                        db.session.execute(base, {"a": start, "b": end}).scalar_one()
                    else:
                        function(db.session, start, end)
                    seconds = time.perf_counter() - began
                    statements, calls = target.recorder.end()
                    db.session.remove()
                    if run:
                        target.reports.setdefault(name, Series()).add(seconds, statements, calls)
        print(f"    reports run {run + 1}/{1 + runs}: {time.perf_counter() - started:.0f} s", flush=True)
    for target in targets:
        target.checks.append(
            f"the reports page answered 200 in all {1 + runs} runs (start={REPORT_START}, end={REPORT_END})"
        )
    return time.perf_counter() - started


# --------------------------------------------------------------------------------------------------------
# Aims, plans and the assignee history probe.
# --------------------------------------------------------------------------------------------------------


def route_series(target: Target, route: Route, kind: str) -> Series:
    if kind != ROUTE and route.key == "workspace":
        return target.jobs[("agent", "workspace", kind)].series
    return target.jobs[(route.role, route.key, kind)].series


def full_scan(target: Target, key: str) -> bool:
    """Does the baseline itself read the whole ticket table (no index serves its order)?"""
    access = target.access.get(key, "")
    return "Seq Scan on ticket" in access or re.search(r"(^|; )SCAN t\b", access) is not None


def aim_text(target: Target, route: Route) -> str:
    series, base = route_series(target, route, ROUTE), route_series(target, route, REQUEST)
    if series.median > QUEUE_AIM * base.median:
        return "MISSED"
    return "met*" if full_scan(target, route.key) else "met"


def route_misses(target: Target) -> list[tuple[Route, str]]:
    found = []
    for route in target.routes:
        series, base = route_series(target, route, ROUTE), route_series(target, route, REQUEST)
        if series.median > QUEUE_AIM * base.median:
            found.append(
                (route, f"median {series.median / base.median:.1f}x its baseline request (aim <= {QUEUE_AIM:g}x)")
            )
    return found


def report_misses(target: Target) -> list[tuple[str, str]]:
    return [
        (name, f"median {series.median:.2f} s (aim < {REPORT_AIM:g} s)")
        for name, series in target.reports.items()
        if name not in (REPORT_BASE,) and series.median >= REPORT_AIM
    ]


_VISIBLE = re.compile(
    r"\(ticket\.assigned_team_id IN \(SELECT team_member\.team_id FROM team_member WHERE .*?\) OR "
    r"ticket\.assigned_team_id IS NULL OR ticket\.id IN \(SELECT ticket_assignee\.ticket_id FROM ticket_assignee "
    r"WHERE ticket_assignee\.user_id = [^)]*\)\)"
)
_PARAM = re.compile(r"%\((\w+)\)s(::(?:TIMESTAMP WITH TIME ZONE|[A-Z]+))?")


def label(statement: str, width: int = 150) -> str:
    """A short readable name of a SQL statement: the select list abbreviated, the agent's visibility clause named,
    the FROM/WHERE kept (its start and its end when too long)."""
    text = _VISIBLE.sub("<visible to the agent>", _PARAM.sub("?", " ".join(statement.split())))
    match = re.match(r"(WITH .*?\) )?SELECT (.*?) FROM (.*)$", text, re.S)
    if match:
        cte, columns, rest = match.groups()
        if len(columns) > 40:
            columns = columns.split(",")[0] + ", ..."
        text = f"{'WITH ... ' if cte else ''}SELECT {columns} FROM {rest}"
    if len(text) > width:
        text = text[: width // 2 - 2] + " .. " + text[-(width - width // 2 - 2) :]
    return text


def explain_lines(dialect: str, engine: sa.Engine, statement: str, parameters: Any, analyze: bool = True) -> list[str]:
    """The plan: EXPLAIN (ANALYZE, BUFFERS) (or plain EXPLAIN) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite."""
    if dialect == "postgresql":
        prefix = "EXPLAIN (ANALYZE, BUFFERS)" if analyze else "EXPLAIN"
    else:
        prefix = "EXPLAIN QUERY PLAN"
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(f"{prefix} {statement}", parameters).all()
        conn.rollback()
    if dialect == "postgresql":
        return [str(row[0]) for row in rows]
    depth: dict[int, int] = {}
    lines = []
    for row in rows:  # (id, parent, notused, detail)
        depth[row[0]] = depth.get(row[1], -1) + 1
        lines.append("  " * depth[row[0]] + str(row[-1]))
    return lines


def plans(target: Target, everything: bool) -> list[str]:
    """The slowest statement behind each missed aim (every route and report with --explain), with its plan."""
    wanted: list[tuple[str, Series, str]] = [
        (f"{route.role} {route.name}", route_series(target, route, ROUTE), why) for route, why in route_misses(target)
    ]
    wanted += [(name, target.reports[name], why) for name, why in report_misses(target)]
    if everything:
        listed = {name for name, _, _ in wanted}
        wanted += [
            (f"{route.role} {route.name}", route_series(target, route, ROUTE), "--explain")
            for route in target.routes
            if f"{route.role} {route.name}" not in listed
        ]
        wanted += [
            (name, series, "--explain") for name, series in target.reports.items() if name not in listed | {REPORT_PAGE}
        ]
    lines: list[str] = []
    done: set[str] = set()
    for name, series, why in wanted:
        if not series.statements:
            continue
        statement = max(series.statements, key=series.statement_median)
        sql_share = statistics.median(series.sql) / series.median
        lines.append(
            f"-- {name}: {why}; {statistics.median(series.queries):g} statements, {sql_share:.0%} of the time in SQL"
        )
        lines.append(
            f"   slowest statement ({series.statement_median(statement) * 1000:.2f} ms median per request): "
            f"{label(statement)}"
        )
        top = sorted(series.statements, key=series.statement_median, reverse=True)[:4]
        lines.append("   top statements, median ms per request:")
        for other in top:
            lines.append(f"      {series.statement_median(other) * 1000:9.2f}  {label(other, 130)}")
        if statement in done:
            lines.append("   (plan printed above)")
            continue
        done.add(statement)
        lines.append("   " + " ".join(statement.split()))
        lines.append(f"   parameters: {target.recorder.params.get(statement)!r}")
        for line in explain_lines(target.dialect, target.engine, statement, target.recorder.params.get(statement)):
            lines.append(f"      {line}")
    return lines


def run_with_timeout(
    conn: sa.Connection, dialect: str, recorder: SqlRecorder, statement: Any, timeout: float
) -> tuple[float | None, tuple[str, Any]]:
    """(seconds the statement took or None when it was cancelled after `timeout` seconds, (SQL, parameters))."""
    raw = conn.connection.driver_connection
    if dialect == "postgresql":
        conn.exec_driver_sql(f"SET statement_timeout = {int(timeout * 1000)}")
    else:
        deadline = time.perf_counter() + timeout
        raw.set_progress_handler(lambda: int(time.perf_counter() > deadline), 10_000)  # type: ignore[union-attr]
    started, seconds = time.perf_counter(), None
    try:
        conn.execute(statement).all()
        seconds = time.perf_counter() - started
    except sa.exc.OperationalError:
        pass  # cancelled
    executed = recorder.last
    assert executed is not None
    conn.rollback()
    if dialect == "postgresql":
        conn.exec_driver_sql("SET statement_timeout = 0")
        conn.commit()
    else:
        raw.set_progress_handler(None, 0)  # type: ignore[union-attr]
    return seconds, executed


# Searches beyond the measured route (a contact's email, a rare term): queries that match many tickets or few
# characters, which the timed route never shows. Informational: no indexed baseline does what they do.
SEARCH_PROBES = (
    ("a word in every customer email", "invoice"),
    ("a number found in many texts", "4711"),
    ("two words, the longer one common", "invoice 4711"),
    ("a ticket number", "#{workspace}"),
    ("two letters (searches no text)", "ab"),
)


def search_probe(target: Target, runs: int = 5) -> list[str]:
    """The manager's All queue searched for each SEARCH_PROBES query: median server time of `runs` requests after
    one untimed, and the rows shown."""
    client, lines = target.clients["manager"], []
    paths = [("/admin/queues/all?" + urlencode({"q": query.format(workspace=target.fill.workspace_id)}), label,
              "q=" + query.format(workspace="<id>")) for label, query in SEARCH_PROBES]  # fmt: skip
    paths.append(("/admin/queues/mine", "an empty queue (the manager's own)", "My tickets"))
    for path, label, shown_as in paths:
        page = client.get(path).get_data(as_text=True)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            client.get(path)
            times.append(time.perf_counter() - start)
        shown = len(_ROW.findall(page))
        lines.append(f"{label:<34} {shown_as:<15} {statistics.median(times) * 1000:9.2f} ms   {shown} rows")
    return lines


def history_probe(target: Target, timeout: float) -> list[str]:
    """The desk as it really grows: resolved and closed tickets keep their assignees (the app never removes
    them). Adds those rows, then times the queue-menu count statement (what a queue page runs on a cache miss) and the
    Unassigned page query, each under a timeout, and the Unassigned count rewritten with NOT EXISTS."""
    lines: list[str] = []
    with target.app.app_context():
        session = db.session
        agent, manager = session.get(User, AGENT_ID), session.get(User, MANAGER_ID)
        assert agent is not None and manager is not None
        with target.engine.begin() as conn:
            seconds, result = timed(lambda: conn.execute(sa.text(ASSIGNEE_HISTORY)))
            added = result.rowcount
            conn.exec_driver_sql("ANALYZE ticket_assignee")
        total = session.execute(sa.select(sa.func.count()).select_from(ticket_assignees)).scalar_one()
        lines.append(
            f"+{added:,} ticket_assignee rows for the resolved/closed tickets in {seconds:.1f} s ({total:,} in all, "
            f"as a desk that has worked through {target.fill.tickets:,} tickets has); each statement under a "
            f"{timeout:g} s timeout:"
        )
        statements: list[tuple[str, Any]] = []
        for who, user in (("agent", agent), ("manager", manager)):
            teams, scope = queues.teams_and_scope(session, user)
            # The menu's counts: one statement (cached in Redis for a few seconds; this is the cache miss). The
            # managers' All (every ticket) is counted on its own, once a minute for all of them.
            keys = [key for key in queues.menu_keys(scope, teams) if key != "all"]
            statements.append((f"{who:<8} queue-menu counts (one statement)", queues.count_statement(scope, keys)))
            if scope.everything:
                all_count = sa.select(sa.func.count()).select_from(Ticket)
                statements.append((f"{who:<8} All total (once a minute)", all_count))
            for key in ("mine", "unassigned"):
                if key == "mine" and who == "manager":
                    continue
                page = (
                    sa.select(Ticket.id)
                    .where(queues.queue_clause(user, key, scope))
                    .order_by(Ticket.updated_at.desc(), Ticket.id.desc())
                    .limit(PAGE + 1)
                )
                statements.append((f"{who:<8} page query {key} (ids only)", page))
        rewritten = (
            sa.select(sa.func.count())
            .select_from(Ticket)
            .where(Ticket.status.in_(["open", "in_progress", "pending", "waiting_on_customer"]))
            .where(~sa.exists().where(ticket_assignees.c.ticket_id == Ticket.id))
        )
        statements.append(("manager  unassigned count rewritten: NOT EXISTS", rewritten))
        session.remove()
        explain: list[tuple[str, tuple[str, Any], bool]] = []
        with target.engine.connect() as conn:
            for name, statement in statements:
                seconds, executed = run_with_timeout(conn, target.dialect, target.recorder, statement, timeout)
                if seconds is None and not explain:
                    explain.append(("the first cancelled statement (EXPLAIN only)", executed, False))
                if statement is rewritten:
                    explain.append(("the NOT EXISTS rewrite", executed, True))
                took = f"> {timeout:g} s (cancelled)" if seconds is None else f"{seconds * 1000:.1f} ms"
                lines.append(f"    {name:<50}{took:>22}")
        for title, (statement, parameters), analyze in explain:
            lines.append(f"  plan of {title}: {' '.join(statement.split())}")
            lines.append(f"  parameters: {parameters!r}")
            for line in explain_lines(target.dialect, target.engine, statement, parameters, analyze):
                lines.append(f"      {line}")
    return lines


# --------------------------------------------------------------------------------------------------------
# Databases.
# --------------------------------------------------------------------------------------------------------


def ensure_pg_database(base: sa.URL, name: str) -> str:
    """The database `name`, created when missing and kept (--keep-db); returns its URL."""
    admin = benchkit.pg_admin(base)
    try:
        with admin.connect() as conn:
            if conn.exec_driver_sql("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).first() is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


# --------------------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------------------


def machine(pg_url: str | None) -> list[str]:
    lines = [benchkit.hardware_line(load_at_start=True), benchkit.software_line("Flask", "Flask-Admin")]
    if pg_url is not None:
        settings = ["shared_buffers", "work_mem", "hash_mem_multiplier", "max_parallel_workers_per_gather"]
        lines += benchkit.pg_server_lines(pg_url, settings)
    conn = Redis.from_url(REDIS_URL)
    try:
        lines.append(f"Redis server {conn.info('server').get('redis_version')} ({REDIS_URL}, flushed before and after)")
    finally:
        conn.close()
    return lines


def size_label(target: Target) -> str:
    return f"{target.backend} {target.fill.tickets:,}"


def report_target(target: Target) -> None:
    f, c = target.fill, target.fill.counts
    print(f"\n=== {target.backend} {target.version}: {f.tickets:,} tickets ===")
    print(
        f"fill: {f.tickets:,} tickets ({c['active tickets']:,} active), {c['customer']:,} customers, "
        f"{c['contact']:,} contacts, {c['interaction']:,} interactions, {c['ticket_assignee']:,} ticket_assignee rows, "
        f"{c['ticket_tag']:,} tags, {c['time_entry']:,} time entries, {c['sla_pause']:,} open SLA pauses; "
        f"fill {f.fill_seconds:.1f} s + indexes {f.index_seconds:.1f} s + "
        f"{'VACUUM ' if target.dialect == 'postgresql' else ''}ANALYZE {f.analyze_seconds:.1f} s"
    )
    print(
        "base req: the bare SQL for the same rows served through the same stack (signed in, same engine); bare SQL:"
        " the same statements straight on the engine; x base = route median / base req median (aim <= "
        f"{QUEUE_AIM:g}x), x SQL = route median / bare SQL median; queries and SQL ms: statements per request and "
        "time inside the driver (medians), other: median minus SQL ms (Flask, ORM, templates); n: timed requests"
    )
    header = (
        f"{'role':<9}{'route':<40}{'median ms':>10}{'p99 ms':>9}{'base req':>10}{'bare SQL':>10}{'x base':>8}"
        f"{'x SQL':>8}{'queries':>8}{'SQL ms':>9}{'other':>8}{'n':>5}  aim"
    )
    print(header)
    print("-" * len(header))
    for route in target.routes:
        series = route_series(target, route, ROUTE)
        base, bare = route_series(target, route, REQUEST), route_series(target, route, SQL)
        print(
            f"{route.role:<9}{route.name:<40}{ms(series.median):>10}{ms(series.p99):>9}{ms(base.median):>10}"
            f"{ms(bare.median):>10}{ratio(series.median, base.median):>8}{ratio(series.median, bare.median):>8}"
            f"{statistics.median(series.queries):>8g}{ms(statistics.median(series.sql)):>9}"
            f"{ms(series.median - statistics.median(series.sql)):>8}{len(series.server):>5}"
            f"  {aim_text(target, route)}"
        )
    scans = [route.name for route in target.routes if aim_text(target, route) == "met*"]
    if scans:
        print(f"met*: the baseline is itself a full scan of ticket (no index serves its order): {', '.join(scans)}")
    print("baselines (the bare SQL) and how they reach the rows:")
    for key, spec in target.specs.items():
        sql = " / ".join(" ".join(statement.text.split()) for statement in spec.statements)
        print(f"    {key:<11}{target.access.get(key, ''):<60}  {sql}")
    slow = [job for job in target.jobs.values() if job.requests < max(j.requests for j in target.jobs.values())]
    for job in slow:
        print(
            f"note: {job.route.role} {job.route.name} ({job.kind}) took {job.probe_seconds:.2f} s on its probe "
            f"request: {job.warmup} warm-up + {job.requests} timed requests only"
        )
    print(f"\nreports over [{REPORT_START}, {REPORT_END}] (the page's range), 1 warm-up + timed runs:")
    header = f"{'report':<48}{'median s':>10}{'max s':>8}{'queries':>8}{'SQL s':>8}  runs (s){'':<14}aim"
    print(header)
    print("-" * len(header))
    for name, series in target.reports.items():
        aim = "" if name == REPORT_BASE else ("met" if series.median < REPORT_AIM else "MISSED")
        runs = " ".join(f"{s:.3f}" for s in series.server)
        print(
            f"{name:<48}{series.median:>10.3f}{max(series.server):>8.3f}{statistics.median(series.queries):>8g}"
            f"{statistics.median(series.sql):>8.3f}  {runs:<22}{aim}"
        )
    functions = (
        sum(target.reports[name].median for name in REPORTS if name.split("(")[0] != "sla_by")
        + target.reports["sla_by(dimension='tier')"].median
    )
    print(f"the page's eight report calls add up to {functions:.3f} s (medians)")
    for check in target.checks:
        print(f"check: {check}")
    if target.plans:
        print(f"\nslow statements and their plans ({target.backend}, {target.fill.tickets:,} tickets):")
        for line in target.plans:
            print(f"    {line}")
    if target.searches:
        size = f"{target.fill.tickets:,} tickets"
        print(f"\nsearch probe ({target.backend}, {size}; the manager's All queue, then My tickets, median of 5):")
        for line in target.searches:
            print(f"  {line}")
    if target.history:
        print(f"\nassignee history probe ({target.backend}, {target.fill.tickets:,} tickets):")
        for line in target.history:
            print(f"  {line}")


def summary(targets: list[Target]) -> None:
    print("\n=== summary: server time per request, median (p99) in ms; x base = median / baseline request median ===")
    header = f"{'role':<9}{'route':<40}" + "".join(f"{size_label(t) + ' tickets':>26}{'x base':>8}" for t in targets)
    print(header + "  aim")
    print("-" * (len(header) + 5))
    for index, route in enumerate(targets[0].routes):
        cells, aims = "", []
        for target in targets:
            mine = target.routes[index]
            series, base = route_series(target, mine, ROUTE), route_series(target, mine, REQUEST)
            cells += f"{ms(series.median) + ' (' + ms(series.p99) + ')':>26}{ratio(series.median, base.median):>8}"
            aims.append(aim_text(target, mine))
        print(f"{route.role:<9}{route.name:<40}{cells}  <= {QUEUE_AIM:g}x: {'/'.join(aims)}")
    header = f"{'report (median s)':<49}" + "".join(f"{size_label(t) + ' tickets':>26}{'':>8}" for t in targets)
    print("\n" + header + "  aim")
    print("-" * (len(header) + 5))
    for name in targets[0].reports:
        cells = "".join(f"{t.reports[name].median:>26.3f}{'':>8}" for t in targets)
        aims = (
            ""
            if name == REPORT_BASE
            else "/".join("met" if t.reports[name].median < REPORT_AIM else "MISSED" for t in targets)
        )
        print(f"{name:<49}{cells}  {('< ' + format(REPORT_AIM, 'g') + ' s: ' + aims) if aims else ''}")
    if any(aim_text(t, route) == "met*" for t in targets for route in t.routes):
        print(
            "met*: met only against a baseline that is itself a full scan of ticket (see the baselines' access paths)"
        )
    missed = [(t, f"{route.role} {route.name}", why) for t in targets for route, why in route_misses(t)]
    missed += [(t, name, why) for t in targets for name, why in report_misses(t)]
    print()
    if missed:
        print("aims missed:")
        for target, name, why in missed:
            print(f"    {size_label(target)}: {name}: {why}")
    else:
        print(f"all aims met: every route within {QUEUE_AIM:g}x of its baseline, every report under {REPORT_AIM:g} s")


# --------------------------------------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--pg-tickets", type=int, default=1_000_000, help="tickets on PostgreSQL (default 1,000,000)")
    parser.add_argument("--sqlite-tickets", type=int, default=100_000, help="tickets on SQLite (default 100,000)")
    parser.add_argument("--backends", default="postgresql,sqlite", help="comma-separated: postgresql,sqlite")
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432",
        help=f"PostgreSQL server URL without database (the throw-away database {PG_DATABASE} is created)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        help=f"timed requests per route and kind (default 100; {SMOKE_REQUESTS} for a smoke run, every backend "
        f"under {SMOKE_TICKETS:,} tickets)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        help=f"untimed requests per route and kind first (default 20; {SMOKE_WARMUP} for a smoke run)",
    )
    parser.add_argument("--report-runs", type=int, default=3, help="timed runs of each report (default 3)")
    parser.add_argument(
        "--slow", type=float, default=1.0, help="a job whose probe request takes longer (s) is timed less (default 1)"
    )
    parser.add_argument("--slow-requests", type=int, default=5, help="timed requests of such a job (default 5)")
    parser.add_argument(
        "--assignee-history",
        action="store_true",
        help="fill ticket_assignee rows for resolved/closed tickets too (queue pages may then take minutes)",
    )
    parser.add_argument(
        "--probe-timeout", type=float, default=10.0, help="per statement in the assignee history probe (default 10 s)"
    )
    parser.add_argument("--explain", action="store_true", help="print the plan of every route's slowest statement")
    parser.add_argument(
        "--keep-db",
        metavar="NAME",
        help="keep the filled databases (PostgreSQL database NAME, SQLite file NAME.sqlite3 in the temp directory) "
        "and reuse them on a later run of the same size instead of filling again",
    )
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown or not args.backends:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown)) or '(none given)'}")
    sizes = [args.pg_tickets if b == "postgresql" else args.sqlite_tickets for b in args.backends]
    smoke = max(sizes) < SMOKE_TICKETS
    args.requests = args.requests if args.requests is not None else (SMOKE_REQUESTS if smoke else 100)
    args.warmup = args.warmup if args.warmup is not None else (SMOKE_WARMUP if smoke else 20)
    minimum = 2 * (CUSTOMERS + 1)
    if min(args.pg_tickets, args.sqlite_tickets) < minimum:
        parser.error(f"need at least {minimum:,} tickets per backend (every queue page must be full)")
    if args.requests < 1 or args.warmup < 0 or args.report_runs < 1 or args.slow_requests < 1:
        parser.error("--requests, --report-runs and --slow-requests must be positive, --warmup not negative")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    base = sa.make_url(args.pg_url)
    targets: list[Target] = []
    try:
        print("Agent screens benchmark: queue pages, the ticket workspace and the manager reports")
        for line in machine(args.pg_url if "postgresql" in args.backends else None):
            print(line)
        sizes = {"postgresql": args.pg_tickets, "sqlite": args.sqlite_tickets}
        print(
            "tickets: "
            + ", ".join(f"{sizes[b]:,} on {b}" for b in args.backends)
            + f"; {CUSTOMERS:,} customers, {len(TEAMS)} teams of {AGENTS_PER_TEAM} agents + 1 manager; "
            f"{args.requests} timed requests per route and kind after {args.warmup} warm-up (slow jobs: 1 + "
            f"{args.slow_requests}); {args.report_runs} timed report runs; now = {NOW.isoformat()}",
            flush=True,
        )
        password_hash = generate_password_hash(PASSWORD)  # once: hashing is deliberately slow
        with tempfile.TemporaryDirectory(prefix="bench_agent_") as tmp:
            try:
                for backend in args.backends:
                    if backend == "postgresql" and args.keep_db:
                        url = ensure_pg_database(base, args.keep_db)
                    elif backend == "postgresql":
                        url = create_pg_database(base, PG_DATABASE)
                    elif args.keep_db:
                        url = f"sqlite:///{Path(tempfile.gettempdir()) / (args.keep_db + '.sqlite3')}"
                    else:
                        url = f"sqlite:///{Path(tmp) / 'agent.db'}"
                    targets.append(prepare_target(backend, url, backend, sizes[backend], args, password_hash))
                jobs = make_jobs(targets, args)
                print(f"measuring {len(jobs)} jobs, the backends interleaved ...", flush=True)
                seconds = measure(jobs)
                print(f"measured in {seconds:.1f} s; the reports ...", flush=True)
                seconds = measure_reports(targets, args.report_runs)
                print(f"reports measured in {seconds:.1f} s", flush=True)
                for target in targets:
                    target.plans = plans(target, args.explain)
                    target.searches = search_probe(target)
                    if not args.assignee_history:
                        print(f"[{target.backend}] assignee history probe ...", flush=True)
                        target.history = history_probe(target, args.probe_timeout)
                        if args.keep_db:
                            forget_history(target)
            finally:
                for target in targets:
                    target.engine.dispose()
                if "postgresql" in args.backends and not args.keep_db:
                    drop_pg_database(base, PG_DATABASE)
        for target in targets:
            report_target(target)
        summary(targets)
    finally:
        redis.flushdb()
        redis.close()
    print(
        f"\ntotal wall time: {time.perf_counter() - started:.1f} s   load average at the end: "
        + benchkit.load_average()
    )


if __name__ == "__main__":
    main()
