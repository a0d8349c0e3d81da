"""API fixtures: the portal's two-customer world (every interaction type planted with SECRET-/PUBLIC- markers),
staff of every role in and out of the tickets' team, and a token for each kind of caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from tests.portal.conftest import World, world  # noqa: F401  (re-exported fixture)
from ticketing.demo import DEMO_FORMS
from ticketing.domain.vocab import Priority, StaffRole
from ticketing.models import IntakeForm, Team, User
from ticketing.services import api_tokens

ROLES = ["admin", "manager", "agent_in", "agent_out", "cust_own", "cust_admin", "revoked", "expired", "none",
         "garbage"]  # fmt: skip
STAFF = ["admin", "manager", "agent_in", "agent_out"]
CUSTOMERS = ["cust_own", "cust_admin"]
DEAD = ["revoked", "expired", "none", "garbage"]


@dataclass
class ApiWorld:
    w: World
    team_a: Team
    team_b: Team
    users: dict[str, User]
    tokens: dict[str, str]
    form: IntakeForm

    def headers(self, role: str) -> dict[str, str]:
        if role == "none":
            return {}
        if role == "garbage":
            return {"Authorization": "Bearer bh_deadbeef_" + "x" * 43}
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def apiw(db, make, now, world) -> ApiWorld:  # noqa: F811 - the portal's world fixture, re-exported above
    team_a, team_b = make.team("Team A"), make.team("Team B")
    users = {
        "admin": make.user(role=StaffRole.ADMIN, name="Ada Admin", email="ada@bluehill.test"),
        "manager": make.user(role=StaffRole.MANAGER, name="Max Manager", email="max@bluehill.test"),
        "agent_in": make.user(teams=[team_a], name="Ina Inside", email="ina@bluehill.test"),
        "agent_out": make.user(teams=[team_b], name="Otto Outside", email="otto@bluehill.test"),
    }
    for ticket in (world.acme_ticket, world.acme_colleague_ticket, world.globex_ticket):
        ticket.assigned_team = team_a
    spec = DEMO_FORMS[0]
    form = IntakeForm(slug=spec["slug"], name=spec["name"], description=spec["description"], fields=spec["fields"],
                      team=team_a, priority=Priority.HIGH, tags=["bug"], public=True)  # fmt: skip
    db.add(form)
    tokens: dict[str, str] = {}
    for role, user in users.items():
        tokens[role] = api_tokens.issue(db, name=f"{role} token", user=user, now=now)[1]
    tokens["cust_own"] = api_tokens.issue(db, name="alice", contact=world.alice, now=now)[1]
    tokens["cust_admin"] = api_tokens.issue(db, name="anna", contact=world.anna, now=now)[1]
    revoked, tokens["revoked"] = api_tokens.issue(db, name="old", user=users["admin"], now=now)
    api_tokens.revoke(revoked, now=now)
    expired, tokens["expired"] = api_tokens.issue(db, name="short", user=users["admin"], now=now,
                                                  expires_at=now + timedelta(minutes=5))  # fmt: skip
    expired.expires_at = now - timedelta(minutes=1)  # (issue refuses a past expiry; age it afterwards)
    db.commit()
    return ApiWorld(world, team_a, team_b, users, tokens, form)


def call(client: Any, apiw: ApiWorld, role: str, method: str, path: str, json: Any = None) -> Any:
    return client.open(f"/api/v1{path}", method=method, headers=apiw.headers(role), json=json)
