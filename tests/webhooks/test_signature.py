"""X-Bluehill-Signature: t=<unix ts>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>, and what a receiver checks."""

from __future__ import annotations

import hashlib
import hmac
import time

import sqlalchemy as sa

from tests.webhooks.conftest import SECRET, drain
from ticketing.models.webhooks import WebhookEvent
from ticketing.services.webhooks import sign, verify_signature

BODY = b'{"id":"abc","type":"ticket.created"}'
T = 1_780_000_000


def test_signature_is_hmac_sha256_over_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, T)
    expected = hmac.new(SECRET.encode(), f"{T}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={T},v1={expected}"


def test_good_signature_verifies() -> None:
    assert verify_signature(SECRET, sign(SECRET, BODY, T), BODY, now=T + 10)
    assert verify_signature(SECRET, sign(SECRET, BODY), BODY)  # the current time by default


def test_tampered_body_wrong_secret_and_garbage_fail() -> None:
    header = sign(SECRET, BODY, T)
    assert not verify_signature(SECRET, header, BODY.replace(b"created", b"updated"), now=T)
    assert not verify_signature("whsec_other", header, BODY, now=T)
    assert not verify_signature(SECRET, header.replace(f"t={T}", f"t={T + 1}"), BODY, now=T)  # ts is signed too
    for bad in (None, "", "v1=abc", f"t={T}", f"t=abc,v1={'0' * 64}", "garbage"):
        assert not verify_signature(SECRET, bad, BODY, now=T)


def test_old_and_future_timestamps_are_refused() -> None:
    header = sign(SECRET, BODY, T)
    assert verify_signature(SECRET, header, BODY, now=T + 300)
    assert not verify_signature(SECRET, header, BODY, now=T + 301)  # a replay 5 minutes later
    assert not verify_signature(SECRET, header, BODY, now=T - 301)
    assert verify_signature(SECRET, header, BODY, tolerance_seconds=3600, now=T + 3000)


def test_rotation_any_v1_may_match() -> None:
    new = sign("whsec_new", BODY, T)
    old_sig = sign(SECRET, BODY, T).split("v1=")[1]
    header = f"{new},v1={old_sig}"
    assert verify_signature(SECRET, header, BODY, now=T)
    assert verify_signature("whsec_new", header, BODY, now=T)


def test_delivered_requests_carry_verifiable_headers(db, make, now, subscribe, receiver, redis_url) -> None:
    subscribe(event_types=["ticket.created"])
    make.ticket(now=now)
    db.commit()
    drain(redis_url)
    [receipt] = receiver.receipts
    event = db.scalar(sa.select(WebhookEvent))
    headers = receipt.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-bluehill-event-id"] == event.id == receipt.json["id"]
    assert headers["x-bluehill-event"] == "ticket.created"
    assert headers["x-bluehill-signature"].startswith(f"t={headers['x-bluehill-timestamp']},v1=")
    assert abs(int(headers["x-bluehill-timestamp"]) - time.time()) < 60
    assert verify_signature(SECRET, headers["x-bluehill-signature"], receipt.body)
    assert not verify_signature(SECRET, headers["x-bluehill-signature"], receipt.body + b" ")
