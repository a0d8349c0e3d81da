"""A ticket's timeline: staff see every entry; customer tokens only customer-visible ones (customer_view) and may
add only a reply of their own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import selectinload

from api import presenters, schemas
from api.access import body, created, page, ticket_for
from api.auth import customer, principal
from api.errors import ApiError, invalid, not_found
from api.openapi import route
from api.pagination import in_memory, keyset
from ticketing.domain.visibility import InteractionType
from ticketing.extensions import attachment_store, db, mail_policy
from ticketing.models import Contact, Interaction, Ticket, User, utcnow
from ticketing.services import customer_actions, customer_view, mail_outbound, mentions
from ticketing.services.interactions import add_interaction

SORT = "created_at"
STAFF_TYPES = {
    "internal_note": InteractionType.INTERNAL_NOTE,
    "note": InteractionType.NOTE,
    "phone_call": InteractionType.PHONE_CALL,
    "meeting": InteractionType.MEETING,
}
_LOAD = (selectinload(Interaction.attachments), selectinload(Interaction.author_user),
         selectinload(Interaction.author_contact))  # fmt: skip


def _staff_add(ticket: Ticket, data: dict[str, Any], user: User) -> Interaction:
    kind, text, now = data.get("type", "internal_note"), data["body"].strip(), utcnow()
    duration = data.get("duration_minutes")
    if kind == "email_inbound":
        raise invalid({"type": "staff tokens cannot write as the customer"})
    if duration is not None and kind not in ("phone_call", "meeting"):
        raise invalid({"duration_minutes": "only for phone calls and meetings"})
    if kind == "email_outbound":
        try:
            return mail_outbound.reply_to_customer(db.session, ticket, agent=user, body=text, policy=mail_policy(),
                                                   now=now)  # fmt: skip
        except ValueError as exc:
            raise ApiError(409, str(exc), code="no_recipient") from exc
    entry = add_interaction(db.session, ticket, type=STAFF_TYPES[kind], actor=user, body_text=text, now=now,
                            duration_minutes=duration)  # fmt: skip
    if kind == "internal_note":
        link = url_for("workspace.ticket", ticket_id=ticket.id, _external=True)
        mentions.notify_mentions(db.session, ticket, entry, author=user, policy=mail_policy(), now=now,
                                 ticket_url=link)  # fmt: skip
    return entry


def _customer_add(ticket: Ticket, data: dict[str, Any], contact: Contact) -> Interaction:
    if data.get("type", "email_inbound") != "email_inbound":
        raise ApiError(403, "Customer tokens may only add replies (type email_inbound).",
                       fields={"type": "customer tokens may only post email_inbound"})  # fmt: skip
    if "duration_minutes" in data:
        raise invalid({"duration_minutes": "not allowed for customer tokens"})
    try:
        return customer_actions.reply(db.session, contact, ticket, body=data["body"], files=[], now=utcnow(),
                                      store=attachment_store(), limits=mail_policy().attachment_limits)  # fmt: skip
    except customer_actions.ActionRejected as exc:
        raise ApiError(409, str(exc), code="rejected") from exc


def register(bp: Blueprint) -> None:
    @route(bp, "/tickets/{ticket_id}/interactions", "GET", summary="A ticket's timeline", tag="Interactions",
           query=schemas.INTERACTION_QUERY, response="Interaction", page=True,
           description="Oldest first. Customer tokens get only customer-visible entries.")  # fmt: skip
    def list_interactions(ticket_id: int) -> ResponseReturnValue:
        who, params = principal(), schemas.INTERACTION_QUERY.parse()
        ticket = ticket_for(ticket_id)
        kind = InteractionType(params["type"]) if "type" in params else None
        if who.is_staff:
            stmt = sa.select(Interaction).where(Interaction.ticket_id == ticket.id).options(*_LOAD)
            if kind is not None:
                stmt = stmt.where(Interaction.type == kind)
            rows, next_cursor = keyset(db.session, stmt, params, sort=SORT, column=Interaction.created_at,
                                       id_column=Interaction.id, value_of=lambda i: i.created_at)  # fmt: skip
        else:
            visible = [i for i in customer_view.timeline(db.session, ticket) if kind is None or i.type == kind]
            rows, next_cursor = in_memory(visible, params, sort=SORT, value_of=lambda i: i.created_at,
                                          id_of=lambda i: i.id)  # fmt: skip
        return page([presenters.interaction(i, staff=who.is_staff) for i in rows], next_cursor)

    @route(bp, "/tickets/{ticket_id}/interactions/{interaction_id}", "GET", summary="One timeline entry",
           tag="Interactions", response="Interaction")  # fmt: skip
    def get_interaction(ticket_id: int, interaction_id: int) -> ResponseReturnValue:
        who = principal()
        ticket = ticket_for(ticket_id)
        if who.is_staff:
            entry = db.session.scalar(
                sa.select(Interaction).where(Interaction.id == interaction_id, Interaction.ticket_id == ticket.id)
            )
        else:
            entry = next((i for i in customer_view.timeline(db.session, ticket) if i.id == interaction_id), None)
        if entry is None:
            raise not_found()
        return jsonify(presenters.interaction(entry, staff=who.is_staff))

    @route(bp, "/tickets/{ticket_id}/interactions", "POST", summary="Add to a ticket's timeline",
           tag="Interactions", body=schemas.INTERACTION_CREATE, response="Interaction", status=201, errors=(409,),
           description="Staff: email_outbound emails the ticket's contacts; the other types stay internal. "
           "Customer tokens: a reply only (type email_inbound or omitted); any other type answers 403; a "
           "closed ticket answers 409.")  # fmt: skip
    def create_interaction(ticket_id: int) -> ResponseReturnValue:
        who = principal()
        ticket = ticket_for(ticket_id)
        data = body(schemas.INTERACTION_CREATE)
        if who.user is not None:
            entry = _staff_add(ticket, data, who.user)
        else:
            entry = _customer_add(ticket, data, customer())
        db.session.commit()
        location = url_for("api.get_interaction", ticket_id=ticket.id, interaction_id=entry.id)
        return created(presenters.interaction(entry, staff=who.is_staff), location)
