"""The one helper every customer-facing read goes through: which tickets a contact may see, and what of them.

Portal pages, htmx fragments, live checks, attachment downloads and (later) customer API tokens all call
these; nothing customer-facing queries tickets or interactions any other way.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.domain.lifecycle import Status
from ticketing.domain.search_terms import like_pattern, search_terms
from ticketing.domain.vocab import PortalRole
from ticketing.models import Attachment, Contact, Interaction, Ticket, ticket_contacts


def visible_tickets_clause(contact: Contact) -> sa.ColumnElement[bool]:
    """Own tickets (primary or CC'd contact), or every ticket of the customer for its portal admins.

    Written as `id IN (UNION ALL of indexed lookups)`: PostgreSQL cannot combine indexes across an OR whose
    branch is a subquery and would scan the whole ticket table (20 ms at 100k tickets, 0.3 ms this way).
    """
    branches = [
        sa.select(Ticket.id).where(Ticket.primary_contact_id == contact.id),
        sa.select(ticket_contacts.c.ticket_id).where(ticket_contacts.c.contact_id == contact.id),
    ]
    if contact.portal_role == PortalRole.CUSTOMER and contact.customer_id is not None:
        branches.append(sa.select(Ticket.id).where(Ticket.customer_id == contact.customer_id))
    return Ticket.id.in_(sa.union_all(*branches))


def get_ticket(session: Session, contact: Contact, ticket_id: int) -> Ticket | None:
    """None for a ticket the contact may not see: callers answer exactly as for a missing one (404)."""
    return session.scalar(sa.select(Ticket).where(Ticket.id == ticket_id, visible_tickets_clause(contact)))


def ticket_version(session: Session, contact: Contact, ticket_id: int) -> datetime | None:
    """The live check: one indexed row, the last customer-visible change."""
    return session.scalar(
        sa.select(Ticket.public_updated_at).where(Ticket.id == ticket_id, visible_tickets_clause(contact))
    )


def list_version(session: Session, contact: Contact) -> tuple[int, datetime | None]:
    """(count, newest customer-visible change) over the contact's tickets: changes when the list would."""
    count, newest = session.execute(
        sa.select(sa.func.count(), sa.func.max(Ticket.public_updated_at)).where(visible_tickets_clause(contact))
    ).one()
    return int(count), newest


def list_tickets(
    session: Session,
    contact: Contact,
    *,
    status: str | None = None,
    query: str | None = None,
    before: tuple[datetime, int] | None = None,
    limit: int = 25,
) -> list[Ticket]:
    """Newest activity first, keyset-paginated on (public_updated_at, id); search covers only what the
    customer can see (subject and customer-visible messages), each of the query's terms anywhere in it."""
    stmt = sa.select(Ticket).where(visible_tickets_clause(contact))
    if status == "open":
        stmt = stmt.where(Ticket.status.not_in([Status.RESOLVED, Status.CLOSED]))
    elif status in {s.value for s in Status}:
        stmt = stmt.where(Ticket.status == Status(status))
    for term in search_terms(query or ""):  # each term somewhere in the ticket (see ticketing.domain.search_terms)
        pattern = like_pattern(term)
        # Checked on each of the customer's tickets (a few): as `IN (every matching message)`, a short term such as
        # "a", which no trigram index serves, read every customer's messages.
        visible_match = sa.exists().where(
            Interaction.ticket_id == Ticket.id,
            Interaction.customer_visible_clause(),
            Interaction.body_text.ilike(pattern),
        )
        stmt = stmt.where(sa.or_(Ticket.subject.ilike(pattern), visible_match))
    if before is not None:
        stmt = stmt.where(sa.tuple_(Ticket.public_updated_at, Ticket.id) < sa.tuple_(*before))
    stmt = stmt.order_by(Ticket.public_updated_at.desc(), Ticket.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def timeline(session: Session, ticket: Ticket) -> list[Interaction]:
    return list(
        session.scalars(
            sa.select(Interaction)
            .where(Interaction.ticket_id == ticket.id, Interaction.customer_visible_clause())
            .order_by(Interaction.created_at, Interaction.id)
        )
    )


def get_attachment(session: Session, contact: Contact, ticket_id: int, attachment_id: int) -> Attachment | None:
    """Only files of customer-visible messages on a ticket the contact may see."""
    ticket = get_ticket(session, contact, ticket_id)
    if ticket is None:
        return None
    return session.scalar(
        sa.select(Attachment)
        .join(Interaction, Attachment.interaction_id == Interaction.id)
        .where(
            Attachment.id == attachment_id,
            Attachment.ticket_id == ticket.id,
            Interaction.customer_visible_clause(),
        )
    )
