"""Intake forms: list, read a definition, submit (the same service as the portal's form pages)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify, url_for
from flask.typing import ResponseReturnValue

from api import presenters, schemas
from api.access import body, created, lookup, page
from api.auth import principal
from api.errors import ApiError, invalid, not_found
from api.openapi import route
from api.validation import is_date, is_email, is_text
from ticketing.domain.form_fields import FieldSpec, FormDefinitionError, parse_fields
from ticketing.extensions import attachment_store, db, mail_policy
from ticketing.models import Contact, IntakeForm, utcnow
from ticketing.services import forms as form_service


def _form(slug: str) -> tuple[IntakeForm, list[FieldSpec]]:
    form = db.session.scalar(sa.select(IntakeForm).where(IntakeForm.slug == slug, IntakeForm.active))
    if form is None:
        raise not_found()
    try:
        return form, parse_fields(form.fields)
    except FormDefinitionError as exc:  # a broken definition is the admin's to fix: nothing can be submitted
        raise not_found() from exc


def _answer(spec: FieldSpec, value: Any) -> tuple[Any, str | None]:
    """(clean value, problem) for one answer, by the same rules as the portal's form."""
    empty = value is None or value == "" or value == [] or (spec.type == "checkbox" and value is False)
    if spec.type == "file":
        return None, "files cannot be sent through the API" if not empty or spec.required else None
    if empty:
        return None, "is required" if spec.required else None
    texts = value if isinstance(value, list) else [value]
    if any(isinstance(v, str) and not is_text(v) for v in texts):
        return None, "must be text without NUL characters or lone surrogates"
    if spec.type in ("text", "long_text", "email"):
        if not isinstance(value, str) or not value.strip():
            return None, "must be a non-blank string"
        if spec.max_length and len(value) > spec.max_length:
            return None, f"must be at most {spec.max_length} characters"
        if spec.type == "email" and not is_email(value.strip()):
            return None, "must be an email address"
        return value.strip(), None
    if spec.type == "select":
        return (
            (value, None) if isinstance(value, str) and value in spec.options else (None, "must be one of the options")
        )
    if spec.type == "multi_select":
        ok = isinstance(value, list) and all(isinstance(v, str) and v in spec.options for v in value)
        return (list(dict.fromkeys(value)), None) if ok else (None, "must be a list of the options")
    if spec.type == "checkbox":
        return (value, None) if isinstance(value, bool) else (None, "must be true or false")
    if spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value or abs(value) > 1e15:
            return None, "must be a number"
        return str(Decimal(str(value))), None
    if isinstance(value, str) and is_date(value):  # date
        return value, None
    return None, "must be a date (YYYY-MM-DD)"


def _answers(specs: list[FieldSpec], raw: dict[str, Any]) -> dict[str, Any]:
    known = {s.name for s in specs}
    problems = {f"answers.{name}": "unknown field" for name in raw if name not in known}
    clean: dict[str, Any] = {}
    for spec in specs:
        value, problem = _answer(spec, raw.get(spec.name))
        if problem:
            problems[f"answers.{spec.name}"] = problem
        elif value is not None:
            clean[spec.name] = value
    if problems:
        raise invalid(problems)
    return clean


def register(bp: Blueprint) -> None:
    @route(bp, "/forms", "GET", summary="List intake forms", tag="Forms", response="Form", page=True)
    def list_forms() -> ResponseReturnValue:
        rows = db.session.scalars(sa.select(IntakeForm).where(IntakeForm.active).order_by(IntakeForm.name)).all()
        out = []
        for form in rows:
            try:
                out.append(presenters.form(form, parse_fields(form.fields)))
            except FormDefinitionError:
                continue
        return page(out, None)

    @route(bp, "/forms/{slug}", "GET", summary="An intake form's definition", tag="Forms", response="Form")
    def get_form(slug: str) -> ResponseReturnValue:
        return jsonify(presenters.form(*_form(slug)))

    @route(bp, "/forms/{slug}/submissions", "POST", summary="Submit an intake form", tag="Forms",
           body=schemas.FORM_SUBMISSION, response="Ticket", status=201, errors=(409,),
           description="Creates a ticket exactly as the portal form does: only the form decides team, category, "
           "priority and tags. Customer tokens submit as their contact; staff tokens name the requester with "
           "contact_id or submitter_email.")  # fmt: skip
    def submit_form(slug: str) -> ResponseReturnValue:
        who = principal()
        form, specs = _form(slug)
        data = body(schemas.FORM_SUBMISSION, schemas.CUSTOMER_FORM_SUBMISSION)
        contact: Contact | None = who.contact
        if who.is_staff:
            if ("contact_id" in data) == ("submitter_email" in data):
                raise invalid({"contact_id": "give contact_id or submitter_email (one of them)"})
            contact = lookup(Contact, data.get("contact_id"), "contact_id")
        answers = _answers(specs, data.get("answers") or {})
        policy = mail_policy()
        try:
            ticket = form_service.submit(
                db.session, form, subject=data["subject"].strip(), answers=answers, files={}, now=utcnow(),
                store=attachment_store(), limits=policy.attachment_limits, contact=contact,
                submitter_email=data.get("submitter_email"), submitter_name=data.get("submitter_name", ""),
            )  # fmt: skip
        except form_service.SubmissionRejected as exc:
            raise ApiError(409, str(exc), code="rejected") from exc
        db.session.commit()
        return created(presenters.ticket(ticket, staff=who.is_staff), url_for("api.get_ticket", ticket_id=ticket.id))
