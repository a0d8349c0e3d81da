"""Intake forms: public and portal submissions, embedding, abuse controls, nothing half-saved."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.portal.conftest import login_contact
from ticketing.demo import DEMO_FORMS
from ticketing.domain.form_fields import FormDefinitionError, parse_fields
from ticketing.domain.vocab import Priority, Source
from ticketing.models import Attachment, Contact, IntakeForm, OutboundMessage, Team, Ticket


@pytest.fixture
def bug_form(db, make):
    spec = DEMO_FORMS[0]
    form = IntakeForm(slug=spec["slug"], name=spec["name"], description=spec["description"], fields=spec["fields"],
                      team=make.team("Integrations"), priority=Priority.HIGH, tags=["bug"], public=True,
                      allowed_origins="https://www.customer-site.example")  # fmt: skip
    db.add(form)
    db.commit()
    return form


def bug_answers(**extra: object) -> dict[str, object]:
    return {"subject": "Export crashes", "name": "Pat", "email": "pat@newco.example", "steps": "Click export",
            "expected": "A CSV", "actual": "A 500 error", "severity": "Blocks our work", **extra}  # fmt: skip


def ticket_count(db) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(Ticket))


def test_public_submission_creates_a_structured_ticket_and_confirms(client, db, bug_form) -> None:
    page = client.get("/forms/report-a-bug").get_data(as_text=True)
    png = (io.BytesIO(b"\x89PNG\r\n\x1a\nfake"), "screen.png", "image/png")
    response = client.post(
        "/forms/report-a-bug",
        data={**bug_answers(), "csrf_token": csrf_token(page), "screenshot": png},
        content_type="multipart/form-data",
    )
    assert response.status_code == 200 and "has been received" in response.get_data(as_text=True)
    ticket = db.scalar(sa.select(Ticket))
    assert ticket.source == Source.WEB and ticket.subject == "Export crashes" and ticket.priority == Priority.HIGH
    assert ticket.assigned_team.name == "Integrations" and ticket.tags == ["bug"] and ticket.form_id == bug_form.id
    assert ticket.primary_contact.email == "pat@newco.example" and ticket.primary_contact.name == "Pat"
    answers = {row["name"]: row["value"] for row in ticket.form_data["answers"]}
    assert answers["severity"] == "Blocks our work" and answers["screenshot"] == "screen.png"
    assert db.scalar(sa.select(Attachment.filename)) == "screen.png"
    assert "Steps to reproduce:\nClick export" in ticket.interactions[0].body_text


def test_anonymous_submitter_matches_an_existing_contact(client, db, make, bug_form) -> None:
    known = make.contact(make.customer(domains=("newco.example",)), email="pat@newco.example")
    db.commit()
    page = client.get("/forms/report-a-bug").get_data(as_text=True)
    client.post("/forms/report-a-bug", data={**bug_answers(), "csrf_token": csrf_token(page)})
    assert db.scalar(sa.select(Ticket)).primary_contact_id == known.id
    assert db.scalar(sa.select(sa.func.count()).select_from(Contact)) == 1


def test_signed_in_contact_submits_as_themselves(client, db, world, bug_form) -> None:
    login_contact(client, "alice@acme.example")
    page = client.get("/forms/report-a-bug").get_data(as_text=True)
    assert 'name="email"' not in page  # no identity fields for a signed-in contact
    response = client.post("/forms/report-a-bug", data={**bug_answers(email="mallory@evil.example"),
                                                        "csrf_token": csrf_token(page)})  # fmt: skip
    ticket = db.scalar(sa.select(Ticket).where(Ticket.subject == "Export crashes"))
    assert response.status_code == 303 and response.headers["Location"] == f"/tickets/{ticket.id}"
    assert ticket.source == Source.PORTAL and ticket.primary_contact_id == world.alice.id


def test_missing_required_answers_get_422_and_nothing_is_saved(client, db, bug_form) -> None:
    page = client.get("/forms/report-a-bug").get_data(as_text=True)
    response = client.post("/forms/report-a-bug", data={**bug_answers(steps="", severity="Not an option"),
                                                        "csrf_token": csrf_token(page)})  # fmt: skip
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "This field is required." in body and "Not a valid choice" in body
    assert ticket_count(db) == 0 and db.scalar(sa.select(sa.func.count()).select_from(Contact)) == 0


def test_hostile_post_sets_nothing_the_form_does_not_decide(client, db, make, bug_form) -> None:
    other_team = make.team("Billing")
    db.commit()
    page = client.get("/forms/report-a-bug").get_data(as_text=True)
    client.post("/forms/report-a-bug", data={**bug_answers(subject="<script>alert(1)</script>"),
                                             "csrf_token": csrf_token(page), "priority": "low", "status": "closed",
                                             "assigned_team_id": other_team.id, "customer_id": 1, "tags": "vip",
                                             "type": "internal_note"})  # fmt: skip
    ticket = db.scalar(sa.select(Ticket))
    assert ticket.priority == Priority.HIGH and ticket.status.value == "open" and ticket.tags == ["bug"]
    assert ticket.assigned_team.name == "Integrations" and ticket.interactions[0].type.value == "email_inbound"
    assert ticket.subject == "<script>alert(1)</script>"  # stored as text, escaped wherever it is shown


def test_honeypot_answers_like_success_and_stores_nothing(client, db, bug_form) -> None:
    page = client.get("/forms/report-a-bug").get_data(as_text=True)
    response = client.post("/forms/report-a-bug", data={**bug_answers(website="http://spam.example"),
                                                        "csrf_token": csrf_token(page)})  # fmt: skip
    assert response.status_code == 200 and "has been received" in response.get_data(as_text=True)
    assert ticket_count(db) == 0


def test_public_form_needs_csrf_and_is_rate_limited_per_address(client, db, bug_form) -> None:
    assert client.post("/forms/report-a-bug", data=bug_answers()).status_code == 400
    page = client.get("/forms/report-a-bug").get_data(as_text=True)
    statuses = [client.post("/forms/report-a-bug", data={**bug_answers(subject=f"n{i}"),
                                                         "csrf_token": csrf_token(page)}).status_code
                for i in range(11)]  # fmt: skip
    assert statuses == [200] * 10 + [429]  # 10 per hour per address; the CSRF-less post was refused earlier
    assert ticket_count(db) == 10


def test_oversized_and_forbidden_files_are_refused_whole(client, db, app, monkeypatch, bug_form) -> None:
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 1000)
    page = client.get("/forms/report-a-bug").get_data(as_text=True)
    for upload in [(io.BytesIO(b"x" * 5000), "big.png", "image/png"), (io.BytesIO(b"MZ"), "setup.exe", "image/png")]:
        response = client.post("/forms/report-a-bug", data={**bug_answers(), "csrf_token": csrf_token(page),
                                                             "screenshot": upload},
                               content_type="multipart/form-data")  # fmt: skip
        assert response.status_code == 422 and "not accepted" in response.get_data(as_text=True)
    assert ticket_count(db) == 0 and db.scalar(sa.select(sa.func.count()).select_from(Attachment)) == 0
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2000)
    huge = client.post("/forms/report-a-bug", data={**bug_answers(), "csrf_token": csrf_token(page),
                                                     "screenshot": (io.BytesIO(b"x" * 5000), "a.png", "image/png")},
                       content_type="multipart/form-data")  # fmt: skip
    assert huge.status_code == 413 and ticket_count(db) == 0


def test_embed_allows_only_its_origins_and_uses_a_signed_token(client, db, bug_form) -> None:
    page = client.get("/forms/report-a-bug/embed")
    assert page.headers["Content-Security-Policy"].startswith(
        "frame-ancestors 'self' https://www.customer-site.example;"
    )
    assert "X-Frame-Options" not in page.headers
    assert client.get("/forms/report-a-bug").headers["Content-Security-Policy"].startswith("frame-ancestors 'self';")
    token = re.search(r'name="embed_token" type="hidden" value="([^"]+)"', page.get_data(as_text=True)).group(1)
    forged = client.post("/forms/report-a-bug/embed", data={**bug_answers(), "embed_token": token + "x"})
    assert forged.status_code == 422 and "expired" in forged.get_data(as_text=True) and ticket_count(db) == 0
    ok = client.post("/forms/report-a-bug/embed", data={**bug_answers(), "embed_token": token})
    assert ok.status_code == 200 and "has been received" in ok.get_data(as_text=True)
    assert ok.headers["Content-Security-Policy"].startswith("frame-ancestors 'self' https://www.customer-site.example")
    assert db.scalar(sa.select(Ticket)).source == Source.WEB


def test_private_and_inactive_forms_are_404(client, db, bug_form, world) -> None:
    bug_form.public = False
    db.commit()
    assert client.get("/forms/report-a-bug").status_code == 404
    assert client.get("/forms/report-a-bug/embed").status_code == 404
    login_contact(client, "alice@acme.example")
    assert client.get("/forms/report-a-bug").status_code == 200
    bug_form.active = False
    db.commit()
    assert client.get("/forms/report-a-bug").status_code == 404


def test_acknowledgement_is_queued_for_web_submissions(client, db, bug_form, redis_url) -> None:
    from redis import Redis
    from rq import Queue

    page = client.get("/forms/report-a-bug").get_data(as_text=True)
    client.post("/forms/report-a-bug", data={**bug_answers(), "csrf_token": csrf_token(page)})
    # The row commits with the ticket (it survives a Redis loss); its send job follows the commit.
    ticket = db.scalar(sa.select(Ticket))
    ack = db.scalar(sa.select(OutboundMessage))
    jobs = Queue("default", connection=Redis.from_url(redis_url)).jobs
    assert any(j.func_name == "ticketing.jobs.send_outbound_batch" and j.args == ([ack.id],) for j in jobs)
    assert ack.to_address == "pat@newco.example" and f"#{ticket.id}" in ack.body_text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ([{"name": "x", "type": "nope"}], "type must be one of"),
        ([{"name": "Bad Name", "type": "text"}], "lower_snake_case"),
        ([{"name": "email", "type": "text"}], "reserved"),
        ([{"name": "a", "type": "select"}], "needs options"),
        ([{"name": "a", "type": "text"}, {"name": "a", "type": "text"}], "duplicate"),
    ],
)
def test_form_definitions_are_validated(fields, message) -> None:
    with pytest.raises(FormDefinitionError, match=message):
        parse_fields(fields)


def test_demo_forms_are_valid() -> None:
    for spec in DEMO_FORMS:
        assert parse_fields(spec["fields"])
    assert {s["slug"] for s in DEMO_FORMS} == {"report-a-bug", "billing-question", "feature-request"}
    assert Team  # the bug form routes to a team in the demo
