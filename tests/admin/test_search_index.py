"""Queue search through SQLite's body and subject indexes (the FTS5 trigram tables its migration makes): the same
tickets as reading every row, kept up to date by their triggers, and every row read again when an index is
incomplete. On PostgreSQL they do not exist and search goes through its trigram indexes."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

import pytest

from tests.conftest import login_staff, sql_statements
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority, StaffRole
from ticketing.extensions import db as ext_db
from ticketing.models import Ticket
from ticketing.services import queues
from ticketing.services import tickets as ticket_service
from ticketing.services.interactions import add_interaction

PW = "staff-pass-7"
SHOWN = re.compile(r'<td class="subject"><a href="/admin/ticket/(\d+)"')


@pytest.fixture
def tickets(db, make):
    make.user(email="boss@bluehill.test", name="Morgan", password=PW, role=StaffRole.MANAGER)
    now = datetime.now(UTC)
    invoice = make.ticket(now=now - timedelta(hours=3), subject="Question", body="Where is invoice INV-2291?")
    refund = make.ticket(now=now - timedelta(hours=2), subject="Money", body="I want a refund for order 77.")
    other = make.ticket(now=now - timedelta(hours=1), subject="Other", body="Nothing to see.")
    db.commit()
    return {"invoice": invoice.id, "refund": refund.id, "other": other.id}


@contextmanager
def search_index(app, db) -> Iterator[None]:
    """The migration's indexes on the suite's SQLite database, for this test only."""
    with app.app_context():
        engine = ext_db.engine
    with engine.begin() as conn:
        for statement in queues.SEARCH_INDEX_DDL:
            conn.exec_driver_sql(statement)
    queues.forget_search_index()
    try:
        yield
    finally:
        with engine.begin() as conn:
            for statement in queues.SEARCH_INDEX_DROP:
                conn.exec_driver_sql(statement)
        queues.forget_search_index()


def found(client, query: str) -> set[int]:
    page = client.get("/admin/queues/all", query_string={"q": query}).get_data(as_text=True)
    return {int(i) for i in SHOWN.findall(page)}


def reads_every_body_or_subject(statement: str) -> bool:
    """A LIKE over every message body or subject: not the check of a query's further terms on each ticket the
    indexed term found (`interaction.ticket_id = ticket.id AND ...`, and the candidate's own subject)."""
    per_ticket = "interaction.ticket_id = ticket.id AND interaction.body_text LIKE"
    return statement.count("interaction.body_text LIKE") > statement.count(per_ticket) or (
        "FROM ticket \nWHERE ticket.subject LIKE" in statement
    )


def test_search_through_the_indexes_matches_reading_every_row(app, client, db, make, tickets) -> None:
    if db.get_bind().dialect.name != "sqlite":
        pytest.skip("SQLite's index; PostgreSQL: test_search_never_looks_for_the_sqlite_index")
    login_staff(client, "boss@bluehill.test", PW)
    queries = ["inv-2291", "REFUND FOR", "order 77", "money", "QUESTION", "no such text", "in", "refund_for", "x%y"]
    unindexed = {q: found(client, q) for q in queries}
    assert unindexed["inv-2291"] == {tickets["invoice"]} and unindexed["REFUND FOR"] == {tickets["refund"]}
    assert unindexed["money"] == {tickets["refund"]} and unindexed["QUESTION"] == {tickets["invoice"]}
    with search_index(app, db):
        with sql_statements() as seen:
            indexed = {q: found(client, q) for q in queries}
        assert indexed == unindexed
        used = [s for s in seen if "interaction_search" in s]
        assert used and not any(reads_every_body_or_subject(s) for s in used), seen
        assert all("ticket_search.subject LIKE" in s for s in used), used
        # A short query (no run of 3 characters) looks for no text at all (test_short_queries_...).
        with sql_statements() as seen:
            assert found(client, "in") == set()
        assert not any("body_text" in s for s in seen)
        # The triggers keep them current: a new message, an edited one, a deleted one; a new and a renamed subject.
        ticket = db.get(Ticket, tickets["other"])
        note = add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=None,
                               body_text="Escalated to Quokka team", now=datetime.now(UTC))  # fmt: skip
        db.commit()
        assert found(client, "quokka") == {tickets["other"]}
        note.body_text = "Escalated to Wombat team"
        db.commit()
        assert found(client, "quokka") == set() and found(client, "wombat") == {tickets["other"]}
        db.delete(note)
        db.commit()
        assert found(client, "wombat") == set()
        renamed = make.ticket(subject="Printer on fire")
        db.commit()
        assert found(client, "on fire") == {renamed.id}
        renamed.subject = "Printer fixed"
        db.commit()
        assert found(client, "on fire") == set() and found(client, "PRINTER FIX") == {renamed.id}
        # An index without one of its triggers would miss messages: then every body is read again.
        with app.app_context():
            engine = ext_db.engine
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TRIGGER interaction_search_ai")
        queues.forget_search_index()
        with sql_statements() as seen:
            assert found(client, "order 77") == {tickets["refund"]}
        assert not any("interaction_search.body_text" in s for s in seen)


def test_search_never_looks_for_the_sqlite_index(app, client, db, tickets) -> None:
    login_staff(client, "boss@bluehill.test", PW)
    with sql_statements() as seen:
        assert found(client, "inv-2291") == {tickets["invoice"]}
        assert found(client, "Refund for") == {tickets["refund"]}
    if db.get_bind().dialect.name == "postgresql":
        assert not any("interaction_search" in s or "sqlite_master" in s for s in seen), seen
    else:  # the suite's SQLite schema comes from create_all: no index, every body read
        assert not any("interaction_search.body_text" in s for s in seen), seen


def test_short_queries_find_a_ticket_by_number_and_read_no_text(client, db, make, tickets) -> None:
    """A query without 3 characters in a row cannot use a trigram index and matches nearly every message: it
    would read every body (4-6 s at a million tickets on PostgreSQL). It finds a ticket by its number only,
    and the page says why nothing else matched."""
    login_staff(client, "boss@bluehill.test", PW)
    refund = tickets["refund"]
    for query in (str(refund), f"#{refund}", f" #{refund} "):
        with sql_statements() as seen:
            assert found(client, query) == {refund}, query
        assert not any("body_text" in s for s in seen), query
    # A longer number is also text: the ticket with that number and the tickets mentioning it.
    mention = make.ticket(subject="Follow-up", body=f"About #{refund:03d}0, as discussed")
    db.commit()
    assert found(client, f"{refund:03d}0") == {mention.id} | ({refund * 10} & {t.id for t in db.query(Ticket)})
    for query in ("in", "x%y", "%%", "#", "0", "#0"):
        page = client.get("/admin/queues/all", query_string={"q": query}).get_data(as_text=True)
        assert not SHOWN.findall(page), query
        assert f"No tickets match “{query}”. {queues.SEARCH_HINT}" in html.unescape(page), query
    # Longer queries keep searching text, and the hint stays away.
    page = client.get("/admin/queues/all", query_string={"q": "no such text"}).get_data(as_text=True)
    assert "No tickets match" in page and queues.SEARCH_HINT not in page.split("No tickets match")[1][:200]


def _pages(client, url: str) -> list[list[int]]:
    """Every page of a queue URL, following its next-page links."""
    found = []
    while url:
        page = client.get(url).get_data(as_text=True)
        found.append([int(i) for i in SHOWN.findall(page)])
        after = re.search(r'href="([^"]*after=[^"]*)"[^>]*>Next page', html.unescape(page))
        url = after.group(1) if after else None
    return found


@pytest.fixture
def varied(db, make, tickets):
    """Tickets of two teams, every priority, some assigned, tagged, waiting or without a team; most mention a paper
    jam; all with SLA due dates (a 4-hour resolution target puts them in Breaching soon)."""
    team_a, team_b = make.team("Printers"), make.team("Scanners")
    agent = make.user(email="pat@bluehill.test", name="Pat", password=PW, teams=[team_a])
    make.policy(None, None, {p: (30, 240) for p in Priority})
    now = datetime.now(UTC)
    made = []
    for n in range(12):
        team = (team_a, team_b, None)[n % 3]
        body = "paper jam again" if n % 5 else "toner low"
        ticket = make.ticket(now=now - timedelta(minutes=7 * n), subject=f"Printer {n}", team=team,
                             priority=list(Priority)[n % 4], body=body)  # fmt: skip
        made.append(ticket)
    db.flush()
    for ticket in made[::4]:
        ticket_service.add_assignee(db, ticket, agent, actor=None, now=now)
    ticket_service.add_tags(db, made[1], ["urgent-fix"], actor=None, now=now)
    ticket_service.add_tags(db, made[6], ["urgent-fix"], actor=None, now=now)
    ticket_service.change_status(db, made[3], Status.WAITING_ON_CUSTOMER, actor=None, now=now)
    ticket_service.change_status(db, made[9], Status.WAITING_ON_CUSTOMER, actor=None, now=now)
    db.commit()
    return {"agent": agent, "tickets": [t.id for t in made], "teams": (team_a.id, team_b.id)}


def test_both_ways_of_searching_give_the_same_pages(client, db, varied, monkeypatch) -> None:
    """A query matching up to SEARCH_MANY_MATCHES tickets is found through the indexes and its page read by id; past
    that (a common word) the page walks the queue and checks each ticket. Every queue, sort and filter gives the
    same pages either way, next pages (keyset cursors) included, for text and for text that is also a number."""
    team_a, _ = varied["teams"]
    number = f"#{varied['tickets'][4]:03d}"  # text of 3+ characters that also names a ticket
    views = {
        "boss@bluehill.test": [f"all?sort={sort}" for sort in ("updated", "created", "priority", "due")]
        + ["all?status=waiting_on_customer", "all?priority=high", f"all?team={team_a}", "all?tag=urgent-fix"],
        "pat@bluehill.test": ["mine", f"team-{team_a}", "unassigned", "waiting", "breaching",
                              f"team-{team_a}?sort=priority"],
    }  # fmt: skip
    queries = ["paper jam", "printer", "toner", number, "no such text", '"jam again" printer', "toner 1"]
    monkeypatch.setattr(queues, "PAGE_SIZE", 3)
    results: dict[str, dict[tuple[str, str], list[list[int]]]] = {}
    for way, threshold in (("ids", queues.SEARCH_MANY_MATCHES), ("walk", 0)):
        monkeypatch.setattr(queues, "SEARCH_MANY_MATCHES", threshold)
        results[way] = {}
        for email, urls in views.items():
            client.post("/agent/logout", data={"csrf_token": ""})
            client.delete_cookie("session")
            login_staff(client, email, PW)
            for url in urls:
                with sql_statements() as seen:
                    for query in queries:
                        view = f"{url}{'&' if '?' in url else '?'}q={quote(query)}"
                        results[way][(email, view)] = _pages(client, f"/admin/queues/{view}")
                requests = sum(len(results[way][(email, f"{url}{'&' if '?' in url else '?'}q={quote(q)}")])
                               for q in queries)  # fmt: skip
                # A walk checks each ticket of the queue (no collected ids); with several terms, the collected
                # ids' page checks the other terms on those tickets the same way, reading them from a JSON array.
                walks = sum("interaction.ticket_id = ticket.id AND interaction.body_text" in s
                            and "WITH found" not in s and "json_each" not in s for s in seen)  # fmt: skip
                collected = sum("WITH found" in s for s in seen)  # the ids and how many (queues._found)
                # Every text search collects the ids once (under the threshold the first term that can lead does);
                # past it, each term that can lead is tried, then it walks the queue (no match: no walk). Sorted
                # by time left, a page that ends its tickets with a clock goes on with those without: twice.
                twice = 2 if "sort=due" in url else 1
                if way == "ids":
                    assert requests <= collected <= twice * requests, (email, url, collected, requests)
                    assert walks == 0, (email, url, walks)
                else:
                    assert collected > requests, (email, url, collected, requests)
                    assert requests - 1 <= walks <= twice * requests, (email, url, walks, requests)
                    if twice == 1:
                        assert walks == requests - 1, (email, url, walks, requests)  # "no such text": no walk
    assert results["walk"] == results["ids"]
    shown = {i for pages in results["ids"].values() for page in pages for i in page}
    assert len(shown) >= 10, "the views must show most tickets for the comparison to mean something"
    assert results["ids"][("boss@bluehill.test", f"all?sort=updated&q={quote(number)}")] == [[varied["tickets"][4]]]


def test_an_agent_cannot_reach_another_teams_ticket_by_number(client, db, varied) -> None:
    login_staff(client, "pat@bluehill.test", PW)
    theirs = varied["tickets"][1]  # team B, not assigned to the agent
    for url in ("mine", f"team-{varied['teams'][0]}", "unassigned", "waiting", "breaching"):
        for query in (str(theirs), f"#{theirs:03d}"):
            assert _pages(client, f"/admin/queues/{url}?q={quote(query)}") == [[]], (url, query)
    assert client.get(f"/admin/queues/all?q={theirs}").status_code == 403
