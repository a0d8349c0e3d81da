"""Agent queues and the ticket workspace: access by role and team, every action through the services."""

from __future__ import annotations

import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token, login_staff
from ticketing import jobs
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType, SmsStatus
from ticketing.domain.vocab import PortalRole, Priority, StaffRole
from ticketing.models import (
    CannedResponse,
    Interaction,
    MailThreadRef,
    Notification,
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
    SmsProvider,
    Ticket,
    TicketTag,
)
from ticketing.services import customer_view, queues, tickets, timelog
from ticketing.services.interactions import add_interaction
from ticketing.services.staff_access import visible_clause

PW = "staff-pass-1"


@pytest.fixture
def desk(db, make, now):
    billing, integrations = make.team("Billing"), make.team("Integrations")
    people = {
        "agent": make.user(email="agent@bluehill.test", name="Priya", password=PW, teams=[billing]),
        "lena": make.user(email="lena@bluehill.test", name="Lena", password=PW, teams=[integrations]),
        "manager": make.user(email="manager@bluehill.test", name="Morgan", password=PW, role=StaffRole.MANAGER),
        "admin": make.user(email="admin@bluehill.test", name="Alex", password=PW, role=StaffRole.ADMIN),
    }
    make.policy(None, None, {Priority.MEDIUM: (60, 480), Priority.HIGH: (30, 120), Priority.URGENT: (15, 60)})
    customer = make.customer("Acme", domains=("acme.example",))
    contact = make.contact(customer, email="jane@acme.example", name="Jane", phone="+4915112345678")
    billing_ticket = make.ticket(now=now, contact=contact, subject="Invoice wrong", team=billing)
    integ_ticket = make.ticket(now=now, contact=contact, subject="<script>alert(1)</script> SSO broken",
                               team=integrations)  # fmt: skip
    inbox_ticket = make.ticket(now=now, contact=contact, subject="No team yet")
    db.commit()
    return {"people": people, "billing": billing_ticket, "integ": integ_ticket, "inbox": inbox_ticket,
            "contact": contact, "teams": (billing, integrations)}  # fmt: skip


@pytest.mark.parametrize(
    ("who", "ticket", "status"),
    [
        ("agent", "billing", 200),
        ("agent", "inbox", 200),
        ("agent", "integ", 404),
        ("lena", "integ", 200),
        ("lena", "billing", 404),
        ("manager", "integ", 200),
        ("admin", "billing", 200),
    ],
)
def test_workspace_access_by_role_and_team(client, desk, who, ticket, status) -> None:
    login_staff(client, f"{who}@bluehill.test", PW)
    assert client.get(f"/admin/ticket/{desk[ticket].id}").status_code == status


def test_an_assignee_opens_another_teams_ticket_and_others_still_cannot(client, db, desk, now) -> None:
    # The page's statement is built once for every agent: the user is a parameter, not baked in.
    tickets.add_assignee(db, desk["billing"], desk["people"]["lena"], actor=None, now=now)
    db.commit()
    login_staff(client, "lena@bluehill.test", PW)
    assert client.get(f"/admin/ticket/{desk['billing'].id}").status_code == 200
    client.post("/agent/logout", data={"csrf_token": csrf_token(client.get("/admin/queues/mine").get_data(True))})
    login_staff(client, "agent@bluehill.test", PW)
    assert client.get(f"/admin/ticket/{desk['integ'].id}").status_code == 404


def test_customers_and_strangers_never_reach_agent_screens(client, db, make, desk) -> None:
    for url in (f"/admin/ticket/{desk['billing'].id}", "/admin/queues/mine", "/admin/queues/all"):
        assert client.get(url).status_code == 302
    contact = make.contact(make.customer(), password=PW)
    db.commit()
    with client.session_transaction() as session:
        session["_user_id"] = contact.get_id()
    assert client.get(f"/admin/ticket/{desk['billing'].id}").status_code == 302
    forged = client.post(f"/admin/ticket/{desk['billing'].id}/compose", data={"kind": "note", "body": "x"})
    assert forged.status_code == 400  # no CSRF token: refused before anything else
    assert not entries(client.application.extensions["sqlalchemy"].session, desk["billing"].id,
                       InteractionType.INTERNAL_NOTE)  # fmt: skip


def test_all_queue_is_for_managers(client, desk) -> None:
    login_staff(client, "agent@bluehill.test", PW)
    assert client.get("/admin/queues/all").status_code == 403
    login_staff(client, "manager@bluehill.test", PW)
    assert client.get("/admin/queues/all").status_code == 200


def test_queue_rows_escape_customer_input(client, desk) -> None:
    login_staff(client, "manager@bluehill.test", PW)
    body = client.get("/admin/queues/all").get_data(as_text=True)
    assert "&lt;script&gt;alert(1)&lt;/script&gt; SSO broken" in body and "<script>alert(1)</script>" not in body
    page = client.get(f"/admin/ticket/{desk['integ'].id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page


def post(client, ticket_id: int, action: str, data: dict, **kw):
    page = client.get(f"/admin/ticket/{ticket_id}").get_data(as_text=True)
    return client.post(f"/admin/ticket/{ticket_id}/{action}", data={**data, "csrf_token": csrf_token(page)}, **kw)


def entries(db, ticket_id: int, kind: InteractionType) -> list[Interaction]:
    return list(db.scalars(sa.select(Interaction).where(Interaction.ticket_id == ticket_id, Interaction.type == kind)
                           .order_by(Interaction.id)))  # fmt: skip


def test_reply_note_call_meeting(client, db, desk) -> None:
    login_staff(client, "agent@bluehill.test", PW)
    t = desk["billing"].id
    assert post(client, t, "compose", {"kind": "reply", "body": "We **fixed** it."}).status_code == 303
    assert post(client, t, "compose", {"kind": "note", "body": "Pinging @manager about this"}).status_code == 303
    post(client, t, "compose", {"kind": "call", "body": "Called Jane", "duration": "12"})
    post(client, t, "compose", {"kind": "meeting", "body": "Review", "duration": "30"})
    db.expire_all()
    reply = entries(db, t, InteractionType.EMAIL_OUTBOUND)[0]
    assert "<strong>fixed</strong>" in reply.body_html
    outbound = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.interaction_id == reply.id))
    assert outbound.to_address == "jane@acme.example" and db.get(Ticket, t).first_response_at is not None
    assert entries(db, t, InteractionType.PHONE_CALL)[0].duration_minutes == 12
    assert entries(db, t, InteractionType.MEETING)[0].duration_minutes == 30
    manager = desk["people"]["manager"]  # (a manager opens every ticket; Lena, of another team, cannot)
    notice = db.scalar(sa.select(Notification).where(Notification.user_id == manager.id))
    assert notice.ticket_id == t and "Priya mentioned you" in notice.text
    mention_mail = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.kind == OutboundKind.MENTION))
    assert mention_mail.to_address == "manager@bluehill.test"
    # None of the internal entries is customer-visible.
    visible = {i.type for i in customer_view.timeline(db, db.get(Ticket, t))}
    assert visible == {InteractionType.EMAIL_INBOUND, InteractionType.EMAIL_OUTBOUND}


def test_properties_assignees_time(client, db, desk) -> None:
    login_staff(client, "manager@bluehill.test", PW)
    t = desk["billing"].id
    _, integrations = desk["teams"]
    post(client, t, "properties", {"status": "in_progress", "priority": "high", "team_id": integrations.id,
                                   "category_id": "", "tags": "vip, Billing"})  # fmt: skip
    for user in ("agent", "lena"):
        post(client, t, "assignees", {"user_id": desk["people"][user].id})
    post(client, t, "assignees", {"user_id": desk["people"]["agent"].id, "op": "remove"})
    post(client, t, "time", {"minutes": "25", "note": "Checked the invoice run"})
    db.expire_all()
    ticket = db.get(Ticket, t)
    assert ticket.status == Status.IN_PROGRESS and ticket.priority == Priority.HIGH
    assert ticket.assigned_team_id == integrations.id and ticket.tags == ["billing", "vip"]
    assert [u.name for u in ticket.assignees] == ["Lena"]
    assert ticket.time_entries[0].minutes == 25
    fields = [i.meta["field"] for i in entries(db, t, InteractionType.SYSTEM)]
    assert {"status", "priority", "team", "tags", "assignees", "time_logged"} <= set(fields)
    bad = post(client, t, "properties", {"status": "closed"})
    assert bad.status_code == 303


def test_time_card_shows_the_total_and_the_five_latest_entries(client, db, desk, now) -> None:
    login_staff(client, "manager@bluehill.test", PW)
    ticket, people = desk["billing"], desk["people"]
    other = desk["integ"]  # another ticket's time counts nowhere here
    timelog.log_time(db, other, user=people["lena"], minutes=500, now=now, note="elsewhere")
    for day, (who, minutes) in enumerate([("agent", 10), ("lena", 20), ("agent", 30), ("manager", 40),
                                          ("agent", 50), ("lena", 60), ("manager", 70)]):  # fmt: skip
        timelog.log_time(db, ticket, user=people[who], minutes=minutes, now=now, note=f"step {day}",
                         work_date=now.date() - timedelta(days=6 - day))  # fmt: skip
    db.commit()
    page = client.get(f"/admin/ticket/{ticket.id}").get_data(as_text=True)
    assert "Time · 4h 40m on this ticket" in page  # 280 minutes: all seven entries, not only the ones listed
    card = page.split("Time · ", 1)[1].split("</ul>", 1)[0]
    listed = re.findall(r"<li>(\S+) · (\w+) · (\d+) min — (step \d)</li>", card)
    assert listed == [
        (str(now.date() - timedelta(days=6 - d)), name, str(m), f"step {d}")
        for d, name, m in [(6, "Morgan", 70), (5, "Lena", 60), (4, "Priya", 50), (3, "Morgan", 40), (2, "Priya", 30)]
    ]
    empty = client.get(f"/admin/ticket/{desk['inbox'].id}").get_data(as_text=True)
    assert "Time · 0h 0m on this ticket" in empty


def test_merge_moves_timeline_contacts_and_thread(client, db, make, desk, now) -> None:
    login_staff(client, "manager@bluehill.test", PW)
    source, target = desk["billing"], desk["inbox"]
    db.add(MailThreadRef(message_id="thread-of-source@client.example", ticket_id=source.id))
    # Copied in on the source, and sees all of Acme's tickets anyway (merged, each contact sees both timelines).
    colleague = make.contact(source.customer, email="bob@acme.example", portal_role=PortalRole.CUSTOMER)
    source.contacts.append(colleague)
    db.commit()
    moved = len(entries(db, source.id, InteractionType.EMAIL_INBOUND))
    response = post(client, source.id, "merge", {"target": f"#{target.id}"})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/admin/ticket/{target.id}")
    db.expire_all()
    assert db.get(Ticket, source.id).merged_into_id == target.id and db.get(Ticket, source.id).status == Status.CLOSED
    assert len(entries(db, target.id, InteractionType.EMAIL_INBOUND)) == 1 + moved
    assert colleague in db.get(Ticket, target.id).contacts
    assert db.get(MailThreadRef, "thread-of-source@client.example").ticket_id == target.id
    assert post(client, target.id, "merge", {"target": str(target.id)}).status_code == 303  # refused, flashed


def test_presence_shows_who_else_is_here(app, db, desk, redis_url) -> None:
    from tests.conftest import IsolatedClient

    app.test_client_class = IsolatedClient
    priya, lena = app.test_client(), app.test_client()
    login_staff(priya, "manager@bluehill.test", PW)
    login_staff(lena, "admin@bluehill.test", PW)
    t = desk["integ"].id
    priya_token = csrf_token(priya.get(f"/admin/ticket/{t}").get_data(as_text=True))
    page = lena.get(f"/admin/ticket/{t}").get_data(as_text=True)
    token = csrf_token(page)
    assert 'hx-trigger="load, every 10s"' in page  # the page asks for presence as soon as it has loaded

    def poll(client, token: str, state: str = "viewing") -> str:
        response = client.post(f"/admin/ticket/{t}/presence", data={"state": state}, headers={"X-CSRFToken": token})
        return response.get_data(as_text=True)

    assert "is viewing" not in poll(priya, priya_token)  # Priya's first poll: nobody else yet
    assert "<strong>Morgan</strong> is viewing this ticket" in poll(lena, token)
    poll(priya, priya_token, "replying")
    assert "<strong>Morgan</strong> is writing a reply" in poll(lena, token)


def test_canned_response_placeholders(client, db, desk) -> None:
    response = CannedResponse(title="Hello", body="Hi {contact}, about {ticket} ({subject}) — {agent} {unknown}")
    db.add(response)
    db.commit()
    login_staff(client, "agent@bluehill.test", PW)
    text = client.get(f"/admin/ticket/{desk['billing'].id}/canned/{response.id}").get_data(as_text=True)
    assert text == f"Hi Jane, about #{desk['billing'].id} (Invoice wrong) — Priya {{unknown}}"


class Receiver(BaseHTTPRequestHandler):
    calls: list[tuple[str, str, str]] = []

    def do_POST(self):  # noqa: N802 - http.server's hook name
        length = int(self.headers["Content-Length"])
        Receiver.calls.append((self.path, self.headers["Authorization"], self.rfile.read(length).decode()))
        body = json.dumps({"sid": "SM123"}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_sms_logged_without_provider_and_sent_with_one(client, db, desk) -> None:
    login_staff(client, "agent@bluehill.test", PW)
    t, contact = desk["billing"].id, desk["contact"]
    post(client, t, "compose", {"kind": "sms", "body": "Logged text", "contact_id": contact.id})
    refused = post(client, t, "compose", {"kind": "sms", "body": "Send me", "contact_id": contact.id, "send": "1"})
    assert refused.status_code == 303
    assert [(i.body_text, i.sms_status) for i in entries(db, t, InteractionType.SMS)] == [
        ("Logged text", SmsStatus.LOGGED)
    ]
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        db.add(SmsProvider(name="Test", base_url=f"http://127.0.0.1:{server.server_port}/2010-04-01",
                           account_id="AC1", auth_token="tok", from_number="+15550001"))  # fmt: skip
        db.commit()
        post(client, t, "compose", {"kind": "sms", "body": "Your invoice is fixed", "contact_id": contact.id,
                                    "send": "1"})  # fmt: skip
        queued = entries(db, t, InteractionType.SMS)[-1]
        assert queued.sms_status == SmsStatus.QUEUED
        assert not [i for i in customer_view.timeline(db, db.get(Ticket, t)) if i.type == InteractionType.SMS]
        assert jobs.send_sms(queued.id) == "sent SM123"
    finally:
        server.shutdown()
    db.expire_all()
    assert db.get(Interaction, queued.id).sms_status == SmsStatus.SENT
    path, auth, form = Receiver.calls[-1]
    assert path == "/2010-04-01/Accounts/AC1/Messages.json" and auth.startswith("Basic ")
    assert "To=%2B4915112345678" in form and "Body=Your+invoice+is+fixed" in form
    sms_visible = [i.body_text for i in customer_view.timeline(db, db.get(Ticket, t)) if i.type == InteractionType.SMS]
    assert sms_visible == ["Your invoice is fixed"]  # the logged one stays internal


def test_bulk_actions_respect_visibility(client, db, desk) -> None:
    login_staff(client, "agent@bluehill.test", PW)
    page = client.get("/admin/queues/mine").get_data(as_text=True)
    ids = [desk["billing"].id, desk["integ"].id]  # the agent may not touch the Integrations ticket
    client.post("/admin/queues/bulk", data={"csrf_token": csrf_token(page), "action": "priority", "value": "urgent",
                                            "ids": ids, "back": "/admin/queues/mine"})  # fmt: skip
    client.post("/admin/queues/bulk", data={"csrf_token": csrf_token(page), "action": "tag", "tag": "Escalated",
                                            "ids": ids})  # fmt: skip
    client.post("/admin/queues/bulk", data={"csrf_token": csrf_token(page), "action": "assign",
                                            "value": f"user:{desk['people']['agent'].id}", "ids": ids})  # fmt: skip
    db.expire_all()
    billing, integ = db.get(Ticket, desk["billing"].id), db.get(Ticket, desk["integ"].id)
    assert billing.priority == Priority.URGENT and billing.tags == ["escalated"] and billing.assignees
    assert integ.priority == Priority.MEDIUM and integ.tags == [] and not integ.assignees
    # The value box starts on "Choose a value…": an action without one changes nothing and says so.
    assert '<select class="form-control form-control-sm mr-1" id="bulk-value" name="value">' in page
    assert '<option value="" selected>Choose a value…</option>' in page
    answer = client.post("/admin/queues/bulk", data={"csrf_token": csrf_token(page), "action": "team", "value": "",
                                                     "ids": ids}, follow_redirects=True)  # fmt: skip
    assert "Choose a value for “Set team”." in answer.get_data(as_text=True)
    # A value of another kind (a status, or a person: their ids overlap with teams') is refused, not a team cleared.
    for wrong in ("open", f"user:{desk['teams'][1].id}", "team:²"):
        form = {"csrf_token": csrf_token(page), "action": "team", "value": wrong, "ids": ids}
        answer = client.post("/admin/queues/bulk", data=form, follow_redirects=True)
        assert "choose a value that fits “Set team”" in answer.get_data(as_text=True), wrong
    assert f'value="team:{desk["teams"][0].id}"' in page and f'value="user:{desk["people"]["agent"].id}"' in page
    db.expire_all()
    assert db.get(Ticket, desk["billing"].id).assigned_team_id == desk["teams"][0].id
    # Remove tag takes the tag box too; a ticket the agent may not open keeps its tags.
    db.get(Ticket, desk["integ"].id).tag_rows.append(TicketTag(tag="escalated"))
    db.commit()
    form = {"csrf_token": csrf_token(page), "action": "untag", "tag": " Escalated ", "ids": ids}
    answer = client.post("/admin/queues/bulk", data=form, follow_redirects=True)
    assert "Remove tag: 1 ticket(s) updated." in answer.get_data(as_text=True)
    db.expire_all()
    assert db.get(Ticket, desk["billing"].id).tags == [] and db.get(Ticket, desk["integ"].id).tags == ["escalated"]
    # No tag typed: nothing changes, and the bar says so; markup typed as a tag is stored as a plain tag and escaped.
    form = {"csrf_token": csrf_token(page), "action": "untag", "tag": "  ", "ids": ids}
    answer = client.post("/admin/queues/bulk", data=form, follow_redirects=True).get_data(as_text=True)
    assert "Choose a value for “Remove tag”." in answer
    form = {"csrf_token": csrf_token(page), "action": "tag", "tag": "<script>x</script>", "ids": ids}
    answer = client.post("/admin/queues/bulk", data=form, follow_redirects=True).get_data(as_text=True)
    assert "<script>x" not in answer
    db.expire_all()
    assert db.get(Ticket, desk["billing"].id).tags == ["script-x-script"]


def test_queues_keyset_pages_and_breaching_order(db, make, desk, now) -> None:
    manager = desk["people"]["manager"]
    contact = desk["contact"]
    for n in range(7):
        make.ticket(now=now - timedelta(minutes=n * 10), contact=contact, subject=f"Bulk {n}",
                    priority=Priority.URGENT if n % 2 else Priority.MEDIUM)  # fmt: skip
    db.commit()
    filters = queues.Filters(sort="updated")
    seen, after = [], None
    while True:
        rows = queues.page(db, manager, "all", filters, after=after, limit=3)
        if not rows:
            break
        seen += [r.id for r in rows]
        after = queues.parse_cursor(queues.cursor_of(rows[-1], filters, "all"), filters, "all")
    assert len(seen) == len(set(seen)) == db.scalar(sa.select(sa.func.count()).select_from(Ticket))
    breaching = queues.page(db, manager, "breaching", queues.Filters())
    dues = [t.due_date for t in breaching]
    assert dues == sorted(dues) and len(dues) >= 7
    found = queues.page(db, manager, "all", queues.Filters(query="jane@acme"))
    assert len(found) == len(seen)
    assert [t.subject for t in queues.page(db, manager, "all", queues.Filters(query="Invoice wrong"))] == [
        "Invoice wrong"]  # fmt: skip
    agent_can_see = set(db.scalars(sa.select(Ticket.id).where(visible_clause(desk["people"]["agent"]))))
    assert desk["integ"].id not in agent_can_see and desk["inbox"].id in agent_can_see


def test_model_lists_and_details_are_team_scoped(client, desk) -> None:
    login_staff(client, "agent@bluehill.test", PW)
    listing = client.get("/admin/tickets/").get_data(as_text=True)
    assert "Invoice wrong" in listing and "SSO broken" not in listing
    assert "SSO broken" not in client.get("/admin/interactions/?search=SSO").get_data(as_text=True)
    details = client.get(f"/admin/tickets/details/?id={desk['integ'].id}")
    assert details.status_code == 302  # Flask-Admin sends a missing record back to the list
    assert "SSO broken" not in client.get(details.headers["Location"]).get_data(as_text=True)
    login_staff(client, "lena@bluehill.test", PW)
    assert "SSO broken" in client.get("/admin/tickets/").get_data(as_text=True)


def test_reports_page_and_csv_neutralise_formulas(client, db, desk, now) -> None:
    from ticketing.models import Category

    evil = Category(name='=HYPERLINK("http://evil.example","click")')
    db.add(evil)
    db.get(Ticket, desk["billing"].id).category = evil
    db.commit()
    login_staff(client, "manager@bluehill.test", PW)
    span = {"start": (now - timedelta(days=5)).date().isoformat(), "end": (now + timedelta(days=1)).date().isoformat()}
    page = client.get("/admin/reports/", query_string={**span, "dim": "team"})
    assert page.status_code == 200 and "SLA met vs missed by team" in page.get_data(as_text=True)
    csv = client.get("/admin/reports/by_category.csv", query_string=span)
    assert csv.status_code == 200 and csv.headers["Content-Type"].startswith("text/csv")
    body = csv.get_data(as_text=True)
    assert "'=HYPERLINK" in body and "\n=HYPERLINK" not in body and ",=HYPERLINK" not in body
    # A bad range is said on the page (with its form), over the last 90 days; a download has no page: 400.
    for bad in ({"start": "garbage"}, {"start": "2026-03-10", "end": "2026-03-01"}, {"start": "2019-01-01"}):
        page = client.get("/admin/reports/", query_string=bad)
        assert page.status_code == 200 and "Showing the last 90 days." in page.get_data(as_text=True), bad
        assert 'name="start"' in page.get_data(as_text=True)
    assert client.get("/admin/reports/by_category.csv", query_string={"start": "garbage"}).status_code == 400


def test_a_failed_or_unconfirmed_reply_shows_why_and_can_be_sent_again(client, db, desk) -> None:
    login_staff(client, "agent@bluehill.test", PW)
    t, other = desk["billing"].id, desk["inbox"].id
    post(client, t, "compose", {"kind": "reply", "body": "Here is the corrected invoice."})
    reply = entries(db, t, InteractionType.EMAIL_OUTBOUND)[-1]
    outbound = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.interaction_id == reply.id))
    outbound_id = outbound.id
    assert "waiting to be sent" in client.get(f"/admin/ticket/{t}").get_data(as_text=True)
    outbound.status, outbound.last_error = OutboundStatus.FAILED, "SMTPRecipientsRefused: <jane@acme.example>"
    db.commit()
    page = client.get(f"/admin/ticket/{t}").get_data(as_text=True)
    assert "Email to jane@acme.example: not sent — SMTPRecipientsRefused: &lt;jane@acme.example&gt;" in page
    assert f'action="/admin/ticket/{t}/outbound/{outbound_id}/resend"' in page
    # Only from its own ticket's page, and only by someone who may open that ticket.
    assert post(client, other, f"outbound/{outbound_id}/resend", {}).status_code == 404
    login_staff(client, "lena@bluehill.test", PW)  # another team's agent
    token = csrf_token(client.get("/admin/queues/mine").get_data(as_text=True))
    response = client.post(f"/admin/ticket/{t}/outbound/{outbound_id}/resend", data={"csrf_token": token})
    assert response.status_code == 404
    login_staff(client, "agent@bluehill.test", PW)
    assert post(client, t, f"outbound/{outbound_id}/resend", {}).status_code == 303
    db.expire_all()
    again = db.get(OutboundMessage, outbound_id)
    assert (again.status, again.last_error, again.message_id) == (OutboundStatus.QUEUED, None, outbound.message_id)
    assert entries(db, t, InteractionType.SYSTEM)[-1].body_text.startswith("Priya sent “")
    # A queued (or sent) email is not sent twice by a second click.
    assert post(client, t, f"outbound/{outbound_id}/resend", {}).status_code == 303
    db.expire_all()
    assert db.get(OutboundMessage, outbound_id).status == OutboundStatus.QUEUED
    assert len([e for e in entries(db, t, InteractionType.SYSTEM) if e.body_text.startswith("Priya sent")]) == 1


def test_every_delivery_state_has_words_for_the_agent() -> None:
    from admin.workspace import DELIVERY_LABELS

    assert set(DELIVERY_LABELS) == set(OutboundStatus)


def test_admins_send_failed_and_unconfirmed_emails_again_from_the_outbound_list(client, db, desk, now) -> None:
    def email(status: OutboundStatus, n: int, ticket_id: int | None) -> int:
        row = OutboundMessage(ticket_id=ticket_id, kind=OutboundKind.REPLY, message_id=f"list-{n}@bluehill.test",
                              from_address="support@bluehill.test", to_address="jane@acme.example",
                              subject=f"Mail {n}", body_text="x", status=status, last_error="boom",
                              created_at=now)  # fmt: skip
        db.add(row)
        db.flush()
        return row.id

    t = desk["billing"].id
    failed, unconfirmed = email(OutboundStatus.FAILED, 1, t), email(OutboundStatus.UNCONFIRMED, 2, None)
    sent = email(OutboundStatus.SENT, 3, t)
    db.commit()
    login_staff(client, "admin@bluehill.test", PW)
    page = client.get("/admin/outbound_email/").get_data(as_text=True)
    picked = {"csrf_token": csrf_token(page), "action": "resend", "rowid": [str(failed), str(unconfirmed), str(sent)]}
    response = client.post("/admin/outbound_email/action/", data=picked)
    assert response.status_code == 302
    db.expire_all()
    states = {i: db.get(OutboundMessage, i).status for i in (failed, unconfirmed, sent)}
    assert states == {failed: OutboundStatus.QUEUED, unconfirmed: OutboundStatus.QUEUED, sent: OutboundStatus.SENT}
    assert (
        entries(db, t, InteractionType.SYSTEM)[-1].body_text
        == "Alex sent “Mail 1” to jane@acme.example again (it was failed)."
    )


def test_timeline_says_whether_a_customer_message_was_an_email(client, db, desk, now) -> None:
    """A customer's message is of the email_inbound type however it came; only an emailed one reads as an email."""
    ticket = db.get(Ticket, desk["billing"].id)
    made_by = {"portal": None, "email": "jane@acme.example"}
    for how, sender in made_by.items():
        add_interaction(db, ticket, type=InteractionType.EMAIL_INBOUND, actor=desk["contact"], now=now,
                        body_text=f"Sent by {how}", email_from=sender)  # fmt: skip
    db.commit()
    login_staff(client, "agent@bluehill.test", PW)
    page = client.get(f"/admin/ticket/{ticket.id}").get_data(as_text=True)
    heads = {how: page[: page.index(f"Sent by {how}")].rsplit("<strong>", 1)[1] for how in made_by}
    assert "Message from customer" in heads["portal"] and "Email" not in heads["portal"]
    assert "Email from customer" in heads["email"]


def test_agent_side_errors_and_sign_in_speak_to_staff(client, desk) -> None:
    """Not the customer portal's header (New request, Sign in), and words that say why."""
    page = client.get("/agent/login").get_data(as_text=True)
    assert "Agent sign-in" in page and "New request" not in page
    response = client.get("/admin/queues/mine")
    assert response.status_code == 302 and response.headers["Location"].endswith("next=/admin/queues/mine")
    login_staff(client, "agent@bluehill.test", PW)
    other_team = client.get(f"/admin/ticket/{desk['integ'].id}")
    page = other_team.get_data(as_text=True)
    assert other_team.status_code == 404 and "a team you are not in" in page
    assert "My queues" in page and "Back to your queues" in page and "New request" not in page
    managers_only = client.get("/admin/queues/all")
    assert managers_only.status_code == 403 and "not open to your role" in managers_only.get_data(as_text=True)
    # The customer portal's own pages keep the portal's words.
    assert "a team you are not in" not in client.get("/no-such-page").get_data(as_text=True)


def test_the_timeline_rows_carry_authors_files_and_emails_and_follow_a_merge(client, db, desk, now) -> None:
    """services/agent_timeline reads the workspace's timeline as plain rows: each entry's author (staff name, the
    contact's name or address, else System), its own files and sent emails, through a merge too; and the page shows
    them."""
    from ticketing.models import Attachment
    from ticketing.services import agent_timeline, merge

    ticket, other = db.get(Ticket, desk["billing"].id), db.get(Ticket, desk["inbox"].id)
    priya, contact = desk["people"]["agent"], desk["contact"]
    nameless = Interaction(ticket=ticket, type=InteractionType.EMAIL_INBOUND, body_text="from a nameless sender",
                           email_from="x@acme.example", created_at=now)  # fmt: skip
    db.add(nameless)
    reply = add_interaction(db, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=priya, now=now, body_text="Fixed")
    call = add_interaction(db, other, type=InteractionType.PHONE_CALL, actor=priya, now=now, body_text="Called",
                           duration_minutes=12)  # fmt: skip
    customer = add_interaction(db, other, type=InteractionType.EMAIL_INBOUND, actor=contact, now=now,
                               body_text="Screenshot attached", email_from=contact.email)  # fmt: skip
    for n, (status, error) in enumerate([(OutboundStatus.SENT, None), (OutboundStatus.FAILED, "550 <no such user>")]):
        db.add(OutboundMessage(ticket_id=ticket.id, interaction_id=reply.id, kind=OutboundKind.REPLY,
                               message_id=f"tl-{n}@bluehill.test", from_address="support@bluehill.test",
                               to_address=f"jane{n}@acme.example", subject="Re", body_text="Fixed", status=status,
                               last_error=error, created_at=now))  # fmt: skip
    for name in ("b.png", "a.pdf"):
        db.add(Attachment(ticket_id=other.id, interaction_id=customer.id, filename=name, size=3, sha256="0" * 64,
                          storage_key=f"key-{name}", created_at=now))  # fmt: skip
    db.commit()

    rows = {e.id: e for e in agent_timeline.read_timeline(db, other.id)}
    assert rows[call.id].author_name == "Priya" and rows[call.id].duration_minutes == 12
    assert rows[call.id].label == "Phone call" and not rows[call.id].is_customer_visible
    assert rows[customer.id].author_name == "Jane" and rows[customer.id].is_customer_visible
    assert [f.filename for f in rows[customer.id].attachments] == ["b.png", "a.pdf"]  # in the order stored

    merge.merge(db, other, ticket, actor=priya, now=now)
    db.commit()
    timeline = agent_timeline.read_timeline(db, ticket.id)
    by_id = {e.id: e for e in timeline}
    assert [e.created_at for e in timeline] == sorted(e.created_at for e in timeline)
    assert by_id[nameless.id].author_name == "System"  # no contact linked: nobody to name
    assert [(m.to_address, m.status, m.last_error) for m in by_id[reply.id].outbound_messages] == [
        ("jane0@acme.example", OutboundStatus.SENT, None),
        ("jane1@acme.example", OutboundStatus.FAILED, "550 <no such user>"),
    ]
    assert [f.filename for f in by_id[customer.id].attachments] == ["b.png", "a.pdf"]  # moved with their entry
    assert by_id[call.id].outbound_messages == [] and by_id[call.id].attachments == []
    left = {e.id for e in agent_timeline.read_timeline(db, other.id)}  # its notes about the merge stay
    assert not left & {call.id, customer.id}

    login_staff(client, "agent@bluehill.test", PW)
    page = client.get(f"/admin/ticket/{ticket.id}").get_data(as_text=True)
    assert "Email to jane1@acme.example: not sent — 550 &lt;no such user&gt;" in page
    assert re.search(r'Attachments: <a href="/agent/[^"]+">b.png</a>, <a href="[^"]+">a.pdf</a>', page)
    assert "<strong>Priya</strong> · Phone call · 12 min" in page
