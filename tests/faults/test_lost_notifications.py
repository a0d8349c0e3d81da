"""Customer notifications whose send job Redis lost. The acknowledgement of a form ticket and the resolved notice
are OutboundMessage rows committed with the change that calls for them, so a Redis flushed right after the commit
loses only the job: the recovery sweep finds the row and the customer gets the email, once."""

from __future__ import annotations

import sqlalchemy as sa
from redis import Redis

from tests.conftest import csrf_token, login_staff
from tests.faults.conftest import queue
from ticketing import jobs
from ticketing.domain.lifecycle import Status
from ticketing.domain.vocab import Source, StaffRole
from ticketing.models import IntakeForm, OutboundKind, OutboundMessage, OutboundStatus, Ticket


def lose_the_queue_and_recover(redis_url: str, workers) -> None:
    """Redis flushed after the commit; two cron ticks of the recovery sweep before a worker runs the jobs."""
    assert queue(redis_url).count >= 1  # the send job was queued...
    Redis.from_url(redis_url).flushdb()  # ...and is gone
    for _ in range(2):
        assert jobs.recover_stuck_work(older_than_seconds=0)["outbound"] == 1
    workers.inline(redis_url)


def received_by_customer(db, sink, kind: OutboundKind) -> list[str]:
    [outbound] = db.scalars(sa.select(OutboundMessage).where(OutboundMessage.kind == kind)).all()
    db.refresh(outbound)
    assert outbound.status == OutboundStatus.SENT
    return [m for m in sink.message_ids() if m == f"<{outbound.message_id}>"]


def test_acknowledgement_of_a_form_ticket_survives_losing_redis(client, db, workers, smtp_sink, redis_url) -> None:
    details = {"name": "details", "label": "Details", "type": "long_text", "required": True}
    db.add(IntakeForm(slug="question", name="Question", public=True, fields=[details]))
    db.commit()
    page = client.get("/forms/question").get_data(as_text=True)
    answers = {"subject": "Export crashes", "name": "Pat", "email": "pat@newco.example", "details": "Click export"}
    assert client.post("/forms/question", data={**answers, "csrf_token": csrf_token(page)}).status_code < 400
    ticket = db.scalar(sa.select(Ticket))
    assert ticket is not None and ticket.source == Source.WEB

    lose_the_queue_and_recover(redis_url, workers)
    assert len(received_by_customer(db, smtp_sink, OutboundKind.RECEIVED)) == 1
    assert len(smtp_sink.messages) == 1


def test_resolved_notice_survives_losing_redis(client, db, make, now, workers, smtp_sink, redis_url) -> None:
    contact = make.contact(make.customer(), email="jane@acme.example", name="Jane")
    ticket = make.ticket(now=now, contact=contact, source=Source.EMAIL)  # no acknowledgement of its own here
    make.user(role=StaffRole.ADMIN, email="lead@bluehill.test")
    db.commit()
    ticket_id = ticket.id
    queue(redis_url).empty()
    login_staff(client, "lead@bluehill.test", "pw-secret-1")
    page = client.get(f"/admin/ticket/{ticket_id}").get_data(as_text=True)
    resolved = client.post(f"/admin/ticket/{ticket_id}/properties",
                           data={"status": "resolved", "csrf_token": csrf_token(page)})  # fmt: skip
    assert resolved.status_code in {302, 303}
    db.expire_all()
    assert db.get(Ticket, ticket_id).status == Status.RESOLVED

    lose_the_queue_and_recover(redis_url, workers)
    assert len(received_by_customer(db, smtp_sink, OutboundKind.RESOLVED)) == 1
    assert len(smtp_sink.messages) == 1
