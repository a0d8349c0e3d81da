"""Ticket use cases: create from any source, and every change an agent, customer or rule can make."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ticketing import events
from ticketing.domain import lifecycle
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority, Source
from ticketing.models import Category, Contact, Customer, Team, Ticket, TicketTag, User
from ticketing.services import sla
from ticketing.services.actors import Actor, actor_ref
from ticketing.services.audit import record_change
from ticketing.services.enrichment import resolve_contact
from ticketing.services.interactions import add_interaction

_TAG_RE = re.compile(r"[^a-z0-9_\-.:]+")


def normalise_tags(tags: Iterable[str]) -> list[str]:
    """Lower-case, dash-joined, de-duplicated, sorted."""
    cleaned = {_TAG_RE.sub("-", t.strip().lower()).strip("-")[:64] for t in tags}
    return sorted(t for t in cleaned if t)


def create_ticket(
    session: Session,
    *,
    subject: str,
    body: str = "",
    body_html: str | None = None,
    source: Source,
    now: datetime,
    actor: Actor = None,
    sender_email: str | None = None,
    sender_name: str = "",
    contact: Contact | None = None,
    customer: Customer | None = None,
    priority: Priority = Priority.MEDIUM,
    team: Team | None = None,
    category: Category | None = None,
    tags: Iterable[str] = (),
    form_data: dict[str, Any] | None = None,
    first_interaction: InteractionType | None = None,
    interaction_fields: dict[str, Any] | None = None,
    email_thread_id: str | None = None,
    linked_ticket_id: int | None = None,
    flush: bool = True,
) -> Ticket:
    """Open a ticket, enriched with the sender's contact and customer, its SLA clock started.

    The body becomes the first interaction: customer-authored (EMAIL_INBOUND) when a contact wrote it,
    otherwise the type given (an agent logging a call picks PHONE_CALL).
    `flush=False` leaves the ticket without an id until the session's next flush (a batch of inbound mail opens
    many: they are inserted together).
    """
    subject = " ".join(subject.split())[:300] or "(no subject)"
    if contact is None and sender_email:
        contact = resolve_contact(session, sender_email, sender_name)
    if customer is None and contact is not None:
        customer = contact.customer
    ticket = Ticket(
        subject=subject,
        status=Status.OPEN,
        priority=priority,
        source=source,
        source_email=sender_email.lower() if sender_email else None,
        customer=customer,
        primary_contact=contact,
        contacts=[contact] if contact else [],
        assigned_team=team,
        category=category,
        form_data=form_data,
        tag_rows=[TicketTag(tag=t) for t in normalise_tags(tags)],
        sla_pauses=[],  # known empty: no lazy load of them after the INSERT
        email_thread_id=email_thread_id,
        linked_ticket_id=linked_ticket_id,
        created_at=now,
        updated_at=now,
        public_updated_at=now,
    )
    session.add(ticket)
    sla.start_clock(session, ticket, now)
    if flush:
        session.flush()
    events.emit(
        session, "ticket.created", now=now, ticket_id=events.IdOf(ticket), source=source.value, actor=actor_ref(actor)
    )
    if body or body_html:
        kind = first_interaction or (
            InteractionType.EMAIL_INBOUND if actor is None or isinstance(actor, Contact) else InteractionType.NOTE
        )
        author = actor if actor is not None else contact
        add_interaction(
            session,
            ticket,
            type=kind,
            actor=author,
            body_text=body,
            body_html=body_html,
            now=now,
            reopen=False,
            flush=flush,
            **(interaction_fields or {}),
        )
    return ticket


def change_status(
    session: Session, ticket: Ticket, new: Status, *, actor: Actor, now: datetime, by_customer: bool = False
) -> None:
    change = lifecycle.transition(
        ticket.status,
        new,
        now=now,
        resolved_at=ticket.resolved_at,
        closed_at=ticket.closed_at,
        by_customer=by_customer,
    )
    ticket.status = new
    ticket.resolved_at = change.resolved_at
    ticket.closed_at = change.closed_at
    if change.reopened:
        sla.restart_clock(ticket, now)
    elif change.pause_starts:
        sla.pause_clock(ticket, now, reason=new.value)
    elif change.pause_ends:
        sla.resume_clock(ticket, now)
    record_change(
        session,
        ticket,
        field="status",
        old=change.old,
        new=new,
        actor=actor,
        now=now,
        customer_visible=True,
        event_type="ticket.status_changed",
    )


def set_priority(session: Session, ticket: Ticket, priority: Priority, *, actor: Actor, now: datetime) -> None:
    if priority == ticket.priority:
        return
    old, ticket.priority = ticket.priority, priority
    # A new priority means new targets from the same policy, counted from the same start.
    sla.apply_policy(session, ticket)
    record_change(session, ticket, field="priority", old=old, new=priority, actor=actor, now=now, customer_visible=True)


def set_team(session: Session, ticket: Ticket, team: Team | None, *, actor: Actor, now: datetime) -> None:
    if team is ticket.assigned_team:
        return
    old, ticket.assigned_team = ticket.assigned_team, team
    record_change(session, ticket, field="team", old=old, new=team, actor=actor, now=now, customer_visible=False)


def set_category(session: Session, ticket: Ticket, category: Category | None, *, actor: Actor, now: datetime) -> None:
    if category is ticket.category:
        return
    old, ticket.category = ticket.category, category
    record_change(
        session, ticket, field="category", old=old, new=category, actor=actor, now=now, customer_visible=False
    )


def set_tags(session: Session, ticket: Ticket, tags: Iterable[str], *, actor: Actor, now: datetime) -> None:
    new = normalise_tags(tags)
    old = ticket.tags
    if new == old:
        return
    keep = {row.tag: row for row in ticket.tag_rows}
    ticket.tag_rows = [keep.get(t) or TicketTag(tag=t) for t in new]
    record_change(session, ticket, field="tags", old=old, new=new, actor=actor, now=now, customer_visible=False)


def add_tags(session: Session, ticket: Ticket, tags: Iterable[str], *, actor: Actor, now: datetime) -> None:
    set_tags(session, ticket, [*ticket.tags, *tags], actor=actor, now=now)


def remove_tags(session: Session, ticket: Ticket, tags: Iterable[str], *, actor: Actor, now: datetime) -> None:
    drop = set(normalise_tags(tags))
    set_tags(session, ticket, [t for t in ticket.tags if t not in drop], actor=actor, now=now)


def add_assignee(session: Session, ticket: Ticket, user: User, *, actor: Actor, now: datetime) -> None:
    """Adds one assignee; the others keep the ticket."""
    if user not in ticket.assignees:
        _change_assignees(session, ticket, lambda people: people.append(user), actor=actor, now=now)


def remove_assignee(session: Session, ticket: Ticket, user: User, *, actor: Actor, now: datetime) -> None:
    """Removes one assignee; the others keep the ticket."""
    if user in ticket.assignees:
        _change_assignees(session, ticket, lambda people: people.remove(user), actor=actor, now=now)


def _change_assignees(
    session: Session, ticket: Ticket, change: Callable[[list[User]], None], *, actor: Actor, now: datetime
) -> None:
    old = [u.name for u in ticket.assignees]
    change(ticket.assignees)
    new = [u.name for u in ticket.assignees]
    record_change(session, ticket, field="assignees", old=old, new=new, actor=actor, now=now, customer_visible=False)


def add_contact(session: Session, ticket: Ticket, contact: Contact, *, actor: Actor, now: datetime) -> None:
    if contact in ticket.contacts:
        return
    old = [c.email for c in ticket.contacts]
    ticket.contacts.append(contact)
    record_change(
        session,
        ticket,
        field="contacts",
        old=old,
        new=[c.email for c in ticket.contacts],
        actor=actor,
        now=now,
        customer_visible=False,
    )
