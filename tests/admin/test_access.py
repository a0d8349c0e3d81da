"""Agent screens: who may open what (role x view), sign-in, sign-out and safe redirects."""

import pytest

from tests.conftest import csrf_token, login_staff
from ticketing.domain.vocab import StaffRole

# (url, roles that get 200); everyone else signed in as staff gets 403, anonymous and contacts are sent to sign-in.
VIEWS = [
    ("/admin/queues/mine", {"agent", "manager", "admin"}),
    ("/admin/queues/all", {"manager", "admin"}),
    ("/admin/load/", {"manager", "admin"}),
    ("/admin/reports/", {"manager", "admin"}),
    ("/admin/reports/by_category.csv", {"manager", "admin"}),
    ("/admin/routingrule/", {"admin"}),
    ("/admin/intakeform/", {"admin"}),
    ("/admin/branding/", {"admin"}),
    ("/admin/cannedresponse/", {"admin"}),
    ("/admin/webhooks/", {"admin"}),
    ("/admin/webhook-deliveries/", {"admin"}),
    ("/admin/webhook-attempts/", {"admin"}),
    ("/admin/api_tokens/", {"admin"}),
    ("/admin/tickets/", {"agent", "manager", "admin"}),
    ("/admin/interactions/", {"agent", "manager", "admin"}),
    ("/admin/customer/", {"agent", "manager", "admin"}),
    ("/admin/contact/", {"agent", "manager", "admin"}),
    ("/admin/user/", {"admin"}),
    ("/admin/team/", {"admin"}),
    ("/admin/category/", {"admin"}),
    ("/admin/slapolicy/", {"admin"}),
    ("/admin/businesscalendar/", {"admin"}),
    ("/admin/user/new/", {"admin"}),
    ("/admin/mailbox/", {"admin"}),
    ("/admin/inbound_email/", {"admin"}),
    ("/admin/outbound_email/", {"admin"}),
]
PASSWORD = "pw-for-tests-1"


@pytest.fixture
def people(db, make):
    users = {
        role.value: make.user(role=role, password=PASSWORD, email=f"{role.value}@bluehill.test") for role in StaffRole
    }
    db.commit()
    return users


@pytest.mark.parametrize("role", ["anonymous", "contact", "agent", "manager", "admin"])
@pytest.mark.parametrize(("url", "allowed"), VIEWS, ids=[v[0] for v in VIEWS])
def test_role_by_view(client, db, make, people, role, url, allowed) -> None:
    if role in {r.value for r in StaffRole}:
        login_staff(client, f"{role}@bluehill.test", PASSWORD)
    elif role == "contact":
        contact = make.contact(make.customer(), password=PASSWORD)
        db.commit()
        with client.session_transaction() as session:
            session["_user_id"] = contact.get_id()
            session["_fresh"] = True
    db.commit()
    response = client.get(url)
    if role in allowed:
        assert response.status_code == 200
    elif role in {"anonymous", "contact"}:
        assert response.status_code == 302 and "/agent/login" in response.headers["Location"]
    else:
        assert response.status_code == 403


def test_wrong_password_gets_the_same_answer_as_unknown_email(client, db, people) -> None:
    page = client.get("/agent/login").get_data(as_text=True)
    wrong = client.post(
        "/agent/login", data={"email": "admin@bluehill.test", "password": "nope", "csrf_token": csrf_token(page)}
    )
    unknown = client.post(
        "/agent/login", data={"email": "ghost@bluehill.test", "password": "nope", "csrf_token": csrf_token(page)}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert "Wrong email or password." in wrong.get_data(as_text=True)
    assert "Wrong email or password." in unknown.get_data(as_text=True)


def test_login_without_csrf_token_is_refused(client, db, people) -> None:
    response = client.post("/agent/login", data={"email": "admin@bluehill.test", "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize(
    ("next_url", "expected"),
    [
        ("/admin/tickets/", "/admin/tickets/"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/x", "/admin/"),
        ("/\\evil.example", "/admin/"),
        ("javascript:alert(1)", "/admin/"),
    ],
)
def test_next_only_goes_to_our_own_paths(client, db, people, next_url, expected) -> None:
    page = client.get("/agent/login").get_data(as_text=True)
    response = client.post(
        "/agent/login",
        query_string={"next": next_url},
        data={"email": "agent@bluehill.test", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_logout_drops_the_session(client, db, people) -> None:
    login_staff(client, "admin@bluehill.test", PASSWORD)
    assert client.get("/admin/").headers["Location"].startswith("/admin/queues")
    home = client.get("/admin/queues/mine").get_data(as_text=True)
    response = client.post("/agent/logout", data={"csrf_token": csrf_token(home)})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_resolve_action_goes_through_the_service(client, db, make, people, now) -> None:
    from ticketing.domain.lifecycle import Status
    from ticketing.models import Interaction

    ticket = make.ticket(now=now)
    db.commit()
    login_staff(client, "agent@bluehill.test", PASSWORD)
    page = client.get("/admin/tickets/").get_data(as_text=True)
    response = client.post(
        "/admin/tickets/action/", data={"action": "resolve", "rowid": [str(ticket.id)], "csrf_token": csrf_token(page)}
    )
    assert response.status_code == 302
    db.expire_all()
    assert ticket.status == Status.RESOLVED
    audit = [i.body_text for i in db.query(Interaction).filter_by(ticket_id=ticket.id)]
    assert any("changed status from Open to Resolved" in text for text in audit)
