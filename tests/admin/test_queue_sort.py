"""Sorting a queue by time left lists the tickets with a running SLA clock first, most urgent first, then those
without one (paused, waiting on the customer, no SLA) by number: it hid those, so a team queue sorted that way showed
13 of its 24 tickets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.admin.test_search_index import _pages
from tests.conftest import login_staff
from ticketing.domain.lifecycle import Status
from ticketing.domain.vocab import Priority, StaffRole
from ticketing.models import Ticket
from ticketing.services import queues
from ticketing.services import tickets as ticket_service

PW = "staff-pass-8"


@pytest.fixture
def mixed(db, make):
    team = make.team("Support")
    make.user(email="pat@bluehill.test", name="Pat", password=PW, teams=[team])
    make.user(email="boss@bluehill.test", name="Boss", password=PW, role=StaffRole.MANAGER)
    make.policy(None, None, {p: (30, 60 * (4 - p.rank)) for p in Priority})
    now = datetime.now(UTC)
    made = [
        make.ticket(now=now - timedelta(minutes=5 * n), subject=f"Case {n}", team=team, priority=list(Priority)[n % 4])
        for n in range(11)
    ]
    db.flush()
    for ticket in made[1::3]:  # paused: no due date while waiting on the customer
        ticket_service.change_status(db, ticket, Status.WAITING_ON_CUSTOMER, actor=None, now=now)
    db.commit()
    return {"team": team.id, "ids": [t.id for t in made]}


def expected_order(db, ids: list[int]) -> list[int]:
    tickets = [db.get(Ticket, i) for i in ids]
    dated = sorted((t for t in tickets if t.due_date is not None), key=lambda t: (t.due_date, t.id))
    undated = sorted(t.id for t in tickets if t.due_date is None)
    assert dated and undated, "the fixture needs both kinds"
    return [t.id for t in dated] + undated


@pytest.mark.parametrize("size", [3, 4, 50])
def test_time_left_sort_lists_every_ticket_once_clocks_first(client, db, mixed, monkeypatch, size) -> None:
    monkeypatch.setattr(queues, "PAGE_SIZE", size)
    want = expected_order(db, mixed["ids"])
    login_staff(client, "pat@bluehill.test", PW)
    pages = _pages(client, f"/admin/queues/team-{mixed['team']}?sort=due")
    assert [i for page in pages for i in page] == want
    assert all(len(page) == size for page in pages[:-1]) and 0 < len(pages[-1]) <= size
    # The same for the manager's All queue, and with a text search (the ids path) and a filter.
    login_staff(client, "boss@bluehill.test", PW)
    assert [i for page in _pages(client, "/admin/queues/all?sort=due") for i in page] == want
    searched = [i for page in _pages(client, "/admin/queues/all?sort=due&q=Case") for i in page]
    assert searched == want
    waiting = [i for page in _pages(client, "/admin/queues/all?sort=due&status=waiting_on_customer") for i in page]
    assert waiting == sorted(mixed["ids"][1::3])


def test_breaching_soon_still_lists_only_running_clocks(client, db, mixed) -> None:
    login_staff(client, "pat@bluehill.test", PW)
    shown = [i for page in _pages(client, "/admin/queues/breaching") for i in page]
    assert shown and all(db.get(Ticket, i).due_date is not None for i in shown)
    assert not set(shown) & set(mixed["ids"][1::3])


def test_a_ticket_number_outside_the_queue_links_to_it_and_queues_offer_their_statuses(client, db, make, mixed) -> None:
    """Queues hold open work: an agent's own resolved ticket was found nowhere ("#42": no match), and the status
    filter offered Resolved and Closed, which never found anything there."""
    team = db.get(Ticket, mixed["ids"][0]).assigned_team
    done = make.ticket(now=datetime.now(UTC), subject="Old case", team=team)
    db.flush()
    ticket_service.change_status(db, done, Status.RESOLVED, actor=None, now=datetime.now(UTC))
    elsewhere = make.ticket(now=datetime.now(UTC), subject="Other team", team=make.team("Other"))
    db.commit()
    login_staff(client, "pat@bluehill.test", PW)
    page = client.get(f"/admin/queues/team-{mixed['team']}", query_string={"q": f"#{done.id}"}).get_data(as_text=True)
    assert f"Ticket #{done.id} is not in this queue" in page and f'href="/admin/ticket/{done.id}"' in page
    # Not for a ticket the agent may not open (another team's): no hint that it exists.
    page = client.get("/admin/queues/mine", query_string={"q": f"#{elsewhere.id}"}).get_data(as_text=True)
    assert "is not in this queue" not in page and f"/admin/ticket/{elsewhere.id}" not in page
    assert f"No tickets match “#{elsewhere.id}”</td>" in page  # no "at least 3 characters" hint: it is a number
    short = client.get("/admin/queues/mine", query_string={"q": "ab"}).get_data(as_text=True)
    assert "No tickets match “ab”. Search for at least 3 characters" in short
    status_box = page[page.index('id="f-status"') :].split("</select>")[0]
    assert "Waiting on Customer" in status_box and "Resolved" not in status_box and "Closed" not in status_box
    login_staff(client, "boss@bluehill.test", PW)
    everything = client.get("/admin/queues/all").get_data(as_text=True)
    assert "Resolved" in everything[everything.index('id="f-status"') :].split("</select>")[0]
