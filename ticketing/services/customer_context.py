"""The customer beside the ticket: account, people, onboarding, other tickets, time, whole history."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from ticketing.domain.lifecycle import ACTIVE
from ticketing.models import Customer, Interaction, Ticket, User
from ticketing.services.staff_access import visible_clause
from ticketing.services.timelog import minutes_for_customer


@dataclass
class CustomerContext:
    customer: Customer | None
    open_tickets: list[Ticket]  # the most recently updated OPEN_SHOWN of them
    recent_tickets: list[Ticket]
    minutes_logged: int
    history: list[Interaction]
    open_count: int = 0  # all of them (the viewer may open)


OPEN_SHOWN = 10


def for_ticket(session: Session, ticket: Ticket, viewer: User, *, history_limit: int = 25) -> CustomerContext:
    customer = ticket.customer
    if customer is None:
        scope = Ticket.primary_contact_id == ticket.primary_contact_id
    else:
        scope = Ticket.customer_id == customer.id
    others = sa.select(Ticket).where(scope, Ticket.id != ticket.id, visible_clause(viewer))
    still_open = others.where(Ticket.status.in_(list(ACTIVE)))
    open_tickets = list(session.scalars(still_open.order_by(Ticket.updated_at.desc()).limit(OPEN_SHOWN)))
    open_count = len(open_tickets)
    if open_count == OPEN_SHOWN:  # the panel said "(10)" for a customer with 35 open
        open_count = session.scalar(sa.select(sa.func.count()).select_from(still_open.subquery())) or 0
    recent = list(
        session.scalars(others.where(Ticket.status.not_in(list(ACTIVE))).order_by(Ticket.updated_at.desc()).limit(10))
    )
    history = list(
        session.scalars(
            sa.select(Interaction)
            .join(Ticket, Interaction.ticket_id == Ticket.id)
            .where(scope, visible_clause(viewer), Interaction.type != "system")
            .order_by(Interaction.created_at.desc(), Interaction.id.desc())
            .limit(history_limit)
            .options(selectinload(Interaction.author_user), selectinload(Interaction.author_contact))
        )
    )
    minutes = minutes_for_customer(session, customer.id) if customer else 0
    return CustomerContext(customer, open_tickets, recent, minutes, history, open_count)
