"""Two customers, each with a ticket whose timeline holds one interaction of every type, each with a marker."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from tests.conftest import csrf_token
from ticketing.domain.visibility import InteractionType, SmsStatus
from ticketing.domain.vocab import PortalRole, Tier
from ticketing.models import Contact, Ticket
from ticketing.services.attachments import AttachmentLimits, IncomingFile, store_attachments
from ticketing.services.interactions import add_interaction

PASSWORD = "portal-pass-123"
INTERNAL = [InteractionType.PHONE_CALL, InteractionType.MEETING, InteractionType.NOTE, InteractionType.INTERNAL_NOTE,
            InteractionType.SYSTEM]  # fmt: skip


@dataclass
class World:
    alice: Contact  # Acme, sees own tickets
    anna: Contact  # Acme, portal admin: sees all of Acme's tickets
    bob: Contact  # Globex
    acme_ticket: Ticket
    acme_colleague_ticket: Ticket
    globex_ticket: Ticket
    secrets: list[str]  # markers that must never reach a customer
    public: list[str]  # markers that must reach the customer of the ticket


def plant(db, make, ticket: Ticket, tag: str, agent, store, now) -> tuple[list[str], list[str]]:
    secrets, public = [], []
    for kind in INTERNAL:
        marker = f"SECRET-{tag}-{kind.value}"
        entry = add_interaction(db, ticket, type=kind, actor=agent, body_text=f"{marker} internal", now=now)
        store_attachments(db, ticket, entry, [IncomingFile(f"{marker}.txt", "text/plain", marker.encode())],
                          store=store, limits=AttachmentLimits(), now=now)  # fmt: skip
        secrets.append(marker)
    logged = f"SECRET-{tag}-sms-logged"
    add_interaction(db, ticket, type=InteractionType.SMS, actor=agent, body_text=logged, now=now,
                    sms_status=SmsStatus.LOGGED)  # fmt: skip
    secrets.append(logged)
    for kind in (InteractionType.EMAIL_OUTBOUND,):
        marker = f"PUBLIC-{tag}-{kind.value}"
        add_interaction(db, ticket, type=kind, actor=agent, body_text=marker, now=now)
        public.append(marker)
    sent = f"PUBLIC-{tag}-sms-sent"
    add_interaction(db, ticket, type=InteractionType.SMS, actor=agent, body_text=sent, now=now,
                    sms_status=SmsStatus.SENT)  # fmt: skip
    public.append(sent)
    return secrets, public


@pytest.fixture
def world(db, make, now, app) -> World:
    from ticketing.extensions import attachment_store

    store = attachment_store()
    agent = make.user(name="Agent Smith")
    acme = make.customer("Acme", tier=Tier.PREMIUM, domains=("acme.example",))
    globex = make.customer("Globex", domains=("globex.example",))
    alice = make.contact(acme, email="alice@acme.example", name="Alice", password=PASSWORD)
    anna = make.contact(acme, email="anna@acme.example", name="Anna", password=PASSWORD,
                        portal_role=PortalRole.CUSTOMER)  # fmt: skip
    bob = make.contact(globex, email="bob@globex.example", name="Bob", password=PASSWORD)
    colleague = make.contact(acme, email="carl@acme.example", name="Carl")
    acme_ticket = make.ticket(now=now, contact=alice, subject="Acme export broken", body="PUBLIC-acme-first")
    acme_colleague_ticket = make.ticket(now=now, contact=colleague, subject="Carl asks about SSO", body="carl body")
    globex_ticket = make.ticket(now=now, contact=bob, subject="Globex invoice", body="PUBLIC-globex-first")
    secrets, public = plant(db, make, acme_ticket, "acme", agent, store, now)
    globex_secrets, globex_public = plant(db, make, globex_ticket, "globex", agent, store, now)
    db.commit()
    return World(alice, anna, bob, acme_ticket, acme_colleague_ticket, globex_ticket,
                 secrets + globex_secrets + globex_public + ["PUBLIC-globex-first", "Globex invoice"],
                 public + ["PUBLIC-acme-first"])  # fmt: skip


def login_contact(client, email: str, password: str = PASSWORD) -> None:
    page = client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": email, "password": password, "csrf_token": csrf_token(page)})
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
