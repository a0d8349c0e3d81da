"""Finding things on behalf of a token: tickets through the one visibility helper of each kind of principal,
and records named by id in a request body."""

from __future__ import annotations

from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Response, jsonify

from api.auth import principal
from api.errors import ApiError, invalid, not_found
from api.validation import Body, json_body
from ticketing.extensions import db
from ticketing.models import Ticket
from ticketing.services import customer_view, staff_access

T = TypeVar("T")


def ticket_scope() -> sa.ColumnElement[bool]:
    """Staff: staff_access.visible_clause (role and teams); customers: customer_view.visible_tickets_clause."""
    who = principal()
    if who.user is not None:
        return staff_access.visible_clause(who.user)
    if who.contact is None:
        raise ApiError(401, "The token has no owner.", code="invalid_token")
    return customer_view.visible_tickets_clause(who.contact)


def ticket_for(ticket_id: int) -> Ticket:
    """The ticket if this token may see it; 404 alike for missing and not-yours."""
    who = principal()
    if who.contact is not None:
        found = customer_view.get_ticket(db.session, who.contact, ticket_id)
    else:
        found = db.session.scalar(sa.select(Ticket).where(Ticket.id == ticket_id, ticket_scope()))
    if found is None:
        raise not_found()
    return found


def lookup(model: type[T], ident: int | None, field: str, *, where: Any = None) -> T | None:
    """A record a body names by id (None stays None); an unknown id is a 422 on that field."""
    if ident is None:
        return None
    stmt = sa.select(model).where(model.id == ident)  # type: ignore[attr-defined]
    if where is not None:
        stmt = stmt.where(where)
    found = db.session.scalar(stmt)
    if found is None:
        raise invalid({field: f"no such {field.removesuffix('_id').replace('_', ' ')}"})
    return found


def body(schema: Body, customer_allowed: frozenset[str] | None = None) -> dict[str, Any]:
    """The validated JSON body. Customer tokens may send only `customer_allowed`: anything else is refused by
    name (422), never silently dropped."""
    forbidden: frozenset[str] = frozenset()
    if customer_allowed is not None and principal().contact is not None:
        forbidden = frozenset(schema.fields) - customer_allowed
    return schema.validate(json_body(), forbidden=forbidden, why="not allowed for customer tokens")


def created(body: dict[str, Any], location: str) -> Response:
    response = jsonify(body)
    response.status_code = 201
    response.headers["Location"] = location
    return response


def page(rows: list[dict[str, Any]], next_cursor: str | None) -> Response:
    return jsonify({"data": rows, "next_cursor": next_cursor})
