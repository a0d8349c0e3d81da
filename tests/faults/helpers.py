"""Small helpers shared by the fault tests."""

from __future__ import annotations

import time

from redis import Redis
from rq import Queue

from ticketing.extensions import inbound_queue_name


def fast_forward_retries(redis_url: str) -> int:
    """Enqueue RQ's scheduled retries now instead of after their 10 s delay (what the scheduler does then)."""
    moved = 0
    for name in (inbound_queue_name("default"), "default"):
        q = Queue(name, connection=Redis.from_url(redis_url))
        registry = q.scheduled_job_registry
        for job_id in registry.get_job_ids():
            job = q.fetch_job(job_id)
            registry.remove(job_id)
            if job is not None:
                q.enqueue_job(job)
                moved += 1
    return moved


def after_timeouts() -> float:
    """A Unix time past every job's timeout + RQ's 60 s grace: what the sweeper sees once a dead job expired."""
    return time.time() + 3600
