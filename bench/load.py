"""Load test of the production set-up: gunicorn web processes, RQ workers and the cron scheduler on one PostgreSQL and
one Redis, driven over loopback HTTP by portal customers, agents and an inbound mail service at once.

    python bench/load.py [--seconds 60] [--customers 200] [--agents 20] [--tickets 3000] [--played 300]
                         [--web-processes 2] [--threads 4] [--workers 2] [--mail-per-second 1] [--poll-seconds 3]
                         [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432]

Set-up (untimed): a throw-away PostgreSQL database bench_load (the app's schema) seeded through the app's services
with the demo configuration (calendars, SLA policies, teams, forms, branding), --customers portal contacts (5 per
customer company), --agents agents spread over the teams, --played tickets played through their life cycle
(replies, notes, calls, assignees, status changes, time) and cloned with all their rows onto other companies up to
--tickets, and one open ticket per contact that the contact watches; a private redis-server on a free port; an
aiosmtpd sink for outbound mail; then `gunicorn --workers W --threads T ticketing.wsgi:app`, --workers
`python worker.py` processes and one `python worker.py cron`, as the Procfile runs them.

Every request is a new loopback connection (stdlib http.client in threads), no redirects followed. Each customer and
agent has its own loopback address (127.0.1.x, 127.0.9.x): people do not share an address, and the sign-in limits
are per address.

  sign-in     every customer (GET+POST /login, then its ticket page) and agent (GET+POST /agent/login), at most
              web processes x threads at once; reported apart: password hashing (scrypt) is meant to be slow
  load        --seconds of:
  customers   the live check GET /tickets/<id>/live?v=<version> every --poll-seconds as htmx does, out of step with
              each other (204 until a customer-visible change, then the fresh fragment and a new version); on about
              one poll in 60 a reply (POST /tickets/<id>/reply, then the ticket page the 303 points at)
  agents      loop: a queue page (mine, their team's, unassigned, breaching, waiting), think 2-4 s, open a ticket
              from it (the workspace), the presence ping, and on 30 % of them a reply (70 %) or an internal note
              (30 %) followed by the workspace page, think 2-4 s
  mail        POST /inbound/email (HMAC-signed raw MIME) at --mail-per-second: half new requests from a contact, half
              replies with [#id] in the subject to a watched ticket (threaded onto it: its customer's next live check
              sees the change)
  static      GET /static/css/portal.css five times a second from one thread: a bare static response from the same
              gunicorn, under the same load, the baseline for the live check

Reported per phase: requests/s overall and per route, p50/p99/max latency per route (client side: connect to last
byte, so it includes this process's own GIL waits), errors (any unexpected status or failed connection: must be
zero), the live check's p50 and mean beside the static file's, the CPU the web processes and this load generator
used, the RQ backlog when the load stops and how long the workers take to drain it, inbound mail stored/processed,
outbound mail sent, failed jobs. Everything is stopped and dropped at the end; process logs are kept only on errors.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import hmac
import html
import http.client
import itertools
import logging
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import benchkit
import sqlalchemy as sa
from benchkit import ROOT, create_pg_database, drop_pg_database, ms, percentile

benchkit.unshadow_project_packages(project_root=True)

from redis import Redis  # noqa: E402

DATABASE = "bench_load"
SECRET_KEY = "bench-load-secret"  # noqa: S105 - a throw-away set-up on loopback
INBOUND_SECRET = "bench-load-inbound"  # noqa: S105
PASSWORD = "bench-pass-123"  # noqa: S105
SEED = 11
STATIC = "GET /static/css/portal.css"


# --------------------------------------------------------------------------------------------------------
# Seeding, through the app's own services (events muted: the past sends no mail).
# --------------------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    contacts: list[tuple[str, int]]  # (email, the ticket it watches)
    agents: list[str]
    tickets: int


def seed(url: str, redis_url: str, customers: int, agents: int, tickets_count: int, templates: int) -> Seeded:
    """The demo configuration, the bench's people, `templates` tickets played through the services and cloned in bulk
    up to `tickets_count`, and one watched open ticket per contact."""
    from werkzeug.security import generate_password_hash

    from ticketing import demo, events
    from ticketing.app import create_app
    from ticketing.domain.vocab import PortalRole, Priority, Source, StaffRole, Tier
    from ticketing.extensions import db
    from ticketing.models import Category, Contact, Customer, CustomerDomain, Team, Ticket, User, utcnow
    from ticketing.services import tickets

    rng = random.Random(SEED)  # noqa: S311 - test data
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY})
    with app.app_context():
        session = db.session()
        events.mute(session)
        now = utcnow()
        demo.seed(session, now=now, tickets_count=0)
        teams = {t.name: t for t in session.scalars(sa.select(Team))}
        categories = {c.name: c for c in session.scalars(sa.select(Category))}
        password_hash = generate_password_hash(PASSWORD)  # one slow hash, shared by every bench account
        staff = []
        for n in range(agents):
            team = list(teams.values())[n % len(teams)]
            staff.append(
                User(
                    name=f"Bench Agent {n:02d}",
                    email=f"bench.agent{n:02d}@bluehill.test",
                    role=StaffRole.AGENT,
                    teams=[team],
                    password_hash=password_hash,
                )
            )
        session.add_all(staff)
        companies = []
        tiers = [Tier.STANDARD, Tier.STANDARD, Tier.PREMIUM, Tier.ENTERPRISE]
        for c in range(max(1, customers // 5)):
            company = Customer(name=f"Load Test Co {c:03d}", tier=tiers[c % len(tiers)])
            company.domains = [CustomerDomain(domain=f"load{c:03d}.example")]
            companies.append(company)
        people: list[Contact] = []
        for n in range(customers):
            company = companies[n % len(companies)]
            contact = Contact(
                name=f"Customer {n:03d}",
                email=f"customer{n:03d}@{company.domains[0].domain}",
                portal_role=PortalRole.CUSTOMER if n < len(companies) else PortalRole.OWN,
                password_hash=password_hash,
            )
            company.contacts.append(contact)
            people.append(contact)
        session.add_all(companies)
        session.flush()
        # The bench's agents, and the demo's (so that every team has someone even with a few --agents).
        players = list(session.scalars(sa.select(User).where(User.role == StaffRole.AGENT).order_by(User.id)))
        played = min(tickets_count, templates)
        for n in range(played):
            demo._play_ticket(session, rng, n, now, companies, teams, players, categories)
        session.flush()
        template_ids = list(session.scalars(sa.select(Ticket.id).order_by(Ticket.id)))
        watched = []
        for n, contact in enumerate(people):
            team = list(teams.values())[n % len(teams)]
            ticket = tickets.create_ticket(
                session,
                subject=f"Dashboard slow for {contact.name}",
                body="Since this morning the dashboard takes a minute to load.",
                source=Source.PORTAL,
                now=now - timedelta(minutes=rng.randint(5, 600)),
                actor=contact,
                contact=contact,
                priority=Priority.MEDIUM,
                team=team,
            )
            watched.append((contact.email, ticket))
        session.commit()
        with db.engine.begin() as conn:
            clone_tickets(conn, template_ids, [c.id for c in companies], tickets_count - played, rng)
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ANALYZE")
        result = Seeded(
            contacts=[(email, ticket.id) for email, ticket in watched],
            agents=[u.email for u in staff],
            tickets=session.scalar(sa.select(sa.func.count()).select_from(Ticket)) or 0,
        )
        session.close()
        db.engine.dispose()
    return result


# Ticket-owned tables a played ticket has rows in (the clone copies them; the others stay empty while seeding).
CLONED_CHILDREN = ("interaction", "sla_pause", "ticket_assignee", "ticket_contact", "ticket_tag", "time_entry")


def move_contact(people: list[int], position: dict[int, int], contact_id: int | None) -> int | None:
    """The contact at the same position in the other company (contacts of no company stay)."""
    return people[position[contact_id] % len(people)] if contact_id in position else contact_id


def clone_tickets(
    conn: sa.Connection, template_ids: list[int], companies: list[int], count: int, rng: random.Random
) -> None:
    """`count` copies of the played tickets with all their rows, each copy moved to another customer company (its
    contacts mapped by position): thousands of realistic tickets in seconds instead of minutes of service calls."""
    from ticketing.models.base import Base

    if count <= 0 or not template_ids:
        return
    tables = Base.metadata.tables
    contacts: dict[int, list[int]] = defaultdict(list)
    for contact_id, customer_id in conn.execute(sa.text("SELECT id, customer_id FROM contact ORDER BY id")):
        if customer_id is not None:
            contacts[customer_id].append(contact_id)
    position = {contact_id: i for customer in companies for i, contact_id in enumerate(contacts[customer])}
    tickets = {
        r["id"]: dict(r)
        for r in conn.execute(sa.select(tables["ticket"]).where(tables["ticket"].c.id.in_(template_ids))).mappings()
    }
    children: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)  # by ticket id
    for name in CLONED_CHILDREN:
        for r in conn.execute(sa.select(tables[name]).where(tables[name].c.ticket_id.in_(template_ids))).mappings():
            children[r["ticket_id"]].append((name, dict(r)))
    next_id = {
        name: (conn.execute(sa.text(f"SELECT coalesce(max(id), 0) FROM {name}")).scalar_one() + 1)
        for name in ("ticket", *CLONED_CHILDREN)
        if "id" in tables[name].c
    }
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for n in range(count):
        template = tickets[template_ids[n % len(template_ids)]]
        company = rng.choice(companies)
        moved = functools.partial(move_contact, contacts[company], position)
        new_id = next_id["ticket"]
        next_id["ticket"] += 1
        rows["ticket"].append(
            {
                **template,
                "id": new_id,
                "customer_id": company,
                "primary_contact_id": moved(template["primary_contact_id"]),
            }
        )
        for name, child in children[template["id"]]:
            row = {**child, "ticket_id": new_id}
            if "id" in row:
                row["id"] = next_id[name]
                next_id[name] += 1
            for key in ("contact_id", "author_contact_id"):
                if key in row:
                    row[key] = moved(row[key])
            rows[name].append(row)
    for name in ("ticket", *CLONED_CHILDREN):
        if rows[name]:
            conn.execute(tables[name].insert(), rows[name])
        if "id" in tables[name].c:  # explicit ids: move the sequence past them
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")


# --------------------------------------------------------------------------------------------------------
# The processes: a private Redis, the SMTP sink, gunicorn, workers, cron.
# --------------------------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class SmtpCounter:
    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's hook
        self.count += 1
        return "250 OK"


@dataclass
class Processes:
    logs: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                list(argv), cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT
            )
        self.started.append((name, process))
        return process

    def alive(self) -> None:
        dead = [name for name, p in self.started if p.poll() is not None]
        if dead:
            raise SystemExit(f"exited early: {dead}; logs in {self.logs}")

    def pids(self, name_prefix: str) -> list[int]:
        return [p.pid for name, p in self.started if name.startswith(name_prefix)]

    def stop(self) -> None:
        for _, process in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, process in self.started:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def group_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children, from /proc (gunicorn's workers are its children)."""
    total = 0.0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pid or int(stat.parent.name) == pid:  # fields[2] is the parent pid
                total += (int(fields[11]) + int(fields[12])) / tick
    return total


def wait_healthy(base: str, processes: Processes, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        processes.alive()
        with contextlib.suppress(OSError):
            status, _, _ = request(base, "GET", "/healthz", Cookies())
            if status == 200:
                return
        if time.monotonic() > deadline:
            raise SystemExit(f"{base} never became healthy; logs in {processes.logs}")
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------------------
# HTTP: one new loopback connection per request, from a chosen source address; cookies kept by hand.
# --------------------------------------------------------------------------------------------------------


class Cookies(dict[str, str]):
    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.items())

    def update_from(self, response: http.client.HTTPResponse) -> None:
        for raw in response.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(raw).items():
                if morsel["expires"] and "1970" in morsel["expires"] or morsel["max-age"] == "0":
                    self.pop(name, None)
                else:
                    self[name] = morsel.value


def request(
    base: str,
    method: str,
    path: str,
    cookies: Cookies,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    source: str = "127.0.0.1",
) -> tuple[int, dict[str, str], str]:
    host, port = urllib.parse.urlsplit(base).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30, source_address=(source, 0))
    try:
        sent = {"Connection": "close", **(headers or {})}
        if cookies:
            sent["Cookie"] = cookies.header()
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        text = response.read().decode("utf-8", "replace")
        cookies.update_from(response)
        return response.status, {k.lower(): v for k, v in response.getheaders()}, text
    finally:
        conn.close()


@dataclass
class Stats:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    finished_at: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))  # time.monotonic()
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, route: str, seconds: float, status: int, ok: bool, detail: str = "") -> None:
        with self.lock:
            self.latencies[route].append(seconds)
            self.finished_at[route].append(time.monotonic())
            self.statuses[route][status] += 1
            if not ok:
                self.errors[route].append(f"{status} {detail}"[:300])


@dataclass
class Run:
    """Two phases: everybody signs in (at most `signin_slots` at once), then the timed load until `deadline`."""

    base: str
    stats: Stats
    poll_seconds: float
    people: int  # customers + agents
    signin_slots: threading.Semaphore
    deadline: float = float("inf")  # set when the load starts
    stop: threading.Event = field(default_factory=threading.Event)
    go: threading.Event = field(default_factory=threading.Event)
    arrived: int = 0
    all_in: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def signed_in(self) -> None:
        with self.lock:
            self.arrived += 1
            if self.arrived == self.people:
                self.all_in.set()

    def start(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds
        self.go.set()

    def wait_for_start(self) -> bool:
        while not self.go.wait(0.5):
            if self.stop.is_set():
                return False
        return True

    def call(
        self,
        route: str,
        method: str,
        path: str,
        cookies: Cookies,
        expect: set[int],
        source: str,
        form: dict[str, str] | None = None,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict[str, str], str]:
        headers = dict(headers or {})
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        try:
            status, response_headers, text = request(self.base, method, path, cookies, body, headers, source)
        except OSError as exc:
            self.stats.record(route, time.perf_counter() - started, 0, False, f"{type(exc).__name__}: {exc}")
            return 0, {}, ""
        self.stats.record(route, time.perf_counter() - started, status, status in expect, text[:200])
        return status, response_headers, text

    def sleep(self, seconds: float) -> bool:
        """Think time; False once the run is over."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0 or self.stop.is_set():
            return False
        self.stop.wait(min(seconds, remaining))
        return time.monotonic() < self.deadline and not self.stop.is_set()


_CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')
_LIVE = re.compile(r'hx-get="([^"]*/live\?v=[^"]*)"')
_TICKET_LINK = re.compile(r'href="/admin/ticket/(\d+)"')
_TEAM_QUEUE = re.compile(r'href="/admin/queues/(team-\d+)"')


def csrf(text: str) -> str:
    match = _CSRF.search(text)
    return match.group(1) if match else ""


def customer(run: Run, email: str, ticket_id: int, source: str, rng: random.Random) -> None:
    cookies = Cookies()
    with run.signin_slots:
        _, _, page = run.call("GET /login", "GET", "/login", cookies, {200}, source)
        form = {"email": email, "password": PASSWORD, "csrf_token": csrf(page)}
        status, _, _ = run.call("POST /login", "POST", "/login", cookies, {302}, source, form=form)
        if status == 302:
            _, _, page = run.call("GET /tickets/<id>", "GET", f"/tickets/{ticket_id}", cookies, {200}, source)
    run.signed_in()
    if status != 302 or not run.wait_for_start():
        return
    live = _LIVE.search(page)
    if live is None:
        run.stats.record("GET /tickets/<id>", 0.0, 200, False, "no live check on the page")
        return
    live_path, token = html.unescape(live.group(1)), csrf(page)
    run.sleep(rng.uniform(0, run.poll_seconds))  # open pages poll out of step with each other
    while run.sleep(run.poll_seconds * rng.uniform(0.95, 1.05)):
        status, _, fragment = run.call(
            "GET /tickets/<id>/live", "GET", live_path, cookies, {200, 204}, source, headers={"HX-Request": "true"}
        )
        if status == 200 and (fresh := _LIVE.search(fragment)):
            live_path = html.unescape(fresh.group(1))
        if rng.random() < 1 / 60:
            form = {"body": f"Still seeing it at {time.strftime('%H:%M:%S')}.", "csrf_token": token}
            status, _, _ = run.call(
                "POST /tickets/<id>/reply", "POST", f"/tickets/{ticket_id}/reply", cookies, {303}, source, form=form
            )
            if status == 303:
                _, _, page = run.call("GET /tickets/<id>", "GET", f"/tickets/{ticket_id}", cookies, {200}, source)
                if fresh := _LIVE.search(page):
                    live_path, token = html.unescape(fresh.group(1)), csrf(page)


def agent(run: Run, email: str, source: str, rng: random.Random) -> None:
    cookies = Cookies()
    with run.signin_slots:
        _, _, page = run.call("GET /agent/login", "GET", "/agent/login", cookies, {200}, source)
        form = {"email": email, "password": PASSWORD, "csrf_token": csrf(page)}
        status, _, _ = run.call("POST /agent/login", "POST", "/agent/login", cookies, {302}, source, form=form)
    run.signed_in()
    if status != 302 or not run.wait_for_start():
        return
    _, _, page = run.call("GET /admin/queues/<key>", "GET", "/admin/queues/mine", cookies, {200}, source)
    keys = ["mine", "unassigned", "breaching", "waiting", *sorted(set(_TEAM_QUEUE.findall(page)))]
    while run.sleep(rng.uniform(2, 4)):
        key = rng.choice(keys)
        _, _, page = run.call("GET /admin/queues/<key>", "GET", f"/admin/queues/{key}", cookies, {200}, source)
        ids = _TICKET_LINK.findall(page)
        if not ids or not run.sleep(rng.uniform(2, 4)):
            continue
        ticket_id = rng.choice(ids)
        path = f"/admin/ticket/{ticket_id}"
        _, _, page = run.call("GET /admin/ticket/<id>", "GET", path, cookies, {200}, source)
        token = csrf(page)
        run.call(
            "POST /admin/ticket/<id>/presence",
            "POST",
            f"{path}/presence",
            cookies,
            {200},
            source,
            form={"state": "viewing"},
            headers={"X-CSRFToken": token, "HX-Request": "true"},
        )
        if rng.random() < 0.3:
            kind = "reply" if rng.random() < 0.7 else "note"
            form = {
                "kind": kind,
                "body": f"Checked the logs for #{ticket_id}; a fix is rolling out.",
                "csrf_token": token,
            }
            status, _, _ = run.call(
                "POST /admin/ticket/<id>/compose", "POST", f"{path}/compose", cookies, {303}, source, form=form
            )
            if status == 303:
                run.call("GET /admin/ticket/<id>", "GET", path, cookies, {200}, source)


def inbound_mail(run: Run, contacts: list[tuple[str, int]], rate: float, rng: random.Random) -> None:
    if not run.wait_for_start():
        return
    interval, counter = 1 / rate, itertools.count()
    next_at = time.monotonic()
    while run.sleep(max(0.0, next_at - time.monotonic())):
        next_at += interval
        n = next(counter)
        email, ticket_id = rng.choice(contacts)
        msg = EmailMessage()
        msg["From"] = email
        msg["To"] = "support@bluehill.test"
        msg["Message-ID"] = make_msgid(domain="load.example")
        if n % 2:
            msg["Subject"] = f"Re: [#{ticket_id}] Dashboard slow"
            msg.set_content(f"Another data point ({n}): it took 40 s just now.\n\n> earlier quoted text")
        else:
            msg["Subject"] = f"Invoice question {n}"
            msg.set_content("Hello, our last invoice lists two seats too many. Could you check?\n\nThanks")
        raw = msg.as_bytes()
        signature = "sha256=" + hmac.new(INBOUND_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        run.call(
            "POST /inbound/email",
            "POST",
            "/inbound/email",
            Cookies(),
            {202},
            "127.0.0.1",
            body=raw,
            headers={"X-Bluehill-Signature": signature, "Content-Type": "message/rfc822"},
        )


def static_probe(run: Run) -> None:
    if not run.wait_for_start():
        return
    while run.sleep(0.2):
        run.call(STATIC, "GET", "/static/css/portal.css", Cookies(), {200}, "127.0.0.1")


def rng_from(rng: random.Random) -> random.Random:
    return random.Random(rng.random())  # noqa: S311 - load shapes, not secrets


def source_address(n: int, third_octet: int) -> str:
    """127.0.<third_octet>.<n+2>: the whole 127/8 is loopback on Linux, so each simulated person gets an address."""
    return f"127.0.{third_octet + (n + 2) // 254}.{(n + 2) % 254 or 254}"


# --------------------------------------------------------------------------------------------------------
# Report.
# --------------------------------------------------------------------------------------------------------


ROUTE_ORDER = [
    "GET /tickets/<id>/live",
    "GET /static/css/portal.css",
    "GET /login",
    "POST /login",
    "GET /tickets/<id>",
    "POST /tickets/<id>/reply",
    "GET /agent/login",
    "POST /agent/login",
    "GET /admin/queues/<key>",
    "GET /admin/ticket/<id>",
    "POST /admin/ticket/<id>/presence",
    "POST /admin/ticket/<id>/compose",
    "POST /inbound/email",
]


def window(stats: Stats, route: str, start: float, end: float) -> list[float]:
    pairs = zip(stats.latencies.get(route, []), stats.finished_at.get(route, []), strict=True)
    return [seconds for seconds, at in pairs if start <= at <= end]


def report_routes(stats: Stats, title: str, start: float, end: float) -> None:
    per_route = {route: window(stats, route, start, end) for route in stats.latencies}
    seconds = end - start
    total = sum(len(v) for v in per_route.values())
    print(f"\n{title}: {total} requests in {seconds:.1f} s = {total / seconds:.1f} requests/s")
    print(f"{'route':34} {'count':>7} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for route in sorted(per_route, key=lambda r: (ROUTE_ORDER + [r]).index(r)):
        if values := per_route[route]:
            print(
                f"{route:34} {len(values):7d} {len(values) / seconds:7.1f} {ms(percentile(values, 0.5)):>8} "
                f"{ms(percentile(values, 0.99)):>8} {ms(max(values)):>8}"
            )


def report_errors(stats: Stats) -> int:
    errors = sum(len(v) for v in stats.errors.values())
    print(f"\nerrors: {errors}; statuses by route:")
    for route in sorted(stats.statuses, key=lambda r: (ROUTE_ORDER + [r]).index(r)):
        codes = " ".join(f"{code}: {n}" for code, n in sorted(stats.statuses[route].items()))
        print(f"  {route:34} {codes}" + (f"   ({len(stats.errors[route])} unexpected)" if stats.errors[route] else ""))
    for route, samples in stats.errors.items():
        for sample in samples[:3]:
            print(f"  error on {route}: {sample}")
    return errors


def report_live_vs_static(stats: Stats, start: float, end: float) -> None:
    """In the load phase: the sign-in phase's password hashing is not the live check's cost."""
    live, static = window(stats, "GET /tickets/<id>/live", start, end), window(stats, STATIC, start, end)
    if not live or not static:
        print("\nlive check vs static: nothing to compare (a longer --seconds)")
        return
    p50_live, p50_static = percentile(live, 0.5), percentile(static, 0.5)
    mean_live, mean_static = statistics.fmean(live), statistics.fmean(static)
    print(
        f"\nlive check vs a bare static response (same gunicorn, same load phase): p50 {ms(p50_live)} vs "
        f"{ms(p50_static)} ms = {benchkit.ratio(p50_live, p50_static)}; mean {ms(mean_live)} vs {ms(mean_static)} ms "
        f"= {benchkit.ratio(mean_live, mean_static)}"
    )


def mail_counts(url: str) -> dict[str, dict[str, int]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                table: dict(conn.execute(sa.text(f"SELECT status, count(*) FROM {table} GROUP BY status")).all())
                for table in ("inbound_message", "outbound_message")
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------------------
# Main.
# --------------------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--agents", type=int, default=20)
    parser.add_argument("--tickets", type=int, default=3000, help="tickets besides the watched ones")
    parser.add_argument("--played", type=int, default=300, help="of them played through the services, the rest cloned")
    parser.add_argument("--web-processes", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per web process")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--mail-per-second", type=float, default=1.0)
    parser.add_argument("--poll-seconds", type=float, default=3.0)
    parser.add_argument("--drain-timeout", type=float, default=60)
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    return parser.parse_args(argv)


@contextlib.contextmanager
def private_redis(logs: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(logs)],
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(Exception):
                if Redis.from_url(url).ping():
                    break
            if time.monotonic() > deadline:
                raise SystemExit("the private redis-server did not start")
            time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    base_url = sa.make_url(args.pg_url)
    logs = Path(tempfile.mkdtemp(prefix="bench-load-"))
    print("bench/load.py: the production set-up under a mixed load")
    print(benchkit.hardware_line(load_at_start=True))
    print(benchkit.software_line("Flask", after_sqlalchemy=["gunicorn", "rq", "redis"], implementation=False))
    for line in benchkit.pg_server_lines(args.pg_url, settings=("max_connections", "shared_buffers")):
        print(line)
    url = create_pg_database(base_url, DATABASE)
    processes = Processes(logs)
    try:
        with private_redis(logs) as redis_url:
            print(
                f"Redis server: {Redis.from_url(redis_url).info()['redis_version']} (private, port "
                f"{urllib.parse.urlsplit(redis_url).port})"
            )
            started = time.perf_counter()
            benchkit.create_schema(url, {"REDIS_URL": redis_url, "SECRET_KEY": SECRET_KEY})
            seeded = seed(url, redis_url, args.customers, args.agents, args.tickets, args.played)
            print(
                f"\nseeded in {time.perf_counter() - started:.1f} s: {seeded.tickets} tickets, {args.customers} "
                f"portal contacts, {args.agents} agents (+ the demo configuration)"
            )
            run_load(args, url, redis_url, seeded, processes)
    finally:
        processes.stop()
        drop_pg_database(base_url, DATABASE)
        shutil.rmtree(logs, ignore_errors=True)


def run_load(args: argparse.Namespace, url: str, redis_url: str, seeded: Seeded, processes: Processes) -> None:
    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO

    sink, smtp_port = SmtpCounter(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": SECRET_KEY,
        "SMTP_URL": f"smtp://127.0.0.1:{smtp_port}",
        "INBOUND_SECRET": INBOUND_SECRET,
        "MAIL_FROM": "support@bluehill.test",
        "ATTACHMENT_DIR": str(processes.logs / "attachments"),
        "BASE_URL": f"http://127.0.0.1:{port}",
    }
    try:
        processes.start(
            "web",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--workers",
                str(args.web_processes),
                "--threads",
                str(args.threads),
                "--bind",
                f"127.0.0.1:{port}",
                "--graceful-timeout",
                "5",
                "ticketing.wsgi:app",
            ],
            env,
        )
        for n in range(args.workers):
            processes.start(f"worker{n + 1}", [sys.executable, "worker.py"], env)
        processes.start("cron", [sys.executable, "worker.py", "cron"], env)
        base = f"http://127.0.0.1:{port}"
        wait_healthy(base, processes)
        print(
            f"\nprocesses: gunicorn {args.web_processes} x {args.threads} threads, {args.workers} RQ workers, 1 cron"
            f"; load: {len(seeded.contacts)} customers polling every {args.poll_seconds:g} s, {len(seeded.agents)} "
            f"agents, {args.mail_per_second:g} inbound mail/s, for {args.seconds:g} s"
        )
        stats = Stats()
        slots = threading.Semaphore(args.web_processes * args.threads)  # sign-ins queue here, not in gunicorn
        run = Run(base, stats, args.poll_seconds, len(seeded.contacts) + len(seeded.agents), slots)
        rng = random.Random(SEED)  # noqa: S311
        threads = [
            threading.Thread(target=customer, args=(run, email, ticket_id, source_address(n, 1), rng_from(rng)))
            for n, (email, ticket_id) in enumerate(seeded.contacts)
        ]
        threads += [
            threading.Thread(target=agent, args=(run, email, source_address(n, 9), rng_from(rng)))
            for n, email in enumerate(seeded.agents)
        ]
        threads += [
            threading.Thread(target=inbound_mail, args=(run, seeded.contacts, args.mail_per_second, rng_from(rng))),
            threading.Thread(target=static_probe, args=(run,)),
        ]
        try:
            began = time.monotonic()
            for thread in threads:
                thread.daemon = True
                thread.start()
            if not run.all_in.wait(timeout=600):
                raise SystemExit(f"only {run.arrived} of {run.people} people signed in within 600 s")
            signed_in = time.monotonic()
            report_routes(
                stats,
                f"sign-in phase (every customer and agent, at most {args.web_processes * args.threads} at once)",
                began,
                signed_in,
            )
            web_cpu_before = sum(group_cpu_seconds(pid) for pid in processes.pids("web"))
            own_cpu_before = sum(os.times()[:2])
            run.start(args.seconds)
            for thread in threads:
                thread.join(timeout=max(0.1, run.deadline + 60 - time.monotonic()))
        except KeyboardInterrupt:
            run.stop.set()
            raise
        ended = time.monotonic()
        web_cpu = sum(group_cpu_seconds(pid) for pid in processes.pids("web")) - web_cpu_before
        own_cpu = sum(os.times()[:2]) - own_cpu_before
        conn = Redis.from_url(redis_url)
        backlog = conn.llen("rq:queue:default")
        report_routes(stats, "load phase", signed_in, ended)
        errors = report_errors(stats)
        report_live_vs_static(stats, signed_in, ended)
        cores = os.cpu_count() or 1
        served = sum(len(window(stats, route, signed_in, ended)) for route in stats.latencies)
        print(
            f"CPU in the load phase: web processes {web_cpu:.1f} s ({web_cpu / max(served, 1) * 1000:.1f} ms per "
            f"request), this load generator {own_cpu:.1f} s, of {(ended - signed_in) * cores:.0f} core-s (load "
            f"average now {benchkit.load_average()}: other work on the machine shows up in the latencies)"
        )
        drain_started = time.monotonic()
        while conn.llen("rq:queue:default") or _busy_workers(conn):
            if time.monotonic() - drain_started > args.drain_timeout:
                break
            time.sleep(0.2)
        drained = time.monotonic() - drain_started
        time.sleep(1)  # the last sends' SMTP round trips
        counts = mail_counts(url)
        failed = conn.zcard("rq:failed:default")
        left = conn.llen("rq:queue:default")
        print(
            f"\nRQ backlog when the load stopped: {backlog} jobs; drained in {drained:.1f} s"
            + (f" (NOT drained: {left} left)" if left else "")
        )
        print(
            f"inbound mail (by status): {counts['inbound_message']}; outbound mail (by status): "
            f"{counts['outbound_message']}; SMTP sink received {sink.count}; failed jobs: {failed}"
        )
        if errors or failed:
            kept = shutil.copytree(processes.logs, tempfile.mkdtemp(prefix="bench-load-kept-"), dirs_exist_ok=True)
            print(f"\nERRORS: {errors} request errors, {failed} failed jobs (process logs kept in {kept})")
    finally:
        controller.stop()


def _busy_workers(conn: Redis) -> int:
    from rq import Worker

    return sum(1 for w in Worker.all(connection=conn) if w.get_current_job_id())


if __name__ == "__main__":
    main()
