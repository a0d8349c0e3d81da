"""Every kind of caller against every resource, with the exact status each must get.

Callers: admin, manager, an agent of the tickets' team (agent_in), an agent of another team (agent_out), a
customer token of a contact who sees own tickets (cust_own: Alice of Acme), one who sees the whole customer
(cust_admin: Anna of Acme), and revoked, expired, missing and garbage tokens. The tickets sit in Team A.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.conftest import ROLES, ApiWorld, call


@dataclass(frozen=True)
class Case:
    method: str
    path: Callable[[ApiWorld], str]
    body: Callable[[ApiWorld, str], Any] | None
    expected: dict[str, int]


def table(admin: int, manager: int, agent_in: int, agent_out: int, cust_own: int, cust_admin: int) -> dict[str, int]:
    return {"admin": admin, "manager": manager, "agent_in": agent_in, "agent_out": agent_out, "cust_own": cust_own,
            "cust_admin": cust_admin, "revoked": 401, "expired": 401, "none": 401, "garbage": 401}  # fmt: skip


def acme(a: ApiWorld) -> int:
    return a.w.acme_ticket.id


def colleague(a: ApiWorld) -> int:
    return a.w.acme_colleague_ticket.id


def globex(a: ApiWorld) -> int:
    return a.w.globex_ticket.id


def _unique(role: str) -> str:
    return role.replace("_", "-")


CASES = {
    "list tickets": Case("GET", lambda a: "/tickets", None, table(200, 200, 200, 200, 200, 200)),
    "get own ticket": Case("GET", lambda a: f"/tickets/{acme(a)}", None, table(200, 200, 200, 404, 200, 200)),
    "get colleague's ticket": Case("GET", lambda a: f"/tickets/{colleague(a)}", None,
                                   table(200, 200, 200, 404, 404, 200)),
    "get other customer's ticket": Case("GET", lambda a: f"/tickets/{globex(a)}", None,
                                        table(200, 200, 200, 404, 404, 404)),
    "create ticket": Case("POST", lambda a: "/tickets", lambda a, r: {"subject": f"From {r}", "body": "Hello"},
                          table(201, 201, 201, 201, 201, 201)),
    "create ticket with priority": Case("POST", lambda a: "/tickets",
                                        lambda a, r: {"subject": "x", "priority": "urgent"},
                                        table(201, 201, 201, 201, 422, 422)),
    "update ticket priority": Case("PATCH", lambda a: f"/tickets/{acme(a)}", lambda a, r: {"priority": "high"},
                                   table(200, 200, 200, 404, 422, 422)),
    "update ticket team/tags/assignees": Case(
        "PATCH", lambda a: f"/tickets/{acme(a)}",
        lambda a, r: {"team_id": a.team_a.id, "tags": ["api"], "assignee_ids": [a.users["agent_in"].id],
                      "category_id": None},
        table(200, 200, 200, 404, 422, 422)),
    "close ticket": Case("PATCH", lambda a: f"/tickets/{acme(a)}", lambda a, r: {"status": "closed"},
                         table(200, 200, 200, 404, 200, 200)),
    "list interactions": Case("GET", lambda a: f"/tickets/{acme(a)}/interactions", None,
                              table(200, 200, 200, 404, 200, 200)),
    "list other customer's interactions": Case("GET", lambda a: f"/tickets/{globex(a)}/interactions", None,
                                               table(200, 200, 200, 404, 404, 404)),
    "add internal note": Case("POST", lambda a: f"/tickets/{acme(a)}/interactions",
                              lambda a, r: {"type": "internal_note", "body": f"note by {r}"},
                              table(201, 201, 201, 404, 403, 403)),
    "add reply": Case("POST", lambda a: f"/tickets/{acme(a)}/interactions",
                      lambda a, r: {"type": "email_inbound", "body": f"reply by {r}"},
                      table(422, 422, 422, 404, 201, 201)),
    "add reply to other customer's ticket": Case("POST", lambda a: f"/tickets/{globex(a)}/interactions",
                                                 lambda a, r: {"body": "hi"}, table(201, 201, 201, 404, 404, 404)),
    "list contacts": Case("GET", lambda a: "/contacts", None, table(200, 200, 200, 200, 200, 200)),
    "get another contact": Case("GET", lambda a: f"/contacts/{a.w.bob.id}", None, table(200, 200, 200, 200, 404, 404)),
    "get own contact": Case("GET", lambda a: f"/contacts/{a.w.alice.id}", None, table(200, 200, 200, 200, 200, 404)),
    "create contact": Case("POST", lambda a: "/contacts",
                           lambda a, r: {"email": f"new-{_unique(r)}@acme.example", "name": "New"},
                           table(201, 201, 201, 201, 403, 403)),
    "update contact": Case("PATCH", lambda a: f"/contacts/{a.w.bob.id}", lambda a, r: {"phone": "+1 555"},
                           table(200, 200, 200, 200, 403, 403)),
    "list customers": Case("GET", lambda a: "/customers", None, table(200, 200, 200, 200, 200, 200)),
    "get own customer": Case("GET", lambda a: f"/customers/{a.w.alice.customer_id}", None,
                             table(200, 200, 200, 200, 200, 200)),
    "get other customer": Case("GET", lambda a: f"/customers/{a.w.bob.customer_id}", None,
                               table(200, 200, 200, 200, 404, 404)),
    "create customer": Case("POST", lambda a: "/customers",
                            lambda a, r: {"name": f"Newco {r}", "domains": [f"{_unique(r)}.newco.example"]},
                            table(201, 201, 201, 201, 403, 403)),
    "update customer": Case("PATCH", lambda a: f"/customers/{a.w.bob.customer_id}", lambda a, r: {"tier": "premium"},
                            table(200, 200, 200, 200, 403, 403)),
    "list time entries": Case("GET", lambda a: f"/tickets/{acme(a)}/time-entries", None,
                              table(200, 200, 200, 404, 403, 403)),
    "log time": Case("POST", lambda a: f"/tickets/{acme(a)}/time-entries", lambda a, r: {"minutes": 15, "note": r},
                     table(201, 201, 201, 404, 403, 403)),
    "list forms": Case("GET", lambda a: "/forms", None, table(200, 200, 200, 200, 200, 200)),
    "submit form": Case(
        "POST", lambda a: "/forms/report-a-bug/submissions",
        lambda a, r: {"subject": f"Bug from {r}",
                      "answers": {"steps": "a", "expected": "b", "actual": "c", "severity": "Cosmetic"},
                      **({} if r.startswith("cust") else {"submitter_email": "pat@newco.example"})},
        table(201, 201, 201, 201, 201, 201)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(CASES))
def test_every_role_gets_the_right_status(client, apiw, name) -> None:
    case = CASES[name]
    got = {}
    for role in ROLES:
        body = case.body(apiw, role) if case.body else None
        response = call(client, apiw, role, case.method, case.path(apiw), json=body)
        got[role] = response.status_code
        assert response.is_json, (role, response.data[:200])
        if response.status_code >= 400:
            assert set(response.get_json()["error"]) >= {"code", "message"}
    assert got == case.expected


def test_agent_outside_the_team_lists_none_of_its_tickets(client, apiw) -> None:
    listed = {t["id"] for t in call(client, apiw, "agent_out", "GET", "/tickets").get_json()["data"]}
    assert listed.isdisjoint({acme(apiw), colleague(apiw), globex(apiw)})
    inside = {t["id"] for t in call(client, apiw, "agent_in", "GET", "/tickets").get_json()["data"]}
    assert {acme(apiw), colleague(apiw), globex(apiw)} <= inside
    by_customer = call(client, apiw, "agent_out", "GET", f"/tickets?customer_id={apiw.w.bob.customer_id}")
    assert by_customer.status_code == 200 and by_customer.get_json()["data"] == []


def test_agent_sees_the_general_inbox_and_own_assignments(client, db, apiw) -> None:
    from ticketing.models import Ticket

    db.get(Ticket, globex(apiw)).assigned_team = None  # the no-team inbox
    db.get(Ticket, acme(apiw)).assignees.append(db.merge(apiw.users["agent_out"]))
    db.commit()
    listed = {t["id"] for t in call(client, apiw, "agent_out", "GET", "/tickets").get_json()["data"]}
    assert listed == {acme(apiw), globex(apiw)}


def test_customer_lists_are_scoped(client, apiw) -> None:
    alice = {t["id"] for t in call(client, apiw, "cust_own", "GET", "/tickets").get_json()["data"]}
    anna = {t["id"] for t in call(client, apiw, "cust_admin", "GET", "/tickets").get_json()["data"]}
    assert alice == {acme(apiw)}
    assert anna == {acme(apiw), colleague(apiw)}
    contacts = call(client, apiw, "cust_own", "GET", "/contacts").get_json()["data"]
    assert [c["email"] for c in contacts] == ["alice@acme.example"] and "portal_role" not in contacts[0]
    customers = call(client, apiw, "cust_admin", "GET", "/customers").get_json()["data"]
    assert customers == [{"id": apiw.w.anna.customer_id, "name": "Acme"}]  # no tier, notes or domains


def test_managers_and_admins_see_everything(client, apiw) -> None:
    for role in ("admin", "manager"):
        listed = {t["id"] for t in call(client, apiw, role, "GET", "/tickets?limit=100").get_json()["data"]}
        assert {acme(apiw), colleague(apiw), globex(apiw)} <= listed
