"""The two stuck-work sweepers, each on its own. RQ's side (`jobs.requeue_abandoned_jobs`): a job whose worker was
SIGKILLed stays in the started registry; once its timeout ran out it is retried from Redis. The database's side
(`jobs.recover_stuck_work`): work whose job is gone from Redis altogether (flushed, a restart without persistence)
is queued again from the rows that record it. Either way the customer observes each piece of work once."""

from __future__ import annotations

import threading
from datetime import timedelta
from http.server import HTTPServer

import sqlalchemy as sa
from redis import Redis

from tests.admin.test_workspace import Receiver
from tests.faults.conftest import DatabaseLock, inbound, queue, wait_started
from tests.faults.helpers import after_timeouts, fast_forward_retries
from tests.mail.conftest import email, signature
from ticketing import jobs
from ticketing.domain.visibility import SmsStatus
from ticketing.domain.vocab import Source
from ticketing.extensions import mail_policy
from ticketing.models import (
    InboundMessage,
    InboundStatus,
    Interaction,
    OutboundKind,
    OutboundMessage,
    SmsProvider,
    Ticket,
)
from ticketing.services import mail_outbound, sms

NOTHING_TO_RECOVER = {"inbound": 0, "outbound": 0, "released": 0, "sms": 0, "sms_unknown": 0}


def count(db, model, *where) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def post_email(client, subject: str) -> None:
    raw = email(sender="jane@acme.example", subject=subject)
    assert client.post("/inbound/email", data=raw, headers={"X-Bluehill-Signature": signature(raw)}).status_code == 202


def kill_mid_job(app, workers, redis_url: str, row_id: int, job_id: str) -> None:
    """A real worker takes the job, waits on a row lock inside it, and is SIGKILLed there."""
    with DatabaseLock(app.config["SQLALCHEMY_DATABASE_URI"], "inbound_message", row_id) as lock:
        worker = workers.start()
        wait_started(redis_url, job_id)
        lock.wait_for_waiter()
        workers.kill(worker)


def acknowledgements(db, sink) -> list[str]:
    """Message-IDs of the "we received your request" emails the customer got."""
    ids = db.scalars(sa.select(OutboundMessage.message_id).where(OutboundMessage.kind == OutboundKind.RECEIVED))
    ours = {f"<{m}>" for m in ids}
    return [m for m in sink.message_ids() if m in ours]


def test_a_killed_workers_job_is_retried_from_redis_and_done_once(
    app, client, db, make, workers, smtp_sink, redis_url
) -> None:
    make.contact(make.customer(domains=("acme.example",)), email="jane@acme.example")
    db.commit()
    post_email(client, "Invoice is wrong")
    [row_id] = db.scalars(sa.select(InboundMessage.id)).all()
    [job_id] = inbound(redis_url).job_ids
    kill_mid_job(app, workers, redis_url, row_id, job_id)
    registry = inbound(redis_url).started_job_registry
    assert job_id in registry.get_job_ids(cleanup=False)  # the dead worker's job still looks "started"

    # While its timeout runs, the sweeper leaves it alone (its worker might be alive and slow)...
    assert jobs.requeue_abandoned_jobs() == {"abandoned": 0, "retried": 0}
    # ...after it, the job is retried (it has retries left). Only RQ's side runs here: no database sweep.
    assert jobs.requeue_abandoned_jobs(now=after_timeouts()) == {"abandoned": 1, "retried": 1}
    assert job_id not in registry.get_job_ids(cleanup=False)
    fast_forward_retries(redis_url)
    workers.inline(redis_url)

    db.expire_all()
    assert db.get(InboundMessage, row_id).status == InboundStatus.PROCESSED
    assert count(db, Ticket) == 1 and count(db, Interaction, Interaction.inbound_message_id == row_id) == 1
    assert len(acknowledgements(db, smtp_sink)) == 1 and len(smtp_sink.messages) == 1
    # Later ticks of both sweepers find nothing left to do.
    assert jobs.requeue_abandoned_jobs(now=after_timeouts())["abandoned"] == 0
    assert jobs.recover_stuck_work(older_than_seconds=0) == NOTHING_TO_RECOVER


def test_work_lost_from_redis_is_requeued_from_the_database_and_done_once(
    app, client, db, make, now, workers, smtp_sink, redis_url
) -> None:
    contact = make.contact(make.customer(domains=("acme.example",)), email="jane@acme.example", name="Jane")
    ticket = make.ticket(now=now, contact=contact, source=Source.EMAIL)
    agent = make.user(name="Priya")
    db.commit()
    queue(redis_url).empty()
    # Three pieces of work: an email a worker died on, an email never picked up, an agent's reply never sent.
    post_email(client, "Killed mid-job")
    [killed] = db.scalars(sa.select(InboundMessage.id)).all()
    [killed_job] = inbound(redis_url).job_ids
    kill_mid_job(app, workers, redis_url, killed, killed_job)
    post_email(client, "Never picked up")
    reply = mail_outbound.reply_to_customer(db, ticket, agent=agent, body="Fixed.", policy=mail_policy(), now=now)
    db.commit()
    reply_id = f"<{reply.message_id}>"

    Redis.from_url(redis_url).flushdb()  # queued jobs, the started registry: all gone
    assert jobs.requeue_abandoned_jobs(now=after_timeouts())["abandoned"] == 0  # RQ's side knows nothing now
    # Two cron ticks before any worker runs: every piece queued twice, each done once.
    for _ in range(2):
        assert jobs.recover_stuck_work(older_than_seconds=0) == {**NOTHING_TO_RECOVER, "inbound": 2, "outbound": 1}
    workers.inline(redis_url)

    db.expire_all()
    assert set(db.scalars(sa.select(InboundMessage.status))) == {InboundStatus.PROCESSED}
    assert sorted(db.scalars(sa.select(Ticket.subject))) == ["Help please", "Killed mid-job", "Never picked up"]
    per_message = db.execute(sa.select(Interaction.inbound_message_id, sa.func.count())
                             .where(Interaction.inbound_message_id.is_not(None))
                             .group_by(Interaction.inbound_message_id)).all()  # fmt: skip
    assert len(per_message) == 2 and {n for _, n in per_message} == {1}
    # The customer got the reply once and one acknowledgement per new ticket.
    assert smtp_sink.message_ids().count(reply_id) == 1
    assert len(acknowledgements(db, smtp_sink)) == 2 and len(smtp_sink.messages) == 3
    assert jobs.recover_stuck_work(older_than_seconds=0) == NOTHING_TO_RECOVER


def test_an_sms_lost_from_redis_is_sent_once_and_one_cut_off_mid_call_is_not_sent_twice(
    app, db, make, now, workers, smtp_sink, redis_url
) -> None:
    contact = make.contact(make.customer(), email="jane@acme.example", name="Jane", phone="+4915112345678")
    ticket, agent = make.ticket(now=now, contact=contact), make.user(name="Priya")
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    Receiver.calls.clear()
    try:
        db.add(SmsProvider(name="Test", base_url=f"http://127.0.0.1:{server.server_port}/2010-04-01",
                           account_id="AC1", auth_token="tok", from_number="+15550001"))  # fmt: skip
        db.commit()
        lost = sms.record_sms(db, ticket, agent=agent, contact=contact, body="Lost job", send=True, now=now)
        cut = sms.record_sms(db, ticket, agent=agent, contact=contact, body="Cut off", send=True, now=now)
        db.commit()
        lost_id, cut_id = lost.id, cut.id
        # The second one's worker took it an hour ago and died during the provider call.
        assert sms.claim(db, cut_id, now=now - timedelta(hours=1)) is not None
        db.commit()
        Redis.from_url(redis_url).flushdb()  # both jobs gone
        # Two cron ticks before any worker runs: the lost SMS is queued twice, the cut-off one given up once.
        swept = [jobs.recover_stuck_work(older_than_seconds=0) for _ in range(2)]
        assert [(s["sms"], s["sms_unknown"]) for s in swept] == [(1, 1), (1, 0)]
        workers.inline(redis_url)
    finally:
        server.shutdown()
    db.expire_all()
    sent = [form for _, _, form in Receiver.calls]
    assert len([f for f in sent if "Body=Lost+job" in f]) == 1  # two jobs, one claim, one call
    assert not [f for f in sent if "Body=Cut+off" in f]  # the provider may have it: not sent again
    assert db.get(Interaction, lost_id).sms_status == SmsStatus.SENT
    given_up = db.get(Interaction, cut_id)
    assert given_up.sms_status == SmsStatus.FAILED and given_up.meta["error"].startswith("delivery unknown")
    assert not given_up.is_customer_visible
    assert jobs.recover_stuck_work(older_than_seconds=0)["sms"] == 0
