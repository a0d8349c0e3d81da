"""Customer notifications follow domain events: after a commit, a job queues the email."""

from __future__ import annotations

import logging

from flask import has_app_context

from ticketing.events import DomainEvent, domain_event

log = logging.getLogger(__name__)
ACKNOWLEDGED_SOURCES = frozenset({"portal", "web"})


def on_event(event: DomainEvent) -> None:
    if not has_app_context() or event.ticket_id is None:
        return
    from rq import Retry

    from ticketing.extensions import queue

    # With retries, RQ's abandoned-job sweep re-runs a job whose worker died (the jobs are idempotent).
    retry = Retry(max=3, interval=[10, 60, 300])
    if event.type == "ticket.status_changed" and event.data["changes"]["status"]["new"] == "resolved":
        queue().enqueue("ticketing.jobs.notify_status", event.ticket_id, "resolved", retry=retry)
    elif event.type == "ticket.created" and event.data.get("source") in ACKNOWLEDGED_SOURCES:
        queue().enqueue("ticketing.jobs.acknowledge_ticket", event.ticket_id, retry=retry)


def init_app() -> None:
    domain_event.connect(on_event, weak=False)
