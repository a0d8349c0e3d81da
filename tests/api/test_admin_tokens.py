"""The admin screen: only admins create and revoke tokens; the token is shown once."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token, login_staff
from ticketing.models.api_tokens import ApiToken

TOKEN = re.compile(r"bh_[0-9a-f]{8}_[A-Za-z0-9_\-]{43}")


def create(client, **fields: str):
    page = client.get("/admin/api_tokens/new/")
    assert page.status_code == 200
    data = {"csrf_token": csrf_token(page.get_data(as_text=True)), "name": "", "user": "__None", "contact": "__None",
            "expires_at": "", **fields}  # fmt: skip
    return client.post("/admin/api_tokens/new/", data=data, follow_redirects=True)


def test_admin_creates_a_token_shown_once_that_works(client, db, apiw) -> None:
    login_staff(client, "ada@bluehill.test", "pw-secret-1")
    response = create(client, name="CRM sync", user=str(apiw.users["agent_in"].id))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "shown only this once" in page
    text = TOKEN.search(page).group(0)
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {text}"}).get_json()
    assert me["user"]["name"] == "Ina Inside" and me["token"]["name"] == "CRM sync"
    row = db.scalar(sa.select(ApiToken).where(ApiToken.name == "CRM sync"))
    assert row.created_by_id == apiw.users["admin"].id
    listing = client.get("/admin/api_tokens/").get_data(as_text=True)
    assert f"bh_{row.token_prefix}_" in listing and text not in listing  # the prefix, never the secret again
    details = client.get(f"/admin/api_tokens/details/?id={row.id}").get_data(as_text=True)
    assert text not in details and row.token_hash not in details


def test_admin_creates_a_customer_scoped_token(client, db, apiw) -> None:
    login_staff(client, "ada@bluehill.test", "pw-secret-1")
    page = create(client, name="Acme status page", contact=str(apiw.w.anna.id),
                  expires_at="2099-01-01T00:00").get_data(as_text=True)  # fmt: skip
    text = TOKEN.search(page).group(0)
    listed = client.get("/api/v1/tickets", headers={"Authorization": f"Bearer {text}"}).get_json()["data"]
    assert {t["id"] for t in listed} == {apiw.w.acme_ticket.id, apiw.w.acme_colleague_ticket.id}


@pytest.mark.parametrize(
    "fields",
    [{"name": "both"}, {"name": "two owners", "user": "USER", "contact": "CONTACT"},
     {"name": "old", "user": "USER", "expires_at": "2001-01-01T00:00"}],
)  # fmt: skip
def test_refused_creations_make_nothing(client, db, apiw, fields) -> None:
    login_staff(client, "ada@bluehill.test", "pw-secret-1")
    fields = {k: {"USER": str(apiw.users["agent_in"].id), "CONTACT": str(apiw.w.alice.id)}.get(v, v)
              for k, v in fields.items()}  # fmt: skip
    before = db.scalar(sa.select(sa.func.count()).select_from(ApiToken))
    page = create(client, **fields).get_data(as_text=True)
    assert "No token created" in page and not TOKEN.search(page)
    assert db.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == before


def test_revoke_action_kills_the_token(client, db, apiw) -> None:
    login_staff(client, "ada@bluehill.test", "pw-secret-1")
    row = db.scalar(sa.select(ApiToken).where(ApiToken.name == "agent_in token"))
    headers = {"Authorization": f"Bearer {apiw.tokens['agent_in']}"}
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    page = client.get("/admin/api_tokens/").get_data(as_text=True)
    data = {"action": "revoke", "rowid": [str(row.id)], "csrf_token": csrf_token(page)}
    response = client.post("/admin/api_tokens/action/", data=data)
    assert response.status_code == 302
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    db.expire_all()
    assert db.get(ApiToken, row.id).revoked_at is not None
    assert "revoked" in client.get("/admin/api_tokens/").get_data(as_text=True)


@pytest.mark.parametrize("email", ["max@bluehill.test", "ina@bluehill.test"])
def test_only_admins_reach_the_screen(client, db, apiw, email) -> None:
    login_staff(client, email, "pw-secret-1")
    assert client.get("/admin/api_tokens/").status_code == 403
    assert client.get("/admin/api_tokens/new/").status_code == 403
    token = csrf_token(client.get("/admin/queues/mine").get_data(as_text=True))
    row = db.scalar(sa.select(ApiToken.id).where(ApiToken.name == "admin token"))
    response = client.post("/admin/api_tokens/action/", data={"action": "revoke", "rowid": [str(row)],
                                                              "csrf_token": token})  # fmt: skip
    assert response.status_code == 403
    db.expire_all()
    assert db.get(ApiToken, row).revoked_at is None
