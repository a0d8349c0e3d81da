"""Tokens: issued hashed and shown once, checked in constant time, dead when revoked, expired or orphaned."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from tests.api.conftest import call
from ticketing.models import Contact, User
from ticketing.models.api_tokens import ApiToken
from ticketing.services import api_tokens


def test_only_a_digest_is_stored(db, apiw) -> None:
    text = apiw.tokens["admin"]
    row = db.scalar(sa.select(ApiToken).where(ApiToken.name == "admin token"))
    assert text.startswith(f"bh_{row.token_prefix}_") and len(row.token_prefix) == 8
    assert row.token_hash == hashlib.sha256(text.encode()).hexdigest()
    stored = " ".join(str(v) for v in db.execute(sa.select(ApiToken.__table__)).all())
    assert text.split("_", 2)[2] not in stored  # the secret part is nowhere in the table


def test_me_names_the_owner(client, apiw) -> None:
    staff = call(client, apiw, "agent_in", "GET", "/me").get_json()
    assert staff["kind"] == "staff" and staff["user"]["name"] == "Ina Inside" and staff["contact"] is None
    assert staff["user"]["team_ids"] == [apiw.team_a.id] and staff["token"]["prefix"] in apiw.tokens["agent_in"]
    customer = call(client, apiw, "cust_own", "GET", "/me").get_json()
    assert customer["kind"] == "customer" and customer["contact"]["email"] == "alice@acme.example"
    assert customer["user"] is None


@pytest.mark.parametrize("role", ["revoked", "expired", "none", "garbage"])
def test_dead_or_missing_tokens_are_401(client, apiw, role) -> None:
    response = call(client, apiw, role, "GET", "/tickets")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.get_json()["error"]["code"] in {"missing_token", "invalid_token"}


@pytest.mark.parametrize(
    "header",
    ["Basic YWRtaW46YWRtaW4=", "Bearer", "Bearer bh_", "Bearer bh_zzzzzzzz_" + "a" * 43, "bh_1234abcd_" + "a" * 43,
     "Bearer " + "x" * 5000],
)  # fmt: skip
def test_malformed_authorization_is_401(client, apiw, header) -> None:
    assert client.get("/api/v1/me", headers={"Authorization": header}).status_code == 401


def test_right_prefix_wrong_secret_is_401(client, apiw) -> None:
    prefix = apiw.tokens["admin"].split("_")[1]
    forged = f"bh_{prefix}_" + "A" * 43
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}).status_code == 401


def test_a_session_cookie_is_not_an_api_credential(client, db, apiw) -> None:
    from tests.conftest import login_staff

    login_staff(client, "ada@bluehill.test", "pw-secret-1")
    assert client.get("/api/v1/tickets").status_code == 401


def test_disabled_owners_lose_access(client, db, apiw) -> None:
    db.get(User, apiw.users["manager"].id).active = False
    db.get(Contact, apiw.w.alice.id).portal_enabled = False
    db.commit()
    assert call(client, apiw, "manager", "GET", "/me").status_code == 401
    assert call(client, apiw, "cust_own", "GET", "/me").status_code == 401
    assert call(client, apiw, "cust_admin", "GET", "/me").status_code == 200


def test_last_used_is_stamped(client, db, apiw) -> None:
    assert call(client, apiw, "agent_in", "GET", "/me").status_code == 200
    db.expire_all()
    row = db.scalar(sa.select(ApiToken).where(ApiToken.name == "agent_in token"))
    assert row.last_used_at is not None


def test_issue_refuses_two_owners_none_or_a_past_expiry(db, apiw, now) -> None:
    user, contact = apiw.users["admin"], apiw.w.alice
    for kwargs in ({"user": user, "contact": contact}, {}, {"user": user, "expires_at": now - timedelta(days=1)}):
        with pytest.raises(api_tokens.TokenError):
            api_tokens.issue(db, name="x", now=now, **kwargs)
    with pytest.raises(api_tokens.TokenError):
        api_tokens.issue(db, name="   ", now=now, user=user)


def test_the_owner_check_constraint_holds_in_the_database(db, apiw) -> None:
    from sqlalchemy.exc import IntegrityError

    db.add(ApiToken(name="both", token_prefix="0000aaaa", token_hash="0" * 64, user_id=apiw.users["admin"].id,
                    contact_id=apiw.w.alice.id))  # fmt: skip
    with pytest.raises(IntegrityError):
        db.flush()
    db.rollback()
