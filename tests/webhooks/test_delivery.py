"""The delivery state machine, driven inline with a fake clock: attempts logged, retries with backoff, giving up,
auto-disable with admin notices, per-ticket ordering, exactly-once recording, leases, re-send and recovery."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue
from rq.registry import ScheduledJobRegistry

from tests.webhooks.conftest import SECRET, drain, queued_jobs
from ticketing import webhook_jobs
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority, StaffRole
from ticketing.models import Notification, utcnow
from ticketing.models.webhooks import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)
from ticketing.services import tickets
from ticketing.services import webhooks as service
from ticketing.services.interactions import add_interaction
from ticketing.services.webhooks import verify_signature


def deliveries(db, **where) -> list[WebhookDelivery]:
    query = sa.select(WebhookDelivery).filter_by(**where).order_by(WebhookDelivery.event_seq, WebhookDelivery.id)
    return list(db.scalars(query.execution_options(populate_existing=True)))


def attempts(db, delivery) -> list[WebhookAttempt]:
    query = sa.select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id).order_by(WebhookAttempt.number)
    return list(db.scalars(query.execution_options(populate_existing=True)))


def fan_out(redis_url) -> None:
    """Run only the fan-out jobs (deliveries stay queued for the test to drive)."""
    q = Queue("default", connection=Redis.from_url(redis_url))
    for job in queued_jobs(redis_url):
        if job.func_name.endswith("fan_out_webhooks"):
            q.remove(job.id)
            job.func(*job.args)
    for job in queued_jobs(redis_url):
        q.remove(job.id)  # the test calls deliver_webhook itself


@pytest.fixture
def one_delivery(db, make, now, subscribe, redis_url):
    sub = subscribe(event_types=["ticket.created"])
    ticket = make.ticket(now=now)
    db.commit()
    fan_out(redis_url)
    [delivery] = deliveries(db)
    return sub, ticket, delivery


def test_a_successful_attempt_is_logged(db, now, one_delivery, receiver) -> None:
    _, _, delivery = one_delivery
    assert webhook_jobs.deliver_webhook(delivery.id, now=now) == "delivered (HTTP 200, attempt 1)"
    [delivery] = deliveries(db)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 1
    assert delivery.delivered_at >= now and delivery.last_status_code == 200 and delivery.lease_token is None
    [attempt] = attempts(db, delivery)
    assert attempt.success is True and attempt.status_code == 200 and attempt.latency_ms >= 0
    assert attempt.response_excerpt == "status 200" and attempt.url == receiver.url() and attempt.error is None
    # Delivered is final: the job run again sends nothing.
    assert webhook_jobs.deliver_webhook(delivery.id, now=now) == "already delivered"
    assert len(receiver.receipts) == 1


def test_retries_after_500s_with_exponential_backoff_then_success(db, now, one_delivery, receiver, redis_url):
    _, _, delivery = one_delivery
    receiver.respond(500, 503)
    assert webhook_jobs.deliver_webhook(delivery.id, now=now).startswith("retrying (HTTP 500")
    [delivery] = deliveries(db)
    assert delivery.status == DeliveryStatus.RETRYING and delivery.last_status_code == 500
    first_due = delivery.next_attempt_at
    assert timedelta(seconds=30) <= first_due - now < timedelta(seconds=31)
    # The retry is scheduled in RQ (a worker's scheduler enqueues it when due).
    scheduled = ScheduledJobRegistry("default", connection=Redis.from_url(redis_url))
    assert len(scheduled.get_job_ids()) == 1
    # Too early: nothing is sent.
    assert webhook_jobs.deliver_webhook(delivery.id, now=now + timedelta(seconds=10)) == "not due yet"
    assert len(receiver.receipts) == 1
    assert webhook_jobs.deliver_webhook(delivery.id, now=first_due).startswith("retrying (HTTP 503, attempt 2")
    [delivery] = deliveries(db)
    assert timedelta(seconds=120) <= delivery.next_attempt_at - first_due < timedelta(seconds=121)
    assert webhook_jobs.deliver_webhook(delivery.id, now=delivery.next_attempt_at) == "delivered (HTTP 200, attempt 3)"
    [delivery] = deliveries(db)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 3
    assert [(a.number, a.status_code, a.success) for a in attempts(db, delivery)] == [
        (1, 500, False), (2, 503, False), (3, 200, True)]  # fmt: skip
    assert [a.response_excerpt for a in attempts(db, delivery)] == ["status 500", "status 503", "status 200"]
    # Every attempt carried the same event id and body, each with a fresh valid signature.
    assert len({r.event_id for r in receiver.receipts}) == 1 and len({r.body for r in receiver.receipts}) == 1
    assert all(verify_signature(SECRET, r.headers["x-bluehill-signature"], r.body) for r in receiver.receipts)
    assert [r.headers["x-bluehill-attempt"] for r in receiver.receipts] == ["1", "2", "3"]


def test_a_timeout_is_a_failed_attempt(app, db, now, one_delivery, receiver, monkeypatch) -> None:
    sub, _, delivery = one_delivery
    sub.url = receiver.url("/slow?s=2")
    db.commit()
    monkeypatch.setitem(app.config, "WEBHOOK_TIMEOUT_SECONDS", 0.3)
    assert webhook_jobs.deliver_webhook(delivery.id, now=now).startswith("retrying (timed out")
    [attempt] = attempts(db, delivery)
    assert attempt.success is False and attempt.status_code is None and attempt.error == "timed out"
    assert attempt.latency_ms < 1500


def test_gives_up_after_the_last_attempt(app, db, now, one_delivery, receiver, monkeypatch) -> None:
    sub, _, delivery = one_delivery
    monkeypatch.setitem(app.config, "WEBHOOK_BACKOFF_SECONDS", "5 10")  # three attempts in all
    receiver.default_status = 500
    clock = now
    for _ in range(3):
        webhook_jobs.deliver_webhook(delivery.id, now=clock)
        clock += timedelta(minutes=1)
    [delivery] = deliveries(db)
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3 and delivery.next_attempt_at is None
    assert webhook_jobs.deliver_webhook(delivery.id, now=clock) == "already failed"
    assert len(receiver.receipts) == 3
    db.refresh(sub)
    assert sub.consecutive_failures == 1 and sub.enabled


def test_repeated_failures_disable_the_subscription_and_tell_every_admin(app, db, make, now, subscribe, receiver,
                                                                        redis_url, monkeypatch) -> None:  # fmt: skip
    monkeypatch.setitem(app.config, "WEBHOOK_BACKOFF_SECONDS", ())  # one attempt per delivery
    monkeypatch.setitem(app.config, "WEBHOOK_DISABLE_AFTER", 3)
    admins = [make.user(role=StaffRole.ADMIN), make.user(role=StaffRole.ADMIN)]
    agent = make.user(role=StaffRole.AGENT)
    sub = subscribe(name="CRM sync", event_types=["ticket.created"])
    receiver.default_status = 500
    # A success in between resets the count.
    for status in (500, 500, 200, 500, 500):
        receiver.respond(status)
        make.ticket(now=now)
        db.commit()
        drain(redis_url, now=now)
        db.refresh(sub)
    assert sub.enabled and sub.consecutive_failures == 2
    make.ticket(now=now)
    db.commit()
    leftover = make.ticket(now=now)  # fanned out, still pending when the subscription is disabled
    db.commit()
    fan_out(redis_url)
    pending = deliveries(db, ticket_id=leftover.id)[0]
    last = deliveries(db, status=DeliveryStatus.PENDING)[0]
    webhook_jobs.deliver_webhook(last.id, now=now)
    db.refresh(sub)
    assert not sub.enabled and sub.consecutive_failures == 3
    assert "3 failed deliveries in a row" in sub.disabled_reason and "HTTP 500" in sub.disabled_reason
    notices = db.scalars(sa.select(Notification)).all()
    assert sorted(n.user_id for n in notices) == sorted(a.id for a in admins)
    assert agent.id not in {n.user_id for n in notices}
    assert all("CRM sync" in n.text and "disabled" in n.text for n in notices)
    db.refresh(pending)
    assert pending.status == DeliveryStatus.CANCELLED
    # A disabled subscription gets nothing new (and nothing is stored for it).
    before = len(receiver.receipts)
    make.ticket(now=now)
    db.commit()
    drain(redis_url, now=now)
    assert len(receiver.receipts) == before


def test_deliveries_of_one_ticket_go_out_in_event_order(db, make, now, subscribe, receiver, redis_url) -> None:
    sub = subscribe(event_types=[])
    agent = make.user()
    ticket = make.ticket(now=now)
    other = make.ticket(now=now)
    db.commit()
    tickets.change_status(db, ticket, Status.IN_PROGRESS, actor=agent, now=now)
    db.commit()
    add_interaction(db, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=agent, body_text="Hi", now=now)
    tickets.set_priority(db, ticket, Priority.HIGH, actor=agent, now=now)
    db.commit()
    fan_out(redis_url)
    line = deliveries(db, ticket_id=ticket.id, subscription_id=sub.id)
    assert len(line) == 5  # created, first message, status, reply, priority
    head, *rest = line
    receiver.respond(500)  # the head fails once
    assert webhook_jobs.deliver_webhook(head.id, now=now).startswith("retrying")
    # Everything behind it waits, without sending, even when its job runs first.
    for delivery in reversed(rest):
        assert webhook_jobs.deliver_webhook(delivery.id, now=now) == "waiting for an earlier delivery of this ticket"
    assert len(receiver.receipts) == 1
    # Another ticket's line is not held up.
    other_head = deliveries(db, ticket_id=other.id)[0]
    assert webhook_jobs.deliver_webhook(other_head.id, now=now).startswith("delivered")
    # The head's retry succeeds and pulls the rest of its line through, in order.
    webhook_jobs.deliver_webhook(head.id, now=now + timedelta(minutes=1))
    drain(redis_url, now=now + timedelta(minutes=1))
    line_receipts = [r for r in receiver.receipts if r.json["ticket_id"] == ticket.id]
    seqs = {e.id: e.seq for e in db.scalars(sa.select(WebhookEvent))}
    received = [seqs[r.event_id] for r in line_receipts]
    assert received[0] == received[1]  # the failed first try and its retry
    assert received[1:] == sorted(received[1:]) and len(set(received[1:])) == 5
    assert [r.json["type"] for r in line_receipts[1:]] == ["ticket.created", "interaction.created",
                                                           "ticket.status_changed", "interaction.created",
                                                           "ticket.updated"]  # fmt: skip
    assert all(d.status == DeliveryStatus.DELIVERED for d in deliveries(db, ticket_id=ticket.id))


def test_a_delivery_waits_for_an_earlier_event_not_fanned_out_yet(db, make, now, subscribe, receiver, redis_url):
    subscribe(event_types=["ticket.status_changed"])
    ticket = make.ticket(now=now)
    db.commit()
    tickets.change_status(db, ticket, Status.IN_PROGRESS, actor=None, now=now)
    db.commit()
    tickets.change_status(db, ticket, Status.PENDING, actor=None, now=now)
    db.commit()
    first_job, second_job = [j for j in queued_jobs(redis_url) if j.func_name.endswith("fan_out_webhooks")]
    Queue("default", connection=Redis.from_url(redis_url)).empty()
    webhook_jobs.fan_out_webhooks(*second_job.args)  # the later event is fanned out first
    [later] = deliveries(db)
    assert webhook_jobs.deliver_webhook(later.id, now=now) == "waiting for an earlier delivery of this ticket"
    webhook_jobs.fan_out_webhooks(*first_job.args)  # ... and its fan-out enqueues the head of the line
    drain(redis_url, now=now)
    assert [r.json["data"]["changes"]["status"]["new"] for r in receiver.receipts] == ["in_progress", "pending"]


def test_a_second_worker_never_sends_a_delivery_in_flight(db, now, one_delivery, receiver) -> None:
    _, _, delivery = one_delivery
    policy = webhook_jobs.policy()
    claim = service.claim(db, delivery.id, now=now, policy=policy)
    db.commit()
    assert isinstance(claim, service.Claim)
    assert webhook_jobs.deliver_webhook(delivery.id, now=now + timedelta(seconds=5)) == "in flight elsewhere"
    assert receiver.receipts == []


def test_a_late_success_after_a_lease_takeover_is_recorded_once(db, now, one_delivery, receiver) -> None:
    _, _, delivery = one_delivery
    policy = webhook_jobs.policy()
    slow = service.claim(db, delivery.id, now=now, policy=policy)  # worker A, then silence past its lease
    db.commit()
    later = now + timedelta(seconds=policy.lease_seconds + 1)
    assert webhook_jobs.deliver_webhook(delivery.id, now=later) == "delivered (HTTP 200, attempt 2)"  # worker B
    # Worker A comes back: its success is logged as a duplicate, its failure would change nothing.
    result = service.send(slow, policy)
    recorded = service.record(db, slow, result, now=later, policy=policy)
    db.commit()
    assert recorded.duplicate and recorded.status is None
    failed = service.record(db, slow, service.AttemptResult(False, True, 500, 1, "x", "HTTP 500"), now=later,
                            policy=policy)  # fmt: skip
    db.commit()
    assert failed.status is None
    [delivery] = deliveries(db)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    log = attempts(db, delivery)
    assert [a.success for a in log] == [False, True] and "the worker was lost" not in (log[1].error or "")
    assert sum(1 for d in deliveries(db) if d.status == DeliveryStatus.DELIVERED) == 1


def test_recovery_resends_a_delivery_whose_worker_died(db, now, one_delivery, receiver, redis_url) -> None:
    _, _, delivery = one_delivery
    policy = webhook_jobs.policy()
    real_now = utcnow()
    service.claim(db, delivery.id, now=real_now, policy=policy)  # the worker dies right after this commit
    db.commit()
    assert webhook_jobs.recover_webhooks(now=real_now + timedelta(seconds=30))["expired_leases"] == 0
    counts = webhook_jobs.recover_webhooks(now=real_now + timedelta(seconds=policy.lease_seconds + 1))
    assert counts["expired_leases"] == 1 and counts["deliveries"] == 1
    [delivery] = deliveries(db)
    assert delivery.status == DeliveryStatus.PENDING and delivery.lease_token is None
    drain(redis_url)
    [delivery] = deliveries(db)
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.attempts == 2
    lost, sent = attempts(db, delivery)
    assert lost.success is None and lost.error == service.ABANDONED and sent.success is True
    assert len(receiver.receipts) == 1


def test_recovery_picks_up_overdue_retries_and_stale_pending_deliveries(db, now, one_delivery, receiver,
                                                                        redis_url) -> None:  # fmt: skip
    _, _, delivery = one_delivery
    real_now = utcnow()
    # Pending with its job lost: only after a minute.
    assert webhook_jobs.recover_webhooks(now=real_now)["deliveries"] == 0
    assert webhook_jobs.recover_webhooks(now=real_now + timedelta(minutes=2))["deliveries"] == 1
    Queue("default", connection=Redis.from_url(redis_url)).empty()
    receiver.respond(500)
    webhook_jobs.deliver_webhook(delivery.id, now=real_now)
    [delivery] = deliveries(db)
    assert delivery.status == DeliveryStatus.RETRYING
    # The scheduled retry was lost with Redis: a minute after it was due, recovery enqueues it.
    Queue("default", connection=Redis.from_url(redis_url)).empty()
    due = delivery.next_attempt_at
    assert webhook_jobs.recover_webhooks(now=due)["deliveries"] == 0
    assert webhook_jobs.recover_webhooks(now=due + timedelta(minutes=2))["deliveries"] == 1


def test_resend_creates_a_fresh_delivery_of_the_same_event(db, now, one_delivery, receiver, redis_url) -> None:
    _, _, delivery = one_delivery
    webhook_jobs.deliver_webhook(delivery.id, now=now)
    [fresh] = service.resend(db, [delivery.id], now=now)
    db.commit()
    assert fresh.id != delivery.id and fresh.resend_of_id == delivery.id and fresh.event_seq == delivery.event_seq
    webhook_jobs.kick_lines([fresh.ticket_id])
    drain(redis_url, now=now)
    db.refresh(fresh)
    assert fresh.status == DeliveryStatus.DELIVERED
    first, again = receiver.receipts
    assert first.event_id == again.event_id and first.body == again.body
    assert first.headers["x-bluehill-delivery"] != again.headers["x-bluehill-delivery"]


def test_a_disabled_subscription_cancels_its_queued_line(db, make, now, subscribe, receiver, redis_url) -> None:
    sub = subscribe(event_types=[])
    ticket = make.ticket(now=now)
    db.commit()
    fan_out(redis_url)
    db.get(WebhookSubscription, sub.id).enabled = False
    db.commit()
    head = deliveries(db, ticket_id=ticket.id)[0]
    assert webhook_jobs.deliver_webhook(head.id, now=now) == "cancelled: subscription disabled"
    drain(redis_url, now=now)  # the cancelled head pulled the next one, which is cancelled too
    assert {d.status for d in deliveries(db)} == {DeliveryStatus.CANCELLED}
    assert receiver.receipts == []
