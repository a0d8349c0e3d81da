"""The webhook admin screens: admins only; the secret is shown once; the delivery log re-sends."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token, login_staff
from tests.webhooks.conftest import drain, queued_jobs
from ticketing import webhook_jobs
from ticketing.domain.vocab import Source, StaffRole
from ticketing.models.webhooks import DeliveryStatus, WebhookAttempt, WebhookDelivery, WebhookSubscription

PASSWORD = "pw-for-tests-1"
VIEWS = ["/admin/webhooks/", "/admin/webhooks/new/", "/admin/webhook-deliveries/", "/admin/webhook-attempts/"]


@pytest.fixture
def people(db, make):
    users = {r.value: make.user(role=r, password=PASSWORD, email=f"{r.value}@bluehill.test") for r in StaffRole}
    db.commit()
    return users


@pytest.mark.parametrize("url", VIEWS)
@pytest.mark.parametrize("role", ["anonymous", "agent", "manager", "admin"])
def test_only_admins_get_in(admin_client, people, role, url) -> None:
    if role != "anonymous":
        login_staff(admin_client, f"{role}@bluehill.test", PASSWORD)
    response = admin_client.get(url)
    if role == "admin":
        assert response.status_code == 200
    elif role == "anonymous":
        assert response.status_code == 302 and "/agent/login" in response.headers["Location"]
    else:
        assert response.status_code == 403


def create(client, **fields) -> object:
    page = client.get("/admin/webhooks/new/").get_data(as_text=True)
    data = {"name": "CRM", "url": "https://crm.example/hooks/bluehill", "enabled": "y", "csrf_token": csrf_token(page)}
    data.update(fields)
    return client.post("/admin/webhooks/new/", data=data, follow_redirects=True)


def test_the_secret_is_generated_on_create_and_shown_once(admin_client, db, people) -> None:
    login_staff(admin_client, "admin@bluehill.test", PASSWORD)
    response = create(admin_client, events=["ticket.created", "interaction.created"], customer_facing="y")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    sub = db.scalar(sa.select(WebhookSubscription))
    assert sub.secret.startswith("whsec_") and len(sub.secret) > 30
    assert sub.secret in html and "not shown again" in html
    assert sub.event_types == ["ticket.created", "interaction.created"] and sub.customer_facing
    for page in ("/admin/webhooks/", f"/admin/webhooks/details/?id={sub.id}", f"/admin/webhooks/edit/?id={sub.id}"):
        assert sub.secret not in admin_client.get(page).get_data(as_text=True), page
    # Editing does not change (or reveal) it.
    edit = admin_client.get(f"/admin/webhooks/edit/?id={sub.id}").get_data(as_text=True)
    data = {"name": "CRM 2", "url": sub.url, "events": ["ticket.created"], "enabled": "y",
            "csrf_token": csrf_token(edit)}  # fmt: skip
    response = admin_client.post(f"/admin/webhooks/edit/?id={sub.id}", follow_redirects=True, data=data)
    db.refresh(sub)
    assert sub.name == "CRM 2" and sub.event_types == ["ticket.created"]
    assert sub.secret not in response.get_data(as_text=True)


def test_urls_are_checked_on_save(admin_client, db, people) -> None:
    login_staff(admin_client, "admin@bluehill.test", PASSWORD)
    for url in ("ftp://crm.example/x", "http://10.0.0.5/in", "http://169.254.169.254/latest/"):
        html = create(admin_client, url=url).get_data(as_text=True)
        assert "refused" in html or "only http" in html, url
    assert db.scalar(sa.select(sa.func.count()).select_from(WebhookSubscription)) == 0
    html = create(admin_client, url="http://169.254.169.254/", allowed_address="169.254.169.254").get_data(as_text=True)
    assert "metadata" in html
    create(admin_client, url="http://10.0.0.5:8080/in", allowed_address="10.0.0.5:8080")
    assert db.scalar(sa.select(WebhookSubscription.allowed_address)) == "10.0.0.5:8080"


def test_rotating_the_secret_shows_the_new_one_once(admin_client, db, people, subscribe) -> None:
    sub = subscribe()
    old = sub.secret
    login_staff(admin_client, "admin@bluehill.test", PASSWORD)
    page = admin_client.get("/admin/webhooks/").get_data(as_text=True)
    response = admin_client.post("/admin/webhooks/action/", follow_redirects=True, data={
        "action": "rotate_secret", "rowid": [str(sub.id)], "csrf_token": csrf_token(page)})  # fmt: skip
    db.refresh(sub)
    assert sub.secret != old and sub.secret in response.get_data(as_text=True)


def test_the_delivery_log_shows_attempts_and_resends(admin_client, db, make, now, people, subscribe, receiver,
                                                     redis_url) -> None:  # fmt: skip
    subscribe(event_types=["ticket.created"])
    make.ticket(now=now, source=Source.MANUAL)
    db.commit()
    receiver.respond(500)
    drain(redis_url, now=now)
    [delivery] = db.scalars(sa.select(WebhookDelivery)).all()
    assert delivery.status == DeliveryStatus.RETRYING
    login_staff(admin_client, "admin@bluehill.test", PASSWORD)
    listing = admin_client.get("/admin/webhook-deliveries/").get_data(as_text=True)
    assert "ticket.created" in listing and "Retrying" in listing
    details = admin_client.get(f"/admin/webhook-deliveries/details/?id={delivery.id}").get_data(as_text=True)
    assert re.search(r"<td>500</td>", details) and "status 500" in details
    attempts = admin_client.get("/admin/webhook-attempts/").get_data(as_text=True)
    assert "status 500" in attempts
    response = admin_client.post("/admin/webhook-deliveries/action/", follow_redirects=True, data={
        "action": "resend", "rowid": [str(delivery.id)], "csrf_token": csrf_token(listing)})  # fmt: skip
    assert "queued again" in response.get_data(as_text=True)
    fresh = db.scalar(sa.select(WebhookDelivery).where(WebhookDelivery.resend_of_id == delivery.id))
    assert fresh is not None and fresh.event_seq == delivery.event_seq and fresh.status == DeliveryStatus.PENDING
    # It waits behind the original (still retrying) in the ticket's line; once that one is through, it goes too.
    assert [j.args for j in queued_jobs(redis_url)] == []
    db.expire_all()
    webhook_jobs.deliver_webhook(delivery.id, now=delivery.next_attempt_at)
    drain(redis_url, now=delivery.next_attempt_at)
    db.expire_all()
    assert fresh.status == DeliveryStatus.DELIVERED
    assert len({r.event_id for r in receiver.receipts}) == 1 and len(receiver.receipts) == 3
    assert db.scalar(sa.select(sa.func.count()).where(WebhookAttempt.success.is_(True))) == 2
