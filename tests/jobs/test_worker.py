"""Jobs through a real RQ worker process on real Redis, against this run's database."""

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from redis import Redis
from rq import Queue

from ticketing import jobs
from ticketing.domain.vocab import Priority
from ticketing.models import Ticket

ROOT = Path(__file__).resolve().parents[2]


def test_sla_sweep_job_runs_in_a_real_worker(app, db, make, redis_url) -> None:
    make.policy(None, None, {Priority.MEDIUM: (60, 120)})
    overdue = make.ticket(now=datetime.now(UTC) - timedelta(hours=5))
    fresh = make.ticket(now=datetime.now(UTC))
    db.commit()
    queue = Queue("default", connection=Redis.from_url(redis_url))
    first = queue.enqueue(jobs.run_sla_sweep)
    second = queue.enqueue(jobs.run_sla_sweep)  # a re-run stamps nothing new
    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": redis_url}
    done = subprocess.run(
        [sys.executable, "worker.py", "burst"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    first.refresh()
    second.refresh()
    assert first.get_status() == "finished", done.stderr[-2000:]
    assert first.return_value() == {"resolution_breached": 1, "first_response_breached": 1, "warned": 0}
    assert second.return_value() == {"resolution_breached": 0, "first_response_breached": 0, "warned": 0}
    db.expire_all()
    assert db.get(Ticket, overdue.id).sla_breach_at is not None
    assert db.get(Ticket, fresh.id).sla_breach_at is None
    assert db.scalar(sa.select(sa.func.count()).where(Ticket.sla_breach_at.is_not(None))) == 1


def test_an_idle_worker_stops_on_sigterm(app, redis_url) -> None:
    """A deploy or Ctrl-C in scripts/run stops the worker: it must not mistake the stop for a lost Redis."""
    import signal
    import time

    from rq import Worker

    env = {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": redis_url,
           "RQ_QUEUE": "stop-test"}  # fmt: skip
    proc = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)  # fmt: skip
    try:
        conn = Redis.from_url(redis_url)
        deadline = time.monotonic() + 60
        # Idle, not just registered: RQ registers a worker before it installs its signal handlers, and a SIGTERM
        # in between ends the process the default way (-15; one slow CI run hit that window).
        while not any(w.pid == proc.pid and w.get_state() == "idle" for w in Worker.all(connection=conn)):
            assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()[-2000:]
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert "starting a new one" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
