"""Sessions and sign-in: open redirects, session fixation, replaying a cookie after sign-out, and brute-force
throttling of the portal, agent and API sign-ins."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from tests.portal.conftest import PASSWORD
from tests.security.conftest import (
    STAFF_EMAILS,
    STAFF_PASSWORD,
    assert_unchanged,
    changes,
    link_token,
    sign_in,
    signed_in_as,
    snapshot,
    token_for,
)
from ticketing.extensions import limiter
from ticketing.models import Contact, OutboundKind, OutboundMessage

HOSTILE_TARGETS = [
    "https://evil.example/",
    "//evil.example/x",
    "///evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    " //evil.example",
    "http:evil.example",
    "https:/evil.example",
    "javascript:alert(1)",
    "/\r\nSet-Cookie: x=y",
    "/x\x00",
]


def _where_a_browser_goes(location: str) -> str:
    """The host a browser would go to: it drops tabs and newlines and reads a backslash as a slash."""
    cleaned = "".join(c for c in location if c not in "\t\r\n").replace("\\", "/").strip()
    return urlsplit(cleaned).netloc or ("<external>" if cleaned.startswith("//") else "")


def _login(client, path: str, email: str, password: str, query: dict[str, str]) -> Any:
    token = client.get(path).get_data(as_text=True)
    from tests.conftest import csrf_token

    return client.post(path, query_string=query, data={"email": email, "password": password,
                                                       "csrf_token": csrf_token(token)})  # fmt: skip


SIGN_INS = {
    "portal": ("/login", "alice@acme.example", PASSWORD, "/tickets"),
    "agent screens": ("/agent/login", STAFF_EMAILS["admin"], STAFF_PASSWORD, "/admin/"),
}


@pytest.mark.parametrize("surface", list(SIGN_INS))
def test_sign_in_never_redirects_off_site(client, db, sec, surface) -> None:
    """Every hostile next= (the table above) lands on the default page; all misses are reported together."""
    path, email, password, default = SIGN_INS[surface]
    missed = []
    for target in HOSTILE_TARGETS:
        limiter.reset()  # a dozen sign-ins to one account: past its own brute-force limit
        response = _login(client.application.test_client(), path, email, password, {"next": target})
        if response.status_code != 302 or response.headers["Location"] != default or "x=y" in str(response.headers):
            missed.append(f"{target!r}: {response.status_code} {response.headers.get('Location')}")
    assert not missed, missed


@pytest.mark.parametrize("surface", list(SIGN_INS))
def test_sign_in_follows_a_path_of_our_own(client, db, sec, surface) -> None:
    path, email, password, _ = SIGN_INS[surface]
    own = f"/tickets/{sec.acme}" if surface == "portal" else f"/admin/ticket/{sec.acme}"
    response = _login(client, path, email, password, {"next": own})
    assert response.status_code == 302 and response.headers["Location"] == own


def test_agent_screens_never_send_back_off_site(client, db, sec) -> None:
    """Flask-Admin's ?url= (where to return after a form) and the queue's back= field: to our own site, or, for a
    return address with control characters (which cannot go into a Location header), 400 before anything."""
    sign_in(client, "admin")
    token = token_for(client, "admin")
    missed = []
    for target in HOSTILE_TARGETS:
        control = any(ord(c) < 32 for c in target)
        before = snapshot()
        edit = client.post("/admin/cannedresponse/edit/", query_string={"id": sec.canned, "url": target},
                           data={"title": "Thanks", "body": f"Thanks {target!r}.", "csrf_token": token})  # fmt: skip
        bulk = client.post("/admin/queues/bulk", data={"action": "tag", "tag": "x", "ids": [str(sec.acme)],
                                                       "back": target, "csrf_token": token})  # fmt: skip
        if control:
            ok = edit.status_code == bulk.status_code == 400 and not changes(before, snapshot())
        else:
            ok = (edit.status_code, bulk.status_code) == (302, 303) and before != snapshot()  # (the edit went through)
            ok = ok and _where_a_browser_goes(edit.headers["Location"]) in ("", "localhost")
            ok = ok and _where_a_browser_goes(bulk.headers["Location"]) == ""
        if not ok:
            missed.append(f"{target!r}: {edit.status_code} {edit.headers.get('Location')}, {bulk.status_code} "
                          f"{bulk.headers.get('Location')}")  # fmt: skip
    assert not missed, missed


def test_sign_in_page_remembers_where_you_were_going_without_leaving_the_site(client, db, sec) -> None:
    response = client.get(f"/tickets/{sec.acme}")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/login?next=/tickets/{sec.acme}"
    assert client.get("//evil.example/tickets").status_code in (302, 404)


# ---- fixation and replay -------------------------------------------------------------------------------------------


def _cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


@pytest.mark.parametrize("who", ["alice@acme.example", "admin"])
def test_sign_in_starts_a_new_session(client, db, sec, who) -> None:
    """Whatever an attacker planted in the session before sign-in (a session id included) does not survive it."""
    with client.session_transaction() as session:
        session["_sid"] = "planted-by-an-attacker"
        session["planted"] = "yes"
    planted = _cookie(client)
    sign_in(client, who)
    with client.session_transaction() as session:
        assert "planted" not in session and session["_sid"] != "planted-by-an-attacker"
    assert _cookie(client) != planted
    client.set_cookie("session", planted)  # the attacker's copy of the pre-sign-in cookie
    assert signed_in_as(client) == "anonymous"


@pytest.mark.parametrize(("who", "logout", "protected"), [
    ("alice@acme.example", "/logout", "/tickets"),
    ("admin", "/agent/logout", "/admin/queues/mine"),
])  # fmt: skip
def test_a_cookie_copied_before_sign_out_is_dead_after_it(client, db, sec, who, logout, protected) -> None:
    sign_in(client, who)
    assert client.get(protected).status_code == 200
    stolen = _cookie(client)
    assert client.post(logout, data={"csrf_token": token_for(client, who)}).status_code == 302
    client.set_cookie("session", stolen)
    response = client.get(protected)
    assert response.status_code == 302 and "login" in response.headers["Location"]
    assert signed_in_as(client) == "anonymous"


def test_signing_out_one_session_leaves_the_others(client, other_client, db, sec) -> None:
    sign_in(client, "alice@acme.example")
    sign_in(other_client, "alice@acme.example")
    client.post("/logout", data={"csrf_token": token_for(client, "alice@acme.example")})
    assert signed_in_as(client) == "anonymous"
    assert signed_in_as(other_client) == "contact"


# ---- brute force ----------------------------------------------------------------------------------------------------


def _attempt(client, path: str, email: str, password: str) -> int:
    return _login(client, path, email, password, {}).status_code


@pytest.mark.parametrize("surface", list(SIGN_INS))
def test_guessing_one_accounts_password_is_throttled(client, db, sec, surface) -> None:
    path, email, password, _ = SIGN_INS[surface]
    before = snapshot()
    statuses = [_attempt(client, path, email, "wrong-password-1") for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert _attempt(client, path, email, password) == 429  # even the right password, until the window passes
    assert signed_in_as(client) == "anonymous"
    assert_unchanged(before, f"{surface} guesses")


@pytest.mark.parametrize("surface", list(SIGN_INS))
def test_guessing_across_accounts_from_one_address_is_throttled(client, db, sec, surface) -> None:
    path = SIGN_INS[surface][0]
    statuses = [_attempt(client, path, f"nobody{i}@acme.example", "wrong-password-1") for i in range(11)]
    assert statuses == [401] * 10 + [429]


def test_guessing_api_tokens_is_throttled_per_address(client, db, sec) -> None:
    before = snapshot()
    guesses = [client.get("/api/v1/me", headers={"Authorization": f"Bearer bh_{i:08x}_{'x' * 43}"}).status_code
               for i in range(31)]  # fmt: skip
    assert guesses == [401] * 30 + [429]
    real = client.get("/api/v1/me", headers={"Authorization": f"Bearer {sec.api.tokens['admin']}"})
    assert real.status_code == 429 and real.get_json()["error"]["code"] == "rate_limited"
    assert_unchanged(before, "token guesses")


def test_successful_api_calls_do_not_use_up_the_failure_budget(client, db, sec) -> None:
    headers = {"Authorization": f"Bearer {sec.api.tokens['admin']}"}
    assert all(client.get("/api/v1/me", headers=headers).status_code == 200 for _ in range(40))


def test_password_reset_requests_are_throttled(client, db, sec) -> None:
    statuses = []
    for _ in range(6):
        token = token_for(client, "anonymous")
        statuses.append(client.post("/forgot", data={"email": "alice@acme.example", "csrf_token": token}).status_code)
    assert statuses == [302] * 5 + [429]
    resets = (
        sa.select(sa.func.count())
        .select_from(OutboundMessage)
        .where(OutboundMessage.kind == OutboundKind.PASSWORD_RESET)
    )
    sent = db.scalar(resets.where(OutboundMessage.to_address == "alice@acme.example"))
    assert sent == 5


def test_reset_link_works_once(client, db, sec) -> None:
    token = link_token(sec.w.alice.id)
    page = client.get(f"/reset/{token}")
    assert page.status_code == 200
    data = {"password": "brand-new-pass-1", "confirm": "brand-new-pass-1", "csrf_token": token_for(client, "anonymous")}
    assert client.post(f"/reset/{token}", data=data).status_code == 302
    db.expire_all()
    first_hash = db.get(Contact, sec.w.alice.id).password_hash
    other = client.application.test_client()
    replay = other.post(f"/reset/{token}", data={**data, "csrf_token": token_for(other, "anonymous")})
    assert replay.status_code == 302 and replay.headers["Location"] == "/forgot"
    db.expire_all()
    assert db.get(Contact, sec.w.alice.id).password_hash == first_hash
