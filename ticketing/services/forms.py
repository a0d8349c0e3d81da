"""Turning a form submission into a ticket with its structured answers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ticketing import events
from ticketing.domain.form_fields import answers_as_text, answers_table, parse_fields
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Source
from ticketing.models import Contact, IntakeForm, Ticket
from ticketing.services import routing, tickets
from ticketing.services.attachments import AttachmentLimits, IncomingFile, rejection_reason, store_attachments
from ticketing.services.enrichment import resolve_contact
from ticketing.storage import AttachmentStore


class SubmissionRejected(ValueError):
    """A submission that must not create anything (the message is shown to the submitter)."""


def submit(
    session: Session,
    form: IntakeForm,
    *,
    subject: str,
    answers: dict[str, Any],
    files: dict[str, IncomingFile],
    now: datetime,
    store: AttachmentStore,
    limits: AttachmentLimits,
    contact: Contact | None = None,
    submitter_email: str | None = None,
    submitter_name: str = "",
) -> Ticket:
    """Signed-in contacts submit as themselves (source portal); anyone else by email (source web).
    `files` maps a file field's name to its upload.

    Only the form decides category, team, priority and tags: nothing the submitter posts can set them.
    """
    if not form.active:
        raise SubmissionRejected("This form is no longer accepting requests.")
    specs = parse_fields(form.fields)
    source = Source.PORTAL if contact is not None else Source.WEB
    if contact is None:
        if not submitter_email:
            raise SubmissionRejected("Please give your email address so we can answer you.")
        contact = resolve_contact(session, submitter_email, submitter_name)
    uploads = list(files.values())
    # Refuse before anything is written: a rejected post leaves nothing half-saved.
    refusals = [f"{f.filename}: {r}" for i, f in enumerate(uploads) if (r := rejection_reason(f, limits, i))]
    if refusals:
        raise SubmissionRejected("Some files were not accepted: " + "; ".join(refusals))
    # File fields answer with the file's name; the bytes become attachments of the first message.
    rows = answers_table(specs, {**answers, **{name: f.filename for name, f in files.items()}})
    ticket = tickets.create_ticket(
        session, subject=subject, body=answers_as_text(rows), source=source, now=now, actor=contact,
        contact=contact, priority=form.priority, team=form.team, category=form.category, tags=form.tags or (),
        form_data={"form": form.slug, "form_name": form.name, "answers": rows},
        first_interaction=InteractionType.EMAIL_INBOUND,
    )  # fmt: skip
    ticket.form_id = form.id
    routing.apply_rules(session, ticket, now=now)  # after form_id: rules may match on the form
    first = ticket.interactions[0] if ticket.interactions else None
    store_attachments(session, ticket, first, uploads, store=store, limits=limits, now=now)
    events.emit(session, "form.submitted", now=now, ticket_id=ticket.id, form=form.slug, source=source.value)
    return ticket
