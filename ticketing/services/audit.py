"""The audit trail: every change to a ticket becomes a SYSTEM interaction and a domain event."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from ticketing import events
from ticketing.domain.visibility import InteractionType
from ticketing.models import Interaction, Ticket, User
from ticketing.services.actors import Actor, actor_name, actor_ref


def _label(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "none"
    if isinstance(value, list | tuple):
        return ", ".join(_label(v) for v in value)
    return str(getattr(value, "label", value))


def _plain(value: Any) -> Any:
    """JSON-safe: enums by value, records as {id, name}, lists element-wise."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "id"):
        return {"id": value.id, "name": str(value)}
    return str(value)


def touch(ticket: Ticket, now: datetime, *, customer_visible: bool) -> None:
    ticket.updated_at = now
    if customer_visible:
        ticket.public_updated_at = now


def record_change(
    session: Session,
    ticket: Ticket,
    *,
    field: str,
    old: Any,
    new: Any,
    actor: Actor,
    now: datetime,
    customer_visible: bool,
    event_type: str = "ticket.updated",
) -> Interaction:
    """Write 'who changed what, old -> new' and emit the matching event."""
    text = f"{actor_name(actor)} changed {field.replace('_', ' ')} from {_label(old)} to {_label(new)}"
    entry = Interaction(
        ticket=ticket,
        type=InteractionType.SYSTEM,
        author_user_id=actor.id if isinstance(actor, User) else None,
        body_text=text,
        meta={"field": field, "old": _plain(old), "new": _plain(new), "actor": actor_ref(actor)},
        created_at=now,
    )
    session.add(entry)
    touch(ticket, now, customer_visible=customer_visible)
    events.emit(
        session,
        event_type,
        now=now,
        ticket_id=events.IdOf(ticket),
        changes={field: {"old": _plain(old), "new": _plain(new)}},
        actor=actor_ref(actor),
    )
    return entry
