"""Webhooks through real `python worker.py` processes to a real receiver on loopback: signed, in order per
ticket, retried after a failure, and recorded exactly once when the worker is killed mid-request."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import sqlalchemy as sa

from tests.webhooks.conftest import ROOT, SECRET, run_burst, worker_env
from ticketing import webhook_jobs
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Source
from ticketing.models import utcnow
from ticketing.models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEvent
from ticketing.services import tickets
from ticketing.services.interactions import add_interaction
from ticketing.services.webhooks import verify_signature


def test_a_real_worker_delivers_signed_events_in_order(app, db, make, now, subscribe, receiver, redis_url) -> None:
    subscribe(event_types=[])
    agent = make.user()
    ticket = make.ticket(now=now, source=Source.MANUAL)
    db.commit()
    tickets.change_status(db, ticket, Status.IN_PROGRESS, actor=agent, now=now)
    db.commit()
    add_interaction(db, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=agent, body_text="On it", now=now)
    db.commit()
    tickets.change_status(db, ticket, Status.RESOLVED, actor=agent, now=now)
    db.commit()
    run_burst(app)
    db.expire_all()
    events = list(db.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.seq)))
    assert [e.type for e in events] == ["ticket.created", "interaction.created", "ticket.status_changed",
                                        "interaction.created", "ticket.status_changed"]  # fmt: skip
    assert [r.event_id for r in receiver.receipts] == [e.id for e in events]  # event order
    assert all(verify_signature(SECRET, r.headers["x-bluehill-signature"], r.body) for r in receiver.receipts)
    assert all(d.status == DeliveryStatus.DELIVERED for d in db.scalars(sa.select(WebhookDelivery)))
    assert db.scalar(sa.select(sa.func.count()).where(WebhookAttempt.success.is_(True))) == 5


def test_a_real_worker_retries_a_failed_delivery(app, db, make, now, subscribe, receiver, redis_url, monkeypatch):
    monkeypatch.setenv("WEBHOOK_BACKOFF_SECONDS", "1")
    subscribe(event_types=["ticket.created"])
    make.ticket(now=now, source=Source.MANUAL)
    db.commit()
    receiver.respond(500)
    run_burst(app)
    db.expire_all()
    [delivery] = db.scalars(sa.select(WebhookDelivery)).all()
    assert delivery.status == DeliveryStatus.RETRYING and len(receiver.receipts) == 1
    time.sleep(1.5)  # the retry is due; a burst worker's scheduler enqueues due jobs when it starts
    run_burst(app)
    db.expire_all()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    assert [r.event_id for r in receiver.receipts] == [receiver.receipts[0].event_id] * 2


def test_a_worker_killed_mid_delivery_leads_to_exactly_one_recorded_success(app, db, make, now, subscribe,
                                                                            receiver, redis_url) -> None:  # fmt: skip
    subscribe(event_types=["ticket.created"])
    make.ticket(now=now, source=Source.MANUAL)
    db.commit()
    receiver.block = threading.Event()
    # Its own process group: the worker forks RQ's scheduler, and a killed machine takes both down.
    worker = subprocess.Popen([sys.executable, "worker.py", "burst"], cwd=ROOT, env=worker_env(app),
                              start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        assert receiver.entered.wait(60), "the worker never sent the request"
        db.expire_all()
        [delivery] = db.scalars(sa.select(WebhookDelivery)).all()
        assert delivery.status == DeliveryStatus.SENDING and delivery.lease_until is not None  # committed lease
        os.killpg(worker.pid, signal.SIGKILL)  # mid-request: the receiver holds the response
        worker.wait(timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        receiver.block.set()
    receiver.block = None
    db.expire_all()
    assert delivery.status == DeliveryStatus.SENDING  # nobody knows whether the receiver took it
    # The lease still runs: recovery leaves it alone; once it expired, the cron re-sends it.
    assert webhook_jobs.recover_webhooks()["expired_leases"] == 0
    counts = webhook_jobs.recover_webhooks(now=utcnow() + timedelta(seconds=webhook_jobs.policy().lease_seconds + 1))
    assert counts["expired_leases"] == 1 and counts["deliveries"] == 1
    run_burst(app)
    db.expire_all()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    delivered = db.scalar(sa.select(sa.func.count()).where(WebhookDelivery.status == DeliveryStatus.DELIVERED))
    successes = db.scalar(sa.select(sa.func.count()).where(WebhookAttempt.success.is_(True)))
    assert delivered == 1 and successes == 1  # exactly one success RECORDED
    lost, sent = db.scalars(sa.select(WebhookAttempt).order_by(WebhookAttempt.number)).all()
    assert lost.success is None and "lost mid-delivery" in lost.error and sent.success is True
    # The receiver may have seen it twice: same event id, same body, each validly signed (it dedupes on the id).
    assert len(receiver.receipts) == 2
    first, second = receiver.receipts
    assert first.event_id == second.event_id and first.body == second.body
    assert all(verify_signature(SECRET, r.headers["x-bluehill-signature"], r.body) for r in receiver.receipts)
