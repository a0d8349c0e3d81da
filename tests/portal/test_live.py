"""Live updates: a poll costs one row read and answers 204 until a customer-visible change happens."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.portal.conftest import login_contact
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.models import Ticket
from ticketing.services import tickets
from ticketing.services.interactions import add_interaction


def version_of(html: str, path: str) -> str:
    return re.search(re.escape(path) + r"\?v=([^\"&]+)", html).group(1)


def test_ticket_page_poll_is_204_until_a_visible_change(client, db, world, now) -> None:
    login_contact(client, "alice@acme.example")
    t = world.acme_ticket.id
    v = version_of(client.get(f"/tickets/{t}").get_data(as_text=True), f"/tickets/{t}/live")
    headers = {"HX-Request": "true"}
    assert client.get(f"/tickets/{t}/live?v={v}", headers=headers).status_code == 204
    ticket = db.get(Ticket, t)
    agent = ticket.interactions[1].author_user
    later = now + timedelta(hours=1)
    # Internal work: nothing a customer sees changes, not even the poll's answer.
    add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=agent, body_text="LATE-SECRET", now=later)
    tickets.set_team(db, ticket, None, actor=agent, now=later)
    tickets.add_tags(db, ticket, ["vip"], actor=agent, now=later)
    db.commit()
    assert client.get(f"/tickets/{t}/live?v={v}", headers=headers).status_code == 204
    # An agent reply: the next poll brings it.
    add_interaction(db, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=agent, body_text="LIVE-REPLY",
                    now=later + timedelta(minutes=1))  # fmt: skip
    db.commit()
    fresh = client.get(f"/tickets/{t}/live?v={v}", headers=headers)
    body = fresh.get_data(as_text=True)
    assert fresh.status_code == 200 and "LIVE-REPLY" in body and "LATE-SECRET" not in body
    assert "Vary" in fresh.headers and "HX-Request" in fresh.headers["Vary"]
    v2 = version_of(body, f"/tickets/{t}/live")
    assert v2 != v and client.get(f"/tickets/{t}/live?v={v2}", headers=headers).status_code == 204
    # A status change shows too.
    tickets.change_status(db, db.get(Ticket, t), Status.WAITING_ON_CUSTOMER, actor=agent, now=later + timedelta(2))
    db.commit()
    changed = client.get(f"/tickets/{t}/live?v={v2}", headers=headers).get_data(as_text=True)
    assert "Waiting on Customer" in changed


def test_list_poll_is_204_until_a_visible_change(client, db, world, now, make) -> None:
    login_contact(client, "alice@acme.example")
    v = version_of(client.get("/tickets").get_data(as_text=True), "/tickets/live")
    assert client.get(f"/tickets/live?v={v}", headers={"HX-Request": "true"}).status_code == 204
    ticket = db.get(Ticket, world.acme_ticket.id)
    agent = ticket.interactions[1].author_user
    add_interaction(db, ticket, type=InteractionType.NOTE, actor=agent, body_text="x", now=now + timedelta(hours=3))
    db.commit()
    assert client.get(f"/tickets/live?v={v}", headers={"HX-Request": "true"}).status_code == 204
    tickets.change_status(db, ticket, Status.RESOLVED, actor=agent, now=now + timedelta(hours=4))
    db.commit()
    fresh = client.get(f"/tickets/live?v={v}", headers={"HX-Request": "true"})
    assert fresh.status_code == 200 and "Resolved" in fresh.get_data(as_text=True)
