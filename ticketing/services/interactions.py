"""Adding to a ticket's timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from ticketing import events
from ticketing.domain import lifecycle
from ticketing.domain.visibility import InteractionType, SmsStatus, is_customer_visible
from ticketing.models import Contact, Interaction, Ticket, User
from ticketing.services.actors import Actor, actor_ref
from ticketing.services.audit import touch
from ticketing.services.html import text_to_html


def add_interaction(
    session: Session,
    ticket: Ticket,
    *,
    type: InteractionType,  # noqa: A002 - the domain calls it the interaction's type
    actor: Actor,
    body_text: str = "",
    body_html: str | None = None,
    now: datetime,
    reopen: bool = True,
    sms_status: SmsStatus | None = None,
    flush: bool = True,
    **fields: Any,
) -> Interaction:
    """Append one interaction. `body_html` must already be sanitised; plain text is escaped into HTML.

    A customer writing back moves a waiting or resolved ticket to Open (unless `reopen` is False,
    as for auto-replies); the first outbound email stamps first_response_at.
    `flush=False` leaves the entry without an id until the session's next flush, for a caller that adds many
    (a batch of inbound mail): they are then inserted together instead of one flush each.
    """
    if type == InteractionType.SMS and sms_status is None:
        sms_status = SmsStatus.LOGGED
    entry = Interaction(
        ticket=ticket,
        type=type,
        author_user_id=actor.id if isinstance(actor, User) else None,
        author_contact_id=actor.id if isinstance(actor, Contact) else None,
        body_text=body_text,
        body_html=body_html if body_html is not None else text_to_html(body_text),
        sms_status=sms_status,
        created_at=now,
        **fields,
    )
    session.add(entry)
    visible = is_customer_visible(type, sms_status)
    touch(ticket, now, customer_visible=visible)
    if type == InteractionType.EMAIL_OUTBOUND and ticket.first_response_at is None:
        ticket.first_response_at = now
    if flush:
        session.flush()
    events.emit(
        session,
        "interaction.created",
        now=now,
        ticket_id=events.IdOf(ticket),
        interaction_id=events.IdOf(entry),
        interaction_type=type.value,
        customer_visible=visible,
        actor=actor_ref(actor),
    )
    if reopen and isinstance(actor, Contact) and type == InteractionType.EMAIL_INBOUND:
        target = lifecycle.status_after_customer_reply(ticket.status)
        if target is not None:
            from ticketing.services.tickets import change_status  # tickets imports this module

            change_status(session, ticket, target, actor=None, now=now)
    return entry
