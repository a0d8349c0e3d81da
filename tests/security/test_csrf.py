"""CSRF: every state-changing route of the portal, the agent screens and the intake, enumerated from the app's
route table, refuses a request whose CSRF token is missing, forged or another session's: exactly 400, and
neither the database nor the session changes. A route added without an entry here fails until someone says who
posts to it (or documents why it is exempt).

The same request with a valid token does take effect (the "control"), so each case proves the token is what
stopped it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa

from tests.portal.conftest import PASSWORD
from tests.security.conftest import (
    STAFF_EMAILS,
    STAFF_PASSWORD,
    Sec,
    assert_unchanged,
    catalogue_app,
    changes,
    model_view_endpoints,
    page_token,
    path_of,
    sign_in,
    signed_in_as,
    snapshot,
    state_changing_rules,
    token_for,
    url_values,
)
from ticketing.extensions import csrf
from ticketing.models import InboundMessage, Ticket

ANNA = "anna@acme.example"  # Acme's portal admin: every Acme ticket is hers to act on


@dataclass(frozen=True)
class Spec:
    who: str  # who posts: anonymous, a staff role, or a contact's email
    data: Callable[[Sec], dict[str, Any]]  # what the page's form would send, without the token
    effect: str | None  # what a valid token lets happen: "db" (rows change), "session" (signed in/out), None


NEW_PASSWORD = {"password": "a-new-password-1", "confirm": "a-new-password-1"}
BUG_ANSWERS = {"subject": "Via CSRF", "name": "Mallory", "email": "mallory@evil.example", "steps": "a",
               "expected": "b", "actual": "c", "severity": "Cosmetic"}  # fmt: skip

SPECS: dict[str, Spec] = {
    "portal.login": Spec("anonymous", lambda s: {"email": ANNA, "password": PASSWORD}, "session"),
    "portal.logout": Spec(ANNA, lambda s: {}, "session"),
    "portal.forgot": Spec("anonymous", lambda s: {"email": ANNA}, "db"),
    "portal.reset": Spec("anonymous", lambda s: NEW_PASSWORD, "db"),
    "portal.invite": Spec("anonymous", lambda s: NEW_PASSWORD, "db"),
    "portal.intake_form": Spec("anonymous", lambda s: BUG_ANSWERS, "db"),
    "portal.reply": Spec(ANNA, lambda s: {"body": "via CSRF"}, "db"),
    "portal.set_status": Spec(ANNA, lambda s: {"status": "closed"}, "db"),
    "agent_auth.login": Spec(
        "anonymous", lambda s: {"email": STAFF_EMAILS["admin"], "password": STAFF_PASSWORD}, "session"
    ),  # fmt: skip
    "agent_auth.logout": Spec("admin", lambda s: {}, "session"),
    "workspace.compose": Spec("admin", lambda s: {"kind": "note", "body": "via CSRF"}, "db"),
    "workspace.properties": Spec("admin", lambda s: {"status": "in_progress"}, "db"),
    "workspace.assignees": Spec("admin", lambda s: {"user_id": s.api.users["agent_in"].id}, "db"),
    "workspace.time": Spec("admin", lambda s: {"minutes": "15", "note": "via CSRF"}, "db"),
    "workspace.merge_into": Spec("admin", lambda s: {"target": str(s.acme_twin)}, "db"),
    "workspace.presence": Spec("admin", lambda s: {"state": "replying"}, None),  # Redis only, nothing to count
    "workspace.resend": Spec("admin", lambda s: {}, "db"),
    # The seeded desk has no notices for the admin to read: nothing to count (test_workspace_concurrency counts).
    "workspace.read_notifications": Spec("admin", lambda s: {"back": "/admin/queues/mine"}, None),
    "queues.bulk": Spec("admin", lambda s: {"action": "status", "value": "in_progress", "ids": [str(s.acme)]}, "db"),
}

# Exempt from the session token, each authenticated by something a cross-site form cannot send (tested below).
EXEMPT_BLUEPRINTS = {"api": "bearer token in the Authorization header", "inbound": "HMAC of the body"}
EXEMPT_VIEWS = {"portal.intake_form_embed": "signed, expiring embed token in the form (third-party frames)"}


def _model_view(endpoint: str) -> str | None:
    view = endpoint.split(".", 1)[0]
    return view if view in model_view_endpoints() else None


def _cases() -> list[Any]:
    """One case per custom route, one per Flask-Admin model view (its five generic POST routes together)."""
    cases, views = [], set()
    for rule, method in state_changing_rules():
        if rule.endpoint.split(".", 1)[0] in EXEMPT_BLUEPRINTS or rule.endpoint in EXEMPT_VIEWS:
            continue
        if view := _model_view(rule.endpoint):
            views.add(view)
            continue
        cases.append(pytest.param(rule.endpoint, method, id=f"{method} {rule.rule}"))
    cases += [pytest.param(view, "POST", id=f"admin model view {view}") for view in sorted(views)]
    return cases


def _variants(client, other_client) -> dict[str, dict[str, str]]:
    """The ways a forged request arrives: no token, a made-up one, and a real token of another session."""
    foreign = page_token(other_client)
    return {
        "missing": {},
        "made up": {"csrf_token": "IjAwMDAi.not-a-token"},
        "another session's": {"csrf_token": foreign},
    }


def _refused(response: Any, what: str) -> None:
    assert response.status_code == 400, (what, response.status_code, response.get_data(as_text=True)[:300])
    assert "CSRF" in response.get_data(as_text=True), what


@pytest.mark.parametrize(("endpoint", "method"), _cases())
def test_state_change_without_a_valid_token_is_refused(client, other_client, app, db, sec, endpoint, method) -> None:
    view = endpoint if endpoint in model_view_endpoints() else None
    spec = SPECS.get(endpoint) if view is None else Spec("admin", lambda s: {"name": "via CSRF"}, None)
    assert spec is not None, f"new state-changing route {endpoint}: add it to SPECS, or document why it is exempt"
    sign_in(client, spec.who)
    whoami = signed_in_as(client) if spec.effect == "session" else None
    before = snapshot()
    requests = _requests(app, db, sec, endpoint, method, spec, view)
    for variant, token in _variants(client, other_client).items():
        for path, data in requests:
            response = client.open(path, method=method, data={**data, **token})
            _refused(response, f"{variant} token: {method} {path}")
    assert_unchanged(before, endpoint)
    if whoami is not None:
        assert signed_in_as(client) == whoami
    if spec.effect is not None or endpoint == "cannedresponse":
        _control(client, endpoint, method, requests, before, spec)


def _requests(app, db, sec, endpoint, method, spec, view) -> list[tuple[str, dict[str, Any]]]:
    if view is None:
        rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
        return [(path_of(rule, url_values(sec, rule)), spec.data(sec))]
    # Flask-Admin's generic routes, aimed at a real row of the view's model.
    model = next(v.model for v in app.extensions["admin"][0]._views if getattr(v, "endpoint", None) == view)
    row = db.scalar(sa.select(model.id).order_by(model.id).limit(1)) or 1
    base = f"/admin/{_url_of(app, view)}"
    return [
        (f"{base}/new/", spec.data(sec)),
        (f"{base}/edit/?id={row}", spec.data(sec)),
        (f"{base}/delete/", {"id": str(row)}),
        (f"{base}/action/", {"action": "delete", "rowid": [str(row)]}),
        (f"{base}/ajax/update/", {"list_form_pk": str(row), "name": "via CSRF"}),
    ]


def _url_of(app, view: str) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == f"{view}.delete_view")
    return rule.rule.removeprefix("/admin/").removesuffix("/delete/")


def _control(client, endpoint, method, requests, before, spec) -> None:
    """With this session's own token the same request works: the token was the only thing missing."""
    path, data = requests[2] if endpoint == "cannedresponse" else requests[0]  # (a model view: its delete)
    token = token_for(client, spec.who)
    response = client.open(path, method=method, data={**data, "csrf_token": token})
    assert response.status_code in (200, 302, 303), (endpoint, response.status_code)
    if spec.effect == "session":
        expected = "anonymous" if "logout" in endpoint else "staff" if endpoint.startswith("agent") else "contact"
        assert signed_in_as(client) == expected
    else:
        assert changes(before, snapshot()), f"{endpoint}: a valid token changed nothing, so the case proves nothing"


def test_every_state_changing_route_is_enrolled() -> None:
    """A new route shows up in the parametrised test above; this names any that would be skipped silently."""
    custom = {r.endpoint for r, _ in state_changing_rules() if _model_view(r.endpoint) is None}
    exempt = {e for e in custom if e.split(".", 1)[0] in EXEMPT_BLUEPRINTS or e in EXEMPT_VIEWS}
    assert custom - exempt == set(SPECS), "SPECS and the route table disagree"


def test_exemptions_are_exactly_the_documented_ones() -> None:
    app = catalogue_app()
    views = {e for e in app.view_functions if f"{app.view_functions[e].__module__}.{app.view_functions[e].__name__}"
             in csrf._exempt_views}  # fmt: skip
    assert {b.name for b in csrf._exempt_blueprints} == set(EXEMPT_BLUEPRINTS)
    assert views == set(EXEMPT_VIEWS)


# ---- the exempt routes authenticate by other means ----------------------------------------------------------------


def test_api_ignores_the_session_cookie(client, db, sec) -> None:
    """A cross-site form can carry the staff session cookie, never an Authorization header."""
    sign_in(client, "admin")
    before = snapshot()
    response = client.post("/api/v1/tickets", json={"subject": "via a forged form"})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "missing_token"
    form_post = client.post("/api/v1/tickets", data={"subject": "via a forged form"})
    assert form_post.status_code == 401
    assert_unchanged(before, "API write with only a session cookie")


def test_inbound_email_needs_the_body_signature(client, db, sec, app, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "INBOUND_SECRET", "inbound-secret")
    sign_in(client, "admin")
    before = snapshot()
    raw = b"From: mallory@evil.example\r\nSubject: forged\r\n\r\nhi\r\n"
    for headers in ({}, {"X-Bluehill-Signature": "sha256=" + "0" * 64}):
        response = client.post("/inbound/email", data=raw, headers=headers)
        assert response.status_code == 401
    assert_unchanged(before, "unsigned inbound email")
    assert db.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1  # only the world's own


def test_embedded_form_needs_its_signed_token(client, db, sec) -> None:
    before = snapshot()
    response = client.post(f"/forms/{sec.api.form.slug}/embed", data=BUG_ANSWERS)
    assert response.status_code == 422 and "This form has expired" in response.get_data(as_text=True)
    forged = client.post(f"/forms/{sec.api.form.slug}/embed", data={**BUG_ANSWERS, "embed_token": "forged"})
    assert forged.status_code == 422
    assert_unchanged(before, "embedded form without its token")
    assert db.scalar(sa.select(sa.func.count()).select_from(Ticket).where(Ticket.subject == "Via CSRF")) == 0


def test_htmx_sends_the_token_as_a_header(client, db, sec) -> None:
    """The presence poll posts with X-CSRFToken (hx-headers): the header is honoured, a forged one is not."""
    sign_in(client, "admin")
    token = token_for(client, "admin")
    path = f"/admin/ticket/{sec.acme}/presence"
    assert client.post(path, data={"state": "viewing"}, headers={"X-CSRFToken": token}).status_code == 200
    _refused(client.post(path, data={"state": "viewing"}, headers={"X-CSRFToken": "forged"}), "forged header")
