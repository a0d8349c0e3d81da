"""Merging a duplicate ticket into another: its timeline, contacts and mail thread move to the survivor."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import PortalRole
from ticketing.models import Attachment, Contact, Interaction, MailThreadRef, OutboundMessage, Ticket, TimeEntry
from ticketing.services import tickets
from ticketing.services.actors import Actor, actor_name
from ticketing.services.audit import touch
from ticketing.services.interactions import add_interaction


class MergeError(ValueError):
    pass


def same_requester(source: Ticket, target: Ticket) -> bool:
    """Whether every contact of either ticket may already see the other one in the portal, as after the merge they
    all see the whole timeline: the same customer, and each contact on the one ticket is on the other or sees all of
    its customer's tickets (the customer portal role). Tickets of no customer (a sender at an unknown domain): the
    same contact."""
    if source.customer_id != target.customer_id:
        return False
    if source.customer_id is None:
        return source.primary_contact_id == target.primary_contact_id
    return _all_see(source, target) and _all_see(target, source)


def _people(ticket: Ticket) -> set[Contact]:
    return {*ticket.contacts, *([ticket.primary_contact] if ticket.primary_contact else [])}


def _all_see(viewers_of: Ticket, other: Ticket) -> bool:
    on_other = _people(other)
    return all(c in on_other or c.portal_role == PortalRole.CUSTOMER for c in _people(viewers_of))


def merge(session: Session, source: Ticket, target: Ticket, *, actor: Actor, now: datetime) -> None:
    """`source` is closed and points at `target`; replies to its mail thread now land on `target`."""
    if source.id == target.id:
        raise MergeError("A ticket cannot be merged into itself.")
    if source.merged_into_id is not None:
        raise MergeError(f"#{source.id} was already merged into #{source.merged_into_id}.")
    if target.merged_into_id is not None or target.status == Status.CLOSED:
        raise MergeError(f"#{target.id} is closed or merged; choose an open ticket.")
    if not same_requester(source, target):
        raise MergeError(
            f"#{source.id} and #{target.id} are from different customers, or from people who cannot see each "
            "other's tickets in the portal: merged, they would read each other's messages. Link them in a note "
            "instead."
        )
    for model in (Interaction, Attachment, TimeEntry, MailThreadRef, OutboundMessage):
        session.execute(
            sa.update(model)
            .where(model.ticket_id == source.id)  # type: ignore[attr-defined]
            .values(ticket_id=target.id)
            .execution_options(synchronize_session=False)
        )
    for contact in source.contacts:
        if contact not in target.contacts:
            target.contacts.append(contact)
    tickets.add_tags(session, target, source.tags, actor=actor, now=now)
    session.expire(target, ["interactions", "time_entries"])
    add_interaction(
        session, target, type=InteractionType.SYSTEM, actor=None, now=now,
        body_text=f"{actor_name(actor)} merged #{source.id} “{source.subject}” into this ticket.",
        meta={"merged_from": source.id},
    )  # fmt: skip
    source.merged_into_id = target.id
    if source.status != Status.CLOSED:
        tickets.change_status(session, source, Status.CLOSED, actor=actor, now=now)
    add_interaction(
        session, source, type=InteractionType.SYSTEM, actor=None, now=now,
        body_text=f"{actor_name(actor)} merged this ticket into #{target.id}.", meta={"merged_into": target.id},
    )  # fmt: skip
    touch(target, now, customer_visible=True)
