"""Fixtures: one app per test session on the database that TEST_DATABASE names (sqlite or postgresql),
real Redis on its own db number, and every table emptied after each test."""

from __future__ import annotations

import contextlib
import contextvars
import os
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis

from tests import factories
from ticketing import events
from ticketing.app import create_app
from ticketing.extensions import db as _db
from ticketing.extensions import limiter

BACKEND = os.environ.get("TEST_DATABASE") or "sqlite"
PG_URL_BASE = os.environ.get("TEST_PG_URL_BASE") or "postgresql+psycopg://postgres@127.0.0.1:5432"
REDIS_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/14"
NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC


def _pg_admin_dsn() -> str:
    return PG_URL_BASE.replace("postgresql+psycopg://", "postgresql://") + "/postgres"


def create_pg_database(name: str) -> str:
    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_URL_BASE}/{name}"


def drop_pg_database(name: str) -> None:
    with psycopg.connect(_pg_admin_dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if BACKEND == "postgresql":
        name = f"ticketing_test_{os.getpid()}"
        yield create_pg_database(name)
        drop_pg_database(name)
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def fresh_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """A factory of empty databases on the current backend (for migration and process tests)."""
    created: list[str] = []

    def make() -> str:
        if BACKEND == "postgresql":
            name = f"ticketing_t_{uuid.uuid4().hex[:10]}"
            created.append(name)
            return create_pg_database(name)
        return f"sqlite:///{tmp_path_factory.mktemp('fresh') / 'fresh.db'}"

    yield make
    for name in created:
        drop_pg_database(name)


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": database_url,
            "REDIS_URL": REDIS_URL,
            "SECRET_KEY": "test-secret",
            "MAIL_POLICY_TTL_SECONDS": 0,  # tests change limits and branding between requests
            "ATTACHMENT_DIR": str(tmp_path_factory.mktemp("attachments")),
        }
    )
    with app.app_context():
        _db.create_all()
    yield app
    with app.app_context():
        _db.engine.dispose()


@pytest.fixture
def db(app: Flask) -> Iterator[sa.orm.scoped_session]:  # type: ignore[type-arg]
    with app.app_context():
        yield _db.session
        _db.session.remove()
        _empty_tables()


def _empty_tables() -> None:
    """DELETE in dependency order, then restart the used sequences (ids from 1 again). On PostgreSQL this is ~10 ms
    where TRUNCATE of every table costs ~230 ms, after each of well over a thousand tests."""
    with _db.engine.begin() as conn:
        for table in reversed(_db.metadata.sorted_tables):
            conn.execute(table.delete())
        if conn.dialect.name == "postgresql":
            used = "SELECT schemaname || '.' || quote_ident(sequencename) FROM pg_sequences WHERE last_value > 0"
            for sequence in conn.execute(sa.text(used)).scalars():
                conn.execute(sa.text(f"ALTER SEQUENCE {sequence} RESTART"))


class IsolatedClient(FlaskClient):
    """Each request in a fresh context, as in production: without this, requests would share the test's
    app context (and its `g`, CSRF token cache and database session)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def client(app: Flask, db: object) -> FlaskClient:
    app.test_client_class = IsolatedClient
    limiter.reset()  # rate-limit counters from earlier tests must not leak into this one
    return app.test_client()


@pytest.fixture
def now() -> datetime:
    return NOW


@pytest.fixture
def make(db: sa.orm.scoped_session) -> factories.Factory:  # type: ignore[type-arg]
    return factories.Factory(db)


@pytest.fixture
def redis_url() -> Iterator[str]:
    conn = Redis.from_url(REDIS_URL)
    conn.flushdb()
    yield REDIS_URL
    conn.flushdb()
    conn.close()


_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1) or match.group(2)


_CSRF_HEADER = re.compile(r'"X-CSRFToken": "[^"]*"')


def without_csrf_tokens(html: str) -> str:
    """The page with every CSRF token value blanked (form fields, and the htmx header on the portal's body), for
    comparing two pages rendered at different seconds."""
    return _CSRF_HEADER.sub('"X-CSRFToken": ""', _CSRF.sub('name="csrf_token" value=""', html))


@contextlib.contextmanager
def sql_statements(*, only: str = "") -> Iterator[list[str]]:
    """The SQL statements sent while the block runs (those starting with `only`, e.g. "SELECT"), for tests that
    pin how many a page or a service costs. Needs the app context the `db` fixture holds."""
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith(only):
            seen.append(statement)

    engine = _db.engine
    sa.event.listen(engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", note)


def login_staff(client: FlaskClient, email: str, password: str) -> None:
    page = client.get("/agent/login").get_data(as_text=True)
    response = client.post("/agent/login", data={"email": email, "password": password, "csrf_token": csrf_token(page)})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]


@pytest.fixture(scope="session")
def output_dir() -> Path:
    path = Path(__file__).resolve().parent.parent / "test-output"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture
def captured() -> Iterator[list[events.DomainEvent]]:
    """Domain events as subscribers hear them (after commit)."""
    seen: list[events.DomainEvent] = []

    def listener(event: events.DomainEvent) -> None:
        seen.append(event)

    events.domain_event.connect(listener)
    yield seen
    events.domain_event.disconnect(listener)
