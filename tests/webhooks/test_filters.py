"""Who gets what: event types, team and customer filters, customer-visible interactions only, and the
customer-facing subscriptions that never see internal interactions or internal-only data."""

from __future__ import annotations

import sqlalchemy as sa

from tests.webhooks.conftest import drain
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority
from ticketing.models.webhooks import WebhookDelivery, WebhookEvent
from ticketing.services import tickets
from ticketing.services.interactions import add_interaction


def delivered_types(db, subscription) -> list[str]:
    return list(
        db.scalars(
            sa.select(WebhookEvent.type)
            .join(WebhookDelivery, WebhookDelivery.event_seq == WebhookEvent.seq)
            .where(WebhookDelivery.subscription_id == subscription.id)
            .order_by(WebhookEvent.seq)
        )
    )


def test_event_type_filter(db, make, now, subscribe, redis_url) -> None:
    created_only = subscribe(name="created", event_types=["ticket.created"])
    everything = subscribe(name="all", event_types=[])  # empty = every type
    ticket = make.ticket(now=now)
    tickets.set_priority(db, ticket, Priority.HIGH, actor=None, now=now)
    db.commit()
    drain(redis_url)
    assert delivered_types(db, created_only) == ["ticket.created"]
    assert delivered_types(db, everything) == ["ticket.created", "interaction.created", "ticket.updated"]


def test_team_and_customer_filters(db, make, now, subscribe, redis_url) -> None:
    billing, sales = make.team("Billing"), make.team("Sales")
    acme, globex = make.customer("Acme"), make.customer("Globex")
    db.commit()
    billing_hook = subscribe(name="billing", team_id=billing.id, event_types=["ticket.created"])
    acme_hook = subscribe(name="acme", customer_id=acme.id, event_types=["ticket.created"])
    t1 = make.ticket(now=now, contact=make.contact(acme), team=billing)
    t2 = make.ticket(now=now, contact=make.contact(globex), team=billing)
    t3 = make.ticket(now=now, contact=make.contact(acme), team=sales)
    make.ticket(now=now, contact=make.contact(globex), team=sales)
    db.commit()
    drain(redis_url)

    def tickets_of(sub) -> list[int]:
        rows = db.scalars(sa.select(WebhookDelivery.ticket_id).where(WebhookDelivery.subscription_id == sub.id))
        return sorted(rows)

    assert tickets_of(billing_hook) == sorted([t1.id, t2.id])
    assert tickets_of(acme_hook) == sorted([t1.id, t3.id])


def test_customer_visible_only_drops_internal_interactions(db, make, now, subscribe, receiver, redis_url) -> None:
    hook = subscribe(customer_visible_only=True, event_types=["interaction.created"])
    agent = make.user()
    ticket = make.ticket(now=now)
    add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=agent, body_text="SECRET-NOTE", now=now)
    add_interaction(db, ticket, type=InteractionType.PHONE_CALL, actor=agent, body_text="SECRET-CALL", now=now)
    add_interaction(db, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=agent, body_text="Fixed it.", now=now)
    db.commit()
    drain(redis_url)
    kinds = [r.json["interaction"]["type"] for r in receiver.receipts]
    assert kinds == ["email_inbound", "email_outbound"]
    assert delivered_types(db, hook) == ["interaction.created", "interaction.created"]
    assert not any(b"SECRET" in r.body for r in receiver.receipts)
    # Not customer-facing: the full snapshot goes out.
    assert receiver.receipts[0].json["audience"] == "internal"


def test_internal_interactions_never_reach_a_customer_facing_subscription(db, make, now, subscribe, receiver,
                                                                          redis_url) -> None:  # fmt: skip
    team = make.team("Tier 2")
    agent = make.user(name="Priya")
    db.commit()
    subscribe(customer_facing=True, event_types=[])  # every type: the flag alone keeps internal things out
    ticket = make.ticket(now=now, team=team, tags=["angry-customer"])
    tickets.add_assignee(db, ticket, agent, actor=agent, now=now)
    db.commit()
    for kind in (
        InteractionType.INTERNAL_NOTE,
        InteractionType.NOTE,
        InteractionType.PHONE_CALL,
        InteractionType.MEETING,
        InteractionType.SMS,
    ):  # a logged SMS was never sent: internal
        add_interaction(db, ticket, type=kind, actor=agent, body_text=f"SECRET-{kind.value}", now=now)  # fmt: skip
    tickets.set_team(db, ticket, make.team("SECRET-TEAM"), actor=agent, now=now)  # internal-only change
    tickets.set_tags(db, ticket, ["SECRET-TAG"], actor=agent, now=now)
    db.commit()
    tickets.set_priority(db, ticket, Priority.URGENT, actor=agent, now=now)  # the customer sees this one
    add_interaction(db, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=agent, body_text="On it!", now=now)
    db.commit()
    drain(redis_url)

    received = [(r.json["type"], (r.json.get("interaction") or {}).get("type")) for r in receiver.receipts]
    assert received == [
        ("ticket.created", None),
        ("interaction.created", "email_inbound"),
        ("ticket.updated", None),
        ("interaction.created", "email_outbound"),
    ]
    for receipt in receiver.receipts:
        body = receipt.body.decode()
        assert "SECRET" not in body and "angry-customer" not in body and "Tier 2" not in body
        payload = receipt.json
        assert payload["audience"] == "customer"
        assert not {"team", "assignees", "tags", "category", "sla", "public_updated_at"} & payload["ticket"].keys()
        assert {"subject", "status", "priority", "customer", "contacts", "due_date"} <= payload["ticket"].keys()
    update = receiver.receipts[2].json
    assert update["data"]["changes"] == {"priority": {"old": "medium", "new": "urgent"}}
    assert update["data"]["actor"] == {"kind": "user", "name": "Priya"}  # no staff ids
    assert receiver.receipts[3].json["interaction"]["author"] == {"kind": "user", "name": "Priya"}
    # Customer-facing `updated_at` is the customer-visible one: internal work does not move it.
    assert receiver.receipts[0].json["ticket"]["updated_at"] == "2026-03-02T10:00:00Z"


def test_a_subscription_turned_customer_facing_drops_queued_internal_events(db, make, now, subscribe, receiver,
                                                                            redis_url) -> None:  # fmt: skip
    from tests.webhooks.test_delivery import fan_out
    from ticketing import webhook_jobs
    from ticketing.models.webhooks import DeliveryStatus

    sub = subscribe(event_types=["interaction.created"])
    ticket = make.ticket(now=now)
    add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=make.user(), body_text="SECRET", now=now)
    db.commit()
    fan_out(redis_url)  # fanned out while the subscription was internal
    sub.customer_facing = True
    db.commit()
    public, internal = db.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.event_seq)).all()
    assert webhook_jobs.deliver_webhook(public.id, now=now).startswith("delivered")
    drain(redis_url, now=now)
    db.refresh(internal)
    assert internal.status == DeliveryStatus.CANCELLED
    assert len(receiver.receipts) == 1 and b"SECRET" not in receiver.receipts[0].body
