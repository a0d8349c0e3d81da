"""Contact sign-in: same answer for unknown and wrong, rate limits, session renewal, reset and invite links."""

from __future__ import annotations

import re

import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.portal.conftest import PASSWORD, login_contact
from ticketing.models import Contact, OutboundKind, OutboundMessage
from ticketing.services import accounts


def post_login(client, email: str, password: str):
    page = client.get("/login").get_data(as_text=True)
    return client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(page)})


def test_unknown_and_wrong_get_the_same_answer(client, world) -> None:
    wrong = post_login(client, "alice@acme.example", "nope-nope-nope")
    unknown = post_login(client, "nobody@acme.example", "nope-nope-nope")
    assert wrong.status_code == unknown.status_code == 401
    message = "That email and password don&#39;t match an account."
    assert message in wrong.get_data(as_text=True) and message in unknown.get_data(as_text=True)


def test_sign_in_is_rate_limited_per_account(client, world) -> None:
    statuses = [post_login(client, "alice@acme.example", "wrong-password").status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert post_login(client, "alice@acme.example", PASSWORD).status_code == 429  # even with the right one


def test_session_is_renewed_at_sign_in_and_dropped_at_sign_out(client, world) -> None:
    with client.session_transaction() as session:
        session["planted"] = "by-an-attacker"
    login_contact(client, "alice@acme.example")
    with client.session_transaction() as session:
        assert "planted" not in session and session["_user_id"] == world.alice.get_id()
        cookie_session = dict(session)
    page = client.get("/tickets").get_data(as_text=True)
    assert client.post("/logout", data={"csrf_token": csrf_token(page)}).status_code == 302
    assert client.get("/tickets").status_code == 302
    # Replaying the old session after sign-out: the user id is gone from the client's cookie.
    with client.session_transaction() as session:
        assert "_user_id" not in session
    assert cookie_session["_user_id"]


def test_next_only_to_our_own_paths(client, world) -> None:
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login?next=https://evil.example/x", data={
        "email": "alice@acme.example", "password": PASSWORD, "csrf_token": csrf_token(page)})  # fmt: skip
    assert response.headers["Location"] == "/tickets"
    client.post("/logout", data={"csrf_token": csrf_token(client.get("/tickets").get_data(as_text=True))})
    page = client.get("/login").get_data(as_text=True)
    response = client.post(f"/login?next=/tickets/{world.acme_ticket.id}", data={
        "email": "alice@acme.example", "password": PASSWORD, "csrf_token": csrf_token(page)})  # fmt: skip
    assert response.headers["Location"] == f"/tickets/{world.acme_ticket.id}"


def test_password_reset_link_is_single_use(client, db, world) -> None:
    page = client.get("/forgot").get_data(as_text=True)
    client.post("/forgot", data={"email": "alice@acme.example", "csrf_token": csrf_token(page)})
    unknown = client.post("/forgot", data={"email": "ghost@acme.example", "csrf_token": csrf_token(page)})
    assert unknown.status_code == 302  # same answer, no email
    mails = db.scalars(sa.select(OutboundMessage).where(OutboundMessage.kind == OutboundKind.PASSWORD_RESET)).all()
    assert [m.to_address for m in mails] == ["alice@acme.example"]
    link = re.search(r"http://\S+/reset/(\S+)", mails[0].body_text).group(1)
    form = client.get(f"/reset/{link}").get_data(as_text=True)
    done = client.post(f"/reset/{link}", data={"password": "brand-new-pass-1", "confirm": "brand-new-pass-1",
                                               "csrf_token": csrf_token(form)})  # fmt: skip
    assert done.status_code == 302 and done.headers["Location"] == "/tickets"
    again = client.get(f"/reset/{link}")
    assert again.status_code == 302 and "/forgot" in again.headers["Location"]
    db.expire_all()
    assert db.get(Contact, world.alice.id).check_password("brand-new-pass-1")


def test_expired_and_forged_links_are_refused(client, db, world, app) -> None:
    import time_machine

    secret = app.config["SECRET_KEY"]
    with time_machine.travel("2026-01-01 00:00:00+00:00"):
        old = accounts.make_token(world.alice, "reset", secret)
    assert accounts.contact_for_token(db, old, "reset", secret) is None  # older than 2 hours
    fresh = accounts.make_token(world.alice, "reset", secret)
    assert accounts.contact_for_token(db, fresh, "invite", secret) is None  # another purpose
    assert accounts.contact_for_token(db, fresh + "x", "reset", secret) is None
    assert accounts.contact_for_token(db, fresh, "reset", secret).id == world.alice.id


def test_invitation_lets_a_new_contact_choose_a_password(client, db, make, app) -> None:
    contact = make.contact(make.customer(), email="new@acme.example")
    db.commit()
    token = accounts.make_token(contact, "invite", app.config["SECRET_KEY"])
    form = client.get(f"/invite/{token}").get_data(as_text=True)
    short = client.post(f"/invite/{token}", data={"password": "short", "confirm": "short",
                                                  "csrf_token": csrf_token(form)})  # fmt: skip
    assert short.status_code == 200 and "between 10 and 200 characters" in short.get_data(as_text=True)
    ok = client.post(f"/invite/{token}", data={"password": "welcome-here-1", "confirm": "welcome-here-1",
                                               "csrf_token": csrf_token(form)})  # fmt: skip
    assert ok.status_code == 302
    assert client.get("/tickets").status_code == 200
