"""Fault-injection fixtures: real `python worker.py` processes killed with SIGKILL, database locks that park a
worker mid-job, an SMTP server that holds a send at a chosen step, a private redis-server to restart, and a TCP
proxy in front of PostgreSQL to cut."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask
from redis import Redis
from rq import Queue
from rq.job import Job

import ticketing.models.webhooks  # noqa: F401 - the webhook tables must exist before the session's create_all
import ticketing.services.webhooks  # noqa: F401 - registers the webhook outbox
from tests.conftest import BACKEND, PG_URL_BASE
from tests.mail.conftest import MAIL_CONFIG, dovecot, dovecot_server, free_port  # noqa: F401 - a real IMAP server
from tests.webhooks.conftest import receiver  # noqa: F401 - a real HTTP receiver on loopback
from ticketing.extensions import db as _db
from ticketing.extensions import inbound_queue_name

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def mail_config(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in MAIL_CONFIG.items():
        monkeypatch.setitem(app.config, key, value)


# Deadlines are generous (a loaded CI machine starts a Python process in seconds, not milliseconds) but bounded:
# every wait polls a condition and fails with what it waited for.
DEADLINE = 120


def wait_until(check: Callable[[], Any], what: str, timeout: float = DEADLINE, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(every)


# --- worker processes --------------------------------------------------------------------------------------


def worker_env(app: Flask, **overrides: str) -> dict[str, str]:
    keys = {"DATABASE_URL": "SQLALCHEMY_DATABASE_URI", "REDIS_URL": "REDIS_URL", "SMTP_URL": "SMTP_URL",
            "MAIL_FROM": "MAIL_FROM", "SECRET_KEY": "SECRET_KEY", "ATTACHMENT_DIR": "ATTACHMENT_DIR",
            "BASE_URL": "BASE_URL", "INBOUND_SECRET": "INBOUND_SECRET"}  # fmt: skip
    env = {**os.environ, **{env: str(app.config.get(key) or "") for env, key in keys.items()}}
    if env["DATABASE_URL"].startswith("sqlite:///") and "?" not in env["DATABASE_URL"]:
        # A worker parked by DatabaseLock waits on SQLite's busy timeout (5 s by default): long enough under load.
        env["DATABASE_URL"] += f"?timeout={DEADLINE}"
    return {**env, **overrides}


@dataclass
class Workers:
    """`python worker.py` processes, each in its own process group (the worker forks RQ's scheduler: a killed
    machine takes both down). Whatever is still running at the end of the test is killed."""

    app: Flask
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="bluehill-faults-")))
    apps: list[Flask] = field(default_factory=list)

    def start(self, mode: str = "worker", **env: str) -> subprocess.Popen[bytes]:
        return self.spawn([sys.executable, "worker.py", mode], env=worker_env(self.app, **env))

    def spawn(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        log = (self.logs / f"worker-{len(self.started)}.log").open("wb")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, start_new_session=True, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.started.append(proc)
        return proc

    def app_with(self, **config: Any) -> Flask:
        """Another app on the same database (e.g. on another Redis), for running a sweeper against it."""
        from ticketing.app import create_app

        keys = ("TESTING", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "SECRET_KEY", "ATTACHMENT_DIR", *MAIL_CONFIG)
        # The limiter is one global object: keep its storage on the session's Redis, or later tests lose it.
        keys = (*keys, "RATELIMIT_STORAGE_URI")
        other = create_app({**{key: self.app.config[key] for key in keys}, **config})
        self.apps.append(other)
        return other

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=DEADLINE)

    def burst(self, **env: str) -> str:
        """Run every queued job in a fresh worker that exits when the queue is empty."""
        proc = self.start("burst", **env)
        try:
            code = proc.wait(timeout=DEADLINE)
        finally:
            self.kill(proc)
        output = self.output(proc)
        assert code == 0, output[-3000:]
        return output

    def inline(self, redis_url: str) -> None:
        """Recovery without paying a process start: worker.py's own worker class, in this process, in burst mode.
        It ends each job with db.session.remove(): re-read rows afterwards."""
        from worker import AppWorker

        conn = Redis.from_url(redis_url)
        queues = [Queue(name, connection=conn) for name in (inbound_queue_name("default"), "default")]
        AppWorker(queues, connection=conn).work(burst=True, with_scheduler=False)

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return (self.logs / f"worker-{self.started.index(proc)}.log").read_text(errors="replace")

    def close(self) -> None:
        for proc in self.started:
            self.kill(proc)
        for other in self.apps:
            with other.app_context():
                _db.engine.dispose()
        shutil.rmtree(self.logs, ignore_errors=True)


@pytest.fixture
def workers(app: Flask, redis_url: str) -> Iterator[Workers]:
    w = Workers(app)
    yield w
    w.close()


def queue(redis_url: str) -> Queue:
    return Queue("default", connection=Redis.from_url(redis_url))


def inbound(redis_url: str) -> Queue:
    """Where inbound mail's processing jobs go (workers take it first)."""
    return Queue(inbound_queue_name("default"), connection=Redis.from_url(redis_url))


def wait_started(redis_url: str, job_id: str, timeout: float = DEADLINE) -> None:
    conn = Redis.from_url(redis_url)
    wait_until(lambda: (job := Job.fetch(job_id, connection=conn)) is not None and job.get_status() == "started",
               f"a worker to start job {job_id}", timeout)  # fmt: skip


class DatabaseLock:
    """Parks a worker mid-job: locks rows FOR UPDATE (PostgreSQL) or the whole database for writers (SQLite; the
    worker's writer then waits up to its busy timeout, see worker_env)."""

    def __init__(self, url: str, table: str, row_id: int) -> None:
        self.url, self.table, self.row_id = url, table, row_id

    def __enter__(self) -> DatabaseLock:
        if BACKEND == "postgresql":
            self.conn: Any = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))
            self.conn.execute(f"SELECT id FROM {self.table} WHERE id = %s FOR UPDATE", (self.row_id,))  # noqa: S608 - a test's table name
        else:
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback()
        self.conn.close()

    def wait_for_waiter(self) -> None:
        """Until another session waits on this lock: the worker is inside its job. PostgreSQL shows the waiting
        backend; SQLite's busy wait is invisible from outside, so a short pause stands in (a kill that lands before
        the wait still leaves the job abandoned mid-way, and the assertions hold either way)."""
        if BACKEND != "postgresql":
            time.sleep(0.5)
            return
        # pg_locks, not pg_stat_activity: statistics views are a snapshot taken once per transaction.
        waiting = "SELECT count(*) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
        wait_until(lambda: self.conn.execute(waiting).fetchone()[0] > 0, "a worker to wait on the locked row")


# --- an SMTP server that can hold a send at a chosen step ---------------------------------------------------


@dataclass
class HoldingSink:
    """Records every message the moment DATA completes, before answering: the worst case of a real MTA, which
    queues the message and then may lose its "250" on the way back (RFC 1047). `hold("RCPT")` or `hold("DATA")`
    parks the next session at that step until `release()`."""

    messages: list[bytes] = field(default_factory=list)
    held_at: str | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)

    def hold(self, step: str) -> None:
        self.held_at, self.entered, self.released = step, threading.Event(), threading.Event()

    def release(self) -> None:
        self.released.set()

    async def _maybe_hold(self, step: str) -> None:
        if self.held_at != step:
            return
        self.held_at = None
        self.entered.set()
        while not self.released.is_set():
            await asyncio.sleep(0.02)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's name
        envelope.rcpt_tos.append(address)
        await self._maybe_hold("RCPT")
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(envelope.original_content)
        await self._maybe_hold("DATA")
        return "250 OK"

    def message_ids(self) -> list[str]:
        return [str(message_from_bytes(raw, policy=policy.default)["Message-ID"]) for raw in self.messages]


@pytest.fixture
def smtp_sink(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[HoldingSink]:
    sink = HoldingSink()
    port = free_port()  # aiosmtpd can't take port 0: it connects to itself to check readiness
    controller = Controller(sink, hostname="127.0.0.1", port=port, ready_timeout=DEADLINE)
    controller.start()
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{port}")
    yield sink
    sink.release()
    controller.stop()


# --- a private Redis to restart -----------------------------------------------------------------------------


@dataclass
class PrivateRedis:
    """Debian's redis-server on its own port, without persistence (what a restart of a cache-like Redis does
    to the queue: every queued job is gone). Never the machine's Redis on 6379."""

    port: int
    folder: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["/usr/bin/redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        wait_until(self._answers, "redis-server to answer")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()  # a crash, not a clean shutdown
            self.proc.wait(timeout=DEADLINE)
            self.proc = None

    def _answers(self) -> bool:
        try:
            return bool(Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except Exception:
            return False


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    if not Path("/usr/bin/redis-server").exists():
        pytest.skip("Debian's redis-server is not installed (apt-get install redis-server)")
    server = PrivateRedis(free_port(), Path(tempfile.mkdtemp(prefix="bluehill-redis-")))
    server.start()
    yield server
    server.stop()
    shutil.rmtree(server.folder, ignore_errors=True)


# --- a TCP proxy to cut PostgreSQL off ----------------------------------------------------------------------


class TcpProxy:
    """127.0.0.1:<port> -> upstream. `cut()` closes the listener and every open connection (the database
    "goes away" for everyone using the proxy); `restore()` listens again on the same port."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.sockets: set[socket.socket] = set()
        self.lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        if self.listener is not None:
            with contextlib.suppress(OSError):
                self.listener.shutdown(socket.SHUT_RDWR)
            self.listener.close()
            self.listener = None
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.sockets.update((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def pg_proxy() -> Iterator[TcpProxy]:
    if BACKEND != "postgresql":
        pytest.skip("a database outage is injected with a TCP proxy in front of PostgreSQL (SQLite is a file)")
    url = sa.engine.make_url(PG_URL_BASE)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.restore()
    yield proxy
    proxy.cut()
