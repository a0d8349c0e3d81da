"""What customer tokens can never get: internal entries, other customers' tickets, or fields they may not set."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.api.conftest import CUSTOMERS, call
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.models import Interaction, Ticket


def customer_surfaces(client, apiw, role: str) -> dict[str, str]:
    t = apiw.w.acme_ticket.id
    paths = ["/me", "/tickets", "/tickets?status=open", "/tickets?sort=created_at", f"/tickets/{t}",
             f"/tickets/{t}/interactions", f"/tickets/{t}/interactions?limit=1", "/contacts", "/customers",
             f"/customers/{apiw.w.alice.customer_id}", "/forms", "/forms/report-a-bug"]  # fmt: skip
    ids = [i.id for i in apiw.w.acme_ticket.interactions]
    paths += [f"/tickets/{t}/interactions/{i}" for i in ids]
    out = {}
    for path in paths:
        response = call(client, apiw, role, "GET", path)
        assert response.status_code in (200, 404), path
        out[path] = response.get_data(as_text=True)
    # Writes answer with the resource: they must be as clean as the reads.
    out["reply"] = call(client, apiw, role, "POST", f"/tickets/{t}/interactions", {"body": "thanks"}).get_data(
        as_text=True
    )
    out["close"] = call(client, apiw, role, "PATCH", f"/tickets/{t}", {"status": "closed"}).get_data(as_text=True)
    return out


@pytest.mark.parametrize("role", CUSTOMERS)
def test_no_secret_marker_in_any_customer_response(client, apiw, role) -> None:
    surfaces = customer_surfaces(client, apiw, role)
    for path, body in surfaces.items():
        leaked = [m for m in apiw.w.secrets if m in body]
        assert not leaked, f"{leaked} leaked on {path}"
        assert "SECRET-" not in body, path
    timeline = surfaces[f"/tickets/{apiw.w.acme_ticket.id}/interactions"]
    for marker in apiw.w.public:
        assert marker in timeline


def test_customer_timeline_has_only_visible_types(client, apiw) -> None:
    data = call(client, apiw, "cust_own", "GET", f"/tickets/{apiw.w.acme_ticket.id}/interactions").get_json()["data"]
    assert {i["type"] for i in data} == {"email_inbound", "email_outbound", "sms"}
    assert all(set(i) == {"id", "ticket_id", "type", "author", "body_text", "body_html", "created_at", "attachments"}
               for i in data)  # fmt: skip


def test_staff_timeline_has_everything_marked(client, apiw) -> None:
    data = call(client, apiw, "agent_in", "GET", f"/tickets/{apiw.w.acme_ticket.id}/interactions").get_json()["data"]
    types = {i["type"] for i in data}
    assert {"internal_note", "note", "phone_call", "meeting", "system", "sms"} <= types
    assert any(not i["customer_visible"] for i in data) and any(i["attachments"] for i in data)


def test_internal_interaction_by_id_is_404_like_a_missing_one(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    kind = InteractionType.INTERNAL_NOTE
    internal = db.scalar(sa.select(Interaction.id).where(Interaction.ticket_id == t, Interaction.type == kind))
    hidden = call(client, apiw, "cust_own", "GET", f"/tickets/{t}/interactions/{internal}")
    missing = call(client, apiw, "cust_own", "GET", f"/tickets/{t}/interactions/99999")
    assert hidden.status_code == missing.status_code == 404 and hidden.data == missing.data
    assert call(client, apiw, "agent_in", "GET", f"/tickets/{t}/interactions/{internal}").status_code == 200


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("GET", "", None), ("GET", "/interactions", None), ("GET", "/interactions/1", None),
     ("PATCH", "", {"status": "closed"}), ("POST", "/interactions", {"body": "hi"}), ("GET", "/time-entries", None)],
)  # fmt: skip
@pytest.mark.parametrize("role", CUSTOMERS)
def test_another_customers_ticket_answers_exactly_like_a_missing_one(client, db, apiw, role, method, suffix, body):
    foreign = call(client, apiw, role, method, f"/tickets/{apiw.w.globex_ticket.id}{suffix}", body)
    missing = call(client, apiw, role, method, f"/tickets/2147483000{suffix}", body)
    assert foreign.status_code == missing.status_code
    assert foreign.data == missing.data
    assert foreign.status_code in (403, 404)  # time entries are staff-only whoever's ticket it is
    db.expire_all()
    globex = db.get(Ticket, apiw.w.globex_ticket.id)
    assert globex.status == Status.OPEN and not [i for i in globex.interactions if i.body_text == "hi"]


def test_huge_ids_are_404_not_errors(client, apiw) -> None:
    for path in ["/tickets/99999999999999999999", "/tickets/9223372036854775808/interactions", "/contacts/0",
                 "/tickets/-1", "/tickets/abc", "/customers/2147483648"]:  # fmt: skip
        response = call(client, apiw, "admin", "GET", path)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found", path


# -- mass assignment ---------------------------------------------------------------------------------------------


def ticket_count(db) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(Ticket))


@pytest.mark.parametrize(
    "extra",
    [{"status": "resolved"}, {"priority": "urgent"}, {"customer_id": 1}, {"team_id": 1}, {"tags": ["vip"]},
     {"assignee_ids": [1]}, {"contact_id": 1}, {"category_id": 1}],
)  # fmt: skip
def test_customer_ticket_create_refuses_staff_fields(client, db, apiw, extra) -> None:
    before = ticket_count(db)
    response = call(client, apiw, "cust_own", "POST", "/tickets", {"subject": "Hi", "body": "x", **extra})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert set(error["fields"]) == set(extra) and error["code"] == "validation_failed"
    assert ticket_count(db) == before


@pytest.mark.parametrize("role", ["admin", "cust_own"])
def test_unknown_fields_are_named_and_nothing_is_written(client, db, apiw, role) -> None:
    before = ticket_count(db)
    response = call(client, apiw, role, "POST", "/tickets", {"subject": "Hi", "is_admin": True, "source": "email"})
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["fields"] == {"is_admin": "unknown field", "source": "unknown field"}
    assert "is_admin" in error["message"]
    assert ticket_count(db) == before


def test_customer_update_refuses_everything_but_status(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    response = call(client, apiw, "cust_own", "PATCH", f"/tickets/{t}",
                    {"status": "closed", "priority": "urgent", "assignee_ids": []})  # fmt: skip
    assert response.status_code == 422
    assert set(response.get_json()["error"]["fields"]) == {"priority", "assignee_ids"}
    db.expire_all()
    assert db.get(Ticket, t).status == Status.OPEN  # the valid part was not applied either


@pytest.mark.parametrize("kind", ["internal_note", "note", "phone_call", "meeting", "email_outbound"])
def test_customer_cannot_post_internal_or_agent_types(client, db, apiw, kind) -> None:
    t = apiw.w.acme_ticket.id
    before = db.scalar(sa.select(sa.func.count()).select_from(Interaction).where(Interaction.ticket_id == t))
    response = call(client, apiw, "cust_admin", "POST", f"/tickets/{t}/interactions", {"type": kind, "body": "x"})
    assert response.status_code == 403 and "type" in response.get_json()["error"]["fields"]
    after = db.scalar(sa.select(sa.func.count()).select_from(Interaction).where(Interaction.ticket_id == t))
    assert after == before


def test_customer_reply_is_an_inbound_message_by_the_contact(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    response = call(client, apiw, "cust_own", "POST", f"/tickets/{t}/interactions", {"body": "It works now"})
    assert response.status_code == 201
    data = response.get_json()
    assert data["type"] == "email_inbound" and data["author"] == {"kind": "contact", "id": apiw.w.alice.id,
                                                                  "name": "Alice"}  # fmt: skip
    entry = db.get(Interaction, data["id"])
    assert entry.author_contact_id == apiw.w.alice.id and entry.author_user_id is None
    assert response.headers["Location"].endswith(f"/api/v1/tickets/{t}/interactions/{data['id']}")


def test_customer_close_and_reopen_follow_the_portal_rules(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    resolve = call(client, apiw, "cust_own", "PATCH", f"/tickets/{t}", {"status": "resolved"})
    assert resolve.status_code == 409 and resolve.get_json()["error"]["code"] == "invalid_transition"
    assert call(client, apiw, "cust_own", "PATCH", f"/tickets/{t}", {"status": "closed"}).get_json()["status"] == (
        "closed"
    )
    assert call(client, apiw, "cust_own", "PATCH", f"/tickets/{t}", {"status": "open"}).status_code == 409
    reply = call(client, apiw, "cust_own", "POST", f"/tickets/{t}/interactions", {"body": "hello?"})
    assert reply.status_code == 409 and "closed" in reply.get_json()["error"]["message"]


def test_customer_created_ticket_is_theirs(client, db, apiw) -> None:
    response = call(client, apiw, "cust_own", "POST", "/tickets", {"subject": "New one", "body": "Please help"})
    assert response.status_code == 201
    ticket = db.get(Ticket, response.get_json()["id"])
    assert ticket.primary_contact_id == apiw.w.alice.id and ticket.customer_id == apiw.w.alice.customer_id
    assert ticket.source.value == "api" and ticket.interactions[0].type == InteractionType.EMAIL_INBOUND
    assert set(response.get_json()) == {"id", "subject", "status", "priority", "source", "customer_id",
                                        "primary_contact_id", "form_data", "created_at", "updated_at",
                                        "resolved_at", "closed_at"}  # fmt: skip


def test_customer_sees_public_update_time_not_internal_activity(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    before = call(client, apiw, "cust_own", "GET", f"/tickets/{t}").get_json()["updated_at"]
    note = call(client, apiw, "agent_in", "POST", f"/tickets/{t}/interactions", {"type": "internal_note", "body": "x"})
    assert note.status_code == 201
    assert call(client, apiw, "cust_own", "GET", f"/tickets/{t}").get_json()["updated_at"] == before
    assert call(client, apiw, "agent_in", "GET", f"/tickets/{t}").get_json()["updated_at"] != before
