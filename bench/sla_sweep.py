"""Benchmark of the SLA sweep on a large ticket table, on SQLite and on PostgreSQL.

    python bench/sla_sweep.py [--tickets N] [--overdue-share 0.01] [--backends sqlite,postgresql]
                              [--pg-url postgresql+psycopg://postgres@127.0.0.1:5432] [--runs 3] [--explain]

For each backend: fill N tickets with bulk SQL (INSERT ... SELECT over generate_series on PostgreSQL, over a
recursive CTE on SQLite; indexes built after the fill), ANALYZE, then measure on the same overdue state:

  baseline   the bare indexed scans selecting the rows the sweep stamps (resolution, first-response and
             warning-window SELECT id ..., all rows fetched), in one committed session
  sweep      ticketing.services.sla_sweep.sweep() in a session, committed
  no-op      sweep() again right after, nothing left to stamp
  naive      an ORM loop doing the same job: load the candidate Ticket objects, check each in Python, set
             the stamps, add the SYSTEM interactions, emit the events, commit

Between measurements the stamped rows are put back with UPDATEs on exactly the stamped ids (and the
SYSTEM interactions deleted; VACUUM on PostgreSQL), so every run starts from the same overdue state.
The temporary SQLite file and the PostgreSQL database are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import benchkit
import sqlalchemy as sa
from benchkit import create_pg_database, drop_pg_database, ratio, timed
from flask import Flask
from sqlalchemy.orm import Session

benchkit.unshadow_project_packages()  # before the project imports: bench/portal.py shadows the `portal` package

from ticketing import events  # noqa: E402
from ticketing.app import create_app  # noqa: E402
from ticketing.domain.visibility import InteractionType  # noqa: E402
from ticketing.extensions import db  # noqa: E402
from ticketing.models import Interaction, Ticket  # noqa: E402
from ticketing.services import sla_sweep  # noqa: E402

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC; every fill offset is relative to it
WARN = timedelta(minutes=60)
REDIS_URL = "redis://127.0.0.1:6379/15"
SLOW_NAIVE_SECONDS = 20.0  # a naive run slower than this is not repeated
RESET_CHUNK = 10_000

# --------------------------------------------------------------------------------------------------------
# The ticket mix. Each row i gets a bucket b = i * 7919 mod 100000 (a permutation, so every category is
# spread over the whole table, as in real life), and the bucket picks the category below.
# --------------------------------------------------------------------------------------------------------
BUCKETS = 100_000
OVERDUE, BREACHED, WARN_WINDOW, WARNED, OPEN_NOT_DUE, RESOLVED_UNANSWERED, RESOLVED = range(1, 8)
CATEGORY_NAMES = {
    OVERDUE: "open, resolution overdue, unstamped (half also first-response overdue)",
    BREACHED: "open, already breached (sla_breach_at set; must not be re-stamped)",
    WARN_WINDOW: "open, due within the warning window, not warned yet",
    WARNED: "open, due within the warning window, already warned",
    OPEN_NOT_DUE: "open, not yet due (a third awaiting a first response, not yet due)",
    RESOLVED_UNANSWERED: "resolved/closed without any first response (spam, duplicates)",
    RESOLVED: "resolved/closed (the bulk of history)",
}


def mix_shares(overdue: float, resolved_unanswered: float) -> dict[int, float]:
    shares = {
        OVERDUE: overdue,
        BREACHED: 0.02,
        WARN_WINDOW: 0.002,
        WARNED: 0.001,
        OPEN_NOT_DUE: 0.15,
        RESOLVED_UNANSWERED: resolved_unanswered,
    }
    rest = 1.0 - sum(shares.values())
    if rest < 0:
        raise SystemExit("the shares add up to more than 1")
    shares[RESOLVED] = rest
    return shares


def _category_case(shares: dict[int, float]) -> str:
    bound, whens = 0, []
    for category in (OVERDUE, BREACHED, WARN_WINDOW, WARNED, OPEN_NOT_DUE, RESOLVED_UNANSWERED):
        bound += round(shares[category] * BUCKETS)
        whens.append(f"WHEN (i * 7919) % {BUCKETS} < {bound} THEN {category}")
    return f"CASE {' '.join(whens)} ELSE {RESOLVED} END"


def _ts(dialect: str, offset: str) -> str:
    """The SQL timestamp NOW + offset seconds (NULL stays NULL), in the column's storage format."""
    if dialect == "postgresql":
        return f"(CAST(:now AS timestamptz) + ({offset}) * INTERVAL '1 second')"
    # SQLAlchemy's SQLite DateTime format; UTCDateTime stores naive UTC so string order is time order.
    return f"(strftime('%Y-%m-%d %H:%M:%S', :now, ({offset}) || ' seconds') || '.000000')"


def fill_statement(dialect: str, shares: dict[int, float]) -> sa.TextClause:
    """INSERT ... SELECT of rows 1..:n, in four layers: category, due/created, derived offsets, columns."""
    if dialect == "postgresql":
        series = "SELECT g AS i FROM generate_series(CAST(1 AS bigint), CAST(:n AS bigint)) AS g"
        prefix = ""
    else:
        series = "SELECT i FROM s"
        prefix = "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) "
    layer1 = f"""
        SELECT i, {_category_case(shares)} AS k FROM ({series}) AS series"""
    # Offsets in seconds from NOW; negative is the past.
    layer2 = f"""
        SELECT i, k, d1 AS due_off, d1 - 28800 * (1 + i % 4) AS created_off FROM (
          SELECT i, k, CASE k
            WHEN {OVERDUE} THEN -(60 + (i * 37) % 259200)
            WHEN {BREACHED} THEN -(3600 + (i * 53) % 604800)
            WHEN {WARN_WINDOW} THEN 60 + (i * 13) % 3540
            WHEN {WARNED} THEN 60 + (i * 13) % 3540
            WHEN {OPEN_NOT_DUE} THEN -(60 + i % 14400) + 28800 * (1 + i % 4)
            ELSE -(86400 + (i * 1009) % 31536000) END AS d1
          FROM ({layer1}) AS l1) AS l1b"""
    layer3 = f"""
        SELECT i, k, due_off, created_off,
          CASE WHEN k = {OPEN_NOT_DUE} AND i % 3 = 0 THEN 600 + i % 7200
               ELSE created_off + 3600 * (1 + i % 4) END AS fr_due_off,
          CASE WHEN k = {OVERDUE} AND i % 2 = 0 THEN NULL
               WHEN k = {BREACHED} AND i % 2 = 1 THEN NULL
               WHEN k = {OPEN_NOT_DUE} AND i % 3 = 0 THEN NULL
               WHEN k = {RESOLVED_UNANSWERED} THEN NULL
               WHEN k = {OPEN_NOT_DUE} THEN created_off / 2
               ELSE created_off + 1800 END AS fr_at_off,
          CASE WHEN k = {RESOLVED_UNANSWERED} THEN created_off + 900
               WHEN k = {RESOLVED} AND i % 10 = 0 THEN due_off + i % 20000
               WHEN k = {RESOLVED} THEN due_off - (i * 7) % 20000 END AS resolved_off
        FROM ({layer2}) AS l2"""
    layer4 = f"""
        SELECT l3.*,
          CASE WHEN k IN ({RESOLVED_UNANSWERED}, {RESOLVED}) AND i % 2 = 0 THEN resolved_off + 3600 END
            AS closed_off
        FROM ({layer3}) AS l3"""

    def ts(offset: str) -> str:
        return _ts(dialect, offset)

    columns = {
        "subject": "'Bench ticket #' || i",
        "status": f"""CASE WHEN k = {RESOLVED_UNANSWERED} THEN 'closed'
                          WHEN k = {RESOLVED} AND i % 2 = 0 THEN 'closed'
                          WHEN k = {RESOLVED} THEN 'resolved'
                          WHEN i % 3 = 0 THEN 'in_progress' ELSE 'open' END""",
        "priority": "CASE i % 4 WHEN 0 THEN 'low' WHEN 1 THEN 'medium' WHEN 2 THEN 'high' ELSE 'urgent' END",
        "source": """CASE i % 6 WHEN 0 THEN 'email' WHEN 1 THEN 'portal' WHEN 2 THEN 'web'
                     WHEN 3 THEN 'manual' WHEN 4 THEN 'api' ELSE 'phone' END""",
        "first_response_target_minutes": "60 * (1 + i % 4)",
        "resolution_target_minutes": "480 * (1 + i % 4)",
        "sla_started_at": ts("created_off"),
        "first_response_due": ts("fr_due_off"),
        "due_date": ts("due_off"),
        "first_response_at": ts("fr_at_off"),
        "resolved_at": ts("resolved_off"),
        "closed_at": ts("closed_off"),
        "sla_breach_at": ts(f"""CASE WHEN k = {BREACHED} THEN due_off
                                     WHEN k = {RESOLVED} AND i % 10 = 0 THEN due_off END"""),
        "first_response_breach_at": ts(f"CASE WHEN k = {BREACHED} AND i % 2 = 1 THEN fr_due_off END"),
        "sla_warning_at": ts(f"""CASE WHEN k = {BREACHED} AND i % 2 = 0 THEN due_off - 1800
                                      WHEN k = {WARNED} THEN -(i % 600) END"""),
        "created_at": ts("created_off"),
        "updated_at": ts("COALESCE(closed_off, resolved_off, fr_at_off, created_off)"),
        "public_updated_at": ts("COALESCE(closed_off, resolved_off, fr_at_off, created_off)"),
    }
    select_list = ",\n          ".join(f"{expr} AS {name}" for name, expr in columns.items())
    sql = f"INSERT INTO ticket ({', '.join(columns)})\n{prefix}SELECT {select_list}\nFROM ({layer4}) AS l4"
    return sa.text(sql)


def now_param(dialect: str) -> Any:
    return NOW.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S") if dialect == "sqlite" else NOW


# --------------------------------------------------------------------------------------------------------
# What the sweep stamps, as bare SELECTs (the conditions of ticketing.services.sla_sweep.sweep).
# --------------------------------------------------------------------------------------------------------


def resolution_scan(now: datetime) -> sa.Select[tuple[int]]:
    return sa.select(Ticket.id).where(
        Ticket.resolved_at.is_(None), Ticket.sla_breach_at.is_(None), Ticket.due_date <= now
    )


def first_response_scan(now: datetime) -> sa.Select[tuple[int]]:
    return sa.select(Ticket.id).where(
        Ticket.first_response_at.is_(None),
        Ticket.first_response_breach_at.is_(None),
        Ticket.first_response_due <= now,
        Ticket.resolved_at.is_(None),
    )


def warning_scan(now: datetime, warn_before: timedelta) -> sa.Select[tuple[int]]:
    return sa.select(Ticket.id).where(
        Ticket.resolved_at.is_(None),
        Ticket.sla_breach_at.is_(None),
        Ticket.sla_warning_at.is_(None),
        Ticket.due_date <= now + warn_before,
        Ticket.due_date > now,
    )


@dataclass(frozen=True)
class Stamped:
    resolution: frozenset[int]
    first_response: frozenset[int]
    warned: frozenset[int]

    @property
    def total(self) -> int:
        return len(self.resolution) + len(self.first_response) + len(self.warned)

    def describe(self) -> str:
        return (
            f"{len(self.resolution):,} resolution + {len(self.first_response):,} first-response + "
            f"{len(self.warned):,} warnings = {self.total:,}"
        )


def baseline(session: Session) -> Stamped:
    found = Stamped(
        frozenset(session.scalars(resolution_scan(NOW)).all()),
        frozenset(session.scalars(first_response_scan(NOW)).all()),
        frozenset(session.scalars(warning_scan(NOW, WARN)).all()),
    )
    session.commit()
    return found


def run_sweep(session: Session) -> tuple[Stamped, float]:
    """The real sweep, committed; also returns how long the COMMIT took."""
    result = sla_sweep.sweep(session, now=NOW, warn_before=WARN)
    commit_seconds, _ = timed(session.commit)
    stamped = Stamped(
        frozenset(result.resolution_breached),
        frozenset(result.first_response_breached),
        frozenset(result.warned),
    )
    return stamped, commit_seconds


def naive_loop(session: Session) -> tuple[Stamped, int]:
    """The ORM way: load the candidates, check each in Python, set the stamps one object at a time."""
    horizon = NOW + WARN
    tickets = session.scalars(
        sa.select(Ticket).where(
            Ticket.resolved_at.is_(None),
            sa.or_(Ticket.due_date <= horizon, Ticket.first_response_due <= NOW),
        )
    ).all()
    resolution: list[int] = []
    first_response: list[int] = []
    warned: list[int] = []
    for ticket in tickets:
        if ticket.resolved_at is not None:
            continue
        if ticket.sla_breach_at is None and ticket.due_date is not None and ticket.due_date <= NOW:
            ticket.sla_breach_at = ticket.due_date
            resolution.append(ticket.id)
        if (
            ticket.first_response_at is None
            and ticket.first_response_breach_at is None
            and ticket.first_response_due is not None
            and ticket.first_response_due <= NOW
        ):
            ticket.first_response_breach_at = ticket.first_response_due
            first_response.append(ticket.id)
        if (
            ticket.sla_breach_at is None
            and ticket.sla_warning_at is None
            and ticket.due_date is not None
            and NOW < ticket.due_date <= horizon
        ):
            ticket.sla_warning_at = NOW
            warned.append(ticket.id)
    for ids, text, kind in (
        (resolution, "SLA breached: resolution target passed", "resolution"),
        (first_response, "SLA breached: first-response target passed", "first_response"),
        (warned, f"SLA warning: resolution due within {WARN}", "warning"),
    ):
        session.add_all(
            Interaction(ticket_id=tid, type=InteractionType.SYSTEM, body_text=text, meta={"sla": kind}, created_at=NOW)
            for tid in ids
        )
    for tid in resolution:
        events.emit(session, "sla.breached", now=NOW, ticket_id=tid, target="resolution")
    for tid in first_response:
        events.emit(session, "sla.breached", now=NOW, ticket_id=tid, target="first_response")
    for tid in warned:
        events.emit(session, "sla.warning", now=NOW, ticket_id=tid, target="resolution")
    session.commit()
    return Stamped(frozenset(resolution), frozenset(first_response), frozenset(warned)), len(tickets)


# --------------------------------------------------------------------------------------------------------
# Statement recorder: per-statement time inside the sweep, and the exact SQL for EXPLAIN.
# --------------------------------------------------------------------------------------------------------

_LABEL = re.compile(r"^\s*(UPDATE \w+ SET \w+|INSERT INTO \w+|DELETE FROM \w+|SELECT|COMMIT|\w+)", re.I)


@dataclass
class Recorder:
    active: bool = False
    started: float = 0.0
    timings: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statements: list[tuple[str, Any]] = field(default_factory=list)

    def attach(self, engine: sa.Engine) -> None:
        sa.event.listen(engine, "before_cursor_execute", self._before)
        sa.event.listen(engine, "after_cursor_execute", self._after)

    def start(self) -> None:
        self.timings.clear()
        self.counts.clear()
        self.rows.clear()
        self.statements.clear()
        self.active = True

    def stop(self) -> None:
        self.active = False

    def _before(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if self.active:
            self.started = time.perf_counter()

    def _after(self, conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if not self.active:
            return
        match = _LABEL.match(statement)
        label = match.group(1) if match else statement[:40]
        self.timings[label] += time.perf_counter() - self.started
        self.counts[label] += 1
        self.rows[label] += max(cursor.rowcount, 0)
        self.statements.append((statement, parameters))


# --------------------------------------------------------------------------------------------------------
# One backend: database, fill, measurements, report.
# --------------------------------------------------------------------------------------------------------


@dataclass
class Timed:
    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


@dataclass
class BackendResult:
    backend: str
    version: str
    tickets: int
    fill_seconds: float
    index_seconds: float
    analyze_seconds: float
    stamped: Stamped
    baseline: Timed
    sweep: Timed
    noop: Timed
    naive: Timed
    naive_loaded: int
    breakdown: list[tuple[str, int, int, float]]
    sweep_python: float
    sweep_commit: float
    checks: list[str]


def chunks(ids: Iterable[int], size: int) -> Iterator[list[int]]:
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start : start + size]


def fill(url: str, dialect: str, n: int, shares: dict[int, float]) -> tuple[float, float, float]:
    """Bulk fill on a dedicated engine (its pragmas/settings never reach the measured pool)."""
    engine = sa.create_engine(url)
    indexes = sorted(Ticket.__table__.indexes, key=lambda index: index.name or "")
    try:
        with engine.begin() as conn:
            if dialect == "sqlite":
                conn.exec_driver_sql("PRAGMA cache_size = -262144")  # 256 MiB for the index builds
            else:
                conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
            for index in indexes:
                index.drop(conn)
            fill_seconds, _ = timed(
                lambda: conn.execute(fill_statement(dialect, shares), {"n": n, "now": now_param(dialect)})
            )
            index_seconds, _ = timed(lambda: [index.create(conn) for index in indexes])
        if dialect == "postgresql":
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                # The measurements VACUUM themselves; autovacuum kicking in mid-run would only add noise.
                for table in ("ticket", "interaction"):
                    conn.exec_driver_sql(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
                analyze_seconds, _ = timed(lambda: conn.exec_driver_sql("VACUUM ANALYZE"))
        else:
            with engine.begin() as conn:
                analyze_seconds, _ = timed(lambda: conn.exec_driver_sql("ANALYZE"))
    finally:
        engine.dispose()
    return fill_seconds, index_seconds, analyze_seconds


def reset(dialect: str, stamped: Stamped) -> None:
    """Put the stamped rows back to unstamped (UPDATEs on exactly those ids) and drop the audit rows."""
    table = Ticket.__table__
    with db.engine.begin() as conn:
        for column, ids in (
            (table.c.sla_breach_at, stamped.resolution),
            (table.c.first_response_breach_at, stamped.first_response),
            (table.c.sla_warning_at, stamped.warned),
        ):
            for chunk in chunks(ids, RESET_CHUNK):
                conn.execute(sa.update(table).where(table.c.id.in_(chunk)).values({column: None}))
        conn.execute(sa.delete(Interaction.__table__))
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ticket")
            conn.exec_driver_sql("VACUUM interaction")


def count_stamps(session: Session) -> tuple[int, int, int, int]:
    row = session.execute(
        sa.select(
            sa.func.count(Ticket.sla_breach_at),
            sa.func.count(Ticket.first_response_breach_at),
            sa.func.count(Ticket.sla_warning_at),
            sa.select(sa.func.count()).select_from(Interaction).scalar_subquery(),
        )
    ).one()
    session.commit()
    return row[0], row[1], row[2], row[3]


def explain(dialect: str, recorder: Recorder, sweep_statements: list[tuple[str, Any]]) -> None:
    """EXPLAIN the baseline SELECTs and the sweep's UPDATEs exactly as they were sent to the driver."""
    recorder.start()
    baseline(db.session)
    recorder.stop()
    db.session.remove()
    selects = [(s, p) for s, p in recorder.statements if s.lstrip().upper().startswith("SELECT TICKET.ID")]
    updates = [(s, p) for s, p in sweep_statements if s.lstrip().upper().startswith("UPDATE")]
    names = ["baseline: resolution", "baseline: first response", "baseline: warning window"]
    names += ["sweep: UPDATE sla_breach_at", "sweep: UPDATE first_response_breach_at", "sweep: UPDATE sla_warning_at"]
    prefix = "EXPLAIN (ANALYZE, BUFFERS)" if dialect == "postgresql" else "EXPLAIN QUERY PLAN"
    with db.engine.connect() as conn:
        for name, (statement, parameters) in zip(names, selects + updates, strict=True):
            trans = conn.begin()
            try:
                plan = conn.exec_driver_sql(f"{prefix} {statement}", parameters).all()
            finally:
                trans.rollback()  # EXPLAIN ANALYZE UPDATE really updates: never keep it
            print(f"    -- {name}")
            print("       " + " ".join(statement.split()))
            for row in plan:
                print(f"       {row[0] if len(row) == 1 else row[-1]}")
    if dialect == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM ticket")


def run_backend(backend: str, url: str, args: argparse.Namespace, shares: dict[int, float]) -> BackendResult:
    dialect = "postgresql" if backend == "postgresql" else "sqlite"
    print(f"\n[{backend}] filling {args.tickets:,} tickets ...", flush=True)
    fill_seconds, index_seconds, analyze_seconds = fill(url, dialect, args.tickets, shares)
    print(
        f"[{backend}] fill {fill_seconds:.1f} s, indexes {index_seconds:.1f} s, "
        f"{'VACUUM ' if dialect == 'postgresql' else ''}ANALYZE {analyze_seconds:.1f} s",
        flush=True,
    )

    app: Flask = create_app({"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": REDIS_URL})
    checks: list[str] = []
    with app.app_context():
        engine = db.engine
        with engine.connect() as conn:
            version = (
                conn.exec_driver_sql("SHOW server_version").scalar_one()
                if dialect == "postgresql"
                else conn.exec_driver_sql("SELECT sqlite_version()").scalar_one()
            )
            tickets = conn.execute(sa.select(sa.func.count()).select_from(Ticket.__table__)).scalar_one()
        recorder = Recorder()
        recorder.attach(engine)
        session = db.session

        # Warm-up (untimed), then the baseline runs.
        expected = baseline(session)
        stamps_before = count_stamps(session)
        base = Timed()
        for _ in range(args.runs):
            seconds, found = timed(lambda: baseline(session))
            assert found == expected
            base.seconds.append(seconds)
        session.remove()
        print(f"[{backend}] baseline selects {expected.describe()}", flush=True)

        sweep_t, noop_t = Timed(), Timed()
        breakdowns: list[
            tuple[float, float, dict[str, float], dict[str, int], dict[str, int], list[tuple[str, Any]]]
        ] = []
        for run in range(args.runs):
            recorder.start()
            seconds, (stamped, commit_seconds) = timed(lambda: run_sweep(session))
            recorder.stop()
            sweep_t.seconds.append(seconds)
            breakdowns.append(
                (
                    seconds,
                    commit_seconds,
                    dict(recorder.timings),
                    dict(recorder.counts),
                    dict(recorder.rows),
                    list(recorder.statements),
                )
            )
            assert stamped == expected, "the sweep stamped other rows than the baseline selected"
            if run == 0:
                after = count_stamps(session)
                assert after == (
                    stamps_before[0] + len(expected.resolution),
                    stamps_before[1] + len(expected.first_response),
                    stamps_before[2] + len(expected.warned),
                    stamps_before[3] + expected.total,
                ), (stamps_before, after)
                checks.append(
                    f"stamp counts moved by exactly the stamped rows: sla_breach_at {stamps_before[0]:,} -> "
                    f"{after[0]:,}, first_response_breach_at {stamps_before[1]:,} -> {after[1]:,}, "
                    f"sla_warning_at {stamps_before[2]:,} -> {after[2]:,}, SYSTEM interactions "
                    f"{stamps_before[3]:,} -> {after[3]:,}"
                )
            seconds, (again, _) = timed(lambda: run_sweep(session))
            noop_t.seconds.append(seconds)
            assert again.total == 0, "the re-run stamped again"
            session.remove()
            reset(dialect, stamped)
        if args.explain:
            print(f"[{backend}] EXPLAIN on the unstamped state (the UPDATEs are rolled back):")
            explain(dialect, recorder, breakdowns[-1][5])
        checks.append(f"sweep stamped exactly the baseline rows in all {args.runs} runs ({expected.describe()})")
        checks.append(f"re-run right after each sweep stamped 0 rows ({args.runs} runs)")

        naive_t = Timed()
        loaded = 0
        for run in range(args.runs):
            seconds, (stamped, loaded) = timed(lambda: naive_loop(session))
            naive_t.seconds.append(seconds)
            session.remove()
            assert stamped == expected, "the naive loop stamped other rows than the baseline selected"
            reset(dialect, stamped)
            if run == 0 and seconds > SLOW_NAIVE_SECONDS:
                break
        checks.append(f"naive loop stamped exactly the baseline rows ({len(naive_t.seconds)} run(s))")
        assert count_stamps(session) == stamps_before, "reset did not restore the initial state"
        session.remove()

        # The per-statement breakdown of the median sweep run.
        median_run = sorted(breakdowns, key=lambda item: item[0])[len(breakdowns) // 2]
        total, commit_seconds, timings, counts, rows, _ = median_run
        # SQLite reports no rowcount for UPDATE ... RETURNING: the stamped ids are the rows.
        rows.update(
            {
                "UPDATE ticket SET sla_breach_at": len(expected.resolution),
                "UPDATE ticket SET first_response_breach_at": len(expected.first_response),
                "UPDATE ticket SET sla_warning_at": len(expected.warned),
            }
        )
        breakdown = [(label, counts[label], rows.get(label, 0), timings[label]) for label in timings]
        in_statements = sum(timings.values())
        engine.dispose()
    return BackendResult(
        backend=backend,
        version=str(version),
        tickets=tickets,
        fill_seconds=fill_seconds,
        index_seconds=index_seconds,
        analyze_seconds=analyze_seconds,
        stamped=expected,
        baseline=base,
        sweep=sweep_t,
        noop=noop_t,
        naive=naive_t,
        naive_loaded=loaded,
        breakdown=breakdown,
        sweep_python=total - in_statements - commit_seconds,
        sweep_commit=commit_seconds,
        checks=checks,
    )


# --------------------------------------------------------------------------------------------------------
# Output.
# --------------------------------------------------------------------------------------------------------


def report(result: BackendResult) -> None:
    print(
        f"\n=== {result.backend} {result.version}: {result.tickets:,} tickets, "
        f"stamped {result.stamped.describe()} rows ==="
    )
    print(
        f"fill {result.fill_seconds:.1f} s + indexes {result.index_seconds:.1f} s + "
        f"ANALYZE {result.analyze_seconds:.1f} s"
    )
    header = f"{'measurement':<42}{'median s':>10}  {'runs (s)':<28}{'vs baseline':>12}"
    print(header)
    print("-" * len(header))
    rows = [
        ("baseline: bare indexed scans (3 SELECT id)", result.baseline),
        ("sweep() + commit", result.sweep),
        ("sweep() re-run, nothing to stamp (no-op)", result.noop),
        (f"naive ORM loop + commit ({result.naive_loaded:,} loaded)", result.naive),
    ]
    for name, timing in rows:
        runs = " ".join(f"{s:.3f}" for s in timing.seconds)
        print(f"{name:<42}{timing.median:>10.3f}  {runs:<28}{ratio(timing.median, result.baseline.median):>12}")
    print(
        f"ratio sweep/baseline: {ratio(result.sweep.median, result.baseline.median)}   "
        f"ratio naive/sweep: {ratio(result.naive.median, result.sweep.median)}   "
        f"aim sweep/baseline <= 3x: "
        f"{'met' if result.sweep.median <= 3 * result.baseline.median else 'NOT met'}"
    )
    print("sweep breakdown (median run), time inside the database driver per statement kind:")
    for label, count, affected, seconds in sorted(result.breakdown, key=lambda item: -item[3]):
        print(f"    {label:<44}{count:>4} call(s) {affected:>9,} rows {seconds:>9.3f} s")
    print(f"    {'COMMIT':<44}{'':>30}{result.sweep_commit:>9.3f} s")
    print(f"    {'Python outside the driver (ORM, params, events)':<44}{'':>30}{result.sweep_python:>9.3f} s")
    for check in result.checks:
        print(f"check: {check}")


def summary(results: list[BackendResult]) -> None:
    print("\n=== summary ===")
    header = (
        f"{'backend':<12}{'tickets':>10}{'stamped':>9}{'fill s':>8}{'baseline s':>12}{'sweep s':>9}"
        f"{'sweep/base':>11}{'no-op s':>9}{'naive s':>9}{'naive/sweep':>12}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.backend:<12}{r.tickets:>10,}{r.stamped.total:>9,}"
            f"{r.fill_seconds + r.index_seconds + r.analyze_seconds:>8.1f}{r.baseline.median:>12.3f}"
            f"{r.sweep.median:>9.3f}{ratio(r.sweep.median, r.baseline.median):>11}{r.noop.median:>9.3f}"
            f"{r.naive.median:>9.3f}{ratio(r.naive.median, r.sweep.median):>12}"
        )


# --------------------------------------------------------------------------------------------------------
# Databases.
# --------------------------------------------------------------------------------------------------------


def bench_backend(backend: str, args: argparse.Namespace, shares: dict[int, float]) -> BackendResult:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench_sla_") as tmp:
            url = f"sqlite:///{Path(tmp) / 'bench.db'}"
            benchkit.create_schema(url, {"REDIS_URL": REDIS_URL})
            return run_backend(backend, url, args, shares)
    base = sa.make_url(args.pg_url)
    name = f"bench_sla_{os.getpid()}"
    url = create_pg_database(base, name)
    try:
        benchkit.create_schema(url, {"REDIS_URL": REDIS_URL})
        return run_backend(backend, url, args, shares)
    finally:
        drop_pg_database(base, name)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tickets", type=int, default=1_000_000, help="tickets to fill (default 1,000,000)")
    parser.add_argument(
        "--overdue-share", type=float, default=0.01, help="share of tickets open, overdue and unstamped (default 0.01)"
    )
    parser.add_argument(
        "--unanswered-share",
        type=float,
        default=0.03,
        help="share of tickets resolved without any first response (default 0.03)",
    )
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite,postgresql")
    parser.add_argument(
        "--pg-url",
        default="postgresql+psycopg://postgres@127.0.0.1:5432",
        help="PostgreSQL server URL without database (a throw-away database is created)",
    )
    parser.add_argument("--runs", type=int, default=3, help="measured runs per step (median reported)")
    parser.add_argument("--explain", action="store_true", help="print the query plans of scans and UPDATEs")
    args = parser.parse_args(argv)
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = set(args.backends) - {"sqlite", "postgresql"}
    if unknown:
        parser.error(f"unknown backend(s): {', '.join(sorted(unknown))}")
    if args.runs < 1 or args.tickets < 1:
        parser.error("--runs and --tickets must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    shares = mix_shares(args.overdue_share, args.unanswered_share)
    started = time.perf_counter()
    print("SLA sweep benchmark")
    print(benchkit.hardware_line())
    print(benchkit.software_line())
    if "postgresql" in args.backends:
        for line in benchkit.pg_server_lines(args.pg_url):
            print(line)
    print(f"now = {NOW.isoformat()}, warn_before = {WARN}, tickets = {args.tickets:,}, runs = {args.runs}")
    print("mix (share of tickets):")
    for category, share in shares.items():
        print(f"    {share:>7.2%}  {CATEGORY_NAMES[category]}")
    results = [bench_backend(backend, args, shares) for backend in args.backends]
    for result in results:
        report(result)
    summary(results)
    print(f"\ntotal wall time: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
