"""The hostile-input suite (issue #7): one world shared by every case, a snapshot of the whole database (and the
attachment directory) to prove that a refused request changed nothing, and the app's route table, read at
collection time, so that a new route is enrolled in the CSRF and ownership checks without anyone adding it.

The world is the API suite's (tests/api/conftest.py): Acme (Alice sees her own tickets, Anna the whole customer,
Carl has a ticket of his own), Globex (Bob), staff of every role in and out of the tickets' team (Team A), and an
API token for each. On top of it: a customer-visible attachment on each customer's ticket, the stored email
behind a timeline entry, a canned response and a time entry.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask, current_app
from flask.testing import FlaskClient
from werkzeug.routing import Rule
from werkzeug.security import generate_password_hash

from tests.api.conftest import ApiWorld, apiw  # noqa: F401  (re-exported fixture)
from tests.conftest import REDIS_URL, csrf_token, login_staff
from tests.portal.conftest import PASSWORD, World, login_contact, world  # noqa: F401  (re-exported fixture)
from ticketing.app import create_app
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Source
from ticketing.extensions import attachment_store
from ticketing.extensions import db as _db
from ticketing.models import Attachment, CannedResponse, Contact, InboundMessage, Interaction, TimeEntry, User
from ticketing.models.mail import InboundStatus, OutboundKind, OutboundMessage, OutboundStatus
from ticketing.services import api_tokens, customer_actions
from ticketing.services import tickets as ticket_service
from ticketing.services.attachments import AttachmentLimits, IncomingFile

STAFF_PASSWORD = "pw-secret-1"  # tests/factories.py's default
STAFF_EMAILS = {"admin": "ada@bluehill.test", "manager": "max@bluehill.test", "agent_in": "ina@bluehill.test",
                "agent_out": "otto@bluehill.test"}  # fmt: skip
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


# ---- the world -------------------------------------------------------------------------------------------------


@dataclass
class Sec:
    api: ApiWorld
    acme_attachment: int  # on Alice's (customer-visible) reply to the Acme ticket
    globex_attachment: int  # on Bob's reply to the Globex ticket
    acme_internal_attachment: int  # on an internal note of the Acme ticket
    acme_inbound: int  # the stored email behind an entry of the Acme ticket
    acme_interaction: int  # Alice's reply
    acme_time_entry: int
    canned: int
    bob_token: str  # a customer token of Globex's Bob
    acme_internal_note: int  # an internal note on the Acme ticket
    acme_failed_email: int  # an outbound email of the Acme ticket that failed (an agent may send it again)
    acme_twin: int  # a second ticket of Alice's (the Acme ticket may be merged into it: same requester)

    @property
    def w(self) -> World:
        return self.api.w

    @property
    def acme(self) -> int:
        return self.w.acme_ticket.id

    @property
    def globex(self) -> int:
        return self.w.globex_ticket.id


@pytest.fixture(autouse=True)
def own_attachment_dir(app: Flask, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test stores files in a directory of its own, so "no file was written" is a cheap, exact check."""
    path = tmp_path / "attachments"
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(path))
    return path


@pytest.fixture
def sec(db, apiw, now) -> Sec:  # noqa: F811 - the API world fixture, re-exported above
    w = apiw.w
    store, limits = attachment_store(), AttachmentLimits()
    replies = {}
    for contact, ticket in ((w.alice, w.acme_ticket), (w.bob, w.globex_ticket)):
        replies[contact.email] = customer_actions.reply(
            db, contact, ticket, body=f"reply from {contact.name}", now=now, store=store, limits=limits,
            files=[IncomingFile(f"{contact.name}.txt", "text/plain", b"customer file")],
        )  # fmt: skip
    raw = b"From: alice@acme.example\r\nSubject: By email\r\nMessage-ID: <sec-1@acme.example>\r\n\r\nHello\r\n"
    inbound = InboundMessage(message_key="sec-1@acme.example", raw=raw, size=len(raw), source="http",
                             status=InboundStatus.PROCESSED, from_address="alice@acme.example", subject="By email",
                             ticket_id=w.acme_ticket.id, received_at=now)  # fmt: skip
    db.add(inbound)
    db.flush()
    db.add(Interaction(ticket_id=w.acme_ticket.id, type=InteractionType.EMAIL_INBOUND, author_contact_id=w.alice.id,
                       body_text="Hello", inbound_message_id=inbound.id, created_at=now))  # fmt: skip
    canned = CannedResponse(title="Thanks", body="Thanks {contact}, about {ticket}.")
    entry = TimeEntry(ticket_id=w.acme_ticket.id, user_id=apiw.users["agent_in"].id, minutes=15,
                      work_date=now.date(), note="looked", created_at=now)  # fmt: skip
    failed = OutboundMessage(ticket_id=w.acme_ticket.id, kind=OutboundKind.REPLY, message_id="sec-out-1@bluehill.test",
                             from_address="support@bluehill.test", to_address=w.alice.email, subject="Re: Acme",
                             body_text="Fixed.", status=OutboundStatus.FAILED, last_error="refused",
                             created_at=now)  # fmt: skip
    db.add_all([canned, entry, failed])
    twin = ticket_service.create_ticket(db, subject="A second request from Alice", body="twin", source=Source.PORTAL,
                                        now=now, actor=w.alice, contact=w.alice)  # fmt: skip
    _cheap_passwords(db)
    bob_token = api_tokens.issue(db, name="bob", contact=w.bob, now=now)[1]
    db.commit()
    internal = db.scalar(
        sa.select(Attachment.id)
        .join(Interaction, Attachment.interaction_id == Interaction.id)
        .where(Attachment.ticket_id == w.acme_ticket.id, Interaction.type == InteractionType.INTERNAL_NOTE)
    )
    return Sec(
        api=apiw,
        acme_attachment=replies[w.alice.email].attachments[0].id,
        globex_attachment=replies[w.bob.email].attachments[0].id,
        acme_internal_attachment=internal,
        acme_inbound=inbound.id,
        acme_interaction=replies[w.alice.email].id,
        acme_time_entry=entry.id,
        canned=canned.id,
        bob_token=bob_token,
        acme_failed_email=failed.id,
        acme_internal_note=db.scalar(
            sa.select(Interaction.id)
            .where(Interaction.ticket_id == w.acme_ticket.id, Interaction.type == InteractionType.INTERNAL_NOTE)
            .limit(1)
        ),  # fmt: skip
        acme_twin=twin.id,
    )


@functools.cache
def _cheap_hash(password: str) -> str:
    return generate_password_hash(password, method="pbkdf2:sha256:1000")


def _cheap_passwords(db: Any) -> None:
    """Same passwords, a fast hash: this suite signs in a few hundred times (hashing has its own tests)."""
    for model, password in ((User, STAFF_PASSWORD), (Contact, PASSWORD)):
        for person in db.scalars(sa.select(model).where(model.password_hash.is_not(None))):
            person.password_hash = _cheap_hash(password)


# ---- who is asking -----------------------------------------------------------------------------------------------


def sign_in(client: FlaskClient, who: str) -> None:
    """`who`: anonymous, a staff role of the world (admin, manager, agent_in, agent_out), or a contact's email."""
    if who == "anonymous":
        return
    if who in STAFF_EMAILS:
        login_staff(client, STAFF_EMAILS[who], STAFF_PASSWORD)
    else:
        login_contact(client, who, PASSWORD)


def page_token(client: FlaskClient, path: str = "/login") -> str:
    """A valid CSRF token of this client's session, from a page with a form."""
    return csrf_token(client.get(path).get_data(as_text=True))


def token_for(client: FlaskClient, who: str) -> str:
    """A valid CSRF token for a client signed in as `who` (see sign_in)."""
    path = "/login" if who == "anonymous" else "/admin/queues/mine" if who in STAFF_EMAILS else "/tickets"
    return page_token(client, path)


def signed_in_as(client: FlaskClient) -> str:
    """What the session currently is: 'contact', 'staff' or 'anonymous' (asked the way a browser would)."""
    if client.get("/tickets").status_code == 200:
        return "contact"
    if client.get("/admin/queues/mine").status_code == 200:
        return "staff"
    return "anonymous"


# ---- nothing changed ------------------------------------------------------------------------------------------------

# Bookkeeping an authenticated API request does by design (at most once a minute per token).
API_BOOKKEEPING: Mapping[str, frozenset[str]] = {"api_token": frozenset({"last_used_at"})}


def snapshot(ignore: Mapping[str, frozenset[str]] = API_BOOKKEEPING) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table (committed state, read on a connection of its own) and every stored file."""
    state: dict[str, list[tuple[Any, ...]]] = {}
    with _db.engine.connect() as conn:
        for table in _db.metadata.sorted_tables:
            columns = [c for c in table.c if c.name not in ignore.get(table.name, frozenset())]
            state[table.name] = sorted((tuple(row) for row in conn.execute(sa.select(*columns))), key=repr)
    root = Path(current_app.config["ATTACHMENT_DIR"])
    state["<attachment files>"] = sorted((str(p.relative_to(root)),) for p in root.rglob("*") if p.is_file())
    return state


def changes(before: dict[str, list[tuple[Any, ...]]], after: dict[str, list[tuple[Any, ...]]]) -> dict[str, str]:
    """Table -> what changed, for assertion messages (empty when nothing did)."""
    found = {}
    for name in before:
        if before[name] != after[name]:
            added = [r for r in after[name] if r not in before[name]]
            removed = [r for r in before[name] if r not in after[name]]
            found[name] = f"+{len(added)} -{len(removed)} rows; first added {added[:1]}, first removed {removed[:1]}"
    return found


def assert_unchanged(before: dict[str, list[tuple[Any, ...]]], what: str = "") -> None:
    diff = changes(before, snapshot())
    assert not diff, f"{what}: the database changed: {diff}"


# ---- the route table -------------------------------------------------------------------------------------------


@functools.cache
def catalogue_app() -> Flask:
    """An app built only to read its routes at collection time (the session app does not exist yet)."""
    return create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://", "REDIS_URL": REDIS_URL})


def state_changing_rules() -> list[tuple[Rule, str]]:
    """(rule, method) for every POST/PUT/PATCH/DELETE route, in path order."""
    rules = sorted(catalogue_app().url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))
    return [(rule, method) for rule in rules for method in sorted(rule.methods & STATE_CHANGING)]


def model_view_endpoints() -> frozenset[str]:
    """Endpoints (blueprint names) of the Flask-Admin model views: their generic routes are checked per view."""
    from flask_admin.model import BaseModelView

    admin = catalogue_app().extensions["admin"][0]
    return frozenset(v.endpoint for v in admin._views if isinstance(v, BaseModelView))


def link_token(contact_id: int, purpose: str = "reset") -> str:
    """A valid password-reset (or invitation) link token for the contact."""
    from ticketing.models import Contact
    from ticketing.services import accounts

    contact = _db.session.get(Contact, contact_id)
    return accounts.make_token(contact, purpose, current_app.config["SECRET_KEY"])


def url_values(sec: Sec, rule: Rule, **overrides: Any) -> dict[str, Any]:
    """A value for every argument a route can have (Acme's, unless overridden); a new argument fails here."""
    values: dict[str, Any] = {}
    samples = {
        "ticket_id": lambda: sec.acme,
        "attachment_id": lambda: sec.acme_attachment,
        "inbound_id": lambda: sec.acme_inbound,
        "response_id": lambda: sec.canned,
        "interaction_id": lambda: sec.acme_interaction,
        "entry_id": lambda: sec.acme_time_entry,
        "outbound_id": lambda: sec.acme_failed_email,
        "contact_id": lambda: sec.w.alice.id,
        "customer_id": lambda: sec.w.alice.customer_id,
        "slug": lambda: sec.api.form.slug,
        "token": lambda: link_token(sec.w.anna.id, (rule.defaults or {}).get("purpose", "reset")),
        "export_type": lambda: "csv",
        "key": lambda: "mine",
        "report": lambda: "sla",
        "rest": lambda: "nothing-here",
        "filename": lambda: "css/portal.css",
    }
    for name in rule.arguments:
        if rule.defaults and name in rule.defaults:
            continue
        if name in overrides:
            values[name] = overrides[name]
            continue
        assert name in samples, f"{rule.rule}: add a sample value for the new route argument {name!r}"
        values[name] = samples[name]()
    return values


def path_of(rule: Rule, values: Mapping[str, Any]) -> str:
    built = rule.build(dict(values), append_unknown=False)
    assert built is not None, rule.rule
    return built[1]


def file_upload(name: str, data: bytes = b"hello", content_type: str = "text/plain") -> tuple[io.BytesIO, str, str]:
    return io.BytesIO(data), name, content_type


@pytest.fixture
def other_client(app: Flask, db: object) -> Iterator[FlaskClient]:
    """A second browser (its own cookies), for tokens and cookies that belong to someone else."""
    yield app.test_client()


def near(now: Any) -> dict[str, str]:
    """A report range around the pinned test time."""
    return {"start": (now - timedelta(days=30)).date().isoformat(), "end": (now + timedelta(days=1)).date().isoformat()}
