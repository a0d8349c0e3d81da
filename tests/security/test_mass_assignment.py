"""Mass assignment: fields a form or JSON body was never meant to carry (status, priority, customer, team,
internal flags, authorship, roles, ids) change nothing. The portal and the admin forms ignore them (the request
does only what it is for); the API refuses them by name with 422 and stores nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.security.conftest import STAFF_PASSWORD, assert_unchanged, link_token, sign_in, snapshot, token_for
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import PortalRole, Priority, StaffRole
from ticketing.models import Contact, Interaction, Ticket, User

SMUGGLED = {"status": "resolved", "priority": "urgent", "customer_id": "999", "team_id": "1", "category_id": "1",
            "type": "internal_note", "is_internal": "1", "author_user_id": "1", "author_contact_id": "1",
            "assignee": "1", "tags": "vip", "source": "api", "form_id": "1", "role": "admin",
            "portal_role": "customer", "portal_enabled": "y", "password_hash": "x", "id": "1"}  # fmt: skip


def _ticket_state(db, ticket_id: int) -> tuple[Any, ...]:
    db.expire_all()
    t = db.get(Ticket, ticket_id)
    return (t.status, t.priority, t.customer_id, t.assigned_team_id, t.category_id, t.primary_contact_id,
            sorted(t.tags), [u.id for u in t.assignees], t.source, t.subject)  # fmt: skip


def test_portal_reply_adds_only_a_reply(client, db, sec) -> None:
    sign_in(client, "alice@acme.example")
    acme, globex = _ticket_state(db, sec.acme), _ticket_state(db, sec.globex)
    data = {**SMUGGLED, "ticket_id": str(sec.globex), "body": "only a reply",
            "csrf_token": token_for(client, "alice@acme.example")}  # fmt: skip
    assert client.post(f"/tickets/{sec.acme}/reply", data=data).status_code == 303
    assert _ticket_state(db, sec.acme) == acme and _ticket_state(db, sec.globex) == globex
    last = db.scalar(sa.select(Interaction).order_by(Interaction.id.desc()).limit(1))
    assert (last.ticket_id, last.type, last.author_contact_id, last.author_user_id) == (
        sec.acme, InteractionType.EMAIL_INBOUND, sec.w.alice.id, None)  # fmt: skip


def test_portal_status_change_changes_only_the_status(client, db, sec) -> None:
    sign_in(client, "alice@acme.example")
    before = _ticket_state(db, sec.acme)
    data = {**SMUGGLED, "status": "closed", "csrf_token": token_for(client, "alice@acme.example")}
    assert client.post(f"/tickets/{sec.acme}/status", data=data).status_code == 303
    after = _ticket_state(db, sec.acme)
    assert after[0] == Status.CLOSED and after[1:] == before[1:]


def test_portal_form_decides_what_the_form_decides(client, db, sec) -> None:
    page = client.get(f"/forms/{sec.api.form.slug}").get_data(as_text=True)
    data = {**SMUGGLED, "csrf_token": csrf_token(page), "subject": "Form", "email": "pat@newco.example",
            "steps": "a", "expected": "b", "actual": "c", "severity": "Cosmetic"}  # fmt: skip
    assert client.post(f"/forms/{sec.api.form.slug}", data=data).status_code == 200
    ticket = db.scalar(sa.select(Ticket).where(Ticket.subject == "Form"))
    form = sec.api.form
    assert (ticket.status, ticket.priority, ticket.assigned_team_id, sorted(ticket.tags)) == (
        Status.OPEN, form.priority, form.team_id, sorted(form.tags))  # fmt: skip
    assert ticket.customer_id is None and ticket.primary_contact.email == "pat@newco.example"


def test_password_reset_sets_only_the_password(client, db, sec) -> None:
    token = link_token(sec.w.alice.id)
    data = {**SMUGGLED, "email": "mallory@evil.example", "password": "brand-new-pass-1", "confirm": "brand-new-pass-1",
            "csrf_token": token_for(client, "anonymous")}  # fmt: skip
    assert client.post(f"/reset/{token}", data=data).status_code == 302
    db.expire_all()
    alice = db.get(Contact, sec.w.alice.id)
    assert (alice.email, alice.portal_role, alice.customer_id) == ("alice@acme.example", PortalRole.OWN,
                                                                  sec.w.acme_ticket.customer_id)  # fmt: skip
    assert alice.check_password("brand-new-pass-1")


def test_agent_properties_change_only_properties(client, db, sec) -> None:
    sign_in(client, "agent_in")
    before = _ticket_state(db, sec.acme)
    data = {"subject": "renamed", "customer_id": str(sec.w.bob.customer_id), "primary_contact_id": str(sec.w.bob.id),
            "source": "api", "priority": "high", "csrf_token": token_for(client, "agent_in")}  # fmt: skip
    assert client.post(f"/admin/ticket/{sec.acme}/properties", data=data).status_code == 303
    after = _ticket_state(db, sec.acme)
    assert after[1] == Priority.HIGH
    assert (after[0], *after[2:]) == (before[0], *before[2:])


def test_an_agent_cannot_make_themselves_admin(client, db, sec) -> None:
    me = sec.api.users["agent_in"]
    sign_in(client, "agent_in")
    before = snapshot()
    data = {
        "name": "Ina",
        "email": me.email,
        "role": "admin",
        "active": "y",
        "csrf_token": token_for(client, "agent_in"),
    }
    assert client.post(f"/admin/user/edit/?id={me.id}", data=data).status_code == 403
    assert client.post("/admin/user/new/", data={**data, "email": "new-admin@bluehill.test"}).status_code == 403
    assert_unchanged(before, "an agent editing staff")
    assert db.get(User, me.id).role == StaffRole.AGENT


def test_admin_contact_form_ignores_fields_it_does_not_show(client, db, sec) -> None:
    alice = db.get(Contact, sec.w.alice.id)
    old_hash = alice.password_hash
    sign_in(client, "admin")
    data = {"name": "Alice A.", "email": alice.email, "portal_role": "own", "portal_enabled": "y",
            "customer": str(alice.customer_id), "password_hash": "pbkdf2:sha256:1$x$y", "id": "999",
            "csrf_token": token_for(client, "admin")}  # fmt: skip
    assert client.post(f"/admin/contact/edit/?id={alice.id}", data=data).status_code == 302
    db.expire_all()
    alice = db.get(Contact, sec.w.alice.id)
    assert (alice.id, alice.name, alice.password_hash) == (sec.w.alice.id, "Alice A.", old_hash)
    assert alice.check_password("portal-pass-123") and not alice.check_password(STAFF_PASSWORD)


API_CASES = [  # (caller, method, path, body, the refused field names)
    ("cust_own", "POST", "/tickets", {"subject": "s", "priority": "urgent", "customer_id": 2, "team_id": 1},
     {"priority", "customer_id", "team_id"}),
    ("cust_own", "POST", "/tickets", {"subject": "s", "status": "resolved", "id": 1, "source": "email"},
     {"status", "id", "source"}),
    ("cust_own", "PATCH", "/tickets/{acme}", {"priority": "urgent"}, {"priority"}),
    ("cust_own", "PATCH", "/tickets/{acme}", {"status": "closed", "customer_id": 2}, {"customer_id"}),
    ("cust_own", "POST", "/tickets/{acme}/interactions", {"body": "b", "is_internal": True, "ticket_id": 3},
     {"is_internal", "ticket_id"}),
    ("cust_own", "POST", "/forms/report-a-bug/submissions",
     {"subject": "s", "answers": {}, "contact_id": 1, "submitter_email": "x@y.example"},
     {"contact_id", "submitter_email"}),
    ("admin", "POST", "/tickets/{acme}/interactions", {"body": "b", "author_user_id": 2, "created_at": "2020"},
     {"author_user_id", "created_at"}),
    ("admin", "POST", "/contacts", {"email": "n@acme.example", "password_hash": "x", "id": 1},
     {"password_hash", "id"}),
    ("admin", "PATCH", "/customers/{acme_customer}", {"name": "X", "id": 99, "created_at": "2020"},
     {"id", "created_at"}),
    ("admin", "POST", "/tickets/{acme}/time-entries", {"minutes": 5, "user_id": 1}, {"user_id"}),
]  # fmt: skip


@pytest.mark.parametrize(("caller", "method", "path", "body", "refused"), API_CASES,
                         ids=[f"{c[0]} {c[1]} {c[2]} +{','.join(sorted(c[4]))}" for c in API_CASES])  # fmt: skip
def test_api_refuses_smuggled_fields_by_name(client, db, sec, caller, method, path, body, refused) -> None:
    before = snapshot()
    url = "/api/v1" + path.format(acme=sec.acme, acme_customer=sec.w.alice.customer_id)
    response = client.open(url, method=method, json=body,
                           headers={"Authorization": f"Bearer {sec.api.tokens[caller]}"})  # fmt: skip
    assert response.status_code == 422, response.get_json()
    assert set(response.get_json()["error"]["fields"]) == refused
    assert_unchanged(before, f"{method} {path} with {sorted(refused)}")


@pytest.mark.parametrize("email", ["not-an-address", "alice@acme.example\r\nBcc: x@evil.example", ""])
def test_the_admin_contact_form_refuses_an_unusable_address(client, db, sec, email) -> None:
    sign_in(client, "admin")
    alice = db.get(Contact, sec.w.alice.id)
    data = {"name": "Alice", "email": email, "portal_role": "own", "customer": str(alice.customer_id),
            "csrf_token": token_for(client, "admin")}  # fmt: skip
    response = client.post(f"/admin/contact/edit/?id={alice.id}", data=data)
    assert response.status_code == 200  # the form again, with its error
    db.expire_all()
    assert db.get(Contact, alice.id).email == sec.w.alice.email


def test_the_admin_contact_form_stores_the_address_normalised(client, db, sec) -> None:
    sign_in(client, "admin")
    data = {"name": "Nora", "email": "  Nora.New@Acme.Example ", "portal_role": "own",
            "customer": str(sec.w.alice.customer_id), "csrf_token": token_for(client, "admin")}  # fmt: skip
    assert client.post("/admin/contact/new/", data=data).status_code == 302
    assert db.scalar(sa.select(Contact).where(Contact.name == "Nora")).email == "nora.new@acme.example"
