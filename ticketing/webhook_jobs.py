"""RQ entry points of the outgoing webhooks: plain functions taking ids, run inside worker.py's app context.

fan_out_webhooks   deferred by the outbox after the commit that stored the events
deliver_webhook    one delivery: claim (commit), POST (no transaction open), record (commit), then follow-ups
recover_webhooks   the cron's safety net (every minute): lost jobs, Redis outages, workers killed mid-request

Retries are scheduled by the delivery itself (status RETRYING + next_attempt_at + queue.enqueue_in), not by RQ's
Retry: the schedule lives in the database, so recovery finds an overdue retry even when Redis lost the job.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

from ticketing.extensions import db, queue
from ticketing.models import utcnow
from ticketing.services import webhooks

log = logging.getLogger(__name__)

DELIVER_JOB = "ticketing.webhook_jobs.deliver_webhook"


def _setting(name: str, default: Any) -> Any:
    """App config first (the lead may add these to Config), then the environment (worker processes), else default."""
    value = current_app.config.get(name)
    if value is None or value == "":
        value = os.environ.get(name) or default
    return value


def policy() -> webhooks.DeliveryPolicy:
    defaults = webhooks.DeliveryPolicy()
    backoff = _setting("WEBHOOK_BACKOFF_SECONDS", defaults.backoff_seconds)
    if isinstance(backoff, str):
        backoff = tuple(int(part) for part in backoff.replace(",", " ").split())
    return webhooks.DeliveryPolicy(
        backoff_seconds=tuple(int(b) for b in backoff),
        disable_after=int(_setting("WEBHOOK_DISABLE_AFTER", defaults.disable_after)),
        lease_seconds=int(_setting("WEBHOOK_LEASE_SECONDS", defaults.lease_seconds)),
        timeout_seconds=float(_setting("WEBHOOK_TIMEOUT_SECONDS", defaults.timeout_seconds)),
    )


def _job_timeout(p: webhooks.DeliveryPolicy) -> int:
    # RQ stops a hung job before its lease runs out, so recovery never races a live request it cannot see.
    return max(30, min(p.lease_seconds - 10, int(p.timeout_seconds * 4) + 30))


def enqueue_deliveries(delivery_ids: Iterable[int], *, delay: timedelta | None = None) -> int:
    """Best effort: a delivery whose job never reaches Redis is picked up by recover_webhooks."""
    ids = list(delivery_ids)
    if not ids:
        return 0
    timeout = _job_timeout(policy())
    try:
        q = queue()
        for delivery_id in ids:
            if delay is None:
                q.enqueue(DELIVER_JOB, delivery_id, job_timeout=timeout)
            else:
                q.enqueue_in(delay, DELIVER_JOB, delivery_id, job_timeout=timeout)
    except Exception:
        log.exception("could not enqueue %d webhook deliveries; recovery will pick them up", len(ids))
        return 0
    return len(ids)


def kick_lines(ticket_ids: Iterable[int]) -> int:
    """Enqueue the pending deliveries now at the head of these tickets' lines."""
    tickets = [t for t in ticket_ids if t is not None]
    if not tickets:
        return 0
    heads = webhooks.line_heads(db.session(), tickets)
    db.session.commit()
    return enqueue_deliveries(heads)


def fan_out_webhooks(event_ids: list[str]) -> dict[str, int]:
    result = webhooks.fan_out(db.session(), event_ids, now=utcnow())
    db.session.commit()
    queued = enqueue_deliveries(result.ticketless) + kick_lines(result.ticket_ids)
    return {"events": result.events, "deliveries": result.deliveries, "enqueued": queued}


def deliver_webhook(delivery_id: int, now: datetime | None = None) -> str:
    """Send one delivery. `now` is for tests driving a fake clock; the worker passes nothing."""
    p = policy()
    claimed = webhooks.claim(db.session(), delivery_id, now=now or utcnow(), policy=p)
    db.session.commit()
    if isinstance(claimed, webhooks.Skip):
        if claimed.line_moved and claimed.ticket_id is not None:
            kick_lines([claimed.ticket_id])
        return claimed.reason
    result = webhooks.send(claimed, p)
    finished = now + timedelta(milliseconds=result.latency_ms) if now is not None else utcnow()
    recorded = webhooks.record(db.session(), claimed, result, now=finished, policy=p)
    db.session.commit()
    if recorded.retry_in is not None:
        enqueue_deliveries([delivery_id], delay=timedelta(seconds=recorded.retry_in))
    if recorded.line_moved and recorded.ticket_id is not None:
        kick_lines([recorded.ticket_id])
    if recorded.duplicate:
        return "delivered again (already recorded)"
    status = recorded.status.value if recorded.status else "superseded"
    detail = f"HTTP {result.status_code}" if result.status_code is not None else (result.error or "")
    return f"{status} ({detail}, attempt {claimed.number})"


def recover_webhooks(older_than_seconds: int = 60, now: datetime | None = None) -> dict[str, int]:
    """Re-enqueue undispatched events and stuck deliveries (the lead registers this in the cron)."""
    found = webhooks.recovery(db.session(), now=now or utcnow(), older_than=timedelta(seconds=older_than_seconds))
    db.session.commit()
    fan_outs = 0
    if found.event_ids:
        try:
            q = queue()
            for start in range(0, len(found.event_ids), webhooks.CHUNK):
                q.enqueue(fan_out_webhooks, found.event_ids[start : start + webhooks.CHUNK], job_timeout=600)
                fan_outs += 1
        except Exception:
            log.exception("recovery could not enqueue fan-out jobs")
    deliveries = enqueue_deliveries(found.delivery_ids)
    counts = {
        "events": len(found.event_ids),
        "fan_out_jobs": fan_outs,
        "deliveries": deliveries,
        "expired_leases": found.expired_leases,
    }
    if any(counts.values()):
        log.info("webhook recovery: %s", counts)
    return counts
