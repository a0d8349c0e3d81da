"""Benchmark of outgoing webhook delivery: deliveries per second through ONE worker to a loopback receiver, beside
a same-run baseline of bare HTTP POSTs from one process; and what the outbox adds to an SLA sweep's commit.

    python bench/webhooks.py [--deliveries 2000] [--per-commit 50] [--backends sqlite,postgresql]
                             [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432] [--sweep-tickets 5000] [--runs 5]

The receiver runs in its own process (http.server, threaded, HTTP/1.0: one connection per request, as every
delivery opens one), answers 200 at once, and checks every signature and event id it gets. For each backend, in a
throw-away database (a temporary SQLite file; a fresh PostgreSQL database) with Redis db 11 flushed:

  baseline   --deliveries bare POSTs of a signed ~1 KB JSON body from this process with http.client, a new
             connection each, no database, no queue: the ceiling of one sender process on this machine
  client     the same POSTs through ticketing.webhook_http.post (URL parse, address check, pinned connect,
             bounded read): the SSRF guard's own cost
  worker     --deliveries tickets created (untimed; --per-commit per transaction; a subscription to
             ticket.created, so each commit stores its events in the outbox and defers one fan-out job), then ONE
             `python worker.py burst` process runs every fan-out and delivery job (claim + commit, POST, record +
             commit, next in line). Rate = deliveries / (last recorded success - first claim), from the attempt
             rows; the burst process's wall time (start-up included) is shown beside it.
  rq floor   --deliveries no-op jobs (os.getpid) through the same kind of burst worker: RQ's own per-job cost
  ratio      baseline rate / worker rate

  sweep      the SLA sweep stamping --sweep-tickets overdue tickets (two events each: resolution and first response) and
             committing, --runs times each, the stamps reset in between: without the outbox hook registered,
             with it but no subscription (the aim: no slower), and with a subscription to sla.* (every event
             stored with its ticket snapshot in the same commit)

Every database, the receiver process and the Redis db are cleaned up at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from redis import Redis

if __name__ == "__mp_main__":  # the receiver's spawn child re-runs this file on the parent's sys.path, bench/ taken off
    sys.path.append(str(Path(__file__).resolve().parent))

import benchkit  # noqa: E402
from benchkit import ROOT, create_pg_database, drop_pg_database  # noqa: E402

# `python bench/webhooks.py` puts bench/ first on sys.path, where sibling scripts shadow project packages
# (bench/portal.py vs the `portal` package create_app imports): take bench/ off the path first.
benchkit.unshadow_project_packages(project_root=True)

REDIS_URL = "redis://127.0.0.1:6379/11"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
SECRET = "whsec_bench-secret"  # noqa: S105 - the bench's own receiver


# --------------------------------------------------------------------------------------------------------
# The receiver: its own process, so the sender and the receiver never share a GIL.
# --------------------------------------------------------------------------------------------------------


def _receiver_main(port_out: Any, counts: Any, stop: Any) -> None:
    import hashlib
    import hmac

    def verify(header: str, body: bytes) -> bool:
        parts = dict(p.split("=", 1) for p in header.split(","))
        expected = hmac.new(SECRET.encode(), f"{parts['t']}.".encode() + body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts["v1"])

    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            event_id = self.headers.get("X-Bluehill-Event-Id") or ""
            signature = self.headers.get("X-Bluehill-Signature")
            with counts.get_lock():
                counts[0] += 1
                if signature and verify(signature, body):
                    counts[1] += 1
                if event_id and event_id not in seen:
                    seen.add(event_id)
                    counts[2] += 1
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    port_out.put(server.server_address[1])
    server.timeout = 0.2
    while not stop.is_set():
        server.handle_request()
    server.server_close()


@dataclass
class Receiver:
    process: Any
    port: int
    counts: Any  # [requests, valid signatures, distinct event ids]
    stop: Any

    def reset(self) -> None:
        with self.counts.get_lock():
            self.counts[0] = self.counts[1] = self.counts[2] = 0

    def snapshot(self) -> tuple[int, int, int]:
        with self.counts.get_lock():
            return self.counts[0], self.counts[1], self.counts[2]


@contextmanager
def receiver() -> Iterator[Receiver]:
    ctx = multiprocessing.get_context("spawn")
    port_out, counts, stop = ctx.Queue(), ctx.Array("q", 3), ctx.Event()
    process = ctx.Process(target=_receiver_main, args=(port_out, counts, stop), daemon=True)
    process.start()
    try:
        yield Receiver(process, port_out.get(timeout=30), counts, stop)
    finally:
        stop.set()
        process.join(timeout=5)
        if process.is_alive():
            process.kill()


# --------------------------------------------------------------------------------------------------------
# Measurements.
# --------------------------------------------------------------------------------------------------------


def sample_body() -> bytes:
    payload = {
        "id": "0" * 32,
        "type": "ticket.created",
        "occurred_at": "2026-03-02T10:00:00Z",
        "ticket": {"id": 1, "subject": "Bench ticket", "status": "open", "priority": "medium",
                   "customer": {"id": 1, "name": "Customer", "tier": "standard"}, "contacts": [],
                   "assignees": [], "tags": [], "team": None, "category": None, "description": "x" * 600},
        "data": {"source": "manual", "actor": {"kind": "system"}},
    }  # fmt: skip
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()


def bare_posts(port: int, count: int) -> float:
    from ticketing.services.webhooks import sign

    body = sample_body()
    started = time.perf_counter()
    for i in range(count):
        headers = {"Content-Type": "application/json", "X-Bluehill-Event-Id": f"{i:032x}",
                   "X-Bluehill-Signature": sign(SECRET, body)}  # fmt: skip
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("POST", "/hook", body=body, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        assert response.status == 200
    return time.perf_counter() - started


def guarded_posts(port: int, count: int) -> float:
    from ticketing import webhook_http
    from ticketing.services.webhooks import sign

    body = sample_body()
    allowed = [f"127.0.0.1:{port}"]
    started = time.perf_counter()
    for i in range(count):
        headers = {"Content-Type": "application/json", "X-Bluehill-Event-Id": f"g{i:031x}",
                   "X-Bluehill-Signature": sign(SECRET, body)}  # fmt: skip
        response = webhook_http.post(f"http://127.0.0.1:{port}/hook", body, headers, allowed=allowed)
        assert response.ok
    return time.perf_counter() - started


def rq_floor(url: str, count: int) -> tuple[float, float]:
    """(burst wall, empty-burst start-up) for `count` no-op jobs: what one RQ worker costs per job on its own."""
    from rq import Queue

    conn = Redis.from_url(REDIS_URL)
    conn.flushdb()
    startup = run_burst(url)
    queue = Queue("default", connection=conn)
    for _ in range(count):
        queue.enqueue("os.getpid")
    wall = run_burst(url)
    conn.flushdb()
    return wall, startup


@dataclass
class WorkerRun:
    deliveries: int
    delivered: int
    span_seconds: float  # first claim -> last recorded success
    burst_seconds: float  # the whole worker process
    startup_seconds: float  # an empty burst: interpreter + app + Redis
    jobs: int
    receipts: tuple[int, int, int]


def run_burst(url: str) -> float:
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "SECRET_KEY": "bench"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "worker.py", "burst"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=3600)  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return time.perf_counter() - started


def worker_run(url: str, rec: Receiver, count: int, per_commit: int) -> WorkerRun:
    from ticketing.app import create_app
    from ticketing.domain.vocab import Source
    from ticketing.extensions import db
    from ticketing.models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription
    from ticketing.services import tickets

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": REDIS_URL, "SECRET_KEY": "bench"})
    Redis.from_url(REDIS_URL).flushdb()
    startup = run_burst(url)  # nothing queued yet: the fixed cost of a burst process
    with app.app_context():
        session = db.session
        hook = f"http://127.0.0.1:{rec.port}/hook"
        allow = f"127.0.0.1:{rec.port}"
        session.add(WebhookSubscription(name="bench", url=hook, secret=SECRET, event_types=["ticket.created"],
                                        allowed_address=allow))  # fmt: skip
        session.commit()
        made = 0
        while made < count:
            for _ in range(min(per_commit, count - made)):
                tickets.create_ticket(session, subject=f"Bench ticket {made}", source=Source.MANUAL, now=NOW)
                made += 1
            session.commit()
        jobs = Redis.from_url(REDIS_URL).llen("rq:queue:default")
        rec.reset()
        burst = run_burst(url)
        delivered = session.scalar(sa.select(sa.func.count()).where(WebhookDelivery.status == DeliveryStatus.DELIVERED))
        first, last = session.execute(
            sa.select(sa.func.min(WebhookAttempt.started_at), sa.func.max(WebhookAttempt.finished_at))
        ).one()
        session.remove()
        db.engine.dispose()
    return WorkerRun(count, delivered or 0, (last - first).total_seconds(), burst, startup, jobs, rec.snapshot())


@dataclass
class SweepTimes:
    absent: list[float] = field(default_factory=list)
    no_subscription: list[float] = field(default_factory=list)
    subscribed: list[float] = field(default_factory=list)
    events: int = 0
    stored: int = 0


def fill_overdue(url: str, count: int) -> None:
    """count open tickets, resolution and first response overdue, in one INSERT ... SELECT."""
    from ticketing.models import Ticket

    engine = sa.create_engine(url)
    due = NOW - timedelta(hours=1)
    with engine.begin() as conn:
        conn.execute(
            sa.insert(Ticket),
            [{"subject": f"Overdue {i}", "status": "open", "priority": "medium", "source": "manual",
              "due_date": due, "first_response_due": due, "created_at": NOW - timedelta(hours=9),
              "updated_at": NOW - timedelta(hours=9), "public_updated_at": NOW - timedelta(hours=9)}
             for i in range(count)],
        )  # fmt: skip
    engine.dispose()


def sweep_overhead(url: str, rec: Receiver, tickets_count: int, runs: int) -> SweepTimes:
    from ticketing import events
    from ticketing.app import create_app
    from ticketing.domain.visibility import InteractionType
    from ticketing.extensions import db
    from ticketing.models import Interaction, Ticket
    from ticketing.models.webhooks import WebhookEvent, WebhookSubscription
    from ticketing.services import sla_sweep, webhooks

    fill_overdue(url, tickets_count)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": REDIS_URL, "SECRET_KEY": "bench"})
    times = SweepTimes()
    with app.app_context():
        session = db.session

        def reset() -> None:
            session.execute(sa.update(Ticket).values(sla_breach_at=None, first_response_breach_at=None,
                                                     sla_warning_at=None))  # fmt: skip
            session.execute(sa.delete(Interaction).where(Interaction.type == InteractionType.SYSTEM))
            session.execute(sa.delete(WebhookEvent))
            session.commit()
            Redis.from_url(REDIS_URL).flushdb()

        def once() -> float:
            started = time.perf_counter()
            result = sla_sweep.sweep(session, now=NOW, warn_before=timedelta(minutes=30))
            session.commit()
            seconds = time.perf_counter() - started
            times.events = len(result.resolution_breached) + len(result.first_response_breached)
            reset()
            return seconds

        once()  # warm-up
        for _ in range(runs):
            events._before_commit_hooks.remove(webhooks.store_outbox)
            try:
                times.absent.append(once())
            finally:
                events.on_before_commit(webhooks.store_outbox)
            times.no_subscription.append(once())
        session.add(WebhookSubscription(name="sla", url=f"http://127.0.0.1:{rec.port}/hook", secret=SECRET,
                                        event_types=["sla.breached", "sla.warning"]))  # fmt: skip
        session.commit()
        for _ in range(runs):
            started = time.perf_counter()
            sla_sweep.sweep(session, now=NOW, warn_before=timedelta(minutes=30))
            session.commit()
            times.subscribed.append(time.perf_counter() - started)
            times.stored = session.scalar(sa.select(sa.func.count()).select_from(WebhookEvent)) or 0
            reset()
        session.remove()
        db.engine.dispose()
    return times


# --------------------------------------------------------------------------------------------------------
# Databases and output.
# --------------------------------------------------------------------------------------------------------


@contextmanager
def database(backend: str, pg_url: str, label: str) -> Iterator[str]:
    import ticketing.models.webhooks  # noqa: F401 - the webhook tables (until ticketing.models imports them)

    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench_webhooks_") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            benchkit.create_schema(url, {"REDIS_URL": REDIS_URL})
            yield url
        return
    base = sa.make_url(pg_url)
    name = f"bench_webhooks_{label}_{os.getpid()}"
    url = create_pg_database(base, name)
    try:
        benchkit.create_schema(url, {"REDIS_URL": REDIS_URL})
        yield url
    finally:
        drop_pg_database(base, name)


def machine(pg_url: str | None) -> list[str]:
    lines = [
        benchkit.hardware_line(load_at_start=True),
        benchkit.software_line(after_sqlalchemy=["rq"], implementation=False),
    ]
    if pg_url is not None:
        lines += benchkit.pg_server_lines(pg_url)
    lines.append(f"Redis server: {Redis.from_url(REDIS_URL).info()['redis_version']} (db 11)")
    return lines


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def timed_rate(label: str, count: int, fn: Callable[[], float]) -> float:
    seconds = fn()
    rate = count / seconds
    print(f"  {label:<58}{count:>7,} in {seconds:>7.2f} s = {rate:>8,.0f} /s", flush=True)
    return rate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--deliveries", type=int, default=2000, help="deliveries per measurement (default 2000)")
    parser.add_argument("--per-commit", type=int, default=50, help="tickets per transaction when filling (50)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432",
                        help="PostgreSQL server URL without database (a throw-away database is created)")  # fmt: skip
    parser.add_argument("--sweep-tickets", type=int, default=5000, help="overdue tickets for the sweep (5000)")
    parser.add_argument("--runs", type=int, default=5, help="sweep runs per variant (median reported)")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    if set(args.backends) - {"sqlite", "postgresql"}:
        parser.error("backends: sqlite, postgresql")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    print("Webhook delivery benchmark")
    for line in machine(args.pg_url if "postgresql" in args.backends else None):
        print(line)
    print(f"deliveries = {args.deliveries:,}, tickets per commit = {args.per_commit}, sweep tickets = "
          f"{args.sweep_tickets:,}, runs = {args.runs}")  # fmt: skip
    summary: list[str] = []
    with receiver() as rec:
        print(f"receiver: 127.0.0.1:{rec.port} (separate process, threaded, HTTP/1.0)")
        print("\n=== same-run baseline: one sender process, no database, no queue ===")
        base = timed_rate("bare http.client POSTs (new connection each)", args.deliveries,
                          lambda: bare_posts(rec.port, args.deliveries))  # fmt: skip
        guarded = timed_rate("webhook_http.post (SSRF-checked, pinned, bounded)", args.deliveries,
                             lambda: guarded_posts(rec.port, args.deliveries))  # fmt: skip
        requests, signed, distinct = rec.snapshot()
        print(f"  check: receiver got {requests:,} requests, {signed:,} with a valid signature")
        for backend in args.backends:
            print(f"\n=== {backend}: one `python worker.py burst` ===", flush=True)
            with database(backend, args.pg_url, "deliver") as url:
                floor_wall, floor_startup = rq_floor(url, args.deliveries)
                run = worker_run(url, rec, args.deliveries, args.per_commit)
            floor = args.deliveries / max(floor_wall - floor_startup, 1e-9)
            rate = run.delivered / run.span_seconds if run.span_seconds > 0 else float("nan")
            wall = run.delivered / run.burst_seconds
            net = run.delivered / max(run.burst_seconds - run.startup_seconds, 1e-9)
            requests, signed, distinct = run.receipts
            print(f"  queued jobs before the burst: {run.jobs:,} fan-out jobs "
                  f"({args.deliveries // max(args.per_commit, 1):,} commits)")  # fmt: skip
            print(f"  delivered {run.delivered:,} of {run.deliveries:,}; first claim -> last success "
                  f"{run.span_seconds:.2f} s = {rate:,.0f} deliveries/s")  # fmt: skip
            print(f"  burst process wall {run.burst_seconds:.2f} s ({wall:,.0f}/s); minus an empty burst's "
                  f"{run.startup_seconds:.2f} s start-up: {net:,.0f}/s")  # fmt: skip
            print(f"  check: receiver got {requests:,} requests, {signed:,} validly signed, {distinct:,} distinct "
                  f"event ids")  # fmt: skip
            assert run.delivered == run.deliveries == distinct, "not every delivery arrived exactly once"
            print(f"  RQ alone: {args.deliveries:,} no-op jobs through the same burst worker: {floor:,.0f} jobs/s")
            print(f"  ratio baseline/worker: {base / rate:.1f}x   (webhook_http client alone: {base / guarded:.2f}x; "
                  f"RQ no-op floor: {base / floor:.1f}x)")  # fmt: skip
            summary.append(
                f"{backend:<12}{base:>10,.0f}{guarded:>10,.0f}{floor:>10,.0f}{rate:>10,.0f}{base / rate:>9.1f}x"
            )

            print(f"\n=== {backend}: SLA sweep commit, {args.sweep_tickets:,} overdue tickets ===", flush=True)
            with database(backend, args.pg_url, "sweep") as url:
                sweep = sweep_overhead(url, rec, args.sweep_tickets, args.runs)
            a, b, c = median(sweep.absent), median(sweep.no_subscription), median(sweep.subscribed)
            print(f"  events per sweep: {sweep.events:,}")
            for label, values in (("outbox hook not registered", sweep.absent),
                                  ("hook registered, no subscription", sweep.no_subscription),
                                  ("subscription to sla.* (events + snapshots stored)", sweep.subscribed)):  # fmt: skip
                runs = " ".join(f"{v:.3f}" for v in values)
                print(f"  {label:<52} median {median(values):>7.3f} s   runs {runs}")
            print(f"  no subscription / no hook: {b / a:.2f}x   subscribed / no hook: {c / a:.2f}x   "
                  f"(stored {sweep.stored:,} outbox rows per sweep)")  # fmt: skip
            summary[-1] += f"{b / a:>10.2f}x{c / a:>10.2f}x"
    Redis.from_url(REDIS_URL).flushdb()
    print("\n=== summary (rates per second) ===")
    print(f"{'backend':<12}{'baseline':>10}{'client':>10}{'rq no-op':>10}{'worker':>10}{'ratio':>10}{'sweep/no':>11}"
          f"{'sweep/sub':>11}")  # fmt: skip
    for line in summary:
        print(line)
    print(f"\ntotal wall time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
