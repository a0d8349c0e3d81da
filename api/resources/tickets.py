"""Tickets: list (filters, keyset pages), get, create, update. Staff act as their user; customers as their contact."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import selectinload

from api import presenters, schemas
from api.access import body, created, lookup, page, ticket_for, ticket_scope
from api.auth import principal
from api.errors import ApiError, invalid
from api.openapi import route
from api.pagination import keyset
from ticketing.domain.lifecycle import ACTIVE, Status, TransitionError
from ticketing.domain.vocab import Priority, Source
from ticketing.extensions import db
from ticketing.models import Category, Contact, Customer, Team, Ticket, TicketTag, User, ticket_assignees, utcnow
from ticketing.models import ticket_contacts as contacts_table
from ticketing.services import customer_actions, queues, routing, tickets

STAFF_ONLY_FILTERS = "not available to customer tokens"


def _filters(stmt: sa.Select[Any], params: dict[str, Any]) -> sa.Select[Any]:
    if (status := params.get("status")) == "active":
        stmt = stmt.where(Ticket.status.in_(list(ACTIVE)))
    elif status:
        stmt = stmt.where(Ticket.status == Status(status))
    if "priority" in params:
        stmt = stmt.where(Ticket.priority == Priority(params["priority"]))
    if "team_id" in params:
        stmt = stmt.where(Ticket.assigned_team_id == params["team_id"])
    if "customer_id" in params:
        stmt = stmt.where(Ticket.customer_id == params["customer_id"])
    if "contact_id" in params:
        cc = sa.select(contacts_table.c.ticket_id).where(contacts_table.c.contact_id == params["contact_id"])
        stmt = stmt.where(sa.or_(Ticket.primary_contact_id == params["contact_id"], Ticket.id.in_(cc)))
    if "assignee_id" in params:
        mine = sa.select(ticket_assignees.c.ticket_id).where(ticket_assignees.c.user_id == params["assignee_id"])
        stmt = stmt.where(Ticket.id.in_(mine))
    if "tag" in params:
        stmt = stmt.where(Ticket.id.in_(sa.select(TicketTag.ticket_id).where(TicketTag.tag == params["tag"])))
    if "q" in params:
        if not queues.searches_text(params["q"]) and queues.ticket_number(params["q"]) is None:
            raise ApiError(400, "Some query parameters are not valid.", code="invalid_parameter",
                           fields={"q": queues.SEARCH_HINT})  # fmt: skip
        dialect = db.session.get_bind().dialect.name
        lead = queues.search_lead(db.session, params["q"])  # a rare term first, not a common word
        stmt = stmt.where(queues.search_clause(params["q"], dialect, lead))
    return stmt


def _present(ticket: Ticket) -> dict[str, Any]:
    return presenters.ticket(ticket, staff=principal().is_staff)


def _assignees(ids: list[int]) -> list[User]:
    found = {u.id: u for u in db.session.scalars(sa.select(User).where(User.id.in_(ids), User.active))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise invalid({"assignee_ids": f"no active staff user with id {', '.join(map(str, missing))}"})
    return [found[i] for i in dict.fromkeys(ids)]


def _create_for_staff(data: dict[str, Any], user: User) -> Ticket:
    contact = lookup(Contact, data.get("contact_id"), "contact_id")
    customer = lookup(Customer, data.get("customer_id"), "customer_id")
    if contact is not None and customer is not None and contact.customer_id not in (None, customer.id):
        raise invalid({"contact_id": "belongs to another customer"})
    team = lookup(Team, data.get("team_id"), "team_id")
    category = lookup(Category, data.get("category_id"), "category_id")
    people = _assignees(data.get("assignee_ids", []))
    now = utcnow()
    ticket = tickets.create_ticket(
        db.session, subject=data["subject"], body=data.get("body", ""), source=Source.API, now=now, actor=user,
        contact=contact, customer=customer, priority=Priority(data.get("priority", "medium")), team=team,
        category=category, tags=data.get("tags", ()),
    )  # fmt: skip
    for person in people:
        tickets.add_assignee(db.session, ticket, person, actor=user, now=now)
    return ticket


def _update_for_staff(ticket: Ticket, data: dict[str, Any], user: User) -> None:
    now = utcnow()
    if "status" in data and data["status"] != ticket.status.value:
        try:
            tickets.change_status(db.session, ticket, Status(data["status"]), actor=user, now=now)
        except TransitionError as exc:
            raise ApiError(409, str(exc), code="invalid_transition", fields={"status": str(exc)}) from exc
    if "priority" in data:
        tickets.set_priority(db.session, ticket, Priority(data["priority"]), actor=user, now=now)
    if "team_id" in data:
        tickets.set_team(db.session, ticket, lookup(Team, data["team_id"], "team_id"), actor=user, now=now)
    if "category_id" in data:
        category = lookup(Category, data["category_id"], "category_id")
        tickets.set_category(db.session, ticket, category, actor=user, now=now)
    if "tags" in data:
        tickets.set_tags(db.session, ticket, data["tags"], actor=user, now=now)
    if "assignee_ids" in data:
        wanted = _assignees(data["assignee_ids"])
        for person in [u for u in ticket.assignees if u not in wanted]:
            tickets.remove_assignee(db.session, ticket, person, actor=user, now=now)
        for person in wanted:
            tickets.add_assignee(db.session, ticket, person, actor=user, now=now)


def register(bp: Blueprint) -> None:
    @route(bp, "/tickets", "GET", summary="List tickets", tag="Tickets", query=schemas.TICKET_QUERY,
           response="Ticket", page=True,
           description="Staff: the tickets their role and teams open. Customer tokens: their contact's tickets "
           "(the whole customer's for a portal admin); only status, sort, cursor and limit apply.")  # fmt: skip
    def list_tickets() -> ResponseReturnValue:
        who, params = principal(), schemas.TICKET_QUERY.parse()
        if not who.is_staff:
            extra = sorted(set(params) - schemas.CUSTOMER_TICKET_PARAMS)
            if extra:
                raise ApiError(400, f"Not available to customer tokens: {', '.join(extra)}.",
                               code="unknown_parameter", fields=dict.fromkeys(extra, STAFF_ONLY_FILTERS))  # fmt: skip
        stmt = _filters(sa.select(Ticket).where(ticket_scope()), params)
        if who.is_staff:
            stmt = stmt.options(selectinload(Ticket.contacts), selectinload(Ticket.assignees))
        sort = params.get("sort", "-updated_at")
        updated = Ticket.updated_at if who.is_staff else Ticket.public_updated_at
        column = {"updated_at": updated, "created_at": Ticket.created_at, "id": Ticket.id}[sort.lstrip("-")]
        rows, next_cursor = keyset(db.session, stmt, params, sort=sort, column=column, id_column=Ticket.id,
                                   value_of=lambda t: getattr(t, column.key))  # fmt: skip
        return page([_present(t) for t in rows], next_cursor)

    @route(bp, "/tickets/{ticket_id}", "GET", summary="Get a ticket", tag="Tickets", response="Ticket")
    def get_ticket(ticket_id: int) -> ResponseReturnValue:
        return jsonify(_present(ticket_for(ticket_id)))

    @route(bp, "/tickets", "POST", summary="Create a ticket", tag="Tickets", body=schemas.TICKET_CREATE,
           response="Ticket", status=201,
           description="Staff: the body becomes an internal note; the ticket is created as the token's user. "
           "Customer tokens: subject and body only; the body is the customer's first message.")  # fmt: skip
    def create_ticket() -> ResponseReturnValue:
        who = principal()
        data = body(schemas.TICKET_CREATE, schemas.CUSTOMER_TICKET_CREATE)
        if who.user is not None:
            ticket = _create_for_staff(data, who.user)
        else:
            now = utcnow()
            ticket = tickets.create_ticket(
                db.session, subject=data["subject"], body=data.get("body", ""), source=Source.API, now=now,
                actor=who.contact, contact=who.contact,
            )  # fmt: skip
            routing.apply_rules(db.session, ticket, now=now)
        db.session.commit()
        return created(_present(ticket), url_for("api.get_ticket", ticket_id=ticket.id))

    @route(bp, "/tickets/{ticket_id}", "PATCH", summary="Update a ticket", tag="Tickets",
           body=schemas.TICKET_UPDATE, response="Ticket", errors=(409,),
           description="Each change is audited as the token's user. Customer tokens: status only, as the "
           "portal allows (close an active ticket, reopen a resolved one); other moves answer 409.")  # fmt: skip
    def update_ticket(ticket_id: int) -> ResponseReturnValue:
        who = principal()
        ticket = ticket_for(ticket_id)
        data = body(schemas.TICKET_UPDATE, schemas.CUSTOMER_TICKET_UPDATE)
        if who.user is not None:
            _update_for_staff(ticket, data, who.user)
        elif who.contact is not None and "status" in data and data["status"] != ticket.status.value:
            try:
                customer_actions.set_status(db.session, who.contact, ticket, Status(data["status"]), now=utcnow())
            except customer_actions.ActionRejected as exc:
                raise ApiError(409, str(exc), code="invalid_transition", fields={"status": str(exc)}) from exc
        db.session.commit()
        return jsonify(_present(ticket))
