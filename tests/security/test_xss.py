"""Stored and reflected XSS: a script payload in every customer- and staff-typed field (ticket subject, first
message, replies, internal notes, contact, customer, staff and team names, tags, form answers, attachment names,
search boxes), entered through the product's own entry points, then every surface that shows them is rendered:
portal pages and their htmx fragments, agent screens and lists, the original-email view, report pages and CSV
exports, customer emails. The payload may appear only escaped; each surface must show the fields it is listed
with (so a check never passes because the field was not rendered at all). CSV cells must not start a formula."""

from __future__ import annotations

import csv
import io
from email import message_from_bytes, policy
from typing import Any

import pytest
import sqlalchemy as sa

from tests.security.conftest import Sec, near, sign_in, token_for
from ticketing.extensions import db as _db
from ticketing.extensions import mail_policy
from ticketing.models import (
    Category,
    Contact,
    Customer,
    InboundMessage,
    OutboundMessage,
    Team,
    Ticket,
    TimeEntry,
    User,
)
from ticketing.models.mail import InboundStatus
from ticketing.services import mail_outbound


def payload(tag: str) -> str:
    return f'{tag} <script>alert("{tag}")</script>"><img src=x onerror=alert("{tag}")>'


FILE_PAYLOAD = 'xss-file"><img src=x onerror=alert("xss-file")>.txt'  # (a file name keeps no "/": no </script>)
TAGS = ["xss-subject", "xss-body", "xss-reply", "xss-note", "xss-contact", "xss-customer", "xss-staff", "xss-team",
        "xss-tag", "xss-answer", "xss-file", "xss-form-subject", "xss-category"]  # fmt: skip


def assert_escaped(text: str, where: str, expected: list[str]) -> None:
    """No payload ran loose, and every field this surface shows was there (escaped)."""
    for tag in TAGS:
        assert f'<script>alert("{tag}")' not in text, f"{where}: raw <script> of {tag}"
        assert "<img src=x onerror" not in text.replace("&lt;img src=x onerror", ""), f"{where}: raw <img> of {tag}"
    missing = [tag for tag in expected if tag not in text]
    assert not missing, f"{where}: expected to show {missing} (escaped), so the check means something"


@pytest.fixture
def hostile(client, db, sec: Sec) -> dict[str, Any]:
    """The world again, with every text a customer or an agent can type replaced by a payload, each typed in
    through the product's own door (API, portal, agent screens); the admin's own settings are set directly."""
    api = sec.api
    staff = {"Authorization": f"Bearer {api.tokens['admin']}"}
    alice = {"Authorization": f"Bearer {api.tokens['cust_own']}"}
    assert client.patch(f"/api/v1/contacts/{sec.w.alice.id}", json={"name": payload("xss-contact")},
                        headers=staff).status_code == 200  # fmt: skip
    assert client.patch(f"/api/v1/customers/{sec.w.alice.customer_id}", json={"name": payload("xss-customer")},
                        headers=staff).status_code == 200  # fmt: skip
    created = client.post("/api/v1/tickets", json={"subject": payload("xss-subject"), "body": payload("xss-body")},
                          headers=alice)  # fmt: skip
    assert created.status_code == 201
    ticket_id = created.get_json()["id"]
    category = Category(name=payload("xss-category"))
    db.add(category)
    db.commit()
    assert client.patch(f"/api/v1/tickets/{ticket_id}", headers=staff, json={
        "tags": ["xss-tag\"><img src=x onerror=alert(1)>"], "team_id": api.team_a.id, "category_id": category.id,
        "assignee_ids": [api.users["agent_in"].id]}).status_code == 200  # fmt: skip
    db.get(User, api.users["admin"].id).name = payload("xss-staff")
    db.get(Team, api.team_a.id).name = payload("xss-team")
    db.commit()
    sign_in(client, "alice@acme.example")
    token = token_for(client, "alice@acme.example")
    assert client.post(f"/tickets/{ticket_id}/reply", data={"body": "see file", "csrf_token": token,
                       "files": [(io.BytesIO(b"x"), FILE_PAYLOAD, "text/plain")]}).status_code == 303  # fmt: skip
    client.post("/logout", data={"csrf_token": token})
    sign_in(client, "admin")
    token = token_for(client, "admin")
    for kind, tag in (("reply", "xss-reply"), ("note", "xss-note")):
        body = f"{payload(tag)} @ina **[link](javascript:alert(1))**"
        response = client.post(f"/admin/ticket/{ticket_id}/compose", data={"kind": kind, "body": body,
                                                                           "csrf_token": token})  # fmt: skip
        assert response.status_code == 303
    assert (
        client.post(f"/admin/ticket/{ticket_id}/time", data={"minutes": "30", "csrf_token": token}).status_code == 303
    )
    client.post("/agent/logout", data={"csrf_token": token})
    form_page = client.get(f"/forms/{api.form.slug}").get_data(as_text=True)
    from tests.conftest import csrf_token

    submitted = client.post(f"/forms/{api.form.slug}", data={
        "csrf_token": csrf_token(form_page), "subject": payload("xss-form-subject"), "name": payload("xss-contact"),
        "email": "alice@acme.example", "steps": payload("xss-answer"), "expected": payload("xss-answer"),
        "actual": payload("xss-answer"), "severity": "Cosmetic"})  # fmt: skip
    assert submitted.status_code == 200, submitted.get_data(as_text=True)[:300]
    form_ticket = db.scalar(sa.select(Ticket.id).where(Ticket.form_id == api.form.id))
    db.expire_all()
    return {"ticket": ticket_id, "form_ticket": form_ticket}


PORTAL_PAGES = [  # (surface, path, headers, the fields it must show)
    ("ticket list", "/tickets", {}, ["xss-subject"]),
    ("ticket list fragment", "/tickets/live?v=0", {"HX-Request": "true"}, ["xss-subject"]),
    ("search", "/tickets?q=xss-search<script>alert(\"xss-search\")</script>", {}, ["xss-search"]),
    ("ticket page", "/tickets/{ticket}", {}, ["xss-subject", "xss-body", "xss-reply", "xss-contact", "xss-file"]),
    ("ticket fragment", "/tickets/{ticket}/live?v=0", {"HX-Request": "true"},
     ["xss-subject", "xss-body", "xss-reply", "xss-file"]),
    ("form ticket page", "/tickets/{form_ticket}", {}, ["xss-form-subject", "xss-answer"]),
]  # fmt: skip


def _problems(text: str, where: str, expected: list[str]) -> list[str]:
    try:
        assert_escaped(text, where, expected)
    except AssertionError as exc:
        return [str(exc)]
    return []


def test_portal_pages_and_fragments_escape_everything(client, db, hostile) -> None:
    """One world, every portal surface (the table above); all problems are reported together."""
    sign_in(client, "alice@acme.example")
    problems = []
    for surface, path, headers, expected in PORTAL_PAGES:
        response = client.get(path.format(**hostile), headers=headers)
        text = response.get_data(as_text=True)
        problems += [f"{surface}: status {response.status_code}"] if response.status_code != 200 else []
        problems += _problems(text, surface, expected)
        problems += [f"{surface}: shows the internal note"] if "xss-note" in text else []
    assert not problems, "\n".join(problems)


AGENT_PAGES = [  # (surface, path, the fields it must show)
    ("queue", "/admin/queues/all", ["xss-subject", "xss-customer", "xss-team"]),
    ("queue search", "/admin/queues/all?q=xss-search<script>alert(\"xss-search\")</script>", ["xss-search"]),
    ("workspace", "/admin/ticket/{ticket}", ["xss-subject", "xss-body", "xss-reply", "xss-note", "xss-contact",
                                             "xss-staff", "xss-team", "xss-tag", "xss-file", "xss-category"]),
    ("workspace customer panel (htmx)", "/admin/ticket/{ticket}/customer", ["xss-customer", "xss-contact",
                                                                            "xss-form-subject", "xss-answer"]),
    ("workspace of a form ticket", "/admin/ticket/{form_ticket}", ["xss-form-subject", "xss-answer"]),
    ("ticket list", "/admin/tickets/", ["xss-subject", "xss-customer", "xss-team"]),
    ("ticket details", "/admin/tickets/details/?id={ticket}", ["xss-subject", "xss-customer"]),
    ("timeline list", "/admin/interactions/", ["xss-body", "xss-note"]),
    ("contacts", "/admin/contact/", ["xss-contact", "xss-customer"]),
    ("customers", "/admin/customer/", ["xss-customer"]),
    ("outbound email list", "/admin/outbound_email/", ["xss-subject"]),
    ("team load", "/admin/load/", ["xss-team", "xss-staff"]),
    ("reports", "/admin/reports/?start={start}&end={end}", ["xss-customer", "xss-team"]),
    ("list search", "/admin/contact/?search=xss-search<script>alert(\"xss-search\")</script>", ["xss-search"]),
]  # fmt: skip


def test_agent_pages_and_fragments_escape_everything(client, db, now, hostile) -> None:
    """One world, every agent surface (the table above); all problems are reported together."""
    sign_in(client, "admin")
    problems = []
    for surface, path, expected in AGENT_PAGES:
        response = client.get(path.format(**hostile, **near(now)))
        problems += [f"{surface}: status {response.status_code}"] if response.status_code != 200 else []
        problems += _problems(response.get_data(as_text=True), surface, expected)
    assert not problems, "\n".join(problems)


def test_notifications_and_presence_fragment_escape_names(client, other_client, db, hostile) -> None:
    sign_in(client, "agent_in")  # mentioned (@ina) in the hostile note, by the admin whose name is a payload
    page = client.get("/admin/queues/mine").get_data(as_text=True)
    assert_escaped(page, "notifications menu", ["xss-staff", "xss-subject"])
    sign_in(other_client, "admin")
    other_client.get(f"/admin/ticket/{hostile['ticket']}")
    other_client.post(f"/admin/ticket/{hostile['ticket']}/presence", data={"state": "viewing"},
                      headers={"X-CSRFToken": token_for(other_client, "admin"), "HX-Request": "true"})  # fmt: skip
    # the admin is now "viewing" (the page's first presence poll)
    fragment = client.post(f"/admin/ticket/{hostile['ticket']}/presence", data={"state": "viewing"},
                           headers={"X-CSRFToken": token_for(client, "agent_in"), "HX-Request": "true"})  # fmt: skip
    assert fragment.status_code == 200
    assert_escaped(fragment.get_data(as_text=True), "presence fragment", ["xss-staff"])


def test_the_original_email_view_escapes_headers_and_sandboxes_the_body(client, db, now, sec) -> None:
    raw = (f"From: {payload('xss-contact')} <alice@acme.example>\r\nSubject: {payload('xss-subject')}\r\n"
           "Message-ID: <xss@acme.example>\r\nContent-Type: text/html\r\n\r\n"
           f"<p>{payload('xss-body')}</p><a href=\"javascript:alert(1)\">x</a>\r\n").encode()  # fmt: skip
    row = InboundMessage(message_key="xss@acme.example", raw=raw, size=len(raw), source="http",
                         status=InboundStatus.FAILED, received_at=now)  # fmt: skip
    db.add(row)
    db.commit()
    sign_in(client, "admin")
    page = client.get(f"/admin/email/{row.id}").get_data(as_text=True)
    assert_escaped(page, "original email", ["xss-subject", "xss-contact", "xss-body"])
    assert "javascript:alert" not in page and '<iframe title="Message body" sandbox ' in page


def test_customer_emails_escape_in_html(db, now, hostile) -> None:
    ticket = db.get(Ticket, hostile["ticket"])
    mail_outbound.queue_acknowledgement(db, ticket, policy=mail_policy(), now=now)  # (unless queued at creation)
    mail_outbound.queue_resolved_notice(db, ticket, policy=mail_policy(), now=now)
    customer_kinds = ["received", "reply", "resolved"]
    queued = db.scalars(sa.select(OutboundMessage).where(OutboundMessage.ticket_id == ticket.id,
                                                         OutboundMessage.kind.in_(customer_kinds))).all()  # fmt: skip
    assert sorted(o.kind for o in queued) == customer_kinds
    for outbound in queued:
        parsed = message_from_bytes(mail_outbound.build_email(outbound, product_name="Support").as_bytes(),
                                    policy=policy.default)  # fmt: skip
        html = parsed.get_body(("html",)).get_content()
        shown = ["xss-reply"] if outbound.kind == "reply" else ["xss-subject", "xss-contact"]
        assert_escaped(html, f"{outbound.kind} email (HTML)", shown)
        assert "javascript:" not in html
    _db.session.rollback()


# ---- CSV -------------------------------------------------------------------------------------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1+1)", "-2+3", "@SUM(1)", "\tTAB", '=HYPERLINK("https://evil.example")']


def test_csv_exports_neutralise_formulas(client, db, now, sec) -> None:
    """Team, customer and category names that start a formula come out as text ('=...) in every report CSV."""
    api = sec.api
    db.get(Customer, sec.w.alice.customer_id).name = FORMULAS[0]
    db.get(Customer, sec.w.bob.customer_id).name = FORMULAS[1]
    db.get(Team, api.team_a.id).name = FORMULAS[2]
    db.get(Team, api.team_b.id).name = FORMULAS[3]
    category = Category(name=FORMULAS[5])
    db.add(category)
    db.get(Ticket, sec.acme).category = category
    db.get(Ticket, sec.globex).assigned_team = db.get(Team, api.team_b.id)
    db.add(TimeEntry(ticket_id=sec.globex, user_id=api.users["admin"].id, minutes=5, work_date=now.date()))
    db.commit()
    sign_in(client, "admin")
    seen: set[str] = set()
    for report in ("time", "backlog_now", "by_category", "sla", "distribution"):
        dim = {"sla": "team"}.get(report, "tier")
        response = client.get(f"/admin/reports/{report}.csv", query_string={**near(now), "dim": dim})
        assert response.status_code == 200 and response.mimetype == "text/csv", report
        assert response.headers["Content-Disposition"].startswith("attachment;")
        for row in csv.reader(io.StringIO(response.get_data(as_text=True))):
            for cell in row:
                assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")) or _is_number(cell), (report, cell)
                seen.update(f for f in FORMULAS if cell == "'" + f)
    assert seen >= {FORMULAS[0], FORMULAS[1], FORMULAS[2], FORMULAS[3], FORMULAS[5]}, seen


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_api_answers_json_that_browsers_will_not_sniff(client, db, sec) -> None:
    headers = {"Authorization": f"Bearer {sec.api.tokens['admin']}"}
    assert client.patch(f"/api/v1/contacts/{sec.w.alice.id}", json={"name": payload("xss-contact")},
                        headers=headers).status_code == 200  # fmt: skip
    response = client.get(f"/api/v1/contacts/{sec.w.alice.id}", headers=headers)
    assert response.mimetype == "application/json" and response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.get_json()["name"] == payload("xss-contact")  # stored as typed; escaping is the renderer's job
    db.expire_all()
    assert db.get(Contact, sec.w.alice.id).name == payload("xss-contact")
