"""RQ worker entry: builds the app once, then runs jobs inside its app context.

python worker.py            a worker (with RQ's scheduler for delayed jobs and retries)
python worker.py cron       the periodic scheduler (SLA sweep every SLA_SWEEP_SECONDS)
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import redis
from rq import SimpleWorker
from rq.cron import CronScheduler

from ticketing import jobs, webhook_jobs
from ticketing.app import create_app
from ticketing.extensions import db, redis_conn, worker_queues


class AppWorker(SimpleWorker):
    """Runs jobs in-process (no fork per job, so the app is built once) and returns DB connections after each."""

    def perform_job(self, job: Any, queue: Any, *args: Any, **kwargs: Any) -> bool:
        try:
            return super().perform_job(job, queue, *args, **kwargs)
        finally:
            db.session.remove()


log = logging.getLogger("worker")
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def run_worker(burst: bool = False) -> None:
    app = create_app()
    with app.app_context():
        conn = redis_conn()
        while True:
            worker = AppWorker(worker_queues(), connection=conn)  # inbound mail first
            worker.work(with_scheduler=True, burst=burst)
            # A requested stop (SIGTERM/SIGINT: a deploy, Ctrl-C in scripts/run) ends the process; RQ marks it in
            # _stop_requested only when it came mid-job, and in _shutdown_requested_date either way.
            if burst or worker._stop_requested or worker._shutdown_requested_date is not None:
                return
            # RQ retries a lost Redis while waiting for work, but not while finishing a job: it logs "unhandled
            # exception, quitting" and returns. A restarted Redis must not stop the worker for good: wait for it
            # and start afresh (the job it was finishing is left to the abandoned-job sweep).
            log.error("the worker stopped on an error (Redis lost?); starting a new one once Redis answers")
            _wait_for_redis(conn)
            time.sleep(1)


def _wait_for_redis(conn: Any) -> None:
    while True:
        try:
            conn.ping()
            return
        except REDIS_ERRORS:
            time.sleep(1)


def run_cron() -> None:
    app = create_app()
    with app.app_context():
        scheduler = CronScheduler(connection=redis_conn())
        queue_name = app.config["RQ_QUEUE"]
        scheduler.register(jobs.poll_mailboxes, queue_name, interval=app.config["IMAP_POLL_SECONDS"], job_timeout=600)
        # Mail whose job was lost (Redis restart, killed worker) is picked up again.
        scheduler.register(jobs.recover_stuck_work, queue_name, interval=120, job_timeout=600)
        # Jobs whose worker died mid-job (left "started" in Redis) are retried once their timeout ran out.
        scheduler.register(jobs.requeue_abandoned_jobs, queue_name, interval=60, job_timeout=120)
        # Webhooks: events never fanned out, deliveries whose job was lost or whose worker died mid-request.
        scheduler.register(webhook_jobs.recover_webhooks, queue_name, interval=60, job_timeout=600)
        scheduler.register(
            jobs.run_sla_sweep, app.config["RQ_QUEUE"], interval=app.config["SLA_SWEEP_SECONDS"], job_timeout=600
        )
        scheduler.start()


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else "worker"
    if mode == "cron":
        run_cron()
    else:
        run_worker(burst=mode == "burst")
