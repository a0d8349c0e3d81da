"""Contacts: staff read and write them all (as the agent screens do); a customer token sees only its own."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue

from api import presenters, schemas
from api.access import body, created, lookup, page
from api.auth import principal, staff
from api.errors import ApiError, not_found
from api.openapi import route
from api.pagination import keyset
from ticketing.domain.vocab import PortalRole
from ticketing.extensions import db
from ticketing.models import Contact, Customer
from ticketing.services.enrichment import customer_for_domain, email_domain, normalise_email


def _scoped(stmt: sa.Select[Any]) -> sa.Select[Any]:
    who = principal()
    return stmt if who.is_staff else stmt.where(Contact.id == who.actor.id)


def _contact(contact_id: int) -> Contact:
    found = db.session.scalar(_scoped(sa.select(Contact).where(Contact.id == contact_id)))
    if found is None:
        raise not_found()
    return found


def _apply(contact: Contact, data: dict[str, Any]) -> None:
    if "email" in data:
        email = normalise_email(data["email"])
        clash = db.session.scalar(sa.select(Contact.id).where(Contact.email == email, Contact.id != contact.id))
        if clash is not None:
            raise ApiError(409, "Another contact has this email address.", code="duplicate",
                           fields={"email": f"already used by contact {clash}"})  # fmt: skip
        contact.email = email
    if "name" in data:
        contact.name = data["name"].strip()
    if "phone" in data:
        contact.phone = (data["phone"] or "").strip() or None
    if "customer_id" in data:
        contact.customer = lookup(Customer, data["customer_id"], "customer_id")
    if "portal_role" in data:
        contact.portal_role = PortalRole(data["portal_role"])
    if "portal_enabled" in data:
        contact.portal_enabled = data["portal_enabled"]


def register(bp: Blueprint) -> None:
    @route(bp, "/contacts", "GET", summary="List contacts", tag="Contacts", query=schemas.CONTACT_QUERY,
           response="Contact", page=True, description="Customer tokens see only their own contact.")  # fmt: skip
    def list_contacts() -> ResponseReturnValue:
        params = schemas.CONTACT_QUERY.parse()
        stmt = _scoped(sa.select(Contact))
        if "customer_id" in params:
            stmt = stmt.where(Contact.customer_id == params["customer_id"])
        if "email" in params:
            stmt = stmt.where(Contact.email == normalise_email(params["email"]))
        if "q" in params:
            pattern = f"%{params['q'].strip()}%"
            stmt = stmt.where(sa.or_(Contact.name.ilike(pattern), Contact.email.ilike(pattern)))
        rows, next_cursor = keyset(db.session, stmt, params, sort="id", column=Contact.id, id_column=Contact.id,
                                   value_of=lambda c: c.id)  # fmt: skip
        return page([presenters.contact(c, staff=principal().is_staff) for c in rows], next_cursor)

    @route(bp, "/contacts/{contact_id}", "GET", summary="Get a contact", tag="Contacts", response="Contact")
    def get_contact(contact_id: int) -> ResponseReturnValue:
        return jsonify(presenters.contact(_contact(contact_id), staff=principal().is_staff))

    @route(bp, "/contacts", "POST", summary="Create a contact", tag="Contacts", body=schemas.CONTACT_CREATE,
           response="Contact", status=201, errors=(409,),
           description="Staff tokens only. Without customer_id the email's domain links the customer.")  # fmt: skip
    def create_contact() -> ResponseReturnValue:
        staff()
        data = body(schemas.CONTACT_CREATE)
        contact = Contact(email="", name="")
        _apply(contact, data)
        if "customer_id" not in data:
            contact.customer = customer_for_domain(db.session, email_domain(contact.email))
        db.session.add(contact)
        db.session.commit()
        return created(presenters.contact(contact, staff=True), url_for("api.get_contact", contact_id=contact.id))

    @route(bp, "/contacts/{contact_id}", "PATCH", summary="Update a contact", tag="Contacts",
           body=schemas.CONTACT_UPDATE, response="Contact", errors=(409,),
           description="Staff tokens only.")  # fmt: skip
    def update_contact(contact_id: int) -> ResponseReturnValue:
        staff()
        contact = _contact(contact_id)
        _apply(contact, body(schemas.CONTACT_UPDATE))
        db.session.commit()
        return jsonify(presenters.contact(contact, staff=True))
