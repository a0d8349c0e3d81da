"""Queue search through SQLite's body and subject indexes (the FTS5 trigram tables its migration makes): the same
tickets as reading every row, kept up to date by their triggers, and every row read again when an index is
incomplete. On PostgreSQL they do not exist and search goes through its trigram indexes."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from tests.conftest import login_staff, sql_statements
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import StaffRole
from ticketing.extensions import db as ext_db
from ticketing.models import Ticket
from ticketing.services import queues
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
        assert used and not any("interaction.body_text LIKE" in s or "ticket.subject LIKE" in s for s in used), seen
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


def test_a_query_matching_many_tickets_walks_the_queue_and_finds_the_same_pages(
    client, db, make, tickets, monkeypatch
) -> None:
    """Past SEARCH_MANY_MATCHES matches the page checks tickets in queue order instead of collecting every match
    (a common word: seconds at a million tickets); the pages are the same either way, next pages included."""
    login_staff(client, "boss@bluehill.test", PW)
    now = datetime.now(UTC)
    many = [make.ticket(now=now - timedelta(minutes=n), subject=f"Printer {n}", body="paper jam again").id
            for n in range(7)]  # fmt: skip
    scanner = make.ticket(now=now, subject="Scanner", body="Paper JAM in the feeder").id
    db.commit()

    def pages(query: str) -> list[list[int]]:
        found, url = [], f"/admin/queues/all?q={query}"
        while url:
            page = client.get(url).get_data(as_text=True)
            found.append([int(i) for i in SHOWN.findall(page)])
            after = re.search(r'href="([^"]*after=[^"]*)"[^>]*>Next page', html.unescape(page))
            url = after.group(1) if after else None
        return found

    monkeypatch.setattr(queues, "PAGE_SIZE", 3)
    queries = ["paper jam", "printer", "money", str(many[2]), "no such text", "jane"]
    through_ids = {q: pages(q) for q in queries}
    assert through_ids["paper jam"] == [[scanner, *many[:2]], many[2:5], many[5:]]
    assert through_ids["money"] == [[tickets["refund"]]] and through_ids["no such text"] == [[]]
    monkeypatch.setattr(queues, "SEARCH_MANY_MATCHES", 1)
    with sql_statements() as seen:
        walked = {q: pages(q) for q in queries}
    assert walked == through_ids
    assert any("EXISTS" in s and "body_text" in s for s in seen), "the walk checks each ticket's messages"
