"""Who wrote in: sender email -> Contact, email domain -> Customer."""

from __future__ import annotations

from collections.abc import Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from ticketing.models import Contact, Customer, CustomerDomain
from ticketing.models.base import flushing_for, insert_for

# Addresses at these domains belong to individuals, never to one customer organisation.
FREE_MAIL_DOMAINS = frozenset(
    {
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "hotmail.com",
        "live.com",
        "msn.com",
        "yahoo.com",
        "ymail.com",
        "icloud.com",
        "me.com",
        "mac.com",
        "aol.com",
        "proton.me",
        "protonmail.com",
        "gmx.de",
        "gmx.net",
        "gmx.com",
        "web.de",
        "mail.com",
        "yandex.ru",
        "yandex.com",
        "zoho.com",
        "fastmail.com",
        "hey.com",
        "qq.com",
        "163.com",
        "mail.ru",
        "t-online.de",
        "orange.fr",
        "free.fr",
        "libero.it",
    }
)


def normalise_email(address: str) -> str:
    return address.strip().lower()


def email_domain(address: str) -> str:
    return normalise_email(address).rpartition("@")[2]


def normalise_domain(domain: str) -> str:
    return domain.strip().lower().lstrip("@").rstrip(".")


def customer_for_domain(session: Session, domain: str) -> Customer | None:
    domain = normalise_domain(domain)
    if not domain or domain in FREE_MAIL_DOMAINS:
        return None
    with flushing_for(session, CustomerDomain, Customer):
        row = session.scalar(sa.select(CustomerDomain).where(CustomerDomain.domain == domain))
        return row.customer if row else None


def find_contact(session: Session, email: str) -> Contact | None:
    with flushing_for(session, Contact):
        return session.scalar(sa.select(Contact).where(Contact.email == normalise_email(email)))


def find_contacts(session: Session, emails: list[str]) -> list[Contact]:
    """The known contacts among these addresses, in their order, in one look-up."""
    wanted = list(dict.fromkeys(normalise_email(e) for e in emails))
    if not wanted:
        return []
    # With their customers: a batch of inbound mail reads each sender's customer, and a lazy load there (the
    # session keeps no customer it does not reference) flushed the batch's pending rows one message at a time.
    query = sa.select(Contact).where(Contact.email.in_(wanted)).options(joinedload(Contact.customer))
    with flushing_for(session, Contact, Customer):
        found = {c.email: c for c in session.scalars(query)}
    return [found[e] for e in wanted if e in found]


def _insert_contact(session: Session, email: str, name: str, customer: Customer | None) -> Contact:
    """A new contact, inserted on its own: with an id at once, without flushing the session's other pending rows
    (a batch of inbound mail inserts those together at its end). A contact another transaction inserts at the
    same moment is the one returned, instead of a unique-key error."""
    values = {"email": email, "name": name, "customer_id": customer.id if customer else None}
    insert = insert_for(session)(Contact).values(values).on_conflict_do_nothing(index_elements=["email"])
    with session.no_autoflush:
        contact = session.scalar(insert.returning(Contact))
        if contact is None:
            return session.scalars(sa.select(Contact).where(Contact.email == email)).one()
    set_committed_value(contact, "customer", customer)  # known: no lazy load (and autoflush) to read it back
    return contact


def resolve_contact(
    session: Session, email: str, name: str = "", *, known: Mapping[str, Contact] | None = None
) -> Contact:
    """The contact for this address, created (and linked to its customer by domain) when new. `known`: contacts
    already read, by normalised address (`find_contacts`); an address not among them is looked up."""
    email = normalise_email(email)
    if "@" not in email:
        raise ValueError(f"not an email address: {email!r}")
    contact = known.get(email) if known else None
    contact = contact if contact is not None else find_contact(session, email)
    if contact is None:
        contact = _insert_contact(session, email, name.strip()[:200], customer_for_domain(session, email_domain(email)))
    elif contact.customer_id is None:
        # A customer may have added this domain since the contact first wrote in. Flushed now: whether the sender
        # belongs to a ticket is read from customer_id, and nothing else may flush before (mail_inbound.Known).
        contact.customer = customer_for_domain(session, email_domain(email))
        if contact.customer is not None:
            session.flush()
    if name and not contact.name:
        contact.name = name.strip()[:200]
    return contact
