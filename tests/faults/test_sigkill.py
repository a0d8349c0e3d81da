"""SIGKILL a real `python worker.py` in the middle of each kind of work, recover it the way production does
(the cron's sweepers, a fresh worker), and check what the customer observes: one ticket, one email, one
recorded webhook delivery, one breach stamp."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import login_staff
from tests.faults.conftest import DEADLINE, DatabaseLock, inbound, queue, wait_started
from tests.faults.helpers import after_timeouts, fast_forward_retries
from tests.mail.conftest import email, signature
from tests.webhooks.conftest import SECRET
from ticketing import jobs, webhook_jobs
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority, Source, StaffRole
from ticketing.extensions import mail_policy
from ticketing.models import InboundMessage, InboundStatus, Interaction, OutboundMessage, OutboundStatus, Ticket, utcnow
from ticketing.models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookEvent, WebhookSubscription
from ticketing.services import mail_outbound


def count(db, *where, model=Ticket) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_email_processing_killed_mid_job_makes_one_ticket_and_one_acknowledgement(
    app, client, db, make, workers, smtp_sink, redis_url
) -> None:
    make.contact(make.customer(domains=("acme.example",)), email="jane@acme.example")
    db.commit()
    raw = email(sender="jane@acme.example", subject="Invoice is wrong")
    response = client.post("/inbound/email", data=raw, headers={"X-Bluehill-Signature": signature(raw)})
    assert response.status_code == 202
    [row_id] = db.scalars(sa.select(InboundMessage.id)).all()
    [job_id] = inbound(redis_url).job_ids
    with DatabaseLock(app.config["SQLALCHEMY_DATABASE_URI"], "inbound_message", row_id) as lock:
        worker = workers.start()
        wait_started(redis_url, job_id)
        lock.wait_for_waiter()  # inside the job, waiting on the database
        workers.kill(worker)
    db.expire_all()
    assert db.get(InboundMessage, row_id).status == InboundStatus.RECEIVED and count(db) == 0  # nothing half-done
    # Both sweepers fire: RQ's (the job is abandoned in the started registry) and the database's (the row is
    # still RECEIVED). Two jobs for one message; the message is processed once.
    assert jobs.requeue_abandoned_jobs(now=after_timeouts())["abandoned"] == 1
    assert jobs.recover_stuck_work(older_than_seconds=0)["inbound"] == 1
    fast_forward_retries(redis_url)
    workers.inline(redis_url)
    db.expire_all()
    assert db.get(InboundMessage, row_id).status == InboundStatus.PROCESSED
    assert count(db) == 1
    assert count(db, Interaction.inbound_message_id == row_id, model=Interaction) == 1
    assert len(smtp_sink.messages) == 1  # one "we received your request"


@pytest.mark.parametrize(
    ("step", "state_when_killed", "final_state"),
    [
        ("RCPT", OutboundStatus.SENDING, OutboundStatus.SENT),  # the server never had the message: sent again
        ("DATA", OutboundStatus.UNCONFIRMED, OutboundStatus.UNCONFIRMED),  # it had it: never sent twice
    ],
)
def test_outbound_send_killed_mid_send_reaches_the_customer_once(
    app, client, db, make, workers, smtp_sink, redis_url, now, step, state_when_killed, final_state
) -> None:
    contact = make.contact(make.customer(), email="jane@acme.example", name="Jane")
    ticket = make.ticket(now=now, contact=contact, source=Source.EMAIL)
    agent = make.user(name="Priya")
    db.commit()
    queue(redis_url).empty()
    entry = mail_outbound.reply_to_customer(db, ticket, agent=agent, body="Fixed.", policy=mail_policy(), now=now)
    db.commit()
    outbound = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.interaction_id == entry.id))
    outbound_id = outbound.id
    smtp_sink.hold(step)
    worker = workers.start()
    try:
        assert smtp_sink.entered.wait(DEADLINE), "the worker never reached the SMTP server"
        db.expire_all()
        assert outbound.status == state_when_killed  # committed before the step the server is holding
        workers.kill(worker)
    finally:
        smtp_sink.release()
    # The cron's sweepers, as soon as the send lease (test: 0 s) and the job's timeout ran out.
    recovered = jobs.recover_stuck_work(older_than_seconds=0, sending_lease_seconds=0)
    assert recovered["outbound"] == (1 if final_state == OutboundStatus.SENT else 0)
    assert jobs.requeue_abandoned_jobs(now=after_timeouts())["abandoned"] == 1
    fast_forward_retries(redis_url)
    workers.inline(redis_url)
    # What the customer observes: this reply, once.
    outbound = db.get(OutboundMessage, outbound_id)
    assert smtp_sink.message_ids() == [f"<{outbound.message_id}>"]
    assert outbound.status == final_state
    if final_state == OutboundStatus.UNCONFIRMED:
        assert "not re-sent" in outbound.last_error and outbound.attempts == 1
        # Left for a person: an admin lists unconfirmed mail (Email -> Outbound email, filter Status = unconfirmed).
        make.user(role=StaffRole.ADMIN, email="lead@bluehill.test")
        db.commit()
        login_staff(client, "lead@bluehill.test", "pw-secret-1")
        listed = client.get("/admin/outbound_email/?flt0_0=UNCONFIRMED").get_data(as_text=True)
        assert outbound.to_address in listed and "not re-sent" in listed
        assert outbound.to_address not in client.get("/admin/outbound_email/?flt0_0=SENT").get_data(as_text=True)
    else:
        assert outbound.attempts == 2 and outbound.last_error is None


def test_webhook_delivered_but_not_recorded_is_recorded_once(app, db, make, now, workers, receiver, redis_url) -> None:
    db.add(WebhookSubscription(name="Hook", url=receiver.url(), secret=SECRET, event_types=["ticket.created"],
                               allowed_address=receiver.allow))  # fmt: skip
    db.commit()
    make.ticket(now=now, source=Source.MANUAL)
    db.commit()
    receiver.block = threading.Event()
    worker = workers.start()
    try:
        assert receiver.entered.wait(DEADLINE), "the worker never sent the request"
        [delivery] = db.scalars(sa.select(WebhookDelivery)).all()
        delivery_id = delivery.id
        # The receiver has the event and answers 200; the worker then blocks recording it, and dies there.
        with DatabaseLock(app.config["SQLALCHEMY_DATABASE_URI"], "webhook_delivery", delivery.id) as lock:
            receiver.block.set()
            lock.wait_for_waiter()
            workers.kill(worker)
    finally:
        receiver.block.set()
    receiver.block = None
    db.expire_all()
    assert delivery.status == DeliveryStatus.SENDING and len(receiver.receipts) == 1  # sent, not recorded
    lease_over = utcnow() + timedelta(seconds=webhook_jobs.policy().lease_seconds + 1)
    assert webhook_jobs.recover_webhooks(now=lease_over)["expired_leases"] == 1
    jobs.requeue_abandoned_jobs(now=after_timeouts())
    fast_forward_retries(redis_url)
    workers.inline(redis_url)
    db.expire_all()
    # At least once on the wire (the receiver dedupes by event id: same id, same body), exactly once on record.
    [event_id] = db.scalars(sa.select(WebhookEvent.id)).all()
    assert [r.event_id for r in receiver.receipts] == [event_id, event_id]
    assert receiver.receipts[0].body == receiver.receipts[1].body
    assert db.get(WebhookDelivery, delivery_id).status == DeliveryStatus.DELIVERED
    assert count(db, WebhookDelivery.status == DeliveryStatus.DELIVERED, model=WebhookDelivery) == 1
    assert count(db, WebhookAttempt.success.is_(True), model=WebhookAttempt) == 1


def test_sla_sweep_killed_mid_sweep_stamps_each_breach_once(app, db, make, workers, receiver, redis_url) -> None:
    make.policy(None, None, {Priority.MEDIUM: (60, 120)})
    overdue = [make.ticket(now=datetime.now(UTC) - timedelta(hours=5), source=Source.MANUAL) for _ in range(2)]
    db.add(WebhookSubscription(name="SLA", url=receiver.url(), secret=SECRET, event_types=["sla.breached"],
                               allowed_address=receiver.allow))  # fmt: skip
    db.commit()
    overdue_ids = [t.id for t in overdue]
    q = queue(redis_url)
    q.empty()
    job = q.enqueue(jobs.run_sla_sweep)
    with DatabaseLock(app.config["SQLALCHEMY_DATABASE_URI"], "ticket", overdue[0].id) as lock:
        worker = workers.start()
        wait_started(redis_url, job.id)
        lock.wait_for_waiter()  # inside the sweep's UPDATE, waiting on the lock
        workers.kill(worker)
    db.expire_all()
    assert count(db, Ticket.sla_breach_at.is_not(None)) == 0  # the sweep's one transaction never committed
    # The dead sweep is written off (no retries: the next tick re-runs it); the next ticks stamp, once.
    assert jobs.requeue_abandoned_jobs(now=after_timeouts()) == {"abandoned": 1, "retried": 0}
    q.enqueue(jobs.run_sla_sweep)
    q.enqueue(jobs.run_sla_sweep)
    workers.inline(redis_url)
    db.expire_all()
    for ticket in [db.get(Ticket, tid) for tid in overdue_ids]:
        assert ticket.sla_breach_at is not None and ticket.first_response_breach_at is not None
        audits = db.scalars(
            sa.select(Interaction.meta).where(
                Interaction.ticket_id == ticket.id, Interaction.type == InteractionType.SYSTEM
            )
        ).all()
        assert sorted(m["sla"] for m in audits if m and "sla" in m) == ["first_response", "resolution"]
        events = db.scalars(sa.select(WebhookEvent).where(WebhookEvent.ticket_id == ticket.id)).all()
        assert sorted(e.payload["data"]["target"] for e in events) == ["first_response", "resolution"]
    # The subscriber heard each breach once.
    assert len(receiver.receipts) == 4 and len({r.event_id for r in receiver.receipts}) == 4
