"""Two agents on one ticket: a save applies only what its agent changed (a colleague's change meanwhile stays, or
is knowingly replaced), and the menu's notices are read when their ticket is opened or all at once."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token, login_staff, sql_statements
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority, StaffRole
from ticketing.models import Interaction, Notification, Ticket, TicketTag
from ticketing.services.property_edits import PropertyChanges, changed_fields

PW = "staff-pass-7"


@pytest.fixture
def desk(db, make, now):
    billing, integrations = make.team("Billing"), make.team("Integrations")
    people = {
        "priya": make.user(email="priya@bluehill.test", name="Priya", password=PW, teams=[billing, integrations]),
        "ann": make.user(email="ann@bluehill.test", name="Ann", password=PW, teams=[billing]),
        "lena": make.user(email="lena@bluehill.test", name="Lena", password=PW, teams=[integrations]),
        "manager": make.user(email="boss@bluehill.test", name="Morgan", password=PW, role=StaffRole.MANAGER),
    }
    make.policy(None, None, {Priority.MEDIUM: (60, 480), Priority.HIGH: (30, 120), Priority.URGENT: (15, 60)})
    contact = make.contact(make.customer("Acme", domains=("acme.example",)), email="jane@acme.example", name="Jane")
    shared = make.ticket(now=now, contact=contact, subject="Invoice wrong", team=billing)
    db.add(TicketTag(ticket_id=shared.id, tag="billing"))
    other = make.ticket(now=now, contact=contact, subject="Another one", team=billing)
    db.commit()
    return {**people, "shared": shared, "other": other, "teams": (billing, integrations)}


def agent(app, who: str):
    """A signed-in browser of its own (each agent has their own session)."""
    browser = app.test_client()
    login_staff(browser, f"{who}@bluehill.test", PW)
    return browser


def properties_form(page: str) -> dict[str, str]:
    """The properties form as a browser would post it unchanged: its hidden fields, selected options and tags."""
    form = page[page.index("/properties") :].split("</form>")[0]
    fields = {
        name: html.unescape(value) for name, value in re.findall(r'type="hidden" name="(\w+)" value="([^"]*)"', form)
    }
    for name, options in re.findall(r'<select[^>]* name="(\w+)">(.*?)</select>', form):
        selected = re.search(r'<option value="([^"]*)" selected>', options)
        fields[name] = html.unescape(selected[1]) if selected else ""
    fields["tags"] = html.unescape(re.search(r'id="p-tags" name="tags" value="([^"]*)"', form)[1])
    return fields


def open_ticket(browser, ticket_id: int) -> str:
    response = browser.get(f"/admin/ticket/{ticket_id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def save(browser, ticket_id: int, form: dict[str, str]) -> str:
    response = browser.post(f"/admin/ticket/{ticket_id}/properties", data=form, follow_redirects=True)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def changes_by(db, ticket_id: int, who) -> list[str]:
    rows = db.scalars(sa.select(Interaction).where(Interaction.ticket_id == ticket_id,
                                                   Interaction.type == InteractionType.SYSTEM,
                                                   Interaction.author_user_id == who.id))  # fmt: skip
    return [i.meta["field"] for i in rows]


# --- the rule itself ---------------------------------------------------------------------------------------------

STORED = {"status": "open", "priority": "medium", "team_id": "1", "category_id": "", "tags": "billing"}
SHOWN = {f"was_{k}": v for k, v in STORED.items()}


@pytest.mark.parametrize(
    ("stored", "posted", "values", "overwritten"),
    [
        # Nothing touched: nothing to save.
        ({}, {}, {}, ()),
        # Only what the agent changed.
        ({}, {"status": "pending"}, {"status": "pending"}, ()),
        ({}, {"team_id": "", "category_id": "4"}, {"team_id": "", "category_id": "4"}, ()),
        # A colleague's change to a field this agent did not touch stays.
        ({"priority": "urgent", "tags": "billing, vip"}, {"status": "pending"}, {"status": "pending"}, ()),
        ({"team_id": "2"}, {}, {}, ()),
        # Both changed it: the agent's value, the colleague's reported as replaced.
        ({"priority": "high"}, {"priority": "urgent"}, {"priority": "urgent"}, ("priority",)),
        ({"team_id": "2"}, {"team_id": ""}, {"team_id": ""}, ("team_id",)),
        # Both changed it to the same value: nothing left to do.
        ({"priority": "urgent"}, {"priority": "urgent"}, {}, ()),
        # Tags are a set: each agent's additions and removals are kept.
        ({"tags": "billing, vip"}, {"tags": "billing, refund"}, {"tags": "billing, refund, vip"}, ()),
        ({"tags": "billing, vip"}, {"tags": ""}, {"tags": "vip"}, ()),
        ({"tags": ""}, {"tags": "Billing,  "}, {}, ()),  # unchanged as normalised; the colleague's removal stays
        ({}, {"tags": "billing, New Tag"}, {"tags": "billing, new-tag"}, ()),
        # An empty status or priority is no value.
        ({}, {"status": "", "priority": ""}, {}, ()),
    ],
)
def test_changed_fields_applies_only_what_the_agent_changed(stored, posted, values, overwritten) -> None:
    form = {**SHOWN, **{k: v for k, v in STORED.items() if k != "tags"}, "tags": "billing", **posted}
    assert changed_fields(form, {**STORED, **stored}) == PropertyChanges(values, overwritten)


def test_changed_fields_without_the_shown_values_applies_what_differs_as_before() -> None:
    stored = {**STORED, "priority": "urgent", "tags": "billing, vip"}
    form = {"status": "pending", "priority": "medium", "team_id": "1", "category_id": "", "tags": "billing"}
    assert changed_fields(form, stored) == PropertyChanges(
        {"status": "pending", "priority": "medium", "tags": "billing"}, ()
    )
    assert changed_fields({"status": "open"}, stored) == PropertyChanges({}, ())  # absent fields: untouched


# --- two agents in the workspace ---------------------------------------------------------------------------------


def test_a_stale_save_keeps_a_colleagues_priority_and_tag(app, client, db, desk) -> None:
    t = desk["shared"].id
    ann, priya = agent(app, "ann"), agent(app, "priya")
    b_form = properties_form(open_ticket(priya, t))  # Priya's page was loaded first
    a_form = properties_form(open_ticket(ann, t))
    assert b_form["was_priority"] == "medium" and b_form["was_tags"] == "billing"
    save(ann, t, {**a_form, "priority": "urgent", "tags": "billing, vip"})
    page = save(priya, t, {**b_form, "status": "pending"})
    assert "Ticket updated." in page and "someone else" not in page
    db.expire_all()
    ticket = db.get(Ticket, t)
    assert ticket.status == Status.PENDING
    assert ticket.priority == Priority.URGENT and ticket.tags == ["billing", "vip"]
    # The timeline says who changed what: Priya only the status.
    assert changes_by(db, t, desk["priya"]) == ["status"]
    assert sorted(changes_by(db, t, desk["ann"])) == ["priority", "tags"]
    # Her next page shows the ticket as it is now.
    shown = properties_form(open_ticket(priya, t))
    assert (shown["status"], shown["priority"], shown["tags"]) == ("pending", "urgent", "billing, vip")
    assert (shown["was_status"], shown["was_priority"], shown["was_tags"]) == ("pending", "urgent", "billing, vip")


def test_both_changed_the_same_field_the_later_save_wins_and_says_what_it_replaced(app, client, db, desk) -> None:
    t = desk["shared"].id
    _, integrations = desk["teams"]
    boss, priya = agent(app, "boss"), agent(app, "priya")  # Priya is in both teams: she still sees it afterwards
    b_form = properties_form(open_ticket(priya, t))
    a_form = properties_form(open_ticket(boss, t))
    save(boss, t, {**a_form, "priority": "high", "team_id": str(integrations.id), "tags": "billing, vip"})
    page = save(priya, t, {**b_form, "priority": "urgent", "team_id": "", "tags": "billing, refund"})
    assert "Priority had been changed to “High” by someone else while you had this ticket open; your “Urgent” " \
           "replaced it." in page  # fmt: skip
    assert "Team had been changed to “Integrations” by someone else" in page and "your “No team” replaced it" in page
    assert "Tags had been changed" not in page  # both agents' tags are kept: nothing was replaced
    db.expire_all()
    ticket = db.get(Ticket, t)
    assert ticket.priority == Priority.URGENT and ticket.assigned_team_id is None
    assert ticket.tags == ["billing", "refund", "vip"]


def test_posts_without_the_shown_values_behave_as_before(app, client, db, desk) -> None:
    t = desk["shared"].id
    ann, priya = agent(app, "ann"), agent(app, "priya")
    a_form = properties_form(open_ticket(ann, t))
    save(ann, t, {**a_form, "priority": "urgent", "tags": "billing, vip"})
    token = csrf_token(open_ticket(priya, t))
    page = save(priya, t, {"csrf_token": token, "status": "pending", "priority": "medium", "tags": "billing"})
    assert "Ticket updated." in page and "someone else" not in page
    db.expire_all()
    ticket = db.get(Ticket, t)
    assert ticket.status == Status.PENDING and ticket.priority == Priority.MEDIUM and ticket.tags == ["billing"]
    assert sorted(changes_by(db, t, desk["priya"])) == ["priority", "status", "tags"]


def test_an_unchanged_form_changes_nothing(app, client, db, desk) -> None:
    t = desk["shared"].id
    priya = agent(app, "priya")
    page = save(priya, t, properties_form(open_ticket(priya, t)))
    assert "Nothing was changed." in page
    assert changes_by(db, t, desk["priya"]) == []


# --- notices read ------------------------------------------------------------------------------------------------


def notice(db, user, text: str, ticket=None, *, minutes: int = 0, read_at=None) -> Notification:
    row = Notification(user_id=user.id, ticket_id=ticket.id if ticket else None, text=text, read_at=read_at,
                       created_at=datetime.now(UTC) - timedelta(minutes=minutes))  # fmt: skip
    db.add(row)
    return row


def unread(db, user) -> set[str]:
    db.expire_all()
    return set(db.scalars(sa.select(Notification.text).where(Notification.user_id == user.id,
                                                             Notification.read_at.is_(None))))  # fmt: skip


def test_opening_a_ticket_reads_my_notices_about_it_and_nothing_else(app, client, db, desk) -> None:
    shared, other, priya, ann = desk["shared"], desk["other"], desk["priya"], desk["ann"]
    earlier = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    notice(db, priya, "Ann mentioned you on shared", shared)
    notice(db, priya, "Lena mentioned you on shared", shared, minutes=1)
    notice(db, priya, "read before", shared, read_at=earlier)
    notice(db, priya, "Ann mentioned you on other", other)
    notice(db, priya, "Weekly report ready")
    notice(db, ann, "Priya mentioned Ann on shared", shared)
    db.commit()
    login_staff(client, "priya@bluehill.test", PW)
    page = open_ticket(client, shared.id)
    # This page's menu no longer lists what it just read; the rest stays.
    assert "mentioned you on shared" not in page
    assert "Ann mentioned you on other" in page and "Weekly report ready" in page
    assert 'badge badge-warning">2<' in page
    assert unread(db, priya) == {"Ann mentioned you on other", "Weekly report ready"}
    assert unread(db, ann) == {"Priya mentioned Ann on shared"}  # someone else's notice about it: untouched
    stamped = db.scalar(sa.select(Notification.read_at).where(Notification.text == "read before"))
    assert stamped == earlier  # already read: its time stays
    # The other ticket's notice is read when that ticket is opened.
    open_ticket(client, other.id)
    assert unread(db, priya) == {"Weekly report ready"}


def test_reading_the_notices_costs_one_statement_and_only_when_one_is_about_the_ticket(client, db, desk) -> None:
    shared_id = desk["shared"].id
    notice(db, desk["priya"], "Ann mentioned you on shared", desk["shared"])
    notice(db, desk["priya"], "Ann mentioned you on other", desk["other"])
    db.commit()
    login_staff(client, "priya@bluehill.test", PW)
    client.get("/admin/queues/mine")  # the layout parts are cached now
    with sql_statements() as first:
        open_ticket(client, shared_id)
    with sql_statements() as again:
        page = open_ticket(client, shared_id)  # nothing about it left: nothing to write
    # The page's own statements (six with the brand kept: tests/admin/test_page_cost.py), then one UPDATE of this
    # user's notices about this ticket; no statement for the notice about another ticket.
    assert len(first) == len(again) + 1, "\n\n".join(first)
    assert first[:-1] == again
    assert first[-1].lstrip().upper().startswith("UPDATE NOTIFICATION"), first[-1]
    assert not any(s.lstrip().upper().startswith("UPDATE") for s in again)
    assert "Ann mentioned you on other" in page


def test_a_notice_of_a_ticket_i_may_not_open_stays_unread(app, client, db, desk) -> None:
    # Lena (another team) cannot open the billing ticket: the 404 reads nothing.
    notice(db, desk["lena"], "about shared", desk["shared"])
    db.commit()
    login_staff(client, "lena@bluehill.test", PW)
    assert client.get(f"/admin/ticket/{desk['shared'].id}").status_code == 404
    assert unread(db, desk["lena"]) == {"about shared"}


def test_mark_all_read_reads_only_my_notices_and_goes_back(app, client, db, desk) -> None:
    priya, ann = desk["priya"], desk["ann"]
    for k in range(12):  # more than the menu shows: all of them
        notice(db, priya, f"note {k}", desk["shared"] if k % 2 else None, minutes=k)
    notice(db, ann, "for Ann", desk["shared"])
    db.commit()
    login_staff(client, "priya@bluehill.test", PW)
    page = client.get("/admin/queues/mine?page=1").get_data(as_text=True)
    menu = page[page.index('aria-labelledby="notif-menu"') :].split("</li>")[0]
    assert 'action="/admin/ticket/notifications/read"' in menu and ">Mark all read</button>" in menu
    assert 'name="next" value="/admin/queues/mine?page=1"' in menu
    response = client.post("/admin/ticket/notifications/read",
                           data={"csrf_token": csrf_token(menu), "next": "/admin/queues/mine?page=1"})  # fmt: skip
    assert response.status_code == 303 and response.headers["Location"] == "/admin/queues/mine?page=1"
    assert unread(db, priya) == set()
    assert unread(db, ann) == {"for Ann"}
    page = client.get("/admin/queues/mine").get_data(as_text=True)
    assert "12 notifications marked read." in page and "No new notifications." in page
    assert ">Mark all read</button>" not in page  # nothing left to mark


def test_mark_all_read_needs_the_form_token_a_staff_user_and_goes_back_only_to_our_pages(
    app, client, db, make, desk
) -> None:
    notice(db, desk["priya"], "for Priya")
    contact = make.contact(make.customer(), password=PW)
    db.commit()
    url = "/admin/ticket/notifications/read"
    assert client.post(url, data={}).status_code == 400  # signed out, no token: refused before anything else
    login_staff(client, "priya@bluehill.test", PW)
    assert client.post(url, data={}).status_code == 400
    assert client.post(url, data={"csrf_token": "forged"}).status_code == 400
    assert unread(db, desk["priya"]) == {"for Priya"}
    # Back only to our own paths.
    token = csrf_token(client.get("/admin/queues/mine").get_data(as_text=True))
    response = client.post(url, data={"csrf_token": token, "next": "//evil.example/x"})
    assert response.status_code == 303 and response.headers["Location"] == "/admin/queues/"
    assert unread(db, desk["priya"]) == set()
    # A customer signed in to the portal is no staff user.
    notice(db, desk["priya"], "for Priya again")
    db.commit()
    customer = app.test_client()
    token = csrf_token(customer.get("/login").get_data(as_text=True))
    with customer.session_transaction() as session:
        session["_user_id"] = contact.get_id()
    refused = customer.post(url, data={"csrf_token": token})
    assert refused.status_code == 302 and "/agent/login" in refused.headers["Location"]
    assert unread(db, desk["priya"]) == {"for Priya again"}


def test_saving_keeps_a_category_that_was_deactivated_since(app, client, db, desk) -> None:
    """The category box offers active categories: the ticket's own, once deactivated, had no option, the form posted
    None, and saving the priority cleared it."""
    from ticketing.models import Category

    t = desk["shared"].id
    old = Category(name="Legacy billing", active=True)
    db.add(old)
    db.flush()
    db.get(Ticket, t).category_id = old.id
    db.commit()
    old.active = False
    db.commit()
    priya = agent(app, "priya")
    form = properties_form(open_ticket(priya, t))
    assert form["category_id"] == str(old.id) and form["was_category_id"] == str(old.id)
    save(priya, t, {**form, "priority": "high"})
    db.expire_all()
    ticket = db.get(Ticket, t)
    assert (ticket.priority, ticket.category_id) == (Priority.HIGH, old.id)
