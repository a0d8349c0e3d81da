"""What keeps the agent screens fast stays correct: the menu counts (one statement, cached in Redis, dropped on
change), the queue rows (plain columns, SLA cell in Python), the search (a UNION of lookups), the lazily loaded
customer panel and the reports page's short cache."""

from __future__ import annotations

import json
import re
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from redis import Redis

from admin.markup import short_time, sla_cell
from tests.conftest import login_staff, sql_statements
from ticketing.domain.lifecycle import Status
from ticketing.domain.vocab import Priority, StaffRole
from ticketing.models import Category, Ticket
from ticketing.services import queues, tickets

PW = "staff-pass-2"


@pytest.fixture
def desk(db, make, redis_url):
    billing, platform = make.team("Billing"), make.team("Platform")
    agent = make.user(email="agent@bluehill.test", name="Priya", password=PW, teams=[billing])
    other = make.user(email="lena@bluehill.test", name="Lena", password=PW, teams=[platform])
    manager = make.user(email="manager@bluehill.test", name="Morgan", password=PW, role=StaffRole.MANAGER)
    make.policy(None, None, {Priority.MEDIUM: (60, 480), Priority.HIGH: (30, 120)})
    acme = make.customer("Acme Widgets", domains=("acme.example",))
    jane = make.contact(acme, email="jane@acme.example", name="Jane")
    now = datetime.now(UTC)
    made = {
        "mine": make.ticket(now=now - timedelta(hours=9), contact=jane, subject="Invoice wrong", team=billing),
        "team": make.ticket(
            now=now - timedelta(hours=1),
            contact=jane,
            subject="Refund please",
            team=billing,
            body="The quarterly totals differ",
        ),  # fmt: skip
        "inbox": make.ticket(now=now, contact=jane, subject="No team yet"),
        "other": make.ticket(now=now, subject="Platform outage", team=platform),
    }
    tickets.add_assignee(db, made["mine"], agent, actor=None, now=now)
    tickets.add_assignee(db, made["other"], other, actor=None, now=now)
    db.commit()
    return {"agent": agent, "manager": manager, "billing": billing, "platform": platform, **made}


def menu(html: str) -> dict[str, int]:
    """The queue menu's badges: title -> count."""
    found = re.findall(r'list-group-item-action[^>]*>([^<]+?) <span class="badge badge-light">(\d+)</span>', html)
    return {title.strip(): int(n) for title, n in found}


def shown_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td class="subject"><a href="/admin/ticket/(\d+)"', html)]


def test_counts_are_one_statement_matching_every_queue(db, desk) -> None:
    for who in ("agent", "manager"):
        user = desk[who]
        teams, scope = queues.teams_and_scope(db, user)
        keys = queues.menu_keys(scope, teams)
        counted = queues.counts(db, user, scope=scope, keys=keys)
        for key in keys:
            rows = queues.page(db, user, key, queues.Filters(), limit=1000, scope=scope)
            assert counted[key] == len(rows), (who, key)
    agent_counts = queues.counts(db, desk["agent"])
    assert agent_counts["mine"] == 1 and agent_counts["unassigned"] == 2  # Refund please, No team yet
    assert "all" not in agent_counts and f"team-{desk['platform'].id}" not in agent_counts
    assert queues.counts(db, desk["manager"])["all"] == 4


def test_menu_counts_come_from_redis_until_a_ticket_changes(client, db, desk, redis_url, monkeypatch) -> None:
    monkeypatch.setattr(queues, "COUNTS_MIN_FRESH_SECONDS", 0.0)  # a change makes any entry stale at once
    login_staff(client, "agent@bluehill.test", PW)
    first = client.get("/admin/queues/mine").get_data(as_text=True)
    assert menu(first)["My tickets"] == 1 and menu(first)["Billing"] == 2
    assert Redis.from_url(redis_url).hexists(queues.COUNTS_KEY, str(desk["agent"].id))
    # A stale cache entry is what the page shows until it expires ...
    cache = Redis.from_url(redis_url)
    entry = cache.hget(queues.COUNTS_KEY, str(desk["agent"].id))
    cache.hset(queues.COUNTS_KEY, str(desk["agent"].id), entry.replace(b'"mine": 1', b'"mine": 7'))
    assert menu(client.get("/admin/queues/mine").get_data(as_text=True))["My tickets"] == 7
    # ... and any committed ticket change makes it stale: the next page counts again.
    tickets.add_assignee(db, desk["team"], desk["agent"], actor=None, now=datetime.now(UTC))
    db.commit()
    assert cache.hexists(queues.COUNTS_KEY, "_changed")
    assert menu(client.get("/admin/queues/mine").get_data(as_text=True))["My tickets"] == 2


def test_a_busy_desk_recounts_each_menu_at_most_every_few_seconds(client, db, desk, redis_url, monkeypatch) -> None:
    monkeypatch.setattr(queues, "COUNTS_MIN_FRESH_SECONDS", 0.5)
    login_staff(client, "manager@bluehill.test", PW)
    first = menu(client.get("/admin/queues/all").get_data(as_text=True))
    assert first["My tickets"] == 0 and first["All tickets"] == 4
    tickets.add_assignee(db, desk["team"], desk["manager"], actor=None, now=datetime.now(UTC))
    db.commit()
    # Younger than COUNTS_MIN_FRESH_SECONDS: the menu may lag the change by that much ...
    assert menu(client.get("/admin/queues/all").get_data(as_text=True))["My tickets"] == 0
    time.sleep(0.55)
    # ... then it is recounted; the desk's total (every ticket ever) is kept a minute for every manager.
    Redis.from_url(redis_url).hset(queues.COUNTS_KEY, "_all", json.dumps({"at": time.time(), "n": 99}))
    again = menu(client.get("/admin/queues/all").get_data(as_text=True))
    assert again["My tickets"] == 1 and again["All tickets"] == 99


def test_queue_pages_show_rows_filters_and_keyset_pages(client, db, make, desk) -> None:
    login_staff(client, "manager@bluehill.test", PW)
    page = client.get("/admin/queues/all").get_data(as_text=True)
    # The assignments touched "mine" and "other" last (same moment as "inbox": ties go by id, newest first).
    newest_first = [desk[k].id for k in ("other", "inbox", "mine", "team")]
    assert shown_ids(page) == newest_first and "Next page" not in page
    row = page[page.index(f'aria-label="Select #{desk["mine"].id}"') :].split("</tr>")[0]
    assert "Acme Widgets" in row and "tier-standard" in row and "Priya" in row and "Billing" in row
    filtered = client.get("/admin/queues/all", query_string={"team": desk["billing"].id}).get_data(as_text=True)
    assert shown_ids(filtered) == [desk["mine"].id, desk["team"].id]
    for n in range(queues.PAGE_SIZE):
        make.ticket(now=datetime.now(UTC) - timedelta(days=2, minutes=n), subject=f"Old {n}")
    db.commit()
    first = client.get("/admin/queues/all").get_data(as_text=True)
    assert len(shown_ids(first)) == queues.PAGE_SIZE and "Next page" in first
    after = re.search(r'href="(/admin/queues/all\?after=[^"]+)"', first).group(1).replace("&amp;", "&")
    rest = shown_ids(client.get(after).get_data(as_text=True))
    assert len(rest) == 4 and not set(rest) & set(shown_ids(first))


@pytest.mark.parametrize(
    ("query", "expected"),
    [("quarterly totals", {"team"}), ("jane@acme", {"mine", "team", "inbox"}), ("Widgets", {"mine", "team", "inbox"}),
     ("outage", {"other"}), ("nothing like this", set()),
     # Each term anywhere in the ticket: subject and body, subject and customer, contact and subject; a quoted
     # phrase only as written; terms of different tickets find none.
     ("refund quarterly", {"team"}), ("REFUND widgets", {"team"}), ("jane invoice", {"mine"}),
     ('"totals differ" refund', {"team"}), ('"quarterly differ"', set()), ("invoice outage", set()),
     ("acme refund", {"team"}), ("acme zq", set()),
     # A quote with no partner is no term; one never closed opens a phrase to the end.
     ('"refund please', {"team"}), ('refund "', {"team"}), ('refund please"', {"team"}),
     ('please "quarterly tot', {"team"})],
)  # fmt: skip
def test_search_matches_subject_body_contact_and_customer(client, desk, query, expected) -> None:
    login_staff(client, "manager@bluehill.test", PW)
    page = client.get("/admin/queues/all", query_string={"q": query}).get_data(as_text=True)
    assert set(shown_ids(page)) == {desk[k].id for k in expected}


@pytest.mark.parametrize("many", [queues.SEARCH_MANY_MATCHES, 0])  # 0: every search walks the queue
def test_a_whole_address_finds_its_contact_not_a_longer_one(client, db, make, desk, monkeypatch, many) -> None:
    """jane@acme.example is Jane: not mary.jane@acme.example, whose address contains hers; a message that mentions
    Jane's address is found too. Part of an address is still looked for as text."""
    acme = desk["mine"].customer
    mary = make.contact(acme, email="mary.jane@acme.example", name="Mary")
    made = {"mary": make.ticket(contact=mary, subject="Login fails"),
            "mention": make.ticket(subject="Forwarded", body="Please call Jane@Acme.example back")}  # fmt: skip
    db.commit()
    ids = {**{k: desk[k].id for k in ("mine", "team", "inbox", "other")}, **{k: t.id for k, t in made.items()}}
    monkeypatch.setattr(queues, "SEARCH_MANY_MATCHES", many)
    login_staff(client, "manager@bluehill.test", PW)
    dialect = db.get_bind().dialect.name
    expected = {
        "jane@acme.example": {"mine", "team", "inbox", "mention"},
        "JANE@ACME.EXAMPLE": {"mine", "team", "inbox", "mention"},
        "(jane@acme.example),": {"mine", "team", "inbox", "mention"},
        "mailto:Jane@acme.example": {"mine", "team", "inbox", "mention"},
        "mary.jane@acme.example": {"mary"},
        "jane@acme": {"mine", "team", "inbox", "mention", "mary"},
        "@acme.example": {"mine", "team", "inbox", "mention", "mary"},
        "login jane@acme.example": set(),
        "refund jane@acme.example": {"team"},
        "jane@acme.example forwarded": {"mention"},
    }
    for query, keys in expected.items():
        page = client.get("/admin/queues/all", query_string={"q": query}).get_data(as_text=True)
        assert set(shown_ids(page)) == {ids[k] for k in keys}, query
        lead = queues.search_lead(db, query)
        found = db.scalars(sa.select(Ticket.id).where(queues.search_clause(query, dialect, lead))).all()
        assert set(found) == {ids[k] for k in keys}, query  # the API's search


def test_long_lists_are_scoped_without_a_total_and_sort_by_indexed_columns(client, db, make, desk) -> None:
    """Tickets, Timeline and Time entries: an agent sees the rows of the tickets they may open (an EXISTS per row),
    a manager every row (no condition at all); no list counts its rows; a sort no index serves is ignored."""
    from ticketing.services import timelog

    now = datetime.now(UTC)
    mine = make.ticket(subject="Ledger export", body="BILLING-ROW-7 please", team=desk["billing"])
    theirs = make.ticket(subject="Pager storm", body="PLATFORM-ROW-9 please", team=desk["platform"])
    timelog.log_time(db, mine, user=desk["agent"], minutes=17, now=now, note="BILLING-TIME-7")
    timelog.log_time(db, theirs, user=desk["manager"], minutes=19, now=now, note="PLATFORM-TIME-9")
    db.commit()
    pages = {"agent@bluehill.test": ({"BILLING"}, {"PLATFORM"}),
             "manager@bluehill.test": ({"BILLING", "PLATFORM"}, set())}  # fmt: skip
    for email, (shown, hidden) in pages.items():
        client.get("/agent/logout")
        login_staff(client, email, PW)
        with sql_statements(only="SELECT") as seen:
            timeline = client.get("/admin/interactions/").get_data(as_text=True)
            times = client.get("/admin/time_entries/").get_data(as_text=True)
            listed = client.get("/admin/tickets/").get_data(as_text=True)
        assert not [s for s in seen if "count(" in s.lower()], email  # no totals
        assert "Message from customer" in timeline and not re.search(r'"col-type">\s*EMAIL_', timeline)
        for team in shown:
            assert f"{team}-ROW" in timeline and f"{team}-TIME" in times, (email, team)
        for team in hidden:
            assert f"{team}-ROW" not in timeline and f"{team}-TIME" not in times, (email, team)
        assert ("Pager storm" in listed) == ("PLATFORM" in shown) and "Ledger export" in listed
    with sql_statements(only="SELECT") as seen:
        for n in range(8):  # every column's sort link, and beyond
            assert client.get(f"/admin/tickets/?sort={n}&desc=1").status_code == 200
    listed_sql = [re.sub(r"\s+", " ", s) for s in seen if "FROM ticket" in s and "ORDER BY" in s]
    orders = {s.rpartition("ORDER BY ")[2].split(" LIMIT")[0] for s in listed_sql}
    unindexed = [o for o in orders if re.search(r"ticket\.(subject|priority|due_date)", o)]
    assert not unindexed and any("ticket.status" in o for o in orders), orders


# What ANALYZE says of a 100,000-ticket desk (bench/agent.py's fill, assignees of the closed tickets included):
# ~2 % active, and a status index that, by its averages, holds a sixth of the tickets per status.
DESK_STATISTICS = [
    ("ticket", "ix_ticket_updated_id", "100000 1 1"),
    ("ticket", "ix_ticket_status_updated", "100000 16667 1"),
    ("ticket", "ix_ticket_team_status_updated", "100000 25000 4167 1"),
    ("ticket", "ix_ticket_active_team_updated", "1973 494 1 1"),
    ("ticket", "ix_ticket_active_updated", "1973 1 1"),
    ("ticket", "ix_ticket_active_due", "1029 1 1"),
    ("ticket_assignee", "ix_ticket_assignee_user_ticket", "99609 11068 1"),
    ("ticket_assignee", "sqlite_autoindex_ticket_assignee_1", "99609 1 1"),
]


@pytest.mark.parametrize("key", ["mine", "unassigned"])
def test_my_tickets_and_unassigned_walk_the_active_tickets_only(db, desk, key) -> None:
    """Both check each ticket's assignees in queue order. With a real desk's statistics SQLite walked every ticket
    ever through ix_ticket_updated_id, which reads all of them when the queue holds under a page (a manager with no
    ticket of their own, a desk with nothing unassigned: over 40 ms at 100k tickets); the partial index of the active
    tickets bounds the walk. PostgreSQL plans from its column statistics: bench/agent.py measures it."""
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's planner only: PostgreSQL's follows its statistics")
    manager = desk["manager"]
    stmt = queues._page_statement("sqlite", manager, key, queues.Filters(), None, 51, queues._scope(db, manager, None))
    sql = str(stmt.compile(db.get_bind(), compile_kwargs={"literal_binds": True}))
    conn = db.connection()
    conn.exec_driver_sql("ANALYZE ticket")  # creates sqlite_stat1
    try:
        conn.exec_driver_sql("DELETE FROM sqlite_stat1")
        for row in DESK_STATISTICS:
            conn.exec_driver_sql("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (?, ?, ?)", row)
        conn.exec_driver_sql("ANALYZE sqlite_schema")  # this connection's planner reads them
        plan = [row[-1] for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    finally:
        conn.exec_driver_sql("DELETE FROM sqlite_stat1")
        conn.exec_driver_sql("ANALYZE sqlite_schema")
        db.commit()
    assert any(re.search(r"USING (COVERING )?INDEX ix_ticket_active_updated\b", step) for step in plan), plan
    assert not any(step == "SCAN ticket" or "ix_ticket_updated_id" in step for step in plan), plan


def queue_row(now: datetime, status: Status = Status.OPEN, **kw) -> queues.QueueRow:
    values = {"due_date": None, "resolved_at": None, "sla_breach_at": None, **kw}
    return queues.QueueRow(1, "s", status, Priority.LOW, now, now, assigned_team_id=None, customer_name=None,
                           customer_tier=None, **values)  # fmt: skip


def test_sla_cell_says_what_the_macro_said() -> None:
    now = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)

    def row(status: Status = Status.OPEN, **kw) -> queues.QueueRow:
        return queue_row(now, status, **kw)

    assert sla_cell(row(sla_breach_at=now), now).text == "Breached"
    done = {"due_date": now, "resolved_at": now + timedelta(minutes=1)}
    assert sla_cell(row(Status.RESOLVED, **done), now).text == "Resolved late"
    assert sla_cell(row(Status.CLOSED, due_date=now, resolved_at=now), now).text == "Met"
    assert sla_cell(row(Status.RESOLVED), now).text == "—"
    assert sla_cell(row(Status.WAITING_ON_CUSTOMER), now).text == "Paused"
    assert sla_cell(row(), now).text == "no SLA"
    overdue = sla_cell(row(due_date=now - timedelta(days=1, hours=2)), now)
    assert (overdue.css, overdue.text) == ("badge badge-danger", "Overdue 1d 2h")
    soon = sla_cell(row(due_date=now + timedelta(hours=3, minutes=5)), now)
    assert (soon.css, soon.text, soon.title) == ("badge badge-warning", "3h 5m left", "Due Mon 02 Mar 15:05 UTC")
    assert sla_cell(row(due_date=now + timedelta(minutes=50)), now).text == "50m left"
    assert sla_cell(row(due_date=now + timedelta(hours=30)), now).css == "text-nowrap"


def test_customer_panel_follows_the_workspace(client, db, desk) -> None:
    login_staff(client, "agent@bluehill.test", PW)
    ticket = desk["mine"]
    page = client.get(f"/admin/ticket/{ticket.id}").get_data(as_text=True)
    assert f'hx-get="/admin/ticket/{ticket.id}/customer"' in page and "Open tickets" not in page
    panel = client.get(f"/admin/ticket/{ticket.id}/customer").get_data(as_text=True)
    assert "Acme Widgets" in panel and "jane@acme.example" in panel
    assert "Open tickets (2)" in panel and "Refund please" in panel and "No team yet" in panel
    assert client.get(f"/admin/ticket/{desk['other'].id}/customer").status_code == 404  # another team's ticket


def test_customer_panel_counts_every_open_ticket_beyond_the_ten_listed(client, db, make, desk) -> None:
    jane = db.get(Ticket, desk["mine"].id).primary_contact
    for n in range(11):
        make.ticket(now=datetime.now(UTC), contact=jane, subject=f"More {n}", team=desk["billing"])
    db.commit()
    login_staff(client, "agent@bluehill.test", PW)
    panel = client.get(f"/admin/ticket/{desk['mine'].id}/customer").get_data(as_text=True)
    # 2 + 11 the agent may open (the Platform ticket is another team's), the 10 updated last listed.
    assert "Open tickets (13) <span" in panel and "the 10 updated last" in panel
    listed = panel[panel.index("Open tickets (") :].split("</ul>")[0]
    assert listed.count("<li>") == 10


def test_reports_page_cache_drops_on_a_ticket_change(client, db, desk) -> None:
    login_staff(client, "manager@bluehill.test", PW)
    today = datetime.now(UTC).date()
    span = {"start": (today - timedelta(days=3)).isoformat(), "end": today.isoformat()}
    assert "Outages" not in client.get("/admin/reports/by_category.csv", query_string=span).get_data(as_text=True)
    category = Category(name="Outages")
    db.add(category)
    db.get(Ticket, desk["other"].id).category = category
    db.commit()
    csv = client.get("/admin/reports/by_category.csv", query_string=span).get_data(as_text=True)
    assert '"Outages",1' in csv
    assert db.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 4


def test_short_time_and_sla_titles_read_as_strftime_did() -> None:
    start = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
    for day in range(0, 366, 3):  # every month and weekday, single- and double-digit days
        value = start + timedelta(days=day, hours=day % 24, minutes=day % 60)
        assert short_time(value) == value.strftime("%d %b %H:%M")
        due = sla_cell(queue_row(value, due_date=value), value - timedelta(hours=30))
        assert due.title == value.strftime("Due %a %d %b %H:%M UTC")
        assert sla_cell(queue_row(value, sla_breach_at=value), value).title == value.strftime(
            "Resolution target passed %Y-%m-%d %H:%M UTC"
        )


def test_a_common_leading_term_hands_over_to_a_rarer_one(client, desk, monkeypatch) -> None:
    """The longest term is looked up first; when it finds too many, the next one leads before the queue is walked."""
    login_staff(client, "manager@bluehill.test", PW)
    monkeypatch.setattr(queues, "SEARCH_MANY_MATCHES", 2)  # "Widgets" (the customer) finds 3 tickets: too many
    with sql_statements() as seen:
        page = client.get("/admin/queues/all", query_string={"q": "widgets refund"}).get_data(as_text=True)
    assert shown_ids(page) == [desk["team"].id]
    assert sum("WITH found" in s for s in seen) == 2  # "widgets", then "refund": no walk
    # The walk checks the terms on the queue's tickets; a page read checks them on the ids found (SQLite reads those
    # in a statement of their own, as the JSON array json_each takes apart).
    page_reads = ("WITH found", "json_each")
    walked = [
        s
        for s in seen
        if "interaction.ticket_id = ticket.id AND interaction.body_text" in s and not any(p in s for p in page_reads)
    ]
    assert not walked


def test_the_api_search_leads_with_a_term_that_finds_few(db, desk, monkeypatch) -> None:
    monkeypatch.setattr(queues, "SEARCH_MANY_MATCHES", 2)  # "Widgets" (the customer) finds 3 tickets: too many
    assert queues.search_lead(db, "widgets refund") == "refund"
    assert queues.search_lead(db, "invoice") == "invoice"  # a single term is not counted first
    assert queues.search_lead(db, "widgets acme") == "widgets"  # both too common: the longest
    found = db.scalars(sa.select(Ticket.id).where(queues.search_clause("widgets refund", db.get_bind().dialect.name,
                                                                       "refund"))).all()  # fmt: skip
    assert found == [desk["team"].id]
