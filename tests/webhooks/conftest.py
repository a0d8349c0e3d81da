"""Webhook fixtures: a real HTTP receiver on loopback, subscriptions allowed to reach it, an inline job runner,
and a `python worker.py burst` runner.

The webhook tables are registered here at import time (collection runs before the session `app` fixture's
create_all) until ticketing/models/__init__.py imports them; importing the service registers the outbox hook.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue

import ticketing.models.webhooks  # noqa: F401 - registers the webhook tables before create_all
import ticketing.services.webhooks  # noqa: F401 - registers the outbox hook
from ticketing.app import create_app
from ticketing.events import EVENT_TYPES
from ticketing.extensions import db as _db
from ticketing.extensions import limiter
from ticketing.models.webhooks import WebhookSubscription

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_test-secret"


@dataclass
class Receipt:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers["x-bluehill-event-id"]


@dataclass
class Receiver:
    """A loopback HTTP server that records every POST. Answers with queued statuses (then `default_status`);
    /redirect?to=URL answers 302 to URL, /big sends 1 MB, /slow?s=N sleeps N seconds first. With `block` set, a
    request waits on it (after `entered` is set) before answering."""

    server: ThreadingHTTPServer
    receipts: list[Receipt] = field(default_factory=list)
    statuses: deque[int] = field(default_factory=deque)
    default_status: int = 200
    block: threading.Event | None = None
    entered: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def allow(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def respond(self, *statuses: int) -> None:
        self.statuses.extend(statuses)

    def wait_for(self, count: int, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while len(self.receipts) < count:
            assert time.monotonic() < deadline, f"only {len(self.receipts)} of {count} requests arrived"
            time.sleep(0.05)


def _handler(receiver_ref: list[Receiver]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
            pass

        def do_POST(self) -> None:  # noqa: N802 - http.server's hook name
            receiver = receiver_ref[0]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            with receiver.lock:
                receiver.receipts.append(Receipt(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                status = receiver.statuses.popleft() if receiver.statuses else receiver.default_status
            receiver.entered.set()
            if receiver.block is not None:
                receiver.block.wait(60)
            with contextlib.suppress(OSError):
                if parts.path == "/redirect":
                    self.send_response(302)
                    self.send_header("Location", query["to"][0])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if parts.path == "/slow":
                    time.sleep(float(query.get("s", ["3"])[0]))
                payload = b"x" * (1024 * 1024) if parts.path == "/big" else f"status {status}".encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    ref: list[Receiver] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    server.daemon_threads = True
    rec = Receiver(server)
    ref.append(rec)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield rec
    if rec.block is not None:
        rec.block.set()
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _clean_redis(redis_url: str) -> str:
    """Every webhook test starts with an empty queue (the inline runner reads it)."""
    return redis_url


@pytest.fixture
def subscribe(db, receiver):
    """subscribe(**fields) -> a committed subscription to the receiver, allowed to reach loopback."""

    def make(**fields: Any) -> WebhookSubscription:
        values: dict[str, Any] = {
            "name": "Test hook",
            "url": receiver.url(),
            "secret": SECRET,
            "event_types": list(EVENT_TYPES),
            "allowed_address": receiver.allow,
        }
        values.update(fields)
        sub = WebhookSubscription(**values)
        db.add(sub)
        db.commit()
        return sub

    return make


def queued_jobs(redis_url: str) -> list[Any]:
    q = Queue("default", connection=Redis.from_url(redis_url))
    return [q.fetch_job(job_id) for job_id in q.get_job_ids()]


def drain(redis_url: str, *, limit: int = 10_000, **kwargs: Any) -> list[Any]:
    """Run the queued webhook jobs inline, in queue order, until none is left (other jobs are dropped).
    Scheduled retries (enqueue_in) stay in RQ's scheduled registry, as they would in a burst worker."""
    q = Queue("default", connection=Redis.from_url(redis_url))
    results = []
    for _ in range(limit):
        ids = q.get_job_ids()
        if not ids:
            return results
        job = q.fetch_job(ids[0])
        q.remove(ids[0])
        if job is None or not job.func_name.startswith("ticketing.webhook_jobs."):
            continue
        extra = kwargs if job.func_name.endswith(".deliver_webhook") else {}
        results.append(job.func(*job.args, **{**job.kwargs, **extra}))
    raise AssertionError("the queue never ran dry")


def worker_env(app) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": app.config["REDIS_URL"],
            "SECRET_KEY": app.config["SECRET_KEY"], "ATTACHMENT_DIR": app.config["ATTACHMENT_DIR"]}  # fmt: skip


def run_burst(app) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "worker.py", "burst"], cwd=ROOT, env=worker_env(app), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


class _IsolatedClient(FlaskClient):
    def open(self, *args: Any, **kwargs: Any) -> Any:
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture(scope="session")
def admin_app(app) -> Iterator[Flask]:
    """An app on the same database with the webhook admin views registered (until admin/ wires them in: views
    cannot be added to the shared session app once it has served a request)."""
    from admin.webhooks import add_webhook_views

    keys = ("TESTING", "SQLALCHEMY_DATABASE_URI", "REDIS_URL", "SECRET_KEY", "ATTACHMENT_DIR")
    second = create_app({key: app.config[key] for key in keys})
    admin = second.extensions["admin"][0]
    if not any(view.endpoint == "webhooks" for view in admin._views):
        add_webhook_views(admin)
    second.test_client_class = _IsolatedClient
    yield second
    with second.app_context():
        _db.engine.dispose()


@pytest.fixture
def admin_client(admin_app, db) -> FlaskClient:
    limiter.reset()
    return admin_app.test_client()
