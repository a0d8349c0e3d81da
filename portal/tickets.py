"""The contact's tickets: list, page, reply, close/reopen, attachments, and the cheap live checks."""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from portal import bp
from portal.forms import ReplyForm, SearchForm, StatusForm
from portal.guards import contact_required
from ticketing.domain.lifecycle import CUSTOMER_TRANSITIONS, Status
from ticketing.extensions import attachment_store, db, limiter, mail_policy
from ticketing.http_files import attachment_response
from ticketing.models import Contact, Ticket, utcnow
from ticketing.services import customer_actions, customer_view
from ticketing.uploads import incoming_list

PAGE_SIZE = 25


def _stamp(value: datetime | None) -> str:
    return value.isoformat() if value else "-"


def _list_version(contact: Contact) -> str:
    count, newest = customer_view.list_version(db.session, contact)
    return f"{count}.{_stamp(newest)}"


def _cursor() -> tuple[datetime, int] | None:
    raw = request.args.get("before", "")
    stamp, _, ident = raw.rpartition("_")
    try:
        return (datetime.fromisoformat(stamp), int(ident)) if stamp else None
    except ValueError:
        return None


@bp.get("/tickets")
@contact_required
def tickets(contact: Contact) -> ResponseReturnValue:
    return _render_list(contact)


def _render_list(contact: Contact) -> ResponseReturnValue:
    search = SearchForm(request.args)
    rows = customer_view.list_tickets(db.session, contact, status=search.status.data or None,
                                      query=search.q.data or None, before=_cursor(), limit=PAGE_SIZE + 1)  # fmt: skip
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    next_cursor = f"{rows[-1].public_updated_at.isoformat()}_{rows[-1].id}" if more and rows else None
    context = {"rows": rows, "search": search, "next_cursor": next_cursor, "version": _list_version(contact),
               "filtered": bool(search.q.data or search.status.data or request.args.get("before"))}  # fmt: skip
    if request.headers.get("HX-Request"):
        return render_template("portal/_ticket_list.html", **context)
    return render_template("portal/tickets.html", **context)


@bp.get("/tickets/live")
@contact_required
def tickets_live(contact: Contact) -> ResponseReturnValue:
    """Polled by the list: 204 while nothing a customer can see has changed, else the fresh list."""
    if request.args.get("v") == _list_version(contact):
        return "", 204
    return _render_list(contact)


def _ticket_or_404(contact: Contact, ticket_id: int) -> Ticket:
    ticket = customer_view.get_ticket(db.session, contact, ticket_id)
    if ticket is None:
        abort(404)  # someone else's ticket answers exactly like a missing one
    return ticket


def _ticket_context(contact: Contact, ticket_id: int) -> dict[str, object]:
    ticket = _ticket_or_404(contact, ticket_id)
    allowed = sorted(CUSTOMER_TRANSITIONS[ticket.status], key=lambda s: s.value)
    return {
        "ticket": ticket,
        "timeline": customer_view.timeline(db.session, ticket),
        "version": _stamp(ticket.public_updated_at),
        "allowed": allowed,
        "reply_form": ReplyForm(),
        "status_form": StatusForm(),
    }


@bp.get("/tickets/<int:ticket_id>")
@contact_required
def ticket(contact: Contact, ticket_id: int) -> ResponseReturnValue:
    return render_template("portal/ticket.html", **_ticket_context(contact, ticket_id))


@bp.get("/tickets/<int:ticket_id>/live")
@contact_required
def ticket_live(contact: Contact, ticket_id: int) -> ResponseReturnValue:
    """Polled by an open ticket page: one indexed row read; 204 unless a customer-visible change happened."""
    version = customer_view.ticket_version(db.session, contact, ticket_id)
    if version is None:
        abort(404)
    if request.args.get("v") == _stamp(version):
        return "", 204
    return render_template("portal/_ticket_live.html", live=True, **_ticket_context(contact, ticket_id))


@bp.post("/tickets/<int:ticket_id>/reply")
@contact_required
@limiter.limit("30 per minute")
def reply(contact: Contact, ticket_id: int) -> ResponseReturnValue:
    ticket_row = _ticket_or_404(contact, ticket_id)
    form = ReplyForm()
    if not form.validate_on_submit():
        flash("Your reply could not be sent: " + "; ".join(e for errs in form.errors.values() for e in errs), "danger")
        return redirect(url_for("portal.ticket", ticket_id=ticket_id))
    policy = mail_policy()
    try:
        customer_actions.reply(db.session, contact, ticket_row, body=form.body.data or "",
                               files=incoming_list(request.files.getlist("files")), now=utcnow(),
                               store=attachment_store(), limits=policy.attachment_limits)  # fmt: skip
    except customer_actions.ActionRejected as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return redirect(url_for("portal.ticket", ticket_id=ticket_id)), 303
    db.session.commit()
    flash("Your reply was added.", "success")
    return redirect(url_for("portal.ticket", ticket_id=ticket_id, _anchor="latest"), 303)


@bp.post("/tickets/<int:ticket_id>/status")
@contact_required
def set_status(contact: Contact, ticket_id: int) -> ResponseReturnValue:
    ticket_row = _ticket_or_404(contact, ticket_id)
    form = StatusForm()
    if form.validate_on_submit():
        try:
            customer_actions.set_status(db.session, contact, ticket_row, Status(form.status.data), now=utcnow())
            db.session.commit()
            flash("Ticket closed." if form.status.data == "closed" else "Ticket reopened.", "success")
        except customer_actions.ActionRejected as exc:
            db.session.rollback()
            flash(str(exc), "danger")
    return redirect(url_for("portal.ticket", ticket_id=ticket_id), 303)


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>")
@contact_required
def attachment(contact: Contact, ticket_id: int, attachment_id: int) -> ResponseReturnValue:
    found = customer_view.get_attachment(db.session, contact, ticket_id, attachment_id)
    if found is None:
        abort(404)
    return attachment_response(found, attachment_store())
