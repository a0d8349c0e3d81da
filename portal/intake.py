"""Intake forms: the "new request" page, each form's public page, and its embeddable twin."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from itsdangerous import BadSignature, URLSafeTimedSerializer

from portal import bp
from portal.guards import current_contact
from portal.intake_form import answers, build_form_class
from ticketing.domain.form_fields import parse_fields
from ticketing.extensions import attachment_store, csrf, db, limiter, mail_policy
from ticketing.models import IntakeForm, utcnow
from ticketing.services import forms as form_service
from ticketing.uploads import incoming

EMBED_TOKEN_MAX_AGE = 4 * 3600


def _embed_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="embed-form")


def _form_or_404(slug: str) -> IntakeForm:
    form = db.session.scalar(sa.select(IntakeForm).where(IntakeForm.slug == slug, IntakeForm.active))
    if form is None or (not form.public and current_contact() is None):
        abort(404)
    return form


def _per_form_key() -> str:
    return f"form:{request.view_args.get('slug', '-') if request.view_args else '-'}"


@bp.get("/new")
def new_request() -> ResponseReturnValue:
    query = sa.select(IntakeForm).where(IntakeForm.active).order_by(IntakeForm.name)
    if current_contact() is None:
        query = query.where(IntakeForm.public)
    return render_template("portal/new_request.html", intake_forms=db.session.scalars(query).all())


def _handle(slug: str, *, embedded: bool) -> ResponseReturnValue:
    intake = _form_or_404(slug)
    contact = None if embedded else current_contact()
    specs = parse_fields(intake.fields)
    form = build_form_class(specs, anonymous=contact is None, embedded=embedded)()
    template = "portal/form_embed.html" if embedded else "portal/form.html"
    if request.method == "POST":
        if embedded and not _valid_embed_token(form.embed_token.data, slug):
            form.form_errors.append("This form has expired. Reload the page and send it again.")
        elif form.validate_on_submit():
            if form.website.data:  # the honeypot: answer like a success, store nothing
                return render_template("portal/form_thanks.html", intake=intake, ticket=None, embedded=embedded)
            policy = mail_policy()
            uploads = {s.name: f for s in specs if s.type == "file" and (f := incoming(request.files.get(s.name)))}
            try:
                ticket = form_service.submit(
                    db.session, intake, subject=form.subject.data, answers=answers(form, specs), files=uploads,
                    now=utcnow(), store=attachment_store(), limits=policy.attachment_limits, contact=contact,
                    submitter_email=None if contact else form.email.data,
                    submitter_name="" if contact else (form.name.data or ""),
                )  # fmt: skip
            except form_service.SubmissionRejected as exc:
                db.session.rollback()
                form.form_errors.append(str(exc))
            else:
                db.session.commit()
                if contact is not None:
                    flash(f"Request #{ticket.id} received. We will answer here and by email.", "success")
                    return redirect(url_for("portal.ticket", ticket_id=ticket.id), 303)
                return render_template("portal/form_thanks.html", intake=intake, ticket=ticket, embedded=embedded)
        status = 422
    else:
        status = 200
    if embedded:
        form.embed_token.data = _embed_serializer().dumps(slug)
    return render_template(template, intake=intake, form=form, specs=specs), status


def _valid_embed_token(token: str | None, slug: str) -> bool:
    try:
        return _embed_serializer().loads(token or "", max_age=EMBED_TOKEN_MAX_AGE) == slug
    except BadSignature:
        return False


@bp.route("/forms/<slug>", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
@limiter.limit("300 per hour", methods=["POST"], key_func=_per_form_key)
def intake_form(slug: str) -> ResponseReturnValue:
    return _handle(slug, embedded=False)


@bp.route("/forms/<slug>/embed", methods=["GET", "POST"])
@csrf.exempt  # the signed embed token replaces the session token
@limiter.limit("10 per hour", methods=["POST"])
@limiter.limit("300 per hour", methods=["POST"], key_func=_per_form_key)
def intake_form_embed(slug: str) -> ResponseReturnValue:
    response = current_app.make_response(_handle(slug, embedded=True))
    # Only the origins the admin allowed may frame this form (every answer: the form, its errors, the thanks).
    intake = db.session.scalar(sa.select(IntakeForm).where(IntakeForm.slug == slug))
    origins = intake.origins if intake is not None else []
    ancestors = " ".join(["'self'", *origins])
    response.headers["Content-Security-Policy"] = f"frame-ancestors {ancestors}; object-src 'none'; base-uri 'self'"
    response.headers.pop("X-Frame-Options", None)
    return response
