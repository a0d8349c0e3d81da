"""Domain events: services record them on the session; subscribers hear them only after commit.

One in-process hook (`domain_event`, a blinker signal) is all later work (webhooks, notifications,
live updates) subscribes to. Events of a rolled-back transaction are dropped, so nothing downstream
ever sees a change that did not happen.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from blinker import Namespace
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

EVENT_TYPES = (
    "ticket.created",
    "ticket.updated",
    "ticket.status_changed",
    "interaction.created",
    "sla.warning",
    "sla.breached",
    "form.submitted",
)

domain_event = Namespace().signal("domain-event")
_PENDING = "ticketing_pending_events"
_JOBS = "ticketing_pending_jobs"
_BATCHES = "ticketing_pending_batches"
# Items per batched job: one transaction's worth of work for a worker. 100 rather than 50: a batch's fixed costs (its
# look-ups, statements, commit and the job itself) were about a fifth of a message's time at 50; its row locks last
# about a quarter of a second on PostgreSQL, and an inbound batch that fails is re-run one message at a time.
BATCH_MAX = 100
# How many of the pending events the before-commit hooks have already been handed (a SAVEPOINT release fires
# before_commit too; the outer COMMIT must not hand the same events over twice).
_HANDED = "ticketing_events_handed"
_UNRESOLVED = "ticketing_events_unresolved"  # some pending event holds an IdOf

# Transactional subscribers, e.g. the webhook outbox (ticketing.services.webhooks registers itself on import).
# Unlike `domain_event` receivers they run INSIDE the transaction, just before COMMIT, with the events not yet
# handed over: whatever they add to the session commits, or rolls back, together with the change itself.
# They must be cheap when they have nothing to do, and an exception aborts the commit.
BeforeCommitHook = Callable[[Session, list["DomainEvent"]], None]
_before_commit_hooks: list[BeforeCommitHook] = []


@dataclass(frozen=True)
class DomainEvent:
    type: str
    occurred_at: datetime
    ticket_id: int | None  # an IdOf only while pending, before the ticket's first flush
    data: dict[str, Any] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)


@dataclass(frozen=True)
class IdOf:
    """The id of a row added but not flushed yet: a service that adds many rows (a batch of inbound mail) lets
    them go to the database together instead of flushing each to learn its id. Events hold it until they are
    handed over, after a flush."""

    row: Any

    def id(self) -> int | None:
        # From the identity key: it survives COMMIT's expiry, where reading `row.id` would emit SQL.
        identity = sa.inspect(self.row).identity
        return identity[0] if identity else None


def emit(session: Session, event_type: str, *, now: datetime, ticket_id: int | IdOf | None, **data: Any) -> DomainEvent:
    if event_type not in EVENT_TYPES:
        raise ValueError(f"unknown event type {event_type!r}")
    data = {key: _known(value) for key, value in data.items()}
    event = DomainEvent(type=event_type, occurred_at=now, ticket_id=_known(ticket_id), data=data)
    session.info.setdefault(_PENDING, []).append(event)
    if _unresolved(event):
        session.info[_UNRESOLVED] = True
    return event


def _unresolved(event: DomainEvent) -> bool:
    return isinstance(event.ticket_id, IdOf) or any(isinstance(value, IdOf) for value in event.data.values())


def _known(value: Any) -> Any:
    return value.id() if isinstance(value, IdOf) and value.id() is not None else value


def _id(value: Any) -> Any:
    return value.id() if isinstance(value, IdOf) else value


def _resolve(session: Session, *, flush: bool = True) -> list[DomainEvent]:
    """The pending events, with every IdOf replaced by its row's id (flushing first, unless the transaction is
    over: COMMIT flushed everything)."""
    events = session.info.get(_PENDING, [])
    if session.info.pop(_UNRESOLVED, False):
        if flush:
            session.flush()
        events[:] = [
            replace(e, ticket_id=_id(e.ticket_id), data={key: _id(value) for key, value in e.data.items()})
            if _unresolved(e)
            else e
            for e in events
        ]
    return events


def pending(session: Session) -> list[DomainEvent]:
    return list(_resolve(session))


def defer_job(session: Session, func_path: str, *args: Any) -> None:
    """Enqueue an RQ job once this transaction commits, so a worker never reads an unsaved row.

    Services name the job by dotted path (they sit below jobs.py and never import it). If Redis is down at
    commit time the work is not lost: the rows stay queued/received and the recovery sweep re-enqueues them.
    """
    session.info.setdefault(_JOBS, []).append((func_path, args))


def defer_batch(session: Session, func_path: str, item: Any) -> None:
    """Like defer_job, but every item deferred to the same function in this transaction goes to ONE job (in
    chunks of BATCH_MAX), called with the list of items: a poll or an import of many messages becomes a few
    jobs that each do their work in one transaction. An item may be an IdOf (the id is read after COMMIT)."""
    session.info.setdefault(_BATCHES, {}).setdefault(func_path, []).append(item)


def _batched_jobs(batches: dict[str, list[Any]]) -> list[tuple[str, tuple[Any, ...]]]:
    return [
        (func_path, ([_id(item) for item in items[start : start + BATCH_MAX]],))
        for func_path, items in batches.items()
        for start in range(0, len(items), BATCH_MAX)
    ]


def _enqueue(jobs: list[tuple[str, tuple[Any, ...]]]) -> None:
    from flask import has_app_context

    if not jobs or not has_app_context():
        return
    from ticketing.extensions import queue_for

    try:
        for func_path, args in jobs:
            queue_for(func_path).enqueue(func_path, *args, **_retry_options())
    except Exception:
        log.exception("could not enqueue %d job(s); the recovery sweep will pick the work up", len(jobs))


def _retry_options() -> dict[str, Any]:
    from rq import Retry

    return {"retry": Retry(max=3, interval=[10, 60, 300]), "job_timeout": 300}


def mute(session: Session) -> None:
    """Drop this session's events and follow-up jobs from now on (demo data describes the past: no emails,
    no webhooks for it)."""
    session.info["ticketing_muted"] = True


def on_before_commit(hook: BeforeCommitHook) -> BeforeCommitHook:
    """Register a transactional subscriber (idempotent: importing a module twice registers it once)."""
    if hook not in _before_commit_hooks:
        _before_commit_hooks.append(hook)
    return hook


@sa.event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    if not _before_commit_hooks or session.info.get("ticketing_muted"):
        return
    pending = _resolve(session)
    handed = session.info.get(_HANDED, 0)
    if not pending or handed >= len(pending):
        return
    fresh = list(pending[handed:])
    for hook in list(_before_commit_hooks):
        hook(session, fresh)
    session.info[_HANDED] = len(pending)  # only once every hook took them: a failed hook leaves them pending


@sa.event.listens_for(Session, "after_commit")
def _dispatch(session: Session) -> None:
    session.info.pop(_HANDED, None)
    if session.info.get("ticketing_muted"):
        session.info.pop(_UNRESOLVED, None)
        session.info.pop(_JOBS, None)
        session.info.pop(_BATCHES, None)
        session.info.pop(_PENDING, None)
        return
    _enqueue(session.info.pop(_JOBS, []) + _batched_jobs(session.info.pop(_BATCHES, {})))
    events = _resolve(session, flush=False)  # a before-commit hook may not have run: COMMIT's flush gave the ids
    session.info.pop(_PENDING, None)
    for event in events:
        # A failing subscriber must not hide the event from the others; the data is already committed.
        for receiver in domain_event.receivers_for(event):
            try:
                receiver(event)
            except Exception:
                log.exception("subscriber %r failed on %s %s", receiver, event.type, event.id)


@sa.event.listens_for(Session, "after_rollback")
def _drop(session: Session) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_JOBS, None)
    session.info.pop(_BATCHES, None)
    session.info.pop(_HANDED, None)
    session.info.pop(_UNRESOLVED, None)
