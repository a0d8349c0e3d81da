"""Header injection in outbound mail: CR/LF typed into anything that reaches a header (ticket subject, staff and
product names, addresses) never creates a header. Each message is built by the real renderer
(mail_outbound.build_email), serialised and parsed back, and its headers are compared with the expected set."""

from __future__ import annotations

from collections import Counter
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa

from ticketing.domain.visibility import InteractionType
from ticketing.extensions import mail_policy
from ticketing.models import Branding, Contact, OutboundKind, OutboundMessage, Ticket, User
from ticketing.services import accounts, mail_outbound, mentions
from ticketing.services.interactions import add_interaction

INJECTION = "\r\nBcc: victim@evil.example\r\nX-Injected: yes\r\n\r\n<b>body</b>"
BASE_HEADERS = {"From", "To", "Subject", "Message-ID", "Date", "MIME-Version", "Content-Type"}


def notices(db, ticket: Ticket, rules=None) -> list[OutboundMessage]:  # type: ignore[no-untyped-def]
    """The ticket's "received" notice (queued when a portal ticket was created, else now) and a "resolved" one."""
    rules = rules or mail_policy()
    received = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.ticket_id == ticket.id,
                                                          OutboundMessage.kind == OutboundKind.RECEIVED))  # fmt: skip
    received = received or mail_outbound.queue_acknowledgement(db, ticket, policy=rules, now=ticket.created_at)
    resolved = mail_outbound.queue_resolved_notice(db, ticket, policy=rules, now=ticket.created_at)
    assert received is not None and resolved is not None
    return [received, resolved]


def _parsed(outbound: OutboundMessage, product_name: str = "Support") -> object:
    raw = mail_outbound.build_email(outbound, product_name=product_name).as_bytes()
    head = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]  # the header block (the body may quote anything)
    assert b"\nBcc:" not in head and b"\nX-Injected:" not in head
    return message_from_bytes(raw, policy=policy.default)


def _assert_clean(message) -> None:  # type: ignore[no-untyped-def]
    """Every header once, none injected, none spanning lines."""
    names = Counter(message.keys())
    assert "Bcc" not in names and "X-Injected" not in names, names
    assert all(count == 1 for count in names.values()), names
    assert BASE_HEADERS <= set(names), names
    for name in names:
        assert "\r" not in str(message[name]) and "\n" not in str(message[name]), name


def test_subject_typed_with_crlf_stays_one_subject(client, db, sec) -> None:
    """Through the API, as a customer would; then the acknowledgement and the resolved notice."""
    response = client.post("/api/v1/tickets", json={"subject": "Help" + INJECTION, "body": "hi"},
                           headers={"Authorization": f"Bearer {sec.api.tokens['cust_own']}"})  # fmt: skip
    assert response.status_code == 201
    ticket = db.get(Ticket, response.get_json()["id"])
    assert "\r" not in ticket.subject and "\n" not in ticket.subject
    for outbound in notices(db, ticket):
        message = _parsed(outbound)
        _assert_clean(message)
        assert "Help Bcc: victim@evil.example X-Injected: yes" in message["Subject"]
        assert [str(a) for a in message["To"].addresses] == ["alice@acme.example"]
    db.rollback()


def test_a_stored_subject_with_crlf_is_flattened_by_the_renderer(db, sec, now) -> None:
    """Even a subject that reached the database with CR/LF (a row written by anything else) is one line."""
    outbound = notices(db, db.get(Ticket, sec.acme))[0]
    outbound.subject = "Stored" + INJECTION
    message = _parsed(outbound)
    _assert_clean(message)
    assert "Stored Bcc: victim@evil.example" in message["Subject"]
    db.rollback()


def test_staff_names_in_mention_emails_cannot_add_headers(db, sec, now) -> None:
    author = db.get(User, sec.api.users["admin"].id)
    author.name = "Eve" + INJECTION
    ticket = db.get(Ticket, sec.acme)
    note = add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=author, body_text="@ina look",
                           now=now)  # fmt: skip
    notified = mentions.notify_mentions(db, ticket, note, author=author, policy=mail_policy(), now=now,
                                        ticket_url="http://x/")  # fmt: skip
    assert [u.email for u in notified.notified] == ["ina@bluehill.test"]
    outbound = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.kind == "mention"))
    message = _parsed(outbound)
    _assert_clean(message)
    assert [str(a) for a in message["To"].addresses] == ["ina@bluehill.test"]
    db.rollback()


def test_product_name_with_crlf_stays_a_display_name(db, sec, now) -> None:
    outbound = notices(db, db.get(Ticket, sec.acme))[1]
    message = _parsed(outbound, product_name="Bluehill" + INJECTION)
    _assert_clean(message)
    assert message["From"].addresses[0].addr_spec == outbound.from_address
    db.rollback()


def test_branding_support_address_with_crlf_is_not_sent(db, sec, now) -> None:
    db.add(Branding(product_name="Bluehill", primary_color="#1f5fbf", support_address="help@x.example" + INJECTION))
    db.commit()
    from ticketing.extensions import _build_mail_policy

    outbound = notices(db, db.get(Ticket, sec.acme), _build_mail_policy())[1]
    with pytest.raises(ValueError):  # refused by the renderer: never a message with an extra header
        _parsed(outbound)
    db.rollback()


@pytest.mark.parametrize("purpose", ["invite", "password_reset"])
def test_link_emails_to_a_contact_whose_address_carries_crlf_are_refused(db, sec, now, purpose) -> None:
    """The API and the portal validate addresses; a row with CR/LF (written some other way) is refused at build."""
    contact = db.get(Contact, sec.w.alice.id)
    contact.email = "alice@acme.example" + INJECTION
    outbound = accounts.queue_link_email(db, contact, purpose=purpose, link="http://x/", policy=mail_policy(), now=now)
    with pytest.raises(ValueError):
        _parsed(outbound)
    db.rollback()


@pytest.mark.parametrize("address", ["alice@acme.example\r\nBcc: victim@evil.example", "a@b.example\nX: y"])
def test_addresses_with_line_breaks_are_refused_at_every_door(client, db, sec, address) -> None:
    staff = {"Authorization": f"Bearer {sec.api.tokens['admin']}"}
    response = client.post("/api/v1/contacts", json={"email": address, "name": "X"}, headers=staff)
    assert response.status_code == 422 and "email" in response.get_json()["error"]["fields"]
    from tests.conftest import csrf_token

    page = client.get(f"/forms/{sec.api.form.slug}").get_data(as_text=True)
    form = client.post(f"/forms/{sec.api.form.slug}", data={
        "csrf_token": csrf_token(page), "subject": "s", "email": address, "steps": "a", "expected": "b", "actual": "c",
        "severity": "Cosmetic"})  # fmt: skip
    assert form.status_code == 422
    assert db.scalar(sa.select(sa.func.count()).select_from(Contact).where(Contact.email.contains("\n"))) == 0
