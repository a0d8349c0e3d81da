"""Customer notifications that follow a change: "we received your request" for tickets opened on the portal or a
form, and the resolved notice.

Each is queued as an OutboundMessage row INSIDE the transaction that makes the change (a before-commit hook, like
the webhook outbox), so the change and its notice commit together or not at all. The row is the durable record:
if Redis loses the send job, the recovery sweep finds the QUEUED row and sends it. Email tickets are acknowledged
while processing (ticketing.services.mail_inbound), where auto-replies and mailing lists are known.
"""

from __future__ import annotations

from flask import has_app_context
from sqlalchemy.orm import Session

from ticketing import events
from ticketing.events import DomainEvent

ACKNOWLEDGED_SOURCES = frozenset({"portal", "web"})


def _resolved(event: DomainEvent) -> bool:
    return event.type == "ticket.status_changed" and event.data.get("changes", {}).get("status", {}).get("new") == (
        "resolved"
    )


def _acknowledged(event: DomainEvent) -> bool:
    return event.type == "ticket.created" and event.data.get("source") in ACKNOWLEDGED_SOURCES


def queue_notices(session: Session, pending: list[DomainEvent]) -> None:
    """Before COMMIT: the notices this transaction's events call for (one per ticket and occasion; the per-sender
    acknowledgement cap and the "already queued" checks live in mail_outbound)."""
    acks = {e.ticket_id: e for e in pending if e.ticket_id is not None and _acknowledged(e)}
    resolved = {e.ticket_id: e for e in pending if e.ticket_id is not None and _resolved(e)}
    if not (acks or resolved) or not has_app_context():
        return  # the common case costs two passes over the events and no query
    from ticketing.domain.lifecycle import Status
    from ticketing.extensions import mail_policy
    from ticketing.models import Ticket
    from ticketing.services import mail_outbound

    policy = mail_policy()
    for ticket_id, event in acks.items():
        if (ticket := session.get(Ticket, ticket_id)) is not None:
            mail_outbound.queue_acknowledgement(session, ticket, policy=policy, now=event.occurred_at)
    for ticket_id, event in resolved.items():
        ticket = session.get(Ticket, ticket_id)
        if ticket is not None and ticket.status == Status.RESOLVED:  # not reopened again in the same transaction
            mail_outbound.queue_resolved_notice(session, ticket, policy=policy, now=event.occurred_at)


def init_app() -> None:
    events.on_before_commit(queue_notices)
