"""Keyset pages, filters and sort keys; unknown parameters are refused; per-token rate limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.api.conftest import call
from ticketing.models import Ticket
from ticketing.services import queues


@pytest.fixture
def many(db, make, now, apiw) -> list[int]:
    """57 Acme tickets for Alice: the same timestamps in runs of three, so ties must break on id."""
    ids = []
    for n in range(57):
        when = now + timedelta(minutes=n // 3)
        ticket = make.ticket(now=when, contact=apiw.w.alice, subject=f"Bulk {n}", team=apiw.team_a)
        ids.append(ticket.id)
    db.commit()
    return ids


def walk(client, apiw, role: str, query: str) -> list[int]:
    seen, cursor, pages = [], None, 0
    while True:
        suffix = f"&cursor={cursor}" if cursor else ""
        response = call(client, apiw, role, "GET", f"/tickets?{query}{suffix}")
        assert response.status_code == 200, response.get_json()
        body = response.get_json()
        assert len(body["data"]) <= 10
        seen += [t["id"] for t in body["data"]]
        cursor, pages = body["next_cursor"], pages + 1
        if cursor is None:
            return seen
        assert pages < 50


@pytest.mark.parametrize("sort", ["-updated_at", "updated_at", "-created_at", "created_at", "-id", "id"])
@pytest.mark.parametrize("role", ["admin", "cust_own"])
def test_pagination_walk_has_no_duplicates_or_gaps(client, db, apiw, many, sort, role) -> None:
    seen = walk(client, apiw, role, f"limit=10&sort={sort}")
    assert len(seen) == len(set(seen))
    assert set(many) <= set(seen)
    if role == "cust_own":
        assert set(seen) == {*many, apiw.w.acme_ticket.id}
    key = {"updated_at": "updated_at" if role == "admin" else "public_updated_at"}.get(sort.lstrip("-"),
                                                                                        sort.lstrip("-"))  # fmt: skip
    rows = {t.id: t for t in db.query(Ticket).filter(Ticket.id.in_(seen))}
    values = [(getattr(rows[i], key), i) for i in seen]
    assert values == sorted(values, reverse=sort.startswith("-"))


def test_status_filter_and_limit(client, db, apiw, many) -> None:
    call(client, apiw, "admin", "PATCH", f"/tickets/{many[0]}", {"status": "pending"})
    pending = call(client, apiw, "admin", "GET", "/tickets?status=pending").get_json()["data"]
    assert [t["id"] for t in pending] == [many[0]]
    active = call(client, apiw, "cust_own", "GET", "/tickets?status=active&limit=100").get_json()["data"]
    assert len(active) == 58
    assert len(call(client, apiw, "admin", "GET", "/tickets?limit=3").get_json()["data"]) == 3


def test_staff_filters(client, db, apiw) -> None:
    acme = apiw.w.acme_ticket.id
    call(client, apiw, "admin", "PATCH", f"/tickets/{acme}",
         {"tags": ["Billing", "vip"], "assignee_ids": [apiw.users["agent_in"].id]})  # fmt: skip
    for query, expected in [
        ("tag=vip", {acme}),
        (f"assignee_id={apiw.users['agent_in'].id}", {acme}),
        (f"customer_id={apiw.w.bob.customer_id}", {apiw.w.globex_ticket.id}),
        (f"contact_id={apiw.w.alice.id}", {acme}),
        (f"team_id={apiw.team_b.id}", set()),
        ("q=Globex", {apiw.w.globex_ticket.id}),
        ("q=invoice%20bob", {apiw.w.globex_ticket.id}),  # each term anywhere: the subject, the contact
        ("q=invoice%20acme", set()),
        ("priority=urgent", set()),
    ]:
        data = call(client, apiw, "manager", "GET", f"/tickets?{query}").get_json()["data"]
        assert {t["id"] for t in data} == expected, query


def test_search_by_ticket_number_and_too_short_a_query(client, apiw) -> None:
    acme, globex = apiw.w.acme_ticket.id, apiw.w.globex_ticket.id
    for query in (str(globex), f"%23{globex}"):  # "#" arrives encoded
        data = call(client, apiw, "manager", "GET", f"/tickets?q={query}").get_json()["data"]
        assert {t["id"] for t in data} == {globex}, query
    # The agent's scope still applies to a number: another team's ticket stays out of reach.
    data = call(client, apiw, "agent_out", "GET", f"/tickets?q={acme}").get_json()["data"]
    assert acme not in {t["id"] for t in data}
    response = call(client, apiw, "manager", "GET", "/tickets?q=Gl")
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {"q": queues.SEARCH_HINT}


@pytest.mark.parametrize(
    ("query", "field"),
    [("bogus=1", "bogus"), ("sort=subject", "sort"), ("sort=-priority", "sort"), ("limit=0", "limit"),
     ("limit=101", "limit"), ("limit=ten", "limit"), ("status=done", "status"), ("team_id=x", "team_id"),
     ("limit=5&limit=6", "limit"), ("cursor=%%%", "cursor"), ("cursor=WyJpZCIsIDEsIDFd", "cursor")],
)  # fmt: skip
def test_unknown_or_invalid_query_parameters_are_400(client, apiw, query, field) -> None:
    response = call(client, apiw, "admin", "GET", f"/tickets?{query}")
    assert response.status_code == 400
    assert field in response.get_json()["error"]["fields"]


def test_cursor_of_another_sort_is_refused(client, apiw, many) -> None:
    cursor = call(client, apiw, "admin", "GET", "/tickets?limit=5&sort=id").get_json()["next_cursor"]
    response = call(client, apiw, "admin", "GET", f"/tickets?limit=5&sort=created_at&cursor={cursor}")
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "invalid_cursor"


@pytest.mark.parametrize("param", ["team_id=1", "assignee_id=1", "tag=x", "q=x", "customer_id=1", "priority=low"])
def test_staff_only_filters_are_400_for_customers(client, apiw, param) -> None:
    response = call(client, apiw, "cust_admin", "GET", f"/tickets?{param}")
    assert response.status_code == 400
    assert response.get_json()["error"]["fields"] == {param.split("=")[0]: "not available to customer tokens"}


def test_interaction_pages_walk_in_order(client, apiw) -> None:
    t = apiw.w.acme_ticket.id
    for role in ("agent_in", "cust_own"):
        seen, cursor = [], None
        while True:
            suffix = f"&cursor={cursor}" if cursor else ""
            body = call(client, apiw, role, "GET", f"/tickets/{t}/interactions?limit=2{suffix}").get_json()
            seen += [i["id"] for i in body["data"]]
            cursor = body["next_cursor"]
            if cursor is None:
                break
        full = call(client, apiw, role, "GET", f"/tickets/{t}/interactions?limit=100").get_json()["data"]
        assert seen == [i["id"] for i in full] and len(seen) == len(set(seen))
    only_sms = call(client, apiw, "cust_own", "GET", f"/tickets/{t}/interactions?type=sms").get_json()["data"]
    assert [i["body_text"] for i in only_sms] == ["PUBLIC-acme-sms-sent"]


def test_rate_limit_is_per_token_and_answers_json_429(client, app, apiw, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "5 per minute")
    statuses = [call(client, apiw, "agent_in", "GET", "/me").status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
    limited = call(client, apiw, "agent_in", "GET", "/tickets")
    assert limited.status_code == 429 and limited.get_json()["error"]["code"] == "rate_limited"
    assert "Retry-After" in limited.headers or "X-RateLimit-Reset" in limited.headers
    assert call(client, apiw, "manager", "GET", "/me").status_code == 200  # another token has its own budget


def test_the_default_limit_is_600_per_minute(app) -> None:
    from api.auth import rate_limit

    with app.app_context():
        assert rate_limit() == "600 per minute"


@pytest.mark.parametrize("path", ["/me?verbose=1", "/tickets/{t}?expand=all", "/forms?page=2", "/customers/1?x=y"])
def test_endpoints_without_parameters_refuse_any(client, apiw, path) -> None:
    response = call(client, apiw, "admin", "GET", path.format(t=apiw.w.acme_ticket.id))
    assert response.status_code == 400 and response.get_json()["error"]["code"] == "unknown_parameter"
