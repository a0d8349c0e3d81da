"""Benchmark of the agent screens: queue pages, the ticket workspace and the manager reports, at 1M tickets.

    python bench/agent.py [--pg-tickets 1000000] [--sqlite-tickets 100000] [--backends postgresql,sqlite]
                          [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432] [--requests 100] [--warmup 20]
                          [--report-runs 3] [--slow 1.0] [--slow-requests 5] [--explain]

One fill per backend (--pg-tickets on the throw-away PostgreSQL database bench_agent, --sqlite-tickets in a
temporary SQLite file), both alive at once so they are measured interleaved; filled with bulk SQL (INSERT ...
SELECT over generate_series on PostgreSQL, over a recursive CTE on SQLite; secondary indexes built after the
fill), then ANALYZE (VACUUM ANALYZE on PostgreSQL):

  staff         3 teams, 9 agents (3 per team), 1 manager; one shared password hash
  customers     1,000 (60 % standard, 30 % premium, 10 % enterprise), one domain and 3 contacts each
  tickets       created evenly over the year before `now` (ids in creation order), spread over the customers; ~2 %
                active (70 % of the last week's tickets, 0.6 % of older ones: open, in progress, pending, waiting
                on customer), the rest resolved (recent) or closed (older); priorities 30/45/18/7 % low/medium/
                high/urgent with 24x7 targets by priority (5 % without SLA); 92 % owned by a team, 8 % in the
                general inbox; 6 categories (10 % none); first response, resolution, closing, due dates and the
                sweep's breach stamps consistent with the status and the targets (~15 % late first responses,
                ~12 % late resolutions); paused (pending/waiting) tickets without a due date and with an open
                sla_pause row
  assignees     one ticket_assignee row for 75 % of the active tickets and, as the app never removes assignees
                on resolution, for 97 % of the resolved/closed ones; a second assignee on every 17th active ticket;
                an agent only ever gets tickets of their own team or of the general inbox
  tags          on 10 % of the tickets (a second one on 2 %); time entries on ~14 %; ticket_contact rows
  interactions  2 per ticket: the customer's email, then the reply (at first_response_at) or a system row;
                the workspace ticket (an in-progress ticket of team 1, assigned to agent 1, opened 4 days before
                `now`) has its opening email and 10 follow-ups: customer emails, replies, internal notes, a
                phone call and system rows

Measured through the real app stack (create_app, Flask's test client, no network), signed in once as agent 1
(team 1) and once as the manager (POST /agent/login with the CSRF token of the GET). Server time is the WSGI call
up to the last body byte, request teardown included. Every round requests each job once for every backend, in a
fresh random order (fixed seed), so load from elsewhere on the machine falls on all of them alike; --warmup
rounds untimed, then --requests timed ones. A job whose first (probe) request takes longer than --slow seconds
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
report). Redis db 10 is flushed at the start and the end; the database and the temporary file are removed.

`python bench/<script>.py` puts bench/ first on sys.path, where bench/portal.py shadows the project's `portal`
package (which create_app imports): the block before the project imports below takes bench/ off the path.
"""

from __future__ import annotations

import argparse
import contextvars
import math
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import Flask, abort
from flask.testing import FlaskClient
from redis import Redis
from werkzeug.security import generate_password_hash

# `python bench/agent.py` puts bench/ first on sys.path, where bench/portal.py shadows the project's `portal`
# package: take bench/ off the path before anything imports `portal`.
_BENCH_DIR = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != _BENCH_DIR]
if _BENCH_DIR.parent.as_posix() not in [Path(entry or ".").resolve().as_posix() for entry in sys.path]:
    sys.path.insert(0, _BENCH_DIR.parent.as_posix())  # the project root, for `python bench/agent.py` from anywhere

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

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC; every timestamp is relative to it
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
REPORT_START, REPORT_END = (NOW - timedelta(days=365)).date(), NOW.date()  # the page's ?start=&end= (end inclusive)
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
    # L1: creation offset (evenly over the year, ids in creation order) and six independent-looking digits.
    l1 = (
        f"SELECT i, -((({n} - i) * {YEAR}) / {n}) - 60 AS co, (i * 2654435761) % 10007 AS r1, "
        f"(i * 40503) % 9973 AS r2, (i * 7919) % 1009 AS r3, (i * 104729) % 10009 AS r4, "
        f"(i * 69069) % 10037 AS r5, (i * 22695477) % 10039 AS r6 FROM {series}"
    )
    # L2: active?, customer, team, SLA targets (minutes, by priority; r4 % 20 = 7: no SLA).
    l2 = (
        "SELECT l1.*, "
        f"CASE WHEN (co > -{WEEK} AND r1 % 100 < 70) OR (co <= -{WEEK} AND r1 % 1000 < 6) THEN 1 ELSE 0 END AS act, "
        f"1 + (i * 48271) % {CUSTOMERS} AS c, "
        "CASE WHEN r4 % 100 < 8 THEN NULL ELSE 1 + r4 % 3 END AS team, "
        "CASE WHEN r4 % 20 = 7 THEN NULL WHEN r3 % 100 < 30 THEN 480 WHEN r3 % 100 < 75 THEN 240 "
        "WHEN r3 % 100 < 93 THEN 60 ELSE 30 END AS fr_t, "
        "CASE WHEN r4 % 20 = 7 THEN NULL WHEN r3 % 100 < 30 THEN 2880 WHEN r3 % 100 < 75 THEN 1440 "
        "WHEN r3 % 100 < 93 THEN 480 ELSE 240 END AS res_t "
        f"FROM ({l1}) AS l1"
    )
    # L3: status, unanswered?, first-response and resolution delays (seconds; ~15 % / ~12 % late).
    l3 = (
        "SELECT l2.*, "
        "CASE WHEN act = 1 THEN (CASE WHEN r2 % 10 < 4 THEN 'open' WHEN r2 % 10 < 7 THEN 'in_progress' "
        "WHEN r2 % 10 = 7 THEN 'pending' ELSE 'waiting_on_customer' END) "
        f"WHEN co < -{WEEK} AND r2 % 10 < 8 THEN 'closed' ELSE 'resolved' END AS st, "
        "CASE WHEN act = 1 AND r2 % 10 < 4 AND r1 % 3 = 0 THEN 1 WHEN act = 0 AND r4 % 33 = 0 THEN 1 "
        "ELSE 0 END AS unans, "
        "CASE WHEN fr_t IS NULL THEN 1800 + (r5 * 37) % 36000 WHEN r5 % 100 < 85 THEN fr_t * 60 * (5 + r5 % 80) / 100 "
        "ELSE fr_t * 60 * (110 + r5 % 200) / 100 END AS frd, "
        "CASE WHEN res_t IS NULL THEN 3600 + (r6 * 4001) % 345600 "
        "WHEN r6 % 100 < 88 THEN res_t * 60 * (10 + r6 % 88) / 100 "
        "ELSE res_t * 60 * (105 + r6 % 300) / 100 END AS resd "
        f"FROM ({l2}) AS l2"
    )
    # L4: offsets of the stamps; paused tickets have no due date (the clock stands still).
    l4 = (
        "SELECT l3.*, "
        "CASE WHEN unans = 1 OR co + frd >= 0 THEN NULL ELSE co + frd END AS fra, "
        "CASE WHEN act = 1 THEN NULL WHEN co + resd < -60 THEN co + resd ELSE co / 10 END AS rso, "
        "CASE WHEN res_t IS NULL OR (act = 1 AND r2 % 10 >= 7) THEN NULL ELSE co + res_t * 60 END AS due, "
        "CASE WHEN fr_t IS NULL THEN NULL ELSE co + fr_t * 60 END AS frdue "
        f"FROM ({l3}) AS l3"
    )
    # L5: a reply never after the resolution; closing two days after it; the sweep's stamps.
    l5 = (
        "SELECT l4.*, "
        "CASE WHEN fra IS NOT NULL AND rso IS NOT NULL AND fra > rso THEN rso ELSE fra END AS fr, "
        f"CASE WHEN st = 'closed' THEN (CASE WHEN rso + {2 * DAY} < -60 THEN rso + {2 * DAY} ELSE rso / 2 END) "
        "END AS clo "
        f"FROM ({l4}) AS l4"
    )
    l6 = (
        "SELECT l5.*, "
        "CASE WHEN due IS NULL THEN NULL WHEN act = 0 AND rso > due THEN due WHEN act = 1 AND due < 0 THEN due "
        "END AS breach, "
        "CASE WHEN frdue IS NULL THEN NULL WHEN fr IS NOT NULL AND fr > frdue THEN frdue "
        "WHEN fr IS NULL AND frdue < COALESCE(rso, 0) THEN frdue END AS frbreach, "
        "CASE WHEN act = 0 THEN COALESCE(clo, rso) ELSE COALESCE(fr, co) * (100 - r3 % 97) / 100 END AS upd "
        f"FROM ({l5}) AS l5"
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
    subject = "CASE i % 8 " + " ".join(f"WHEN {k} THEN '{s}'" for k, s in enumerate(subjects)) + " END || ', case ' || i"
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
    return _insert("ticket", columns, f"({l6}) AS l6", prefix)


def fill_statements(dialect: str, n: int) -> list[tuple[str, str]]:
    """(what, SQL) in order; every statement may use :now, :hash, :yes, :no."""
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
        "customer_domain", "customer_domain", CUSTOMERS, {"id": "i", "customer_id": "i", "domain": "'c' || i || '.example'"}
    )
    series_insert(
        "contact",
        "contact",
        contacts,
        {
            "id": "i",
            "customer_id": f"(i - 1) / {CONTACTS_PER_CUSTOMER} + 1",
            "name": "'Person ' || i",
            "email": f"'p' || ((i - 1) % {CONTACTS_PER_CUSTOMER} + 1) || '@c' || ((i - 1) / {CONTACTS_PER_CUSTOMER} + 1)"
            " || '.example'",
            "portal_role": f"CASE WHEN (i - 1) % {CONTACTS_PER_CUSTOMER} = 0 THEN 'customer' ELSE 'own' END",
            "portal_enabled": ":yes",
            "created_at": ts(f"-{2 * YEAR} + i * 60"),
        },
    )
    statements.append(("ticket", ticket_insert(dialect, n)))
    statements.append(
        ("ticket_contact", "INSERT INTO ticket_contact (ticket_id, contact_id) SELECT id, primary_contact_id FROM ticket")
    )
    active = f"status IN {ACTIVE_SQL}"
    statements.append(
        (
            "ticket_assignee",
            f"INSERT INTO ticket_assignee (ticket_id, user_id) SELECT id, {_agent_of('assigned_team_id', 'id')} "
            f"FROM ticket WHERE ({active} AND (id * 7) % 4 <> 0) OR (NOT {active} AND id % 31 <> 0)",
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
            f"{_date_of(dialect, 'updated_at')}, updated_at FROM ticket WHERE id % 7 = 2 AND first_response_at IS NOT NULL",
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


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


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


def fill(url: str, dialect: str, tickets: int, password_hash: str) -> Fill:
    """Bulk fill on a dedicated engine (its pragmas/settings never reach the measured pool)."""
    engine = sa.create_engine(url)
    indexes = sorted((index for table in FILLED for index in table.indexes), key=lambda index: index.name or "")
    try:
        with engine.begin() as conn:
            if dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB for the fill and the index builds
            else:
                conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            for index in indexes:
                index.drop(conn)
            started = time.perf_counter()
            for table, rows in small_rows(password_hash):
                conn.execute(table.insert(), rows)
            params = {"now": now_param(dialect), "yes": True, "no": False}
            for _what, sql in fill_statements(dialect, tickets):
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
        with engine.connect() as conn:
            counts = {
                table.name: conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one() for table in FILLED
            }
            t = Ticket.__table__
            counts["active tickets"] = conn.execute(
                sa.select(sa.func.count()).select_from(t).where(sa.text(f"status IN {ACTIVE_SQL}"))
            ).scalar_one()
    finally:
        engine.dispose()
    assert counts["ticket"] == tickets and counts["interaction"] == 2 * tickets + len(FOLLOW_UPS) - 1, counts
    return Fill(tickets, counts, workspace_id, fill_seconds, index_seconds, analyze_seconds)
