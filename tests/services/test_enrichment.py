"""Sender addresses to contacts and customers, and the look-ups that must not flush a batch's pending rows."""

from __future__ import annotations

import sqlalchemy as sa

from ticketing.domain.vocab import Source
from ticketing.extensions import db as _db
from ticketing.models import Contact, Ticket
from ticketing.services import enrichment, tickets


def test_a_new_sender_is_one_contact_linked_by_domain(db, make) -> None:
    acme = make.customer("Acme", domains=("acme.example",))
    db.commit()
    contact = enrichment.resolve_contact(db, "Jane@Acme.example", "Jane Doe")
    assert (contact.email, contact.name, contact.customer) == ("jane@acme.example", "Jane Doe", acme)
    assert contact.id is not None and contact.customer_id == acme.id
    assert enrichment.resolve_contact(db, "jane@acme.example") is contact
    free = enrichment.resolve_contact(db, "someone@gmail.com")
    assert free.customer is None and free.customer_id is None


def test_a_contact_inserted_meanwhile_by_another_transaction_is_the_one_returned(db) -> None:
    """Two workers meeting a new sender at once: the second gets the first's contact, not a unique-key error."""
    with _db.engine.begin() as other:
        other.execute(sa.insert(Contact).values(email="max@acme.example", name="Max", portal_role="own"))
    contact = enrichment._insert_contact(db, "max@acme.example", "Maximilian", None)
    assert contact.name == "Max"  # the stored row, untouched
    assert db.scalar(sa.select(sa.func.count()).select_from(Contact)) == 1


def test_a_new_contact_does_not_flush_the_pending_rows_and_a_pending_contact_is_found(db, make, now) -> None:
    pending = tickets.create_ticket(db, subject="Opened in a batch", source=Source.EMAIL, now=now, flush=False)
    enrichment.resolve_contact(db, "new@acme.example")
    assert pending.id is None  # still pending: it goes in with the rest of its batch
    assert enrichment.find_contact(db, "new@acme.example") is not None
    added = Contact(email="added@acme.example", name="Added")
    db.add(added)
    assert enrichment.find_contact(db, "added@acme.example") is added  # a pending contact is flushed to be found
    assert pending.id is not None  # (with everything else: a flush is whole)
    assert db.get(Ticket, pending.id) is pending
