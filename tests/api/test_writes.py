"""Writes: one commit at the edge, the resource back (201 + Location for creates), the audit trail naming the
token's user, and clear JSON errors."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.api.conftest import call
from ticketing import read_only_commit
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.models import Contact, Customer, Interaction, OutboundMessage, Ticket, TimeEntry


@pytest.fixture
def commits():
    """Commits that wrote something (a request that only read may end with a COMMIT too: read_only_commit)."""
    seen: list[object] = []

    def listener(conn: sa.Connection) -> None:
        if read_only_commit.wrote(conn):
            seen.append(conn)

    sa.event.listen(sa.engine.Engine, "commit", listener)
    yield seen
    sa.event.remove(sa.engine.Engine, "commit", listener)


def system_entries(db, ticket_id: int) -> list[Interaction]:
    return list(db.scalars(sa.select(Interaction).where(Interaction.ticket_id == ticket_id,
                                                        Interaction.type == InteractionType.SYSTEM)
                           .order_by(Interaction.id)))  # fmt: skip


def test_patch_commits_once_and_audits_as_the_token_user(client, db, apiw, commits) -> None:
    t = apiw.w.acme_ticket.id
    call(client, apiw, "agent_in", "GET", "/me")  # last_used_at is stamped (its own small commit) once a minute
    commits.clear()
    before = len(system_entries(db, t))
    response = call(client, apiw, "agent_in", "PATCH", f"/tickets/{t}",
                    {"status": "in_progress", "priority": "urgent", "tags": ["API", "vip"],
                     "assignee_ids": [apiw.users["agent_in"].id, apiw.users["manager"].id]})  # fmt: skip
    assert response.status_code == 200 and len(commits) == 1
    data = response.get_json()
    assert data["status"] == "in_progress" and data["priority"] == "urgent" and data["tags"] == ["api", "vip"]
    assert data["assignee_ids"] == sorted([apiw.users["agent_in"].id, apiw.users["manager"].id])
    db.expire_all()
    entries = system_entries(db, t)[before:]
    assert {e.meta["field"] for e in entries} == {"status", "priority", "tags", "assignees"}
    agent = apiw.users["agent_in"]
    for entry in entries:
        assert entry.author_user_id == agent.id
        assert entry.meta["actor"] == {"kind": "user", "id": agent.id, "name": "Ina Inside"}
        assert entry.body_text.startswith("Ina Inside changed ")
    listed = call(client, apiw, "agent_in", "GET", f"/tickets/{t}/interactions?type=system&limit=100").get_json()
    assert {"kind": "user", "id": agent.id, "name": "Ina Inside"} in [i["author"] for i in listed["data"]]


def test_customer_close_is_audited_as_the_contact(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    assert call(client, apiw, "cust_admin", "PATCH", f"/tickets/{t}", {"status": "closed"}).status_code == 200
    db.expire_all()
    last = system_entries(db, t)[-1]
    assert last.meta["field"] == "status" and last.meta["actor"]["kind"] == "contact"
    assert last.meta["actor"]["id"] == apiw.w.anna.id


def test_unassign_and_clear_team(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    call(client, apiw, "admin", "PATCH", f"/tickets/{t}", {"assignee_ids": [apiw.users["agent_in"].id]})
    response = call(client, apiw, "admin", "PATCH", f"/tickets/{t}", {"assignee_ids": [], "team_id": None})
    assert response.get_json()["assignee_ids"] == [] and response.get_json()["team_id"] is None


def test_create_returns_201_location_and_the_resource(client, db, apiw, commits) -> None:
    call(client, apiw, "manager", "GET", "/me")
    commits.clear()
    response = call(client, apiw, "manager", "POST", "/tickets",
                    {"subject": "Phone: printer on fire", "body": "Called in", "contact_id": apiw.w.bob.id,
                     "priority": "high", "team_id": apiw.team_b.id, "tags": ["hardware"],
                     "assignee_ids": [apiw.users["agent_out"].id]})  # fmt: skip
    assert response.status_code == 201 and len(commits) == 1
    data = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/tickets/{data['id']}")
    assert data["customer_id"] == apiw.w.bob.customer_id and data["primary_contact_id"] == apiw.w.bob.id
    assert data["team_id"] == apiw.team_b.id and data["priority"] == "high" and data["source"] == "api"
    again = client.get(response.headers["Location"], headers=apiw.headers("manager"))
    assert again.get_json() == data
    ticket = db.get(Ticket, data["id"])
    assert ticket.interactions[0].type == InteractionType.NOTE and ticket.interactions[0].author_user_id == (
        apiw.users["manager"].id
    )
    # agent_out is in Team B and assigned: it sees the new ticket; agent_in does not.
    assert call(client, apiw, "agent_out", "GET", f"/tickets/{data['id']}").status_code == 200
    assert call(client, apiw, "agent_in", "GET", f"/tickets/{data['id']}").status_code == 404


@pytest.mark.parametrize(
    ("body", "fields"),
    [({"subject": "x", "contact_id": 999999}, {"contact_id"}), ({"subject": "x", "team_id": 999999}, {"team_id"}),
     ({"subject": "x", "assignee_ids": [999999]}, {"assignee_ids"}), ({"subject": "   "}, {"subject"}),
     ({}, {"subject"}), ({"subject": 5, "priority": "soon", "tags": "a"}, {"subject", "priority", "tags"}),
     ({"subject": "x" * 301}, {"subject"}), ({"subject": "x", "category_id": 0}, {"category_id"})],
)  # fmt: skip
def test_validation_errors_name_every_field(client, db, apiw, body, fields) -> None:
    response = call(client, apiw, "admin", "POST", "/tickets", body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "validation_failed" and set(error["fields"]) == fields


def test_status_must_be_a_known_value_and_a_legal_move(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    bad = call(client, apiw, "admin", "PATCH", f"/tickets/{t}", {"status": "done"})
    assert bad.status_code == 422
    assert bad.get_json()["error"]["fields"]["status"].startswith("must be one of open, in_progress")
    assert call(client, apiw, "admin", "PATCH", f"/tickets/{t}", {"status": "closed"}).status_code == 200
    conflict = call(client, apiw, "admin", "PATCH", f"/tickets/{t}", {"status": "open"})
    assert conflict.status_code == 409 and conflict.get_json()["error"]["code"] == "invalid_transition"


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [(b"{not json", "application/json", 400), (b"", "application/json", 400), (b"[1, 2]", "application/json", 422),
     (b'"text"', "application/json", 422), (b"subject=x", "application/x-www-form-urlencoded", 400)],
)  # fmt: skip
def test_bodies_that_are_not_json_objects(client, apiw, raw, content_type, status) -> None:
    response = client.post("/api/v1/tickets", data=raw, headers={**apiw.headers("admin"), "Content-Type": content_type})
    assert response.status_code == status and response.is_json


def test_unknown_paths_and_methods_answer_json(client, apiw) -> None:
    missing = call(client, apiw, "admin", "GET", "/nothing-here")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = call(client, apiw, "admin", "DELETE", f"/tickets/{apiw.w.acme_ticket.id}")
    assert wrong.status_code == 405 and set(wrong.headers["Allow"].split(", ")) >= {"GET", "PATCH"}
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"


def test_staff_reply_emails_the_customer_and_is_visible_to_them(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    response = call(client, apiw, "agent_in", "POST", f"/tickets/{t}/interactions",
                    {"type": "email_outbound", "body": "Fixed in **2.1**"})  # fmt: skip
    assert response.status_code == 201
    data = response.get_json()
    assert data["type"] == "email_outbound" and data["customer_visible"] and "<strong>2.1</strong>" in data["body_html"]
    outbound = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.interaction_id == data["id"]))
    assert outbound.to_address == "alice@acme.example"
    timeline = call(client, apiw, "cust_own", "GET", f"/tickets/{t}/interactions").get_json()["data"]
    assert data["id"] in [i["id"] for i in timeline]


def test_call_with_duration_and_duration_only_for_calls(client, apiw) -> None:
    t = apiw.w.acme_ticket.id
    ok = call(client, apiw, "agent_in", "POST", f"/tickets/{t}/interactions",
              {"type": "phone_call", "body": "Talked it through", "duration_minutes": 12})  # fmt: skip
    assert ok.status_code == 201 and ok.get_json()["duration_minutes"] == 12 and not ok.get_json()["customer_visible"]
    bad = call(client, apiw, "agent_in", "POST", f"/tickets/{t}/interactions",
               {"type": "internal_note", "body": "x", "duration_minutes": 5})  # fmt: skip
    assert bad.status_code == 422 and "duration_minutes" in bad.get_json()["error"]["fields"]


def test_mentions_in_internal_notes_notify_colleagues(client, db, apiw) -> None:
    from ticketing.models import Notification

    t = apiw.w.acme_ticket.id
    response = call(client, apiw, "agent_in", "POST", f"/tickets/{t}/interactions",
                    {"type": "internal_note", "body": "@max please look"})  # fmt: skip
    assert response.status_code == 201
    assert db.scalar(sa.select(Notification.user_id)) == apiw.users["manager"].id


def test_time_entries(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    response = call(client, apiw, "agent_in", "POST", f"/tickets/{t}/time-entries",
                    {"minutes": 30, "note": "debugging", "work_date": "2026-03-01"})  # fmt: skip
    assert response.status_code == 201
    data = response.get_json()
    assert data["user_id"] == apiw.users["agent_in"].id and data["work_date"] == "2026-03-01"
    assert client.get(response.headers["Location"], headers=apiw.headers("agent_in")).get_json() == data
    listed = call(client, apiw, "manager", "GET", f"/tickets/{t}/time-entries").get_json()
    assert [e["id"] for e in listed["data"]] == [data["id"]]
    assert db.get(TimeEntry, data["id"]).minutes == 30
    bad_bodies = [({"minutes": 0}, "minutes"), ({"minutes": 1441}, "minutes"),
                  ({"minutes": 5, "work_date": "yesterday"}, "work_date"), ({"note": "x"}, "minutes")]  # fmt: skip
    for body, field in bad_bodies:
        bad = call(client, apiw, "agent_in", "POST", f"/tickets/{t}/time-entries", body)
        assert bad.status_code == 422 and field in bad.get_json()["error"]["fields"]


def test_contacts_create_update_and_conflicts(client, db, apiw) -> None:
    created = call(client, apiw, "agent_out", "POST", "/contacts", {"email": "New.Person@Globex.example"})
    assert created.status_code == 201
    data = created.get_json()
    assert data["email"] == "new.person@globex.example" and data["customer_id"] == apiw.w.bob.customer_id
    duplicate = call(client, apiw, "agent_out", "POST", "/contacts", {"email": "alice@acme.example"})
    assert duplicate.status_code == 409 and "email" in duplicate.get_json()["error"]["fields"]
    moved = call(client, apiw, "admin", "PATCH", f"/contacts/{data['id']}",
                 {"customer_id": apiw.w.alice.customer_id, "portal_role": "customer", "name": "Newt"})  # fmt: skip
    assert moved.status_code == 200 and moved.get_json()["customer_id"] == apiw.w.alice.customer_id
    assert db.get(Contact, data["id"]).portal_role.value == "customer"
    found = call(client, apiw, "admin", "GET", "/contacts?email=NEW.PERSON@globex.example").get_json()["data"]
    assert [c["id"] for c in found] == [data["id"]]
    bad = call(client, apiw, "admin", "POST", "/contacts", {"email": "not-an-address"})
    assert bad.status_code == 422 and bad.get_json()["error"]["fields"] == {"email": "must be an email address"}


def test_customers_create_update_and_domain_conflicts(client, db, apiw) -> None:
    new = {"name": "Initech", "tier": "enterprise", "domains": ["Initech.example", "initech.example"]}
    created = call(client, apiw, "manager", "POST", "/customers", new)
    assert created.status_code == 201
    data = created.get_json()
    assert data["domains"] == ["initech.example"] and data["tier"] == "enterprise"
    clash = call(client, apiw, "manager", "PATCH", f"/customers/{data['id']}", {"domains": ["acme.example"]})
    assert clash.status_code == 409 and "acme.example" in clash.get_json()["error"]["fields"]["domains"]
    change = {"name": "Initech Corp", "domains": ["initech.example", "initrode.example"], "notes": "VIP"}
    renamed = call(client, apiw, "manager", "PATCH", f"/customers/{data['id']}", change)
    assert renamed.get_json()["domains"] == ["initech.example", "initrode.example"]
    db.expire_all()
    assert db.get(Customer, data["id"]).notes == "VIP"
    listed = call(client, apiw, "agent_in", "GET", "/customers?q=inite").get_json()["data"]
    assert [c["name"] for c in listed] == ["Initech Corp"]
    bad = call(client, apiw, "manager", "POST", "/customers", {"name": "X", "domains": ["no-dot"]})
    assert bad.status_code == 422


def test_forms_submit_like_the_portal(client, db, apiw) -> None:
    answers = {"steps": "Click export", "expected": "A CSV", "actual": "A 500", "severity": "Cosmetic"}
    response = call(client, apiw, "cust_own", "POST", "/forms/report-a-bug/submissions",
                    {"subject": "Export broken", "answers": answers})  # fmt: skip
    assert response.status_code == 201
    ticket = db.get(Ticket, response.get_json()["id"])
    assert ticket.primary_contact_id == apiw.w.alice.id and ticket.source.value == "portal"
    assert ticket.assigned_team_id == apiw.team_a.id and ticket.tags == ["bug"] and ticket.priority.value == "high"
    assert {r["name"]: r["value"] for r in ticket.form_data["answers"]}["severity"] == "Cosmetic"
    staff = call(client, apiw, "agent_out", "POST", "/forms/report-a-bug/submissions",
                 {"subject": "For Pat", "answers": answers, "submitter_email": "pat@newco.example",
                  "submitter_name": "Pat"})  # fmt: skip
    assert staff.status_code == 201 and db.get(Ticket, staff.get_json()["id"]).source.value == "web"
    definition = call(client, apiw, "cust_own", "GET", "/forms/report-a-bug").get_json()
    assert [f["name"] for f in definition["fields"]][:2] == ["steps", "expected"]


@pytest.mark.parametrize(
    ("answers", "field"),
    [({"steps": "a", "expected": "b", "actual": "c"}, "answers.severity"),
     ({"steps": "a", "expected": "b", "actual": "c", "severity": "Meh"}, "answers.severity"),
     ({"steps": "a", "expected": "b", "actual": "c", "severity": "Cosmetic", "screenshot": "x.png"},
      "answers.screenshot"),
     ({"steps": "a", "expected": "b", "actual": "c", "severity": "Cosmetic", "extra": 1}, "answers.extra"),
     ({"steps": 5, "expected": "b", "actual": "c", "severity": "Cosmetic"}, "answers.steps")],
)  # fmt: skip
def test_form_answers_are_validated(client, db, apiw, answers, field) -> None:
    before = db.scalar(sa.select(sa.func.count()).select_from(Ticket))
    response = call(client, apiw, "cust_own", "POST", "/forms/report-a-bug/submissions",
                    {"subject": "Bug", "answers": answers})  # fmt: skip
    assert response.status_code == 422 and field in response.get_json()["error"]["fields"]
    assert db.scalar(sa.select(sa.func.count()).select_from(Ticket)) == before


def test_form_submission_field_rules(client, apiw) -> None:
    answers = {"steps": "a", "expected": "b", "actual": "c", "severity": "Cosmetic"}
    mine = call(client, apiw, "cust_own", "POST", "/forms/report-a-bug/submissions",
                {"subject": "x", "answers": answers, "submitter_email": "evil@else.example"})  # fmt: skip
    assert mine.status_code == 422 and mine.get_json()["error"]["fields"] == {
        "submitter_email": "not allowed for customer tokens"
    }
    nobody = call(
        client, apiw, "admin", "POST", "/forms/report-a-bug/submissions", {"subject": "x", "answers": answers}
    )
    assert nobody.status_code == 422 and "contact_id" in nobody.get_json()["error"]["fields"]
    assert call(client, apiw, "admin", "GET", "/forms/no-such-form").status_code == 404


def test_closed_ticket_keeps_status_after_staff_note(client, db, apiw) -> None:
    t = apiw.w.acme_ticket.id
    call(client, apiw, "admin", "PATCH", f"/tickets/{t}", {"status": "closed"})
    assert call(client, apiw, "admin", "POST", f"/tickets/{t}/interactions", {"body": "post-mortem"}).status_code == 201
    db.expire_all()
    assert db.get(Ticket, t).status == Status.CLOSED
