"""What every agent page costs stays small and correct: the statements per queue page and workspace, the layout
parts rendered once per role and screen, the menu's notices read with the pick lists, the brand kept per process,
and the queue rows built in Python (escaped, assignees by name)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from portal.brand import cached_brand
from tests.conftest import login_staff, sql_statements
from ticketing.domain.vocab import StaffRole
from ticketing.models import Branding, Notification, SlaPause, TicketTag
from ticketing.services import tickets

PW = "staff-pass-3"


@pytest.fixture
def desk(db, make, redis_url):
    billing = make.team("Billing")
    priya = make.user(email="priya@bluehill.test", name="Priya", password=PW, teams=[billing])
    ann = make.user(email="ann@bluehill.test", name="Ann", password=PW, teams=[billing])
    manager = make.user(email="boss@bluehill.test", name="Morgan", password=PW, role=StaffRole.MANAGER)
    admin = make.user(email="root@bluehill.test", name="Ada", password=PW, role=StaffRole.ADMIN)
    acme = make.customer("Acme <Widgets>", domains=("acme.example",))
    jane = make.contact(acme, email="jane@acme.example", name="Jane")
    now = datetime.now(UTC)
    shared = make.ticket(now=now - timedelta(hours=2), contact=jane, subject="<b>Bold</b> & co", team=billing)
    for person in (priya, ann):
        tickets.add_assignee(db, shared, person, actor=None, now=now)
    shared.contacts.append(make.contact(acme, email="joe@acme.example", name="Joe"))
    db.add_all([TicketTag(ticket_id=shared.id, tag="vip"), TicketTag(ticket_id=shared.id, tag="billing")])
    db.add(SlaPause(ticket_id=shared.id, started_at=now - timedelta(hours=1), ended_at=now, reason="pending"))
    lonely = make.ticket(now=now - timedelta(hours=1), subject="No team, no assignee")
    db.commit()
    return {"priya": priya, "ann": ann, "manager": manager, "admin": admin, "shared": shared, "lonely": lonely,
            "billing": billing}  # fmt: skip


@pytest.fixture
def kept_brand(app, monkeypatch) -> Iterator[None]:
    """The brand cached as in production (the suite's config turns the per-process caches off)."""
    monkeypatch.setitem(app.config, "MAIL_POLICY_TTL_SECONDS", 30.0)
    yield
    app.extensions.pop("ticketing_brand", None)


def row_of(html: str, ticket_id: int) -> str:
    return html[html.index(f'aria-label="Select #{ticket_id}"') :].split("</tr>")[0]


def test_queue_page_is_three_statements_and_escapes_its_rows(app, client, desk, kept_brand) -> None:
    login_staff(client, "priya@bluehill.test", PW)
    client.get("/admin/queues/mine")  # the menu counts and the layout parts are cached now
    with sql_statements() as seen:
        page = client.get("/admin/queues/mine").get_data(as_text=True)
    # The signed-in user, the pick lists with the menu's notices, the page's rows with customer and assignees.
    assert len(seen) == 3, seen
    row = row_of(page, desk["shared"].id)
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in row and "<b>Bold</b>" not in row
    assert 'Acme &lt;Widgets&gt; <span class="tier tier-standard">Standard</span>' in row
    assert "Ann, Priya" in row and ">Billing<" in row
    # The bulk bar offers every active colleague by name.
    assert re.findall(r'<option value="user:\d+">(\w+)</option></optgroup>', page)[:1] == ["Priya"]
    assert '<optgroup label="People"><option value="' in page and ">Ada</option>" in page
    # The queue menu links every queue of the agent, their team's too.
    for key in ("mine", "unassigned", "breaching", "waiting", f"team-{desk['billing'].id}"):
        assert f'href="/admin/queues/{key}"' in page, key
    assert 'href="/admin/queues/all"' not in page
    # Unassigned and without a team: dashes, not "None".
    team_page = client.get(f"/admin/queues/team-{desk['billing'].id}").get_data(as_text=True)
    assert desk["lonely"].id not in [int(i) for i in re.findall(r'value="(\d+)" aria-label', team_page)]
    unassigned = client.get("/admin/queues/unassigned").get_data(as_text=True)
    lonely = row_of(unassigned, desk["lonely"].id)
    assert '<td class="small">—</td><td class="small">—</td>' in lonely and "None" not in lonely


def test_workspace_is_six_statements_with_everything_on_it(app, client, db, desk, kept_brand) -> None:
    shared = desk["shared"]
    db.add(Notification(user_id=desk["priya"].id, ticket_id=shared.id, text="Ann mentioned you on #1"))
    db.add(Notification(user_id=desk["priya"].id, ticket_id=desk["lonely"].id, text="Ann mentioned you on #2"))
    db.commit()
    login_staff(client, "priya@bluehill.test", PW)
    # The first visit also marks the notice about this ticket read (one UPDATE more: test_workspace_concurrency.py);
    # the measured one has a notice in its menu, about another ticket, and nothing to mark read.
    client.get(f"/admin/ticket/{shared.id}")
    with sql_statements() as seen:
        page = client.get(f"/admin/ticket/{shared.id}").get_data(as_text=True)
    # User, ticket (tags, pauses joined), timeline (entries with their authors' names; their files and emails as
    # plain rows: services/agent_timeline.py), time entries, pick lists (with the notices, the SMS providers and the
    # ticket's contacts and assignees), on both backends.
    assert len(seen) == 6, seen
    # The SMS box offers the ticket's contacts (and only them), the assignees can be removed by name and are not
    # offered again.
    sms = page[page.index('id="sms-contact"') :].split("</select>")[0]
    assert re.findall(r">(\w+) \(no phone\)<", sms) == ["Jane", "Joe"], sms
    assert 'title="Remove Ann">Ann ✕<' in page and 'title="Remove Priya">Priya ✕<' in page
    add = page[page.index('id="add-assignee"') :].split("</select>")[0]
    assert ">Ada<" in add and ">Morgan<" in add and ">Ann<" not in add and ">Priya<" not in add, add
    assert 'value="billing, vip"' in page
    assert "Ann mentioned you on #2" in page and 'badge badge-warning">1<' in page
    assert "Ann mentioned you on #1" not in page  # read when the ticket was opened
    assert "No SMS provider configured" in page


def test_menu_notices_newest_first_and_only_unread(client, db, desk) -> None:
    now = datetime.now(UTC)
    for k in range(12):
        db.add(Notification(user_id=desk["priya"].id, text=f"note {k}", created_at=now - timedelta(minutes=k)))
    db.add(Notification(user_id=desk["priya"].id, text="already read", created_at=now, read_at=now))
    db.add(Notification(user_id=desk["ann"].id, text="for Ann", created_at=now))
    db.commit()
    login_staff(client, "priya@bluehill.test", PW)
    for path in ("/admin/queues/mine", f"/admin/ticket/{desk['shared'].id}"):
        page = client.get(path).get_data(as_text=True)
        shown = re.findall(r"note (\d+)</span>", page)  # notices without a ticket are not links
        assert shown == [str(k) for k in range(10)], path
        assert "already read" not in page and "for Ann" not in page


def test_layout_parts_are_per_role_and_screen(client, desk) -> None:
    login_staff(client, "boss@bluehill.test", PW)
    manager_page = client.get("/admin/queues/all").get_data(as_text=True)
    assert 'href="/admin/reports/"' in manager_page and "bootstrap.min.css" in manager_page
    assert re.search(r'<li class="active">\s*<a class="nav-link " href="/admin/queues/"', manager_page)
    reports = client.get("/admin/reports/").get_data(as_text=True)
    assert re.search(r'<li class="active">\s*<a class="nav-link " href="/admin/reports/"', reports)
    assert "bootstrap.min.js" in reports
    client.post("/agent/logout", data={"csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', reports)[1]})
    # The manager's menu was cached first: the agent still gets their own (no Reports, no Configuration).
    login_staff(client, "priya@bluehill.test", PW)
    agent_page = client.get("/admin/queues/mine").get_data(as_text=True)
    assert 'href="/admin/queues/"' in agent_page and 'href="/admin/reports/"' not in agent_page
    assert "Configuration" not in agent_page and "Priya · Agent" in agent_page


def test_brand_is_kept_per_process_and_dropped_on_its_commit(app, db, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "MAIL_POLICY_TTL_SECONDS", 0.3)
    db.add(Branding(product_name="Northwind Help", primary_color="#112233"))
    db.commit()
    with app.test_request_context():
        app.extensions.pop("ticketing_brand", None)
        assert cached_brand().product_name == "Northwind Help"
        # Another process's change (here: behind the ORM's back) shows once the time limit has passed ...
        with db.get_bind().begin() as conn:
            conn.execute(sa.update(Branding).values(product_name="Changed Elsewhere"))
        assert cached_brand().product_name == "Northwind Help"
        time.sleep(0.35)
        assert cached_brand().product_name == "Changed Elsewhere"
        # ... this process's own change at once.
        brand = db.scalar(sa.select(Branding))
        brand.product_name = "Changed Here"
        db.commit()
        assert cached_brand().product_name == "Changed Here"
    app.extensions.pop("ticketing_brand", None)


def test_search_ignores_case_on_both_backends(client, db, desk) -> None:
    login_staff(client, "boss@bluehill.test", PW)
    for query in ("BOLD</B> & CO", "acme <widgets>", "JANE@ACME", "IT IS BROKEN", "no team, NO assignee"):
        page = client.get("/admin/queues/all", query_string={"q": query}).get_data(as_text=True)
        shown = {int(i) for i in re.findall(r'<td class="subject"><a href="/admin/ticket/(\d+)"', page)}
        assert shown, query
    page = client.get("/admin/queues/all", query_string={"q": "ZZZ nothing"}).get_data(as_text=True)
    assert "No tickets match “ZZZ nothing”" in page
