"""Helpers shared by the bench scripts (bench/<script>.py): the sys.path guard, the machine header, throw-away
PostgreSQL databases, the app schema, timing and the test client.

The scripts run as `python bench/<script>.py`, so bench/ is sys.path[0] and this module imports as `benchkit`.
Import it before any project package, call `unshadow_project_packages()`, and only then import `ticketing`,
`portal` or `admin`. This module imports no project package at its top, so importing it cannot pull in bench/portal.py
in place of the `portal` package.
"""

from __future__ import annotations

import contextvars
import math
import os
import platform
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask.testing import FlaskClient

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


# --------------------------------------------------------------------------------------------------------
# sys.path: `python bench/<script>.py` puts bench/ first on sys.path, where bench/portal.py shadows the project's
# `portal` package (create_app imports it lazily). Take bench/ off the path before anything imports `portal`.
# --------------------------------------------------------------------------------------------------------


def unshadow_project_packages(project_root: bool = False) -> list[str]:
    """Take bench/ off sys.path (modules already imported from it, benchkit included, stay importable); with
    `project_root`, put the project root first on the path unless it is on it already (for running the script
    from anywhere). Returns sys.path as it was before."""
    before = list(sys.path)
    sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != BENCH_DIR]
    if project_root and ROOT.as_posix() not in [Path(entry or ".").resolve().as_posix() for entry in sys.path]:
        sys.path.insert(0, ROOT.as_posix())
    return before


# --------------------------------------------------------------------------------------------------------
# The machine header.
# --------------------------------------------------------------------------------------------------------


def cpu_and_memory() -> tuple[str, str]:
    """The CPU model and the total memory, from /proc ("unknown" where it is not there)."""
    model, memory = "unknown", "unknown"
    cpuinfo, meminfo = Path("/proc/cpuinfo"), Path("/proc/meminfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return model, memory


def load_average() -> str:
    """The 1/5/15-minute load averages, e.g. "0.52 0.61 0.70"."""
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def hardware_line(load_at_start: bool = False) -> str:
    model, memory = cpu_and_memory()
    line = f"cores: {os.cpu_count()}   CPU: {model}   memory: {memory}"
    if load_at_start:
        line += f"   load average at start: {load_average()}"
    return line


def software_line(*packages: str, after_sqlalchemy: Sequence[str] = (), implementation: bool = True) -> str:
    """Python, then the versions of `packages` (labels; the distribution is the label in lower case), SQLAlchemy,
    the versions of `after_sqlalchemy`, and Python's SQLite."""
    python = f"Python {platform.python_version()}"
    if implementation:
        python += f" ({sys.implementation.name})"
    parts = [
        python,
        *(f"{label} {metadata.version(label.lower())}" for label in packages),
        f"SQLAlchemy {sa.__version__}",
        *(f"{label} {metadata.version(label.lower())}" for label in after_sqlalchemy),
        f"SQLite {sqlite3.sqlite_version} (Python's sqlite3)",
    ]
    return "   ".join(parts)


def pg_server_lines(pg_url: str, settings: Sequence[str] = ()) -> list[str]:
    """The line "PostgreSQL server: <version()>", and with `settings` a line of their SHOW values."""
    admin = pg_admin(sa.make_url(pg_url))
    try:
        with admin.connect() as conn:
            lines = [f"PostgreSQL server: {conn.exec_driver_sql('SELECT version()').scalar_one()}"]
            if settings:
                lines.append(
                    "PostgreSQL settings: "
                    + ", ".join(f"{name} {conn.exec_driver_sql(f'SHOW {name}').scalar_one()}" for name in settings)
                )
    finally:
        admin.dispose()
    return lines


# --------------------------------------------------------------------------------------------------------
# Databases.
# --------------------------------------------------------------------------------------------------------


def pg_admin(base: sa.URL) -> sa.Engine:
    return sa.create_engine(base.set(database="postgres"), isolation_level="AUTOCOMMIT")


def create_pg_database(base: sa.URL, name: str) -> str:
    """A fresh database `name` (dropped first if left over); returns its URL."""
    admin = pg_admin(base)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def drop_pg_database(base: sa.URL, name: str) -> None:
    admin = pg_admin(base)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def create_schema(url: str, config: dict[str, Any], *, search_indexes: bool = True) -> None:
    """The app's tables in the database at `url`, through create_app({SQLALCHEMY_DATABASE_URI: url, **config}), as
    the migrations leave them (`add_search_indexes`) unless `search_indexes` is False (a bulk fill adds them after)."""
    from ticketing.app import create_app  # here, not at the top: see unshadow_project_packages
    from ticketing.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, **config})
    with app.app_context():
        db.create_all()
        if search_indexes:
            add_search_indexes(db.engine)
        db.engine.dispose()


def add_search_indexes(engine: sa.Engine) -> None:
    """SQLite: the search indexes a migrated database has and create_all does not make (FTS5 tables over bodies and
    subjects, kept by triggers on every write: a bench that writes must pay for them as a real install does).
    PostgreSQL's trigram indexes are part of the models, so create_all makes them."""
    from ticketing.services import queues

    if engine.dialect.name != "sqlite":
        return
    with engine.begin() as conn:
        for statement in queues.SEARCH_INDEX_DDL:
            conn.exec_driver_sql(statement)


# --------------------------------------------------------------------------------------------------------
# Timing and output.
# --------------------------------------------------------------------------------------------------------


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest rank."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Series:
    """One route's measurements: server time per request, the SQL time and statement count inside it, and the
    time per statement (for the slowest-statement columns)."""

    server: list[float] = field(default_factory=list)
    sql: list[float] = field(default_factory=list)
    queries: list[int] = field(default_factory=list)
    statements: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    @property
    def median(self) -> float:
        return statistics.median(self.server)

    @property
    def p99(self) -> float:
        return percentile(self.server, 0.99)

    def statement_median(self, statement: str) -> float:
        # A statement a request did not run counts as 0 for it.
        values = self.statements.get(statement, [])
        return statistics.median(values + [0.0] * (len(self.server) - len(values)))

    def add(self, seconds: float, statements: dict[str, float], calls: int) -> None:
        self.server.append(seconds)
        self.sql.append(sum(statements.values()))
        self.queries.append(calls)
        for statement, spent in statements.items():
            self.statements[statement].append(spent)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f}"


def ratio(a: float, b: float) -> str:
    return f"{a / b:.1f}x" if b > 0 else "n/a"


# --------------------------------------------------------------------------------------------------------
# Requests through the real app stack: server time per request (a WSGI wrapper), the SQL inside it
# (cursor-execute events), and a test client that runs each request in a fresh context.
# --------------------------------------------------------------------------------------------------------


class ServerTimer:
    """Wraps app.wsgi_app: from the WSGI call to the last body chunk, request teardown included."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app
        self.last = 0.0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        started = time.perf_counter()
        body = self.wsgi_app(environ, start_response)
        try:
            chunks = list(body)
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        self.last = time.perf_counter() - started
        return chunks


class SqlRecorder:
    """Per request: seconds inside the driver per statement text, and the last parameters of each statement."""

    def __init__(self) -> None:
        self.current: dict[str, float] | None = None
        self.calls = 0
        self.params: dict[str, Any] = {}
        self.last: tuple[str, Any] | None = None  # the statement started last (also when it never finished)

    def attach(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def begin(self) -> None:
        self.current = {}
        self.calls = 0

    def end(self) -> tuple[dict[str, float], int]:
        current, self.current = self.current or {}, None
        return current, self.calls

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        conn.info["bench_started"] = time.perf_counter()
        self.last = (statement, parameters)

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        started = conn.info.pop("bench_started", None)
        if self.current is None or started is None:
            return
        self.current[statement] = self.current.get(statement, 0.0) + time.perf_counter() - started
        self.calls += 1
        self.params[statement] = parameters


class IsolatedClient(FlaskClient):
    """Each request in a fresh context, as in production (as tests/conftest.py does)."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        return contextvars.Context().run(super().open, *args, **kwargs)
