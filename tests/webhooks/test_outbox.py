"""The transactional outbox: events are stored with the change that emitted them, with the ticket snapshot,
only when some enabled subscription wants them, and nothing is lost when Redis is down at commit time."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import sql_statements
from tests.webhooks.conftest import drain, queued_jobs
from ticketing import events, webhook_jobs
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority, Source, Tier
from ticketing.models import Category, utcnow
from ticketing.models.webhooks import DeliveryStatus, WebhookDelivery, WebhookEvent
from ticketing.services import sla_sweep, tickets
from ticketing.services.interactions import add_interaction


def outbox(db) -> list[WebhookEvent]:
    return list(db.scalars(sa.select(WebhookEvent).order_by(WebhookEvent.seq)))


def fan_out_jobs(redis_url: str) -> list[object]:
    return [j for j in queued_jobs(redis_url) if j.func_name == "ticketing.webhook_jobs.fan_out_webhooks"]


def test_no_subscription_means_no_outbox_rows_and_no_jobs(db, make, now, redis_url) -> None:
    make.policy(None, None, {Priority.MEDIUM: (60, 120)})
    ticket = make.ticket(now=now)
    add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=make.user(), body_text="hm", now=now)
    db.commit()
    sla_sweep.sweep(db, now=now + timedelta(hours=5), warn_before=timedelta(minutes=30))
    db.commit()
    assert outbox(db) == []
    assert fan_out_jobs(redis_url) == []


def test_a_disabled_subscription_stores_nothing(db, make, now, subscribe, redis_url) -> None:
    subscribe(enabled=False)
    make.ticket(now=now)
    db.commit()
    assert outbox(db) == []


def test_sweep_without_subscriptions_pays_one_small_query(app, db, make, now) -> None:
    """The SLA sweep emits an event per stamped ticket; with no subscription the outbox costs ONE SELECT per
    commit, whatever the number of events."""
    make.policy(None, None, {Priority.MEDIUM: (60, 120)})
    for _ in range(30):
        make.ticket(now=now)
    db.commit()
    with sql_statements() as statements:
        result = sla_sweep.sweep(db, now=now + timedelta(hours=5), warn_before=timedelta(minutes=30))
        db.commit()
    assert len(result.resolution_breached) == 30
    webhook_statements = [s for s in statements if "webhook" in s]
    assert len(webhook_statements) == 1 and webhook_statements[0].lstrip().startswith("SELECT")


def test_events_are_stored_in_the_same_transaction_with_the_ticket_snapshot(db, make, now, subscribe, redis_url):
    subscribe()
    team = make.team("Billing")
    category = Category(name="Invoices")
    db.add(category)
    agent = make.user(name="Priya")
    customer = make.customer("Acme", tier=Tier.PREMIUM)
    contact = make.contact(customer, email="jane@acme.example", name="Jane")
    db.commit()
    ticket = tickets.create_ticket(db, subject="Invoice wrong", body="The total is off.", source=Source.PORTAL, now=now,
                                   actor=contact, contact=contact, team=team, category=category,
                                   tags=["billing", "VIP"], priority=Priority.HIGH)  # fmt: skip
    tickets.add_assignee(db, ticket, agent, actor=agent, now=now)
    assert outbox(db) == []  # nothing before the commit
    db.commit()
    rows = outbox(db)
    assert [r.type for r in rows] == ["ticket.created", "interaction.created", "ticket.updated"]
    assert all(not r.dispatched and r.ticket_id == ticket.id for r in rows)
    created = rows[0]
    assert created.payload["id"] == created.id and created.payload["type"] == "ticket.created"
    assert created.payload["occurred_at"] == "2026-03-02T10:00:00Z"
    snapshot = created.payload["ticket"]
    assert snapshot["id"] == ticket.id and snapshot["subject"] == "Invoice wrong"
    assert snapshot["status"] == "open" and snapshot["priority"] == "high"
    assert snapshot["team"] == {"id": team.id, "name": "Billing"}
    assert snapshot["customer"] == {"id": customer.id, "name": "Acme", "tier": "premium"}
    assert [c["email"] for c in snapshot["contacts"]] == ["jane@acme.example"]
    assert snapshot["assignees"] == [{"id": agent.id, "name": "Priya"}]
    assert snapshot["tags"] == ["billing", "vip"]
    assert snapshot["category"] == {"id": category.id, "name": "Invoices"}
    assert {"due_date", "first_response_due", "created_at", "updated_at"} <= snapshot.keys()
    # The snapshot is the ticket as this transaction committed it (the assignee was added after the event).
    assert rows[2].payload["data"]["changes"]["assignees"] == {"old": [], "new": ["Priya"]}
    # One fan-out job, deferred to after the commit.
    [job] = fan_out_jobs(redis_url)
    assert sorted(job.args[0]) == sorted(r.id for r in rows)


def test_interaction_payload_marks_internal_entries(db, make, now, subscribe) -> None:
    subscribe(event_types=["interaction.created"])
    ticket = make.ticket(now=now)
    agent = make.user(name="Priya")
    db.commit()
    add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=agent, body_text="Refund? ask Bob", now=now)
    db.commit()
    note = outbox(db)[-1].payload["interaction"]
    assert note["type"] == "internal_note"
    assert note["internal"] is True and note["customer_visible"] is False
    assert note["body_text"] == "Refund? ask Bob"
    assert note["author"] == {"kind": "user", "id": agent.id, "name": "Priya"}
    first = outbox(db)[0].payload["interaction"]
    assert first["type"] == "email_inbound" and first["internal"] is False and first["customer_visible"] is True


def test_only_wanted_event_types_are_stored_and_sla_stamps_are_current(db, make, now, subscribe) -> None:
    make.policy(None, None, {Priority.MEDIUM: (60, 120)})
    subscribe(event_types=["sla.breached"])
    ticket = make.ticket(now=now)
    db.commit()
    assert outbox(db) == []
    db.refresh(ticket)  # loaded in this session: the sweep's set-based UPDATE must still show in the snapshot
    sla_sweep.sweep(db, now=now + timedelta(hours=3), warn_before=timedelta(minutes=30))
    db.commit()
    rows = outbox(db)
    assert sorted(r.payload["data"]["target"] for r in rows) == ["first_response", "resolution"]
    assert rows[0].payload["ticket"]["sla"]["breached_at"] == "2026-03-02T12:00:00Z"
    assert rows[0].payload["ticket"]["sla"]["first_response_breached_at"] == "2026-03-02T11:00:00Z"


def test_a_rolled_back_change_leaves_no_outbox_row(db, make, now, subscribe) -> None:
    subscribe()
    ticket = make.ticket(now=now)
    db.commit()
    before = len(outbox(db))
    tickets.change_status(db, ticket, Status.IN_PROGRESS, actor=None, now=now)
    db.rollback()
    db.commit()
    assert len(outbox(db)) == before


def test_a_muted_session_stores_nothing(db, make, now, subscribe) -> None:
    subscribe()
    events.mute(db())
    make.ticket(now=now)
    db.commit()
    assert outbox(db) == []


def test_savepoint_release_does_not_store_events_twice(db, make, now, subscribe) -> None:
    subscribe()
    ticket = make.ticket(now=now)
    with db.begin_nested():
        tickets.change_status(db, ticket, Status.IN_PROGRESS, actor=None, now=now)
    db.commit()
    assert [r.type for r in outbox(db)] == ["ticket.created", "interaction.created", "ticket.status_changed"]


@pytest.fixture
def redis_down(app, monkeypatch):
    """Redis unreachable: every enqueue fails (the commit itself must not)."""

    def down() -> None:
        monkeypatch.setitem(app.config, "REDIS_URL", "redis://127.0.0.1:1/0")
        app.extensions.pop("ticketing_redis", None)

    def up() -> None:
        monkeypatch.undo()
        app.extensions.pop("ticketing_redis", None)

    yield down, up
    up()


def test_the_outbox_survives_a_redis_outage(app, db, make, now, subscribe, receiver, redis_url, redis_down) -> None:
    down, up = redis_down
    sub = subscribe(event_types=["ticket.created"])
    down()
    ticket = make.ticket(now=now)
    db.commit()  # the enqueue after the commit fails and is logged; the change and its event are committed
    [row] = outbox(db)
    assert row.ticket_id == ticket.id and not row.dispatched
    up()
    assert fan_out_jobs(redis_url) == []
    # Too young for the recovery (it could still be on its way)...
    assert webhook_jobs.recover_webhooks()["events"] == 0
    # ...a minute later the cron dispatches it.
    assert webhook_jobs.recover_webhooks(now=utcnow() + timedelta(minutes=2))["events"] == 1
    drain(redis_url)
    [delivery] = db.scalars(sa.select(WebhookDelivery)).all()
    assert delivery.status == DeliveryStatus.DELIVERED and delivery.subscription_id == sub.id
    assert [r.event_id for r in receiver.receipts] == [row.id]


def test_deliveries_created_while_redis_is_down_are_recovered(db, make, now, subscribe, receiver, redis_url,
                                                              redis_down) -> None:  # fmt: skip
    down, up = redis_down
    subscribe(event_types=["ticket.created"])
    make.ticket(now=now)
    db.commit()
    [job] = fan_out_jobs(redis_url)
    down()
    webhook_jobs.fan_out_webhooks(*job.args)  # deliveries committed, their enqueue fails
    up()
    [delivery] = db.scalars(sa.select(WebhookDelivery)).all()
    assert delivery.status == DeliveryStatus.PENDING
    later = utcnow() + timedelta(minutes=2)
    assert webhook_jobs.recover_webhooks(now=later)["deliveries"] == 1
    drain(redis_url)
    db.refresh(delivery)
    assert delivery.status == DeliveryStatus.DELIVERED and len(receiver.receipts) == 1
