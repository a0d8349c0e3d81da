"""Benchmark of the customer portal's reads: ticket list, ticket page and the 'nothing changed' live checks.

    python bench/portal.py [--tickets 100000] [--small 1000] [--backends sqlite,postgresql]
                           [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432] [--requests 150] [--warmup 15]
                           [--explain]

For each backend, two fills (--small and --tickets tickets, 100 tickets per customer, so 10 and 1,000 customers by
default), each into its own fresh store (two temporary SQLite files; two schemas of the throw-away PostgreSQL
database bench_portal), both alive at once so the two sizes can be measured interleaved; filled with bulk SQL
(INSERT ... SELECT over generate_series on PostgreSQL, over a recursive CTE on SQLite; secondary indexes built
after the fill), then ANALYZE:

  customers    one domain each, 3 contacts each: contact 1 is the customer's portal admin (portal_role 'customer',
               sees every ticket of the customer), contacts 2 and 3 see their own tickets ('own'); one shared
               password hash
  tickets      spread round-robin over the customers (so a customer's tickets are spread over the whole table) and
               over its 3 contacts (primary contact + its ticket_contact row; every 10th ticket also CCs another
               contact of the customer); status mix; public_updated_at spread over a year by a hash of the id
  interactions 8 per ticket, 4 customer-visible (email in/out) and 4 internal (system, internal note, phone call,
               logged SMS), inserted one kind at a time so a ticket's rows lie far apart in the table

Measured through the real app stack (create_app, Flask's test client, no network), signed in once per role as the
middle customer's portal admin ('customer', ~100 tickets) and as one of its 'own' contacts (~37 tickets). Server
time is the WSGI call up to the last body byte, including the request teardown (session close). --warmup rounds
untimed, then --requests timed rounds; every round requests each route once for each size and role, in a fresh
random order (fixed seed), so load from elsewhere on the machine falls on both sizes and all routes alike:

  baseline      GET /bench/select1: a route registered on the bench's app instance only, behind the same
                contact_required guard, running one `SELECT 1` (the cost of the stack itself)
  list          GET /tickets (first page)
  list, last    GET /tickets?before=<cursor> (the last page, reached by following the 'Older requests' links)
  ticket page   GET /tickets/<id> (8 interactions, 4 of them shown)
  ticket live   GET /tickets/<id>/live?v=<current version>, HX-Request: true (expected 204)
  list live     GET /tickets/live?v=<current version>, HX-Request: true (expected 204)

Aims: the live checks within 2x of the baseline median (both roles' baseline requests pooled); lists and pages
flat in the total ticket count (median at --tickets within 1.5x of the median at --small). For a missed aim the
statement that is slow (or that grew) is found with a cursor-execute timer and its plan printed (EXPLAIN (ANALYZE,
BUFFERS) on PostgreSQL, EXPLAIN QUERY PLAN on SQLite); --explain prints the plan of every route's slowest
statement. Redis db 12 is flushed at the start and the end; every database and temporary file is removed.

The file name shadows the project's `portal` package for scripts run as `python bench/<script>.py` (their
directory comes first on sys.path); the block before the project imports below handles that.
"""

from __future__ import annotations

import argparse
import html
import importlib
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from werkzeug.security import generate_password_hash

# `python bench/<any script>.py` puts bench/ first on sys.path, where this file's name shadows the project's
# `portal` package: take bench/ off the path before anything imports `portal`. A sibling bench script that
# imported this file as `portal` (create_app does `from portal import bp`) gets the real package handed over.
_SYS_PATH = benchkit.unshadow_project_packages()
if __name__ == "portal":
    del sys.modules["portal"]
    sys.modules["portal"] = importlib.import_module("portal")
    sys.path[:] = _SYS_PATH  # the sibling's path as it was

from portal.guards import contact_required  # noqa: E402
from ticketing.app import create_app  # noqa: E402
from ticketing.extensions import db  # noqa: E402
from ticketing.models import Contact, Customer, CustomerDomain, Interaction, Ticket, User, ticket_contacts  # noqa: E402

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC; every timestamp is relative to it
REDIS_URL = "redis://127.0.0.1:6379/12"
PG_DATABASE = "bench_portal"
PASSWORD = "bench-portal-pass-1"  # noqa: S105  (the bench's own contacts, in a throw-away database)
TICKETS_PER_CUSTOMER = 100
CONTACTS_PER_CUSTOMER = 3
STAFF_USERS = 10
PAGE_SIZE = 25  # portal.tickets.PAGE_SIZE
LIVE_AIM = 2.0  # live check median <= 2x the baseline median
FLAT_AIM = 1.5  # median at --tickets <= 1.5x the median at --small
SEED = 1  # the request order within each round
STEP = 10_800  # 3 hours between a ticket's interactions
YEAR = 31_536_000
# (kind, sms_status, author, customer-visible) per interaction, in time order; k = the position.
INTERACTIONS: list[tuple[str, str | None, str, bool]] = [
    ("email_inbound", None, "contact", True),
    ("system", None, "none", False),
    ("internal_note", None, "staff", False),
    ("email_outbound", None, "staff", True),
    ("email_inbound", None, "contact", True),
    ("phone_call", None, "staff", False),
    ("email_outbound", None, "staff", True),  # the last customer-visible change: public_updated_at
    ("sms", "logged", "staff", False),  # internal work after it: updated_at only
]
VISIBLE = sum(1 for *_, visible in INTERACTIONS if visible)
LAST_VISIBLE = max(k for k, (*_, visible) in enumerate(INTERACTIONS) if visible)
STATUSES = [
    "closed",
    "closed",
    "closed",
    "closed",
    "resolved",
    "resolved",
    "open",
    "in_progress",
    "pending",
    "waiting_on_customer",
]
LOREM = (
    "Thanks for getting back to us. We looked at the export again this morning and the totals still differ "
    "from the ones in the invoice; the attached numbers are from the March run. "
)

# --------------------------------------------------------------------------------------------------------
# The fill: bulk INSERT ... SELECT, ids explicit (ticket i belongs to customer (i - 1) % C + 1).
# --------------------------------------------------------------------------------------------------------


def _series(dialect: str) -> tuple[str, str]:
    """(prefix, FROM item) producing rows i = 1..:n."""
    if dialect == "postgresql":
        return "", "generate_series(CAST(1 AS bigint), CAST(:n AS bigint)) AS s(i)"
    return "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) ", "s"


def _ts(dialect: str, ago: str) -> str:
    """The SQL timestamp NOW - ago seconds, in the column's storage format."""
    if dialect == "postgresql":
        return f"(CAST(:now AS timestamptz) - ({ago}) * INTERVAL '1 second')"
    # SQLAlchemy's SQLite DateTime format; UTCDateTime stores naive UTC so string order is time order.
    return f"(strftime('%Y-%m-%d %H:%M:%S', :now, (-({ago})) || ' seconds') || '.000000')"


def _pu_ago(i: str) -> str:
    """Seconds between the last customer-visible change of ticket i and NOW: a hash spread over a year."""
    return f"({4 * STEP} + ({i} * 2654435761) % {YEAR})"


def _insert(table: str, columns: dict[str, str], dialect: str, source: str | None = None, where: str = "") -> str:
    select_list = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    if source is None:
        prefix, series = _series(dialect)
        source = series
    else:
        prefix = ""
    return f"INSERT INTO {table} ({', '.join(columns)}) {prefix}SELECT {select_list} FROM {source} {where}"


def fill_statements(dialect: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(what, SQL, extra params) in order; every statement also gets :now, :c (customers) and :hash."""
    ts = lambda ago: _ts(dialect, ago)  # noqa: E731
    contact_of = "(3 * (c - 1) + 1 + j % 3)"
    statements = [
        (
            "customer",
            _insert(
                "customer",
                {
                    "id": "i",
                    "name": "'Customer ' || i",
                    "tier": "CASE i % 3 WHEN 0 THEN 'premium' WHEN 1 THEN 'standard' ELSE 'enterprise' END",
                    "notes": "''",
                    "created_at": ts(f"{2 * YEAR} - i"),
                },
                dialect,
            ),
            {"n": "customers"},
        ),
        (
            "customer_domain",
            _insert("customer_domain", {"id": "i", "customer_id": "i", "domain": "'c' || i || '.example'"}, dialect),
            {"n": "customers"},
        ),
        (
            "contact",
            _insert(
                "contact",
                {
                    "id": "i",
                    "customer_id": "(i - 1) / 3 + 1",
                    "name": "'Person ' || i",
                    "email": "'p' || ((i - 1) % 3 + 1) || '@c' || ((i - 1) / 3 + 1) || '.example'",
                    "password_hash": ":hash",
                    "portal_role": "CASE WHEN (i - 1) % 3 = 0 THEN 'customer' ELSE 'own' END",
                    "portal_enabled": ":yes",
                    "created_at": ts(f"{2 * YEAR} - i"),
                },
                dialect,
            ),
            {"n": "contacts"},
        ),
        (
            "staff_user",
            _insert(
                "staff_user",
                {
                    "id": "i",
                    "name": "'Agent ' || i",
                    "email": "'agent' || i || '@bluehill.test'",
                    "password_hash": ":hash",
                    "role": "'agent'",
                    "active": ":yes",
                    "away": ":no",
                    "created_at": ts(f"{2 * YEAR} - i"),
                },
                dialect,
            ),
            {"n": "staff"},
        ),
    ]
    prefix, series = _series(dialect)
    layer = (
        f"(SELECT i, (i - 1) % CAST(:c AS BIGINT) + 1 AS c, (i - 1) / CAST(:c AS BIGINT) AS j, {_pu_ago('i')} AS pu "
        f"FROM {series}) AS l"
    )
    status = "CASE (j * 7 + c) % 10 " + " ".join(f"WHEN {n} THEN '{s}'" for n, s in enumerate(STATUSES)) + " END"
    done = "(j * 7 + c) % 10 < 6"
    ticket_columns = {
        "id": "i",
        "subject": "'Export totals differ from the invoice, case ' || i",
        "status": status,
        "priority": "CASE i % 4 WHEN 0 THEN 'low' WHEN 1 THEN 'medium' WHEN 2 THEN 'high' ELSE 'urgent' END",
        "source": "CASE i % 3 WHEN 0 THEN 'email' WHEN 1 THEN 'portal' ELSE 'web' END",
        "customer_id": "c",
        "primary_contact_id": contact_of,
        "first_response_target_minutes": "60",
        "resolution_target_minutes": "480",
        "sla_started_at": ts(f"pu + {LAST_VISIBLE * STEP}"),
        "first_response_at": ts(f"pu + {(LAST_VISIBLE - 3) * STEP}"),
        "resolved_at": f"CASE WHEN {done} THEN {ts('pu')} END",
        "closed_at": f"CASE WHEN (j * 7 + c) % 10 < 4 THEN {ts('pu')} END",
        "created_at": ts(f"pu + {LAST_VISIBLE * STEP}"),
        "updated_at": ts(f"pu - {(len(INTERACTIONS) - 1 - LAST_VISIBLE) * STEP}"),
        "public_updated_at": ts("pu"),
    }
    select_list = ", ".join(f"{expr} AS {name}" for name, expr in ticket_columns.items())
    statements.append(
        ("ticket", f"INSERT INTO ticket ({', '.join(ticket_columns)}) {prefix}SELECT {select_list} FROM {layer}", {})
    )
    statements.append(
        (
            "ticket_contact (primary)",
            "INSERT INTO ticket_contact (ticket_id, contact_id) SELECT id, primary_contact_id FROM ticket",
            {},
        )
    )
    statements.append(
        (
            "ticket_contact (CC)",
            "INSERT INTO ticket_contact (ticket_id, contact_id) "
            "SELECT id, 3 * (customer_id - 1) + 1 + ((id - 1) / CAST(:c AS BIGINT) + 1) % 3 FROM ticket "
            "WHERE ((id - 1) / CAST(:c AS BIGINT)) % 10 = 0",
            {},
        )
    )
    for k, (kind, sms_status, author, visible) in enumerate(INTERACTIONS):
        marker = "PUBLIC" if visible else "INTERNAL"
        columns = {
            "id": f"{k} * CAST(:n AS BIGINT) + t.id",
            "ticket_id": "t.id",
            "type": f"'{kind}'",
            "sms_status": f"'{sms_status}'" if sms_status else "NULL",
            "author_user_id": f"1 + t.id % {STAFF_USERS}" if author == "staff" else "NULL",
            "author_contact_id": "t.primary_contact_id" if author == "contact" else "NULL",
            "body_text": f"'{marker} message {k} of ticket ' || t.id || '. {LOREM}'",
            "email_subject": "t.subject" if kind.startswith("email") else "NULL",
            "created_at": ts(f"{_pu_ago('t.id')} + {(LAST_VISIBLE - k) * STEP}"),
        }
        statements.append((f"interaction {k} ({kind})", _insert("interaction", columns, dialect, "ticket AS t"), {}))
    return statements


FILLED_TABLES = ("customer", "customer_domain", "contact", "staff_user", "ticket", "ticket_contact", "interaction")
TABLES = [
    Customer.__table__,
    CustomerDomain.__table__,
    Contact.__table__,
    User.__table__,
    Ticket.__table__,
    ticket_contacts,
    Interaction.__table__,
]


def now_param(dialect: str) -> Any:
    return NOW.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S") if dialect == "sqlite" else NOW


@dataclass
class Fill:
    tickets: int
    customers: int
    contacts: int
    interactions: int
    ticket_contacts: int
    fill_seconds: float
    index_seconds: float
    analyze_seconds: float

    @property
    def seconds(self) -> float:
        return self.fill_seconds + self.index_seconds + self.analyze_seconds


def fill(url: str, dialect: str, tickets: int, password_hash: str) -> Fill:
    """Bulk fill on a dedicated engine (its pragmas/settings never reach the measured pool)."""
    customers = max(1, tickets // TICKETS_PER_CUSTOMER)
    sizes = {"customers": customers, "contacts": customers * CONTACTS_PER_CUSTOMER, "staff": STAFF_USERS}
    engine = sa.create_engine(url)
    indexes = sorted((index for table in TABLES for index in table.indexes), key=lambda index: index.name or "")
    try:
        with engine.begin() as conn:
            if dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB for the index builds
            else:
                conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            for index in indexes:
                index.drop(conn)
            started = time.perf_counter()
            for _what, sql, extra in fill_statements(dialect):
                n = sizes[extra["n"]] if "n" in extra else tickets
                params = {
                    "n": n,
                    "c": customers,
                    "now": now_param(dialect),
                    "hash": password_hash,
                    "yes": True,
                    "no": False,
                }
                used = {name: value for name, value in params.items() if re.search(rf":{name}\b", sql)}
                conn.execute(sa.text(sql), used)
            fill_seconds = time.perf_counter() - started
            index_seconds, _ = timed(lambda: [index.create(conn) for index in indexes])
            serial = [table.name for table in TABLES if "id" in table.c] if dialect == "postgresql" else []
            for name in serial:  # explicit ids: move the sequences past them
                conn.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))"
                )
        if dialect == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                analyze_seconds, _ = timed(lambda: conn.exec_driver_sql(f"VACUUM ANALYZE {', '.join(FILLED_TABLES)}"))
        else:
            with engine.begin() as conn:
                analyze_seconds, _ = timed(lambda: conn.exec_driver_sql("ANALYZE"))
        with engine.connect() as conn:
            counts = {
                name: conn.execute(sa.select(sa.func.count()).select_from(sa.table(name))).scalar_one()
                for name in FILLED_TABLES
            }
    finally:
        engine.dispose()
    assert counts["ticket"] == tickets and counts["customer"] == customers, counts
    assert counts["interaction"] == tickets * len(INTERACTIONS), counts
    return Fill(
        tickets,
        customers,
        counts["contact"],
        counts["interaction"],
        counts["ticket_contact"],
        fill_seconds,
        index_seconds,
        analyze_seconds,
    )


# --------------------------------------------------------------------------------------------------------
# Measuring: server time per request (a WSGI wrapper) and the SQL inside it (cursor-execute events).
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    key: str
    name: str
    path: str
    status: int
    hx: bool = False


BASELINE, LIST, LIST_LAST, PAGE = "baseline", "list", "list_last", "page"
PAGE_LIVE, LIST_LIVE = "page_live", "list_live"
ROUTE_NAMES = {
    BASELINE: "baseline: SELECT 1 behind the guard",
    LIST: "GET /tickets (first page)",
    LIST_LAST: "GET /tickets?before= (last page)",
    PAGE: "GET /tickets/<id> (ticket page)",
    PAGE_LIVE: "GET /tickets/<id>/live (204)",
    LIST_LIVE: "GET /tickets/live (204)",
}
LIVE_ROUTES = (PAGE_LIVE, LIST_LIVE)
FLAT_ROUTES = (LIST, LIST_LAST, PAGE, PAGE_LIVE, LIST_LIVE)


@dataclass
class RoleRun:
    role: str
    contact_id: int
    visible: int
    pages: int
    ticket_id: int
    series: dict[str, Series]
    routes: dict[str, Route]


@dataclass
class SizeRun:
    fill: Fill
    version: str
    roles: dict[str, RoleRun]
    checks: list[str]
    plans: list[str] = field(default_factory=list)

    @property
    def baseline(self) -> float:
        """The baseline median of this size, both roles' baseline requests pooled: what 'x base' divides by."""
        return statistics.median(s for run in self.roles.values() for s in run.series[BASELINE].server)


_TICKET_LINK = re.compile(r'href="/tickets/(\d+)"')
_OLDER = re.compile(r'href="(/tickets\?before=[^"]+)"')


def _live_version(page: str, path: str) -> str:
    match = re.search(re.escape(path) + r"\?v=([^\"&]+)", page)
    assert match, f"no {path}?v= on the page"
    return match.group(1)


def login(client: FlaskClient, email: str) -> None:
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"', page)
    assert match, "no CSRF token on the login page"
    token = match.group(1) or match.group(2)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]


def select1(contact: Contact) -> tuple[str, int]:
    db.session.execute(sa.text("SELECT 1"))
    return "", 204


def prepare_role(client: FlaskClient, app: Flask, role: str, contact_id: int) -> tuple[RoleRun, list[str]]:
    """Sign in, walk the list to its last page, open a ticket; collect the URLs to time, and check what was seen."""
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        assert contact is not None and contact.portal_role.value == role
        email = contact.email
        own = sa.or_(
            Ticket.primary_contact_id == contact_id,
            Ticket.id.in_(sa.select(ticket_contacts.c.ticket_id).where(ticket_contacts.c.contact_id == contact_id)),
        )
        where = sa.or_(Ticket.customer_id == contact.customer_id, own) if role == "customer" else own
        expected = set(db.session.scalars(sa.select(Ticket.id).where(where)))
        db.session.remove()
    login(client, email)
    first = client.get("/tickets")
    assert first.status_code == 200
    first_page = first.get_data(as_text=True)
    list_version = _live_version(first_page, "/tickets/live")
    seen = [int(i) for i in _TICKET_LINK.findall(first_page)]
    pages, last_url, page = 1, None, first_page
    while (older := _OLDER.search(page)) is not None:
        last_url = html.unescape(older.group(1))
        response = client.get(last_url)
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        seen += [int(i) for i in _TICKET_LINK.findall(page)]
        pages += 1
    checks = []
    assert len(seen) == len(set(seen)) and set(seen) == expected, (len(seen), len(expected))
    checks.append(f"{role}: {pages} list page(s) showed exactly the {len(expected)} visible tickets, no duplicates")
    ticket_id = seen[len(seen) // 2]
    ticket_page = client.get(f"/tickets/{ticket_id}").get_data(as_text=True)
    shown, hidden = ticket_page.count("PUBLIC message"), ticket_page.count("INTERNAL message")
    assert shown == VISIBLE and hidden == 0, (shown, hidden)
    checks.append(f"{role}: ticket #{ticket_id} page shows its {VISIBLE} customer-visible messages, 0 internal")
    ticket_version = _live_version(ticket_page, f"/tickets/{ticket_id}/live")
    routes = [
        Route(BASELINE, ROUTE_NAMES[BASELINE], "/bench/select1", 204),
        Route(LIST, ROUTE_NAMES[LIST], "/tickets", 200),
        Route(PAGE, ROUTE_NAMES[PAGE], f"/tickets/{ticket_id}", 200),
        Route(PAGE_LIVE, ROUTE_NAMES[PAGE_LIVE], f"/tickets/{ticket_id}/live?v={ticket_version}", 204, hx=True),
        Route(LIST_LIVE, ROUTE_NAMES[LIST_LIVE], f"/tickets/live?v={list_version}", 204, hx=True),
    ]
    if last_url is not None:
        routes.insert(2, Route(LIST_LAST, ROUTE_NAMES[LIST_LAST], last_url, 200))
    run = RoleRun(
        role, contact_id, len(expected), pages, ticket_id, {r.key: Series() for r in routes}, {r.key: r for r in routes}
    )
    return run, checks


@dataclass
class Target:
    """One filled database with its own app instance, signed-in clients and recorders."""

    run: SizeRun
    app: Flask
    timer: ServerTimer
    recorder: SqlRecorder
    clients: dict[str, FlaskClient]


def measure(targets: list[Target], args: argparse.Namespace) -> float:
    """Every round requests each (size, role, route) once, in a fresh random order (fixed seed), so load from
    elsewhere on the machine, and the cost of switching between the two apps, fall on all of them alike."""
    jobs = [
        (target, run, route) for target in targets for run in target.run.roles.values() for route in run.routes.values()
    ]
    order = random.Random(SEED)
    started = time.perf_counter()
    for round_ in range(args.warmup + args.requests):
        order.shuffle(jobs)
        for target, run, route in jobs:
            target.recorder.begin()
            response = target.clients[run.role].get(route.path, headers={"HX-Request": "true"} if route.hx else None)
            statements, calls = target.recorder.end()
            assert response.status_code == route.status, (route.path, response.status_code)
            if round_ < args.warmup:
                continue
            run.series[route.key].add(target.timer.last, statements, calls)
    return time.perf_counter() - started


def label(statement: str) -> str:
    """A short readable name of a SQL statement: the select list abbreviated, the FROM/WHERE kept."""
    text = " ".join(statement.split())
    match = re.match(r"SELECT (.*?) FROM (.*)$", text, re.S)
    if not match:
        return text[:110]
    columns, rest = match.groups()
    if len(columns) > 40:
        columns = columns.split(",")[0] + ", ..."
    return f"SELECT {columns} FROM {rest}"[:150]


def explain_lines(dialect: str, statement: str, parameters: Any) -> list[str]:
    prefix = "EXPLAIN (ANALYZE, BUFFERS)" if dialect == "postgresql" else "EXPLAIN QUERY PLAN"
    with db.engine.connect() as conn:
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


def prepare_size(backend: str, url: str, dialect: str, tickets: int, password_hash: str) -> Target:
    """Schema, fill, an app on it, and the two roles signed in with their URLs collected and checked."""
    benchkit.create_schema(url, {"REDIS_URL": REDIS_URL, "SECRET_KEY": "bench"})
    print(f"[{backend}] filling {tickets:,} tickets ...", flush=True)
    filled = fill(url, dialect, tickets, password_hash)
    print(
        f"[{backend}] {filled.tickets:,} tickets, {filled.customers:,} customers, {filled.contacts:,} contacts, "
        f"{filled.interactions:,} interactions: fill {filled.fill_seconds:.1f} s, indexes "
        f"{filled.index_seconds:.1f} s, {'VACUUM ' if dialect == 'postgresql' else ''}ANALYZE "
        f"{filled.analyze_seconds:.1f} s",
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
    app.add_url_rule("/bench/select1", "bench_select1", contact_required(select1))
    timer = ServerTimer(app.wsgi_app)
    app.wsgi_app = timer  # type: ignore[method-assign]
    app.test_client_class = IsolatedClient
    recorder = SqlRecorder()
    with app.app_context():
        recorder.attach(db.engine)
        with db.engine.connect() as conn:
            version = str(
                conn.exec_driver_sql("SHOW server_version").scalar_one()
                if dialect == "postgresql"
                else conn.exec_driver_sql("SELECT sqlite_version()").scalar_one()
            )
    middle = filled.customers // 2 + 1
    contacts = {"customer": CONTACTS_PER_CUSTOMER * (middle - 1) + 1, "own": CONTACTS_PER_CUSTOMER * (middle - 1) + 2}
    roles: dict[str, RoleRun] = {}
    clients: dict[str, FlaskClient] = {}
    checks: list[str] = []
    for role, contact_id in contacts.items():
        clients[role] = app.test_client()
        roles[role], role_checks = prepare_role(clients[role], app, role, contact_id)
        checks += role_checks
    checks.append("every request answered its expected status (200 pages, 204 live checks and baseline)")
    return Target(SizeRun(filled, version, roles, checks), app, timer, recorder, clients)


def run_backend(backend: str, dialect: str, urls: list[str], args: argparse.Namespace, password_hash: str):
    targets: list[Target] = []
    try:
        for url, tickets in zip(urls, (args.small, args.tickets), strict=True):
            targets.append(prepare_size(backend, url, dialect, tickets, password_hash))
        seconds = measure(targets, args)
        routes = sum(len(run.routes) for target in targets for run in target.run.roles.values())
        print(
            f"[{backend}] measured {routes} routes x ({args.warmup} + {args.requests}) requests, interleaved, "
            f"in {seconds:.1f} s",
            flush=True,
        )
        small, large = targets
        with large.app.app_context():
            large.run.plans = plans(dialect, large.run, small.run, large.recorder, args.explain)
    finally:
        for target in targets:
            with target.app.app_context():
                db.engine.dispose()
    return BackendResult(backend, small.run, large.run)


def misses(large: SizeRun, small: SizeRun) -> list[tuple[str, str, str]]:
    """(role, route, why) for every aim missed at the large size."""
    found = []
    for role, run in large.roles.items():
        base = large.baseline
        for key, series in run.series.items():
            if key in LIVE_ROUTES and series.median > LIVE_AIM * base:
                found.append((role, key, f"median {series.median / base:.1f}x the baseline (aim <= {LIVE_AIM:g}x)"))
            before = small.roles[role].series.get(key)
            if key in FLAT_ROUTES and before is not None and series.median > FLAT_AIM * before.median:
                found.append(
                    (
                        role,
                        key,
                        f"median grew {series.median / before.median:.1f}x from "
                        f"{small.fill.tickets:,} to {large.fill.tickets:,} tickets",
                    )
                )
    return found


def plans(dialect: str, large: SizeRun, small: SizeRun, recorder: SqlRecorder, everything: bool) -> list[str]:
    """The plan of the statement behind each missed aim (or of every route's slowest statement with --explain)."""
    wanted: list[tuple[str, str, str]] = misses(large, small)
    if everything:
        listed = {(role, key) for role, key, _ in wanted}
        wanted += [
            (role, key, "--explain")
            for role in large.roles
            for key in large.roles[role].series
            if key != BASELINE and (role, key) not in listed
        ]
    lines: list[str] = []
    done: set[str] = set()
    for role, key, why in wanted:
        series = large.roles[role].series[key]
        before = small.roles[role].series.get(key)
        if before is not None and "grew" in why:
            # The statement that grew the most between the sizes.
            statement = max(series.statements, key=lambda s: series.statement_median(s) - before.statement_median(s))
            growth = (
                f"{before.statement_median(statement) * 1000:.3f} ms -> {series.statement_median(statement) * 1000:.3f}"
                " ms"
            )
        else:
            statement = max(series.statements, key=series.statement_median)
            growth = f"{series.statement_median(statement) * 1000:.3f} ms"
        lines.append(f"-- {role} / {ROUTE_NAMES[key]}: {why}")
        lines.append(f"   statement ({growth} median per request): {label(statement)}")
        if statement in done:
            lines.append("   (plan printed above)")
            continue
        done.add(statement)
        lines.append("   " + " ".join(statement.split()))
        lines.append(f"   parameters: {recorder.params.get(statement)!r}")
        for line in explain_lines(dialect, statement, recorder.params.get(statement)):
            lines.append(f"      {line}")
    return lines


# --------------------------------------------------------------------------------------------------------
# Databases.
# --------------------------------------------------------------------------------------------------------


def create_pg_schema(base: sa.URL, database: str, schema: str) -> str:
    """A schema of the database, and a URL whose connections have it as their search_path."""
    engine = sa.create_engine(base.set(database=database), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    finally:
        engine.dispose()
    url = base.set(database=database, query={"options": f"-csearch_path={schema}"})
    return url.render_as_string(hide_password=False)


@dataclass
class BackendResult:
    backend: str
    small: SizeRun
    large: SizeRun


def bench_backend(backend: str, args: argparse.Namespace, password_hash: str) -> BackendResult:
    """Both sizes live at once (two SQLite files; two schemas of one PostgreSQL database), measured interleaved."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench_portal_") as tmp:
            urls = [f"sqlite:///{Path(tmp) / f'tickets_{n}.db'}" for n in (args.small, args.tickets)]
            return run_backend(backend, "sqlite", urls, args, password_hash)
    base = sa.make_url(args.pg_url)
    create_pg_database(base, PG_DATABASE)
    try:
        urls = [create_pg_schema(base, PG_DATABASE, f"tickets_{n}") for n in (args.small, args.tickets)]
        return run_backend(backend, "postgresql", urls, args, password_hash)
    finally:
        drop_pg_database(base, PG_DATABASE)


# --------------------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------------------


def machine(pg_url: str | None) -> list[str]:
    lines = [benchkit.hardware_line(load_at_start=True), benchkit.software_line("Flask")]
    if pg_url is not None:
        lines += benchkit.pg_server_lines(pg_url)
    conn = Redis.from_url(REDIS_URL)
    try:
        lines.append(f"Redis server {conn.info('server').get('redis_version')} ({REDIS_URL}, flushed before and after)")
    finally:
        conn.close()
    return lines


def report_size(backend: str, run: SizeRun) -> None:
    f = run.fill
    print(
        f"\n--- {backend} {run.version}: {f.tickets:,} tickets, {f.customers:,} customers, {f.contacts:,} contacts, "
        f"{f.interactions:,} interactions, {f.ticket_contacts:,} ticket_contact rows; fill {f.fill_seconds:.1f} s "
        f"+ indexes {f.index_seconds:.1f} s + ANALYZE {f.analyze_seconds:.1f} s ---"
    )
    print(
        f"x base: route median / {ms(run.baseline)} ms, the baseline median of both roles pooled; queries and SQL ms:"
        " statements per request and time inside the driver (medians)"
    )
    header = (
        f"{'role':<9}{'route':<38}{'median ms':>10}{'p99 ms':>9}{'x base':>8}{'queries':>8}{'SQL ms':>8}"
        f"  slowest statement (median ms)"
    )
    print(header)
    print("-" * len(header))
    base = run.baseline
    for role, rr in run.roles.items():
        for key, series in rr.series.items():
            top = max(series.statements, key=series.statement_median) if series.statements else ""
            top_text = f"{label(top)[:70]} ({ms(series.statement_median(top))})" if top else ""
            print(
                f"{role:<9}{ROUTE_NAMES[key]:<38}{ms(series.median):>10}{ms(series.p99):>9}"
                f"{ratio(series.median, base):>8}{statistics.median(series.queries):>8g}"
                f"{ms(statistics.median(series.sql)):>8}  {top_text}"
            )
    for role, rr in run.roles.items():
        print(
            f"role {role}: contact #{rr.contact_id}, {rr.visible} visible tickets on {rr.pages} page(s), "
            f"ticket page #{rr.ticket_id}"
        )
    for check in run.checks:
        print(f"check: {check}")


def report(result: BackendResult) -> None:
    print(f"\n=== {result.backend} ===")
    report_size(result.backend, result.small)
    report_size(result.backend, result.large)
    if result.large.plans:
        print(f"\nplans ({result.backend}, {result.large.fill.tickets:,} tickets):")
        for line in result.large.plans:
            print(f"    {line}")


def summary(results: list[BackendResult]) -> None:
    print("\n=== summary: server time per request, median (p99) in ms ===")
    for result in results:
        small, large = result.small, result.large
        s_n, l_n = f"{small.fill.tickets:,}", f"{large.fill.tickets:,}"
        header = (
            f"{'backend':<11}{'role':<9}{'route':<38}{s_n + ' tickets':>20}{l_n + ' tickets':>20}"
            f"{'large/small':>12}{'x base':>8}  aim"
        )
        print(
            f"{result.backend}: baseline median (both roles) {ms(small.baseline)} ms at {s_n} tickets, "
            f"{ms(large.baseline)} ms at {l_n}; x base is at {l_n}"
        )
        print(header)
        print("-" * len(header))
        base = large.baseline
        for role, rr in large.roles.items():
            for key, series in rr.series.items():
                before = small.roles[role].series.get(key)
                small_text = f"{ms(before.median)} ({ms(before.p99)})" if before else "n/a"
                growth = series.median / before.median if before else float("nan")
                aims = []
                if key in LIVE_ROUTES:
                    aims.append(f"<= {LIVE_AIM:g}x base: {'met' if series.median <= LIVE_AIM * base else 'MISSED'}")
                if key in FLAT_ROUTES and before is not None:
                    aims.append(f"flat: {'met' if growth <= FLAT_AIM else 'MISSED'}")
                print(
                    f"{result.backend:<11}{role:<9}{ROUTE_NAMES[key]:<38}{small_text:>20}"
                    f"{ms(series.median) + ' (' + ms(series.p99) + ')':>20}"
                    f"{(f'{growth:.2f}x' if before else 'n/a'):>12}{ratio(series.median, base):>8}  {', '.join(aims)}"
                )
        print()
    missed = [(r.backend, *miss) for r in results for miss in misses(r.large, r.small)]
    if missed:
        print("aims missed:")
        for backend, role, key, why in missed:
            print(f"    {backend} / {role} / {ROUTE_NAMES[key]}: {why}")
    else:
        print(
            f"all aims met: live checks <= {LIVE_AIM:g}x the baseline, every route within {FLAT_AIM:g}x "
            "between the two sizes"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets of the large fill (default 100,000)")
    parser.add_argument("--small", type=int, default=1_000, help="tickets of the small fill (default 1,000)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432",
        help=f"PostgreSQL server URL without database (the throw-away database {PG_DATABASE} is created)",
    )
    parser.add_argument("--requests", type=int, default=150, help="timed requests per route and role (default 150)")
    parser.add_argument("--warmup", type=int, default=15, help="untimed requests per route first (default 15)")
    parser.add_argument("--explain", action="store_true", help="print the plan of every route's slowest statement")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.small < TICKETS_PER_CUSTOMER or args.tickets <= args.small:
        parser.error(f"need {TICKETS_PER_CUSTOMER} <= --small < --tickets")
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be positive, --warmup not negative")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    redis = Redis.from_url(REDIS_URL)
    redis.flushdb()
    try:
        print("Portal read benchmark")
        for line in machine(args.pg_url if "postgresql" in args.backends else None):
            print(line)
        print(
            f"tickets: {args.small:,} and {args.tickets:,} ({TICKETS_PER_CUSTOMER} per customer, "
            f"{CONTACTS_PER_CUSTOMER} contacts per customer, {len(INTERACTIONS)} interactions per ticket, "
            f"{VISIBLE} customer-visible); {args.requests} timed requests per route and role after "
            f"{args.warmup} warm-up; now = {NOW.isoformat()}",
            flush=True,
        )
        password_hash = generate_password_hash(PASSWORD)  # once: hashing is deliberately slow
        results = [bench_backend(backend, args, password_hash) for backend in args.backends]
        for result in results:
            report(result)
        summary(results)
    finally:
        redis.flushdb()
        redis.close()
    print(
        f"\ntotal wall time: {time.perf_counter() - started:.1f} s   load average at the end: "
        + benchkit.load_average()
    )


if __name__ == "__main__":
    main()
