"""Customers: staff read and write them all (as the agent screens do); a customer token sees only its own
customer's id and name (never the internal notes)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import selectinload

from api import presenters, schemas
from api.access import body, created, page
from api.auth import principal, staff
from api.errors import ApiError, invalid, not_found
from api.openapi import route
from api.pagination import keyset
from ticketing.domain.vocab import Tier
from ticketing.extensions import db
from ticketing.models import Contact, Customer, CustomerDomain
from ticketing.services.enrichment import normalise_domain


def _scoped(stmt: sa.Select[Any]) -> sa.Select[Any]:
    who = principal()
    if who.is_staff:
        return stmt
    own = who.actor.customer_id if isinstance(who.actor, Contact) else None
    return stmt.where(Customer.id == own) if own is not None else stmt.where(sa.false())


def _customer(customer_id: int) -> Customer:
    found = db.session.scalar(_scoped(sa.select(Customer).where(Customer.id == customer_id)))
    if found is None:
        raise not_found()
    return found


def _domains(customer: Customer, raw: list[str]) -> None:
    wanted = list(dict.fromkeys(normalise_domain(d) for d in raw))
    bad = [d for d in wanted if "." not in d or any(c in d for c in "@/ \t")]
    if bad:
        raise invalid({"domains": f"not a domain: {', '.join(bad)}"})
    taken = db.session.scalars(
        sa.select(CustomerDomain).where(CustomerDomain.domain.in_(wanted), CustomerDomain.customer_id != customer.id)
        if customer.id is not None
        else sa.select(CustomerDomain).where(CustomerDomain.domain.in_(wanted))
    ).all()
    if taken:
        owners = ", ".join(f"{d.domain} belongs to customer {d.customer_id}" for d in taken)
        raise ApiError(409, "A domain belongs to another customer.", code="duplicate", fields={"domains": owners})
    keep = {row.domain: row for row in customer.domains}
    customer.domains = [keep.get(d) or CustomerDomain(domain=d) for d in wanted]


def _apply(customer: Customer, data: dict[str, Any]) -> None:
    if "name" in data:
        customer.name = " ".join(data["name"].split())
    if "tier" in data:
        customer.tier = Tier(data["tier"])
    if "notes" in data:
        customer.notes = data["notes"]
    if "domains" in data:
        _domains(customer, data["domains"])


def register(bp: Blueprint) -> None:
    @route(bp, "/customers", "GET", summary="List customers", tag="Customers", query=schemas.CUSTOMER_QUERY,
           response="Customer", page=True, description="Customer tokens see only their own customer.")  # fmt: skip
    def list_customers() -> ResponseReturnValue:
        params = schemas.CUSTOMER_QUERY.parse()
        stmt = _scoped(sa.select(Customer)).options(selectinload(Customer.domains))
        if "tier" in params:
            stmt = stmt.where(Customer.tier == Tier(params["tier"]))
        if "q" in params:
            stmt = stmt.where(Customer.name.ilike(f"%{params['q'].strip()}%"))
        rows, next_cursor = keyset(db.session, stmt, params, sort="id", column=Customer.id, id_column=Customer.id,
                                   value_of=lambda c: c.id)  # fmt: skip
        return page([presenters.customer(c, staff=principal().is_staff) for c in rows], next_cursor)

    @route(bp, "/customers/{customer_id}", "GET", summary="Get a customer", tag="Customers", response="Customer")
    def get_customer(customer_id: int) -> ResponseReturnValue:
        return jsonify(presenters.customer(_customer(customer_id), staff=principal().is_staff))

    @route(bp, "/customers", "POST", summary="Create a customer", tag="Customers", body=schemas.CUSTOMER_CREATE,
           response="Customer", status=201, errors=(409,), description="Staff tokens only.")  # fmt: skip
    def create_customer() -> ResponseReturnValue:
        staff()
        data = body(schemas.CUSTOMER_CREATE)
        customer = Customer(name="", notes="")
        _apply(customer, data)
        db.session.add(customer)
        db.session.commit()
        return created(presenters.customer(customer, staff=True), url_for("api.get_customer", customer_id=customer.id))

    @route(bp, "/customers/{customer_id}", "PATCH", summary="Update a customer", tag="Customers",
           body=schemas.CUSTOMER_UPDATE, response="Customer", errors=(409,),
           description="Staff tokens only.")  # fmt: skip
    def update_customer(customer_id: int) -> ResponseReturnValue:
        staff()
        customer = _customer(customer_id)
        _apply(customer, body(schemas.CUSTOMER_UPDATE))
        db.session.commit()
        return jsonify(presenters.customer(customer, staff=True))
