"""IDOR: nobody reaches a record that is not theirs by putting its id in a URL. Every portal route, API resource
and agent screen that takes a ticket, attachment, interaction, time entry, contact, customer or stored-email id
is enumerated from the route table and called with someone else's id: the exact status is asserted (404 where
the record must not even be confirmed to exist; 403 where the endpoint itself is closed to the caller) and the
database is unchanged. State-changing routes are called with a valid CSRF token, so ownership is what stops
them."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from tests.security.conftest import (
    assert_unchanged,
    catalogue_app,
    changes,
    path_of,
    sign_in,
    snapshot,
    token_for,
    url_values,
)
from ticketing.domain.lifecycle import Status
from ticketing.models import Interaction, Ticket

OWNED = frozenset({"ticket_id", "attachment_id", "interaction_id", "entry_id", "contact_id", "customer_id",
                   "inbound_id"})  # fmt: skip
FORM_DATA = {"body": "not yours", "status": "closed", "kind": "note", "minutes": "5", "user_id": "1",
             "state": "viewing", "target": "1"}  # fmt: skip


def _owned_rules(prefixes: tuple[str, ...]) -> list[tuple[Any, str]]:
    rules = sorted(catalogue_app().url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    return [
        (rule, method)
        for rule in rules
        if rule.endpoint.startswith(prefixes) and rule.arguments & OWNED
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


def _call(client, who: str, method: str, path: str) -> Any:
    data = {**FORM_DATA, "csrf_token": token_for(client, who)} if method != "GET" else None
    return client.open(path, method=method, data=data)


# ---- portal ----------------------------------------------------------------------------------------------------

# (who, whose ids, why): every portal route with an owned id, as each of these, answers 404.
PORTAL_INTRUDERS = {
    "Globex's Bob, on Acme's ticket": ("bob@globex.example", lambda s: {}),
    "Alice, on her colleague Carl's ticket": ("alice@acme.example",
                                             lambda s: {"ticket_id": s.w.acme_colleague_ticket.id}),
    "Bob, his own ticket with Acme's attachment": ("bob@globex.example",
                                                   lambda s: {"ticket_id": s.globex,
                                                              "attachment_id": s.acme_attachment}),
    "Alice, her own ticket's internal attachment": ("alice@acme.example",
                                                    lambda s: {"attachment_id": s.acme_internal_attachment}),
}  # fmt: skip


def _portal_cases() -> list[Any]:
    return [
        pytest.param(rule.endpoint, method, id=f"{method} {rule.rule}") for rule, method in _owned_rules(("portal.",))
    ]


@pytest.mark.parametrize(("endpoint", "method"), _portal_cases())
def test_portal_answers_404_for_what_is_not_yours(client, app, db, sec, endpoint, method) -> None:
    """Each intruder of the table above, on this route; all wrong answers are reported together."""
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    wrong = []
    for label, (who, ids) in PORTAL_INTRUDERS.items():
        if "attachment" in label and "attachment_id" not in rule.arguments:
            continue
        browser = app.test_client()
        sign_in(browser, who)
        path = path_of(rule, url_values(sec, rule, **ids(sec)))
        before = snapshot()
        response = _call(browser, who, method, path)
        if response.status_code != 404 or changes(before, snapshot()):
            wrong.append(f"{label}: {method} {path} -> {response.status_code}, changed {changes(before, snapshot())}")
    assert not wrong, wrong


def test_portal_lists_and_searches_show_only_your_tickets(client, db, sec) -> None:
    sign_in(client, "bob@globex.example")
    for path in ("/tickets", "/tickets?q=Acme", "/tickets?q=export", "/tickets/live?v=0",
                 f"/tickets?before=2100-01-01T00:00:00+00:00_{sec.acme + 1}"):  # fmt: skip
        page = client.get(path, headers={"HX-Request": "true"} if "live" in path else {}).get_data(as_text=True)
        assert "Acme export broken" not in page and "Carl asks about SSO" not in page, path


# ---- API -------------------------------------------------------------------------------------------------------

API_BODIES = {"PATCH": {"status": "closed"}, "POST": {"body": "not yours", "minutes": 5}}
# endpoint -> (Globex's customer token, an agent outside the tickets' team) on Acme's records.
# None: not checked for that caller (staff read and write every contact and customer, as the agent screens do).
API_EXPECTED: dict[str, tuple[int, int | None]] = {
    "api.get_ticket": (404, 404),
    "api.update_ticket": (404, 404),
    "api.list_interactions": (404, 404),
    "api.create_interaction": (404, 404),
    "api.get_interaction": (404, 404),
    "api.list_time_entries": (403, 404),  # customer tokens never see time entries at all
    "api.create_time_entry": (403, 404),
    "api.get_time_entry": (403, 404),
    "api.get_contact": (404, None),
    "api.update_contact": (403, None),  # staff-only endpoint: refused before any lookup
    "api.get_customer": (404, None),
    "api.update_customer": (403, None),
}


def _api_cases() -> list[Any]:
    return [pytest.param(rule.endpoint, method, id=f"{method} {rule.rule}")
            for rule, method in _owned_rules(("api.",)) if rule.endpoint != "api.unmatched"]  # fmt: skip


def test_every_api_resource_with_an_id_is_classified() -> None:
    assert {rule.endpoint for rule, _ in _owned_rules(("api.",))} - {"api.unmatched"} == set(API_EXPECTED)


@pytest.mark.parametrize(("endpoint", "method"), _api_cases())
def test_api_refuses_other_peoples_records(client, app, db, sec, endpoint, method) -> None:
    """Globex's customer token, then an agent outside the tickets' team, on Acme's records."""
    assert endpoint in API_EXPECTED, f"new API resource {endpoint}: add what each caller must get to API_EXPECTED"
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint and method in r.methods)
    path = path_of(rule, url_values(sec, rule))
    callers = {"Globex customer token": sec.bob_token, "agent outside the team": sec.api.tokens["agent_out"]}
    for (caller, token), expected in zip(callers.items(), API_EXPECTED[endpoint], strict=True):
        if expected is None:
            continue  # staff read and write every contact and customer, as the agent screens do
        before = snapshot()
        response = client.open(path, method=method, headers={"Authorization": f"Bearer {token}"},
                               json=API_BODIES.get(method))  # fmt: skip
        assert (response.status_code, response.is_json) == (expected, True), (caller, path, response.get_json())
        assert_unchanged(before, f"{method} {path} by {caller}")


@pytest.mark.parametrize(
    ("what", "path", "expected"),
    [
        ("Acme's interaction through Bob's own ticket", "/tickets/{globex}/interactions/{acme_interaction}", 404),
        ("an internal note of Alice's own ticket", "/tickets/{acme}/interactions/{acme_internal_note}", 404),
        ("tickets filtered by Acme's customer id", "/tickets?customer_id={acme_customer}", 400),
        ("contacts filtered by Acme's customer id", "/contacts?customer_id={acme_customer}", 200),
        ("customers by name", "/customers?q=Acme", 200),
    ],
)
def test_api_customer_token_cannot_reach_around_its_scope(client, db, sec, what, path, expected) -> None:
    token = sec.api.tokens["cust_own"] if "Alice" in what else sec.bob_token
    ids = {"globex": sec.globex, "acme": sec.acme, "acme_interaction": sec.acme_interaction,
           "acme_internal_note": sec.acme_internal_note, "acme_customer": sec.w.alice.customer_id}  # fmt: skip
    response = client.get(f"/api/v1{path.format(**ids)}", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == expected, response.get_json()
    if expected == 200:
        assert response.get_json()["data"] == [] or all(
            row.get("customer_id", row.get("id")) != sec.w.alice.customer_id for row in response.get_json()["data"]
        )
    text = response.get_data(as_text=True)
    assert "Acme export broken" not in text and "SECRET-" not in text


# ---- agent screens -----------------------------------------------------------------------------------------------


def _agent_cases() -> list[Any]:
    return [
        pytest.param(rule.endpoint, method, id=f"{method} {rule.rule}")
        for rule, method in _owned_rules(("workspace.", "agent_files.", "email_original."))
    ]


@pytest.mark.parametrize(("endpoint", "method"), _agent_cases())
def test_agent_outside_the_team_gets_404(client, app, db, sec, endpoint, method) -> None:
    """The tickets sit in Team A; Otto is in Team B: he may not open them, their files or their emails."""
    sign_in(client, "agent_out")
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    path = path_of(rule, url_values(sec, rule))
    before = snapshot()
    response = _call(client, "agent_out", method, path)
    assert response.status_code == 404, (path, response.status_code)
    assert_unchanged(before, f"{method} {path} by an agent outside the team")


@pytest.mark.parametrize(
    ("what", "method", "path", "data", "expected"),
    [
        ("ticket details", "GET", "/admin/tickets/details/?id={acme}", None, 302),
        ("interaction details", "GET", "/admin/interactions/details/?id={note}", None, 302),
        ("time entry details", "GET", "/admin/time_entries/details/?id={entry}", None, 302),
        ("resolve action", "POST", "/admin/tickets/action/", {"action": "resolve", "rowid": "{acme}"}, 302),
        ("bulk status", "POST", "/admin/queues/bulk", {"action": "status", "value": "resolved", "ids": "{acme}"}, 303),
        ("bulk tag", "POST", "/admin/queues/bulk", {"action": "tag", "tag": "mine-now", "ids": "{acme}"}, 303),
        ("merge own ticket into theirs", "POST", "/admin/ticket/{own}/merge", {"target": "{acme}"}, 303),
    ],
)
def test_agent_lists_details_and_actions_skip_other_teams(client, db, make, now, sec, what, method, path, data,
                                                           expected) -> None:  # fmt: skip
    own = make.ticket(now=now, subject="Team B ticket", team=sec.api.team_b)
    db.commit()
    ids = {"acme": sec.acme, "note": sec.acme_internal_note, "entry": sec.acme_time_entry, "own": own.id}
    sign_in(client, "agent_out")
    form = (
        {k: v.format(**ids) for k, v in data.items()} | {"csrf_token": token_for(client, "agent_out")} if data else None
    )
    before = snapshot()
    response = client.open(path.format(**ids), method=method, data=form)
    assert response.status_code == expected, what
    assert_unchanged(before, what)
    if method == "GET":
        followed = client.get(response.headers["Location"]).get_data(as_text=True)
        assert "Acme export broken" not in followed and "SECRET-" not in followed, what
    db.expire_all()
    assert db.get(Ticket, sec.acme).status == Status.OPEN


def test_agent_lists_show_no_other_teams_rows(client, db, sec) -> None:
    sign_in(client, "agent_out")
    for path in ("/admin/tickets/", "/admin/interactions/", "/admin/time_entries/", "/admin/queues/mine",
                 "/admin/queues/unassigned", "/admin/tickets/?search=Acme"):  # fmt: skip
        page = client.get(path).get_data(as_text=True)
        assert "Acme export broken" not in page and "SECRET-" not in page and "looked" not in page, path
    assert client.get("/admin/queues/all").status_code == 403
    count = db.scalar(sa.select(sa.func.count()).select_from(Interaction).where(Interaction.ticket_id == sec.acme))
    assert count > 5  # there was plenty to leak
