"""Outgoing webhooks: the transactional outbox, payloads, matching, fan-out, the delivery state machine,
signatures and the recovery queries.

Flow
  1. A service emits a domain event. Just before COMMIT (events.on_before_commit) `store_outbox` checks ONCE per
     transaction whether any enabled subscription wants any of the new event types (one small SELECT; nothing
     else happens when there is none) and, if so, writes one webhook_event row per wanted event with its
     payload and ticket snapshot into the SAME transaction, and defers a fan-out job to after the commit.
  2. `fan_out` (job) claims undispatched events (UPDATE ... WHERE NOT dispatched RETURNING: two fan-outs of one
     event never both create deliveries), creates one webhook_delivery per matching subscription, and the job
     enqueues the deliveries that are at the head of their line.
  3. `claim` / `send` / `record` (the delivery job): the row is locked and moved to SENDING with a lease by a
     compare-and-set UPDATE, committed, then the HTTP POST runs outside any transaction, then the outcome is
     recorded: DELIVERED by "UPDATE ... WHERE status <> 'delivered'" (a success is recorded exactly once),
     RETRYING with exponential backoff, or FAILED; after `disable_after` failed deliveries in a row the
     subscription is disabled and every admin is notified.
  4. `recovery` (cron, every minute): undispatched events and stuck deliveries (pending, overdue retries, SENDING
     with an expired lease because a worker died mid-request) are enqueued again.

Ordering: deliveries of one subscription for one ticket form a line ordered by the event's outbox sequence
(webhook_event.seq). A delivery is only sent when no earlier delivery of its line is still pending, sending or
retrying and no earlier event of its ticket is still waiting for fan-out; otherwise its job returns "waiting"
without sending. Whoever finishes a delivery (or fans out a ticket's events) enqueues the head of the line, so
a waiting delivery is picked up as soon as it is its turn (no polling, works with burst workers too).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, joinedload, selectinload

from ticketing import events, webhook_http
from ticketing.domain.vocab import StaffRole
from ticketing.events import EVENT_TYPES, DomainEvent
from ticketing.models import Contact, Interaction, Notification, Ticket, User, utcnow
from ticketing.models.base import in_chunks
from ticketing.models.webhooks import (
    ACTIVE_STATUSES,
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

log = logging.getLogger(__name__)

FAN_OUT_JOB = "ticketing.webhook_jobs.fan_out_webhooks"
PAYLOAD_VERSION = 1
CHUNK = 500  # ids per IN (...) / per fan-out job
MAX_BODY_CHARS = 64_000  # an interaction's text in a payload

SIGNATURE_HEADER = "X-Bluehill-Signature"
EVENT_ID_HEADER = "X-Bluehill-Event-Id"
EVENT_TYPE_HEADER = "X-Bluehill-Event"
TIMESTAMP_HEADER = "X-Bluehill-Timestamp"
DELIVERY_HEADER = "X-Bluehill-Delivery"
ATTEMPT_HEADER = "X-Bluehill-Attempt"
USER_AGENT = "Bluehill-Webhooks/1"

# What a customer-facing subscription may see of a ticket.updated change; other fields are internal work.
CUSTOMER_VISIBLE_FIELDS = frozenset({"status", "priority"})
# Snapshot keys that never go to a customer-facing subscription.
INTERNAL_TICKET_KEYS = ("team", "assignees", "tags", "category", "sla", "public_updated_at")


@dataclass(frozen=True)
class DeliveryPolicy:
    backoff_seconds: tuple[int, ...] = (30, 120, 600, 3600, 21600)  # waits before attempts 2..6
    disable_after: int = 10  # failed deliveries in a row (each after all its retries)
    lease_seconds: int = 120  # longer than the worst request: (1 + 3 redirects) x 10 s
    timeout_seconds: float = webhook_http.DEFAULT_TIMEOUT
    max_response_bytes: int = webhook_http.MAX_RESPONSE_BYTES
    excerpt_chars: int = 2000

    @property
    def max_attempts(self) -> int:
        return len(self.backoff_seconds) + 1


# ---- signatures ------------------------------------------------------------------------------------------


def generate_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """hex HMAC-SHA256 over f"{timestamp}.{body}"."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The X-Bluehill-Signature header value: t=<unix seconds>,v1=<hex>."""
    t = int(time.time()) if timestamp is None else int(timestamp)
    return f"t={t},v1={signature(secret, t, body)}"


def verify_signature(
    secret: str,
    header: str | None,
    body: bytes,
    tolerance_seconds: int = 300,
    now: float | datetime | None = None,
) -> bool:
    """True when `header` (X-Bluehill-Signature) signs exactly `body` with `secret` and its timestamp is within
    `tolerance_seconds` of `now` (default: the current time). Several v1= entries may be present (a receiver
    rotating secrets accepts any that matches)."""
    if not header:
        return False
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == "v1" and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        return False
    current = now.timestamp() if isinstance(now, datetime) else (time.time() if now is None else float(now))
    if abs(current - timestamp) > tolerance_seconds:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, c) for c in candidates)


# ---- the outbox ------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def _ref(obj: Any) -> dict[str, Any] | None:
    return None if obj is None else {"id": obj.id, "name": str(obj)}


def _person(contact: Contact | None) -> dict[str, Any] | None:
    return None if contact is None else {"id": contact.id, "name": contact.name, "email": contact.email}


def ticket_snapshot(ticket: Ticket) -> dict[str, Any]:
    """The full (internal) snapshot; customer-facing subscriptions get `customer_view` of it."""
    customer = ticket.customer
    contact = ticket.primary_contact
    return {
        "id": ticket.id,
        "subject": ticket.subject,
        "status": ticket.status.value,
        "priority": ticket.priority.value,
        "source": ticket.source.value,
        "customer": None
        if customer is None
        else {"id": customer.id, "name": customer.name, "tier": customer.tier.value},
        "primary_contact": None
        if contact is None
        else {"id": contact.id, "name": contact.name, "email": contact.email},
        "contacts": [{"id": c.id, "name": c.name, "email": c.email} for c in ticket.contacts],
        "team": _ref(ticket.assigned_team),
        "assignees": [{"id": u.id, "name": u.name} for u in ticket.assignees],
        "tags": ticket.tags,
        "category": _ref(ticket.category),
        "first_response_due": _iso(ticket.first_response_due),
        "due_date": _iso(ticket.due_date),
        "first_response_at": _iso(ticket.first_response_at),
        "resolved_at": _iso(ticket.resolved_at),
        "closed_at": _iso(ticket.closed_at),
        "sla": {
            "breached_at": _iso(ticket.sla_breach_at),
            "first_response_breached_at": _iso(ticket.first_response_breach_at),
            "warned_at": _iso(ticket.sla_warning_at),
        },
        "created_at": _iso(ticket.created_at),
        "updated_at": _iso(ticket.updated_at),
        "public_updated_at": _iso(ticket.public_updated_at),
    }


def build_snapshots(session: Session, ticket_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """Snapshots of many tickets in a few batched queries (the SLA sweep emits thousands of events at once)."""
    ids = sorted(set(ticket_ids))
    snapshots: dict[int, dict[str, Any]] = {}
    for chunk in in_chunks(ids, CHUNK):
        tickets = session.scalars(
            sa.select(Ticket)
            .where(Ticket.id.in_(chunk))
            .options(
                selectinload(Ticket.customer),
                selectinload(Ticket.primary_contact),
                selectinload(Ticket.contacts),
                selectinload(Ticket.assignees),
                selectinload(Ticket.assigned_team),
                selectinload(Ticket.category),
                selectinload(Ticket.tag_rows),
            )
            # The SLA sweep stamps with set-based UPDATEs: read the row as this transaction left it.
            .execution_options(populate_existing=True)
        ).all()
        for ticket in tickets:
            snapshots[ticket.id] = ticket_snapshot(ticket)
    return snapshots


def _author(entry: Interaction) -> dict[str, Any]:
    if entry.author_user is not None:
        return {"kind": "user", "id": entry.author_user.id, "name": entry.author_user.name}
    if entry.author_contact is not None:
        contact = entry.author_contact
        return {"kind": "contact", "id": contact.id, "name": contact.display_name, "email": contact.email}
    return {"kind": "system"}


def interaction_snapshots(session: Session, interaction_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    ids = sorted(set(interaction_ids))
    found: dict[int, dict[str, Any]] = {}
    for chunk in in_chunks(ids, CHUNK):
        entries = session.scalars(
            sa.select(Interaction)
            .where(Interaction.id.in_(chunk))
            .options(selectinload(Interaction.author_user), selectinload(Interaction.author_contact))
        ).all()
        for entry in entries:
            visible = entry.is_customer_visible
            found[entry.id] = {
                "id": entry.id,
                "type": entry.type.value,
                "customer_visible": visible,
                "internal": not visible,
                "author": _author(entry),
                "body_text": entry.body_text[:MAX_BODY_CHARS],
                "body_truncated": len(entry.body_text) > MAX_BODY_CHARS,
                "email_subject": entry.email_subject,
                "created_at": _iso(entry.created_at),
            }
    return found


def _json_safe(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def build_payload(
    event: DomainEvent, ticket: dict[str, Any] | None, interaction: dict[str, Any] | None
) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": event.id,
        "type": event.type,
        "occurred_at": _iso(event.occurred_at),
        "version": PAYLOAD_VERSION,
        "ticket_id": event.ticket_id,
        "ticket": ticket,
        "data": _json_safe(event.data),
    }
    if event.type == "interaction.created":
        if interaction is None:  # deleted in the same transaction: keep what the event itself knows
            visible = bool(event.data.get("customer_visible"))
            interaction = {
                "id": event.data.get("interaction_id"),
                "type": event.data.get("interaction_type"),
                "customer_visible": visible,
                "internal": not visible,
            }
        payload["interaction"] = interaction
    return payload


def wanted_types(session: Session) -> frozenset[str]:
    """Event types some enabled subscription wants: one small query, the outbox's per-transaction check."""
    wanted: set[str] = set()
    for (types,) in session.execute(sa.select(WebhookSubscription.event_types).where(WebhookSubscription.enabled)):
        if not types:
            return frozenset(EVENT_TYPES)
        wanted.update(types)
    return frozenset(wanted)


@events.on_before_commit
def store_outbox(session: Session, pending: list[DomainEvent]) -> None:
    """Before COMMIT: outbox rows for the events some enabled subscription wants, in the same transaction."""
    wanted = wanted_types(session)
    chosen = [e for e in pending if e.type in wanted]
    if not chosen:
        return
    session.flush()  # the snapshot re-reads rows (populate_existing): nothing unflushed may be overwritten
    tickets = build_snapshots(session, [e.ticket_id for e in chosen if e.ticket_id is not None])
    interactions = interaction_snapshots(
        session,
        [e.data["interaction_id"] for e in chosen if e.type == "interaction.created" and e.data.get("interaction_id")],
    )
    now = utcnow()
    rows = [
        {
            "id": e.id,
            "type": e.type,
            "ticket_id": e.ticket_id if e.ticket_id in tickets else None,
            "occurred_at": e.occurred_at,
            "created_at": now,
            "payload": build_payload(
                e,
                tickets.get(e.ticket_id) if e.ticket_id is not None else None,
                interactions.get(e.data.get("interaction_id") or 0),
            ),
            "dispatched": False,
        }
        for e in chosen
    ]
    session.execute(sa.insert(WebhookEvent), rows)
    for chunk in in_chunks([e.id for e in chosen], CHUNK):
        events.defer_job(session, FAN_OUT_JOB, list(chunk))


# ---- matching and payload views --------------------------------------------------------------------------


def customer_view(payload: dict[str, Any]) -> dict[str, Any] | None:
    """The payload a customer-facing subscription receives; None when the event is internal-only."""
    kind = payload["type"]
    if kind == "interaction.created" and not (payload.get("interaction") or {}).get("customer_visible"):
        return None
    view = dict(payload)
    data = dict(payload.get("data") or {})
    if kind == "ticket.updated":
        changes = {k: v for k, v in (data.get("changes") or {}).items() if k in CUSTOMER_VISIBLE_FIELDS}
        if not changes:
            return None
        data["changes"] = changes
    actor = data.get("actor")
    if isinstance(actor, dict) and actor.get("kind") == "user":
        data["actor"] = {"kind": "user", "name": actor.get("name")}
    view["data"] = data
    ticket = payload.get("ticket")
    if ticket is not None:
        ticket = {k: v for k, v in ticket.items() if k not in INTERNAL_TICKET_KEYS}
        ticket["updated_at"] = payload["ticket"].get("public_updated_at")  # internal work does not move it
        view["ticket"] = ticket
    interaction = payload.get("interaction")
    if interaction is not None and (interaction.get("author") or {}).get("kind") == "user":
        view["interaction"] = {**interaction, "author": {"kind": "user", "name": interaction["author"].get("name")}}
    view["audience"] = "customer"
    return view


def payload_for(subscription: WebhookSubscription, payload: dict[str, Any]) -> dict[str, Any] | None:
    if subscription.customer_facing:
        return customer_view(payload)
    return {**payload, "audience": "internal"}


def matches(subscription: WebhookSubscription, event: WebhookEvent) -> bool:
    if not subscription.enabled:
        return False
    if subscription.event_types and event.type not in subscription.event_types:
        return False
    ticket = event.payload.get("ticket") or {}
    if subscription.team_id is not None and (ticket.get("team") or {}).get("id") != subscription.team_id:
        return False
    if subscription.customer_id is not None and (ticket.get("customer") or {}).get("id") != subscription.customer_id:
        return False
    if (subscription.customer_visible_only or subscription.customer_facing) and event.type == "interaction.created":
        if not (event.payload.get("interaction") or {}).get("customer_visible"):
            return False
    return payload_for(subscription, event.payload) is not None


def render_body(subscription: WebhookSubscription, event: WebhookEvent) -> bytes | None:
    """The exact bytes POSTed (and signed): the same for every attempt and re-send of a delivery. None when the
    subscription must not receive this event (any more)."""
    payload = payload_for(subscription, event.payload)
    if payload is None:
        return None
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ---- fan-out ---------------------------------------------------------------------------------------------


@dataclass
class FanOut:
    events: int = 0
    deliveries: int = 0
    ticket_ids: set[int] = field(default_factory=set)
    ticketless: list[int] = field(default_factory=list)  # delivery ids without a ticket: no line to wait in


def fan_out(session: Session, event_ids: Sequence[str], *, now: datetime) -> FanOut:
    """One delivery per matching enabled subscription for each event not dispatched yet (caller commits)."""
    result = FanOut()
    subscriptions = session.scalars(
        sa.select(WebhookSubscription).where(WebhookSubscription.enabled).order_by(WebhookSubscription.id)
    ).all()
    for chunk in in_chunks(list(event_ids), CHUNK):
        claimed = session.scalars(
            sa.update(WebhookEvent)
            .where(WebhookEvent.id.in_(chunk), WebhookEvent.dispatched.is_(False))
            .values(dispatched=True)
            .returning(WebhookEvent.seq)
            .execution_options(synchronize_session=False)
        ).all()
        if not claimed:
            continue
        rows = session.scalars(sa.select(WebhookEvent).where(WebhookEvent.seq.in_(claimed)).order_by(WebhookEvent.seq))
        created: list[WebhookDelivery] = []
        for event in rows:
            result.events += 1
            for subscription in subscriptions:
                if matches(subscription, event):
                    created.append(
                        WebhookDelivery(
                            event_seq=event.seq,
                            subscription_id=subscription.id,
                            ticket_id=event.ticket_id,
                            status=DeliveryStatus.PENDING,
                            created_at=now,
                        )
                    )
        session.add_all(created)
        session.flush()
        result.deliveries += len(created)
        for delivery in created:
            if delivery.ticket_id is None:
                result.ticketless.append(delivery.id)
            else:
                result.ticket_ids.add(delivery.ticket_id)
    return result


def line_heads(session: Session, ticket_ids: Iterable[int]) -> list[int]:
    """Pending deliveries at the head of their (subscription, ticket) line, for these tickets: what to enqueue."""
    heads: list[int] = []
    for chunk in in_chunks(sorted(set(ticket_ids)), CHUNK):
        rows = session.execute(
            sa.select(
                WebhookDelivery.id, WebhookDelivery.subscription_id, WebhookDelivery.ticket_id, WebhookDelivery.status
            )
            .where(WebhookDelivery.ticket_id.in_(chunk), WebhookDelivery.status.in_(ACTIVE_STATUSES))
            .order_by(
                WebhookDelivery.subscription_id,
                WebhookDelivery.ticket_id,
                WebhookDelivery.event_seq,
                WebhookDelivery.id,
            )
        ).all()
        seen: set[tuple[int, int | None]] = set()
        for delivery_id, subscription_id, ticket_id, status in rows:
            if (subscription_id, ticket_id) in seen:
                continue
            seen.add((subscription_id, ticket_id))
            if status == DeliveryStatus.PENDING:
                heads.append(delivery_id)
    return heads


# ---- one delivery: claim, send, record -------------------------------------------------------------------


@dataclass(frozen=True)
class Skip:
    """The job found nothing to send now. `line_moved`: the delivery left its line (kick the next one)."""

    reason: str
    ticket_id: int | None = None
    line_moved: bool = False


@dataclass(frozen=True)
class Claim:
    delivery_id: int
    attempt_id: int
    token: str
    number: int
    ticket_id: int | None
    subscription_id: int
    subscription_failures: int  # its failure count when claimed: a success resets it only if it was not 0
    event_id: str
    event_type: str
    url: str
    secret: str
    allowed: frozenset[str]
    body: bytes


@dataclass(frozen=True)
class AttemptResult:
    success: bool
    retryable: bool
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None


@dataclass(frozen=True)
class Recorded:
    status: DeliveryStatus | None  # None: nothing changed (another attempt already decided)
    retry_in: int | None = None
    duplicate: bool = False  # a success after an earlier recorded success
    disabled: bool = False
    ticket_id: int | None = None

    @property
    def line_moved(self) -> bool:
        return self.status in (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)


_EARLIER = aliased(WebhookDelivery, name="earlier")
_EARLIER_EVENT = aliased(WebhookEvent, name="earlier_event")
# Correlated to the delivery being claimed: is something before it in its (subscription, ticket) line still
# active, or is an earlier event of its ticket still waiting for fan-out? (NULL ticket: never.)
_WAITING = sa.or_(
    sa.exists()
    .where(
        _EARLIER.subscription_id == WebhookDelivery.subscription_id,
        _EARLIER.ticket_id == WebhookDelivery.ticket_id,
        _EARLIER.status.in_(ACTIVE_STATUSES),
        sa.or_(
            _EARLIER.event_seq < WebhookDelivery.event_seq,
            sa.and_(_EARLIER.event_seq == WebhookDelivery.event_seq, _EARLIER.id < WebhookDelivery.id),
        ),
    )
    .correlate(WebhookDelivery),
    sa.exists()
    .where(
        _EARLIER_EVENT.ticket_id == WebhookDelivery.ticket_id,
        _EARLIER_EVENT.seq < WebhookDelivery.event_seq,
        _EARLIER_EVENT.dispatched.is_(False),
    )
    .correlate(WebhookDelivery),
).label("waiting")

DUE_TOLERANCE = timedelta(seconds=5)
ABANDONED = "no outcome recorded: the worker was lost mid-delivery (lease expired)"


def claim(session: Session, delivery_id: int, *, now: datetime, policy: DeliveryPolicy) -> Claim | Skip:
    """Lock the delivery and move it to SENDING under a lease (caller commits before sending).

    One SELECT reads the delivery (locked), its subscription, its event and whether it must wait for its turn;
    a compare-and-set UPDATE takes the lease (so two workers never both claim it, on SQLite too)."""
    row = session.execute(
        sa.select(WebhookDelivery, _WAITING)
        .where(WebhookDelivery.id == delivery_id)
        .options(
            joinedload(WebhookDelivery.subscription, innerjoin=True),
            joinedload(WebhookDelivery.event, innerjoin=True),
        )
        .with_for_update(of=WebhookDelivery)
    ).one_or_none()
    if row is None:
        return Skip("gone")
    delivery, waiting = row
    ticket_id = delivery.ticket_id
    previous = delivery.status
    if previous not in ACTIVE_STATUSES:
        return Skip(f"already {previous.value}", ticket_id)
    if previous == DeliveryStatus.SENDING and delivery.lease_until is not None and delivery.lease_until > now:
        return Skip("in flight elsewhere", ticket_id)
    if (
        previous == DeliveryStatus.RETRYING
        and delivery.next_attempt_at is not None
        and delivery.next_attempt_at > now + DUE_TOLERANCE  # a scheduler clock a little ahead is fine
    ):
        return Skip("not due yet", ticket_id)
    subscription = delivery.subscription
    if not subscription.enabled:
        delivery.status = DeliveryStatus.CANCELLED
        delivery.last_error = "the subscription is disabled"
        delivery.lease_token = delivery.lease_until = None
        return Skip("cancelled: subscription disabled", ticket_id, line_moved=True)
    event = delivery.event
    body = render_body(subscription, event)
    if body is None:  # the subscription became customer-facing after fan-out: this event is internal
        delivery.status = DeliveryStatus.CANCELLED
        delivery.last_error = "internal event; the subscription is customer-facing"
        return Skip("cancelled: internal event for a customer-facing subscription", ticket_id, line_moved=True)
    if waiting:
        return Skip("waiting for an earlier delivery of this ticket", ticket_id)
    token = uuid.uuid4().hex
    number = session.scalar(
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.id == delivery_id,
            sa.or_(
                WebhookDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.RETRYING]),
                sa.and_(WebhookDelivery.status == DeliveryStatus.SENDING, WebhookDelivery.lease_until <= now),
            ),
        )
        .values(
            status=DeliveryStatus.SENDING,
            lease_token=token,
            lease_until=now + timedelta(seconds=policy.lease_seconds),
            attempts=WebhookDelivery.attempts + 1,
        )
        .returning(WebhookDelivery.attempts)
        .execution_options(synchronize_session=False)
    )
    if number is None:
        return Skip("claimed by another worker", ticket_id)
    if previous == DeliveryStatus.SENDING:  # taking over from a worker that died
        _close_abandoned(session, [delivery_id], now)
    attempt_id = session.scalar(
        sa.insert(WebhookAttempt)
        .values(delivery_id=delivery_id, number=number, started_at=now, url=subscription.url)
        .returning(WebhookAttempt.id)
    )
    return Claim(
        delivery_id=delivery_id,
        attempt_id=int(attempt_id or 0),
        token=token,
        number=number,
        ticket_id=ticket_id,
        subscription_id=subscription.id,
        subscription_failures=subscription.consecutive_failures,
        event_id=event.id,
        event_type=event.type,
        url=subscription.url,
        secret=subscription.secret,
        allowed=webhook_http.parse_allow_list(subscription.allowed_address),
        body=body,
    )


def _close_abandoned(session: Session, delivery_ids: Sequence[int], now: datetime) -> None:
    """Attempts still open (their worker died) get their verdict: no outcome known."""
    session.execute(
        sa.update(WebhookAttempt)
        .where(
            WebhookAttempt.delivery_id.in_(delivery_ids),
            WebhookAttempt.finished_at.is_(None),
        )
        .values(finished_at=now, error=ABANDONED)
        .execution_options(synchronize_session=False)
    )


def request_headers(claim: Claim, timestamp: int | None = None) -> dict[str, str]:
    t = int(time.time()) if timestamp is None else timestamp
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_ID_HEADER: claim.event_id,
        EVENT_TYPE_HEADER: claim.event_type,
        TIMESTAMP_HEADER: str(t),
        SIGNATURE_HEADER: sign(claim.secret, claim.body, t),
        DELIVERY_HEADER: str(claim.delivery_id),
        ATTEMPT_HEADER: str(claim.number),
    }


def _excerpt(data: bytes, truncated: bool, limit: int) -> str:
    text = data.decode("utf-8", errors="replace")
    if len(text) > limit or truncated:
        return text[:limit] + " [...]"
    return text


def send(
    claim: Claim,
    policy: DeliveryPolicy,
    post: Callable[..., webhook_http.Response] = webhook_http.post,
) -> AttemptResult:
    """The HTTP POST, outside any transaction. Never raises for delivery problems."""
    started = time.perf_counter()
    try:
        response = post(
            claim.url,
            claim.body,
            request_headers(claim),
            allowed=claim.allowed,
            timeout=policy.timeout_seconds,
            max_bytes=policy.max_response_bytes,
        )
    except webhook_http.TargetRefused as exc:
        return AttemptResult(False, False, None, _ms(started), None, f"refused: {exc}")
    except webhook_http.WebhookHTTPError as exc:
        return AttemptResult(False, True, None, _ms(started), None, str(exc))
    excerpt = _excerpt(response.body, response.truncated, policy.excerpt_chars)
    if response.ok:
        return AttemptResult(True, False, response.status, _ms(started), excerpt, None)
    error = f"HTTP {response.status}" + (f" after {response.redirects} redirect(s)" if response.redirects else "")
    return AttemptResult(False, True, response.status, _ms(started), excerpt, error)


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def record(session: Session, claim: Claim, result: AttemptResult, *, now: datetime, policy: DeliveryPolicy) -> Recorded:
    """Write the attempt and move the delivery on (caller commits)."""
    outcome = {
        "finished_at": now,
        "success": result.success,
        "status_code": result.status_code,
        "latency_ms": result.latency_ms,
        "response_excerpt": result.excerpt,
        "error": result.error,
    }
    if result.success:
        moved = session.execute(
            sa.update(WebhookDelivery)
            .where(WebhookDelivery.id == claim.delivery_id, WebhookDelivery.status != DeliveryStatus.DELIVERED)
            .values(
                status=DeliveryStatus.DELIVERED,
                delivered_at=now,
                last_status_code=result.status_code,
                last_error=None,
                lease_token=None,
                lease_until=None,
                next_attempt_at=None,
            )
            .execution_options(synchronize_session=False)
        )
        if getattr(moved, "rowcount", 0) != 1:
            outcome["error"] = "delivered again: a success had already been recorded (receivers dedupe by event id)"
            _finish_attempt(session, claim, outcome)
            return Recorded(None, duplicate=True, ticket_id=claim.ticket_id)
        _finish_attempt(session, claim, outcome)
        if claim.subscription_failures:  # no write (and no row lock on the subscription) in the common case
            session.execute(
                sa.update(WebhookSubscription)
                .where(WebhookSubscription.id == claim.subscription_id)
                .values(consecutive_failures=0)
                .execution_options(synchronize_session=False)
            )
        return Recorded(DeliveryStatus.DELIVERED, ticket_id=claim.ticket_id)

    _finish_attempt(session, claim, outcome)

    delivery = session.scalar(
        sa.select(WebhookDelivery).where(WebhookDelivery.id == claim.delivery_id).with_for_update()
    )
    if delivery is None or delivery.status != DeliveryStatus.SENDING or delivery.lease_token != claim.token:
        return Recorded(None, ticket_id=claim.ticket_id)  # our lease was taken over; the new holder decides
    delivery.last_status_code = result.status_code
    delivery.last_error = result.error
    delivery.lease_token = delivery.lease_until = None
    if result.retryable and delivery.attempts < policy.max_attempts:
        wait = policy.backoff_seconds[min(delivery.attempts, len(policy.backoff_seconds)) - 1]
        delivery.status = DeliveryStatus.RETRYING
        delivery.next_attempt_at = now + timedelta(seconds=wait)
        return Recorded(DeliveryStatus.RETRYING, retry_in=wait, ticket_id=claim.ticket_id)
    delivery.status = DeliveryStatus.FAILED
    delivery.next_attempt_at = None
    failures = session.scalar(
        sa.update(WebhookSubscription)
        .where(WebhookSubscription.id == claim.subscription_id)
        .values(consecutive_failures=WebhookSubscription.consecutive_failures + 1)
        .returning(WebhookSubscription.consecutive_failures)
        .execution_options(synchronize_session=False)
    )
    disabled = False
    if failures is not None and failures >= policy.disable_after:
        subscription = session.get(WebhookSubscription, claim.subscription_id, populate_existing=True)
        if subscription is not None and subscription.enabled:
            disable(
                session,
                subscription,
                reason=f"{failures} failed deliveries in a row; last: {result.error}",
                now=now,
            )
            disabled = True
    return Recorded(DeliveryStatus.FAILED, disabled=disabled, ticket_id=claim.ticket_id)


def _finish_attempt(session: Session, claim: Claim, outcome: dict[str, Any]) -> None:
    session.execute(
        sa.update(WebhookAttempt)
        .where(WebhookAttempt.id == claim.attempt_id)
        .values(**outcome)
        .execution_options(synchronize_session=False)
    )


def disable(session: Session, subscription: WebhookSubscription, *, reason: str, now: datetime) -> int:
    """Disable a failing subscription, cancel what it still had queued, and tell every admin. Returns the number
    of admins notified."""
    subscription.enabled = False
    subscription.disabled_reason = reason[:300]
    session.execute(
        sa.update(WebhookDelivery)
        .where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.RETRYING]),
        )
        .values(status=DeliveryStatus.CANCELLED, last_error="the subscription was disabled", next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )
    admins = session.scalars(sa.select(User).where(User.role == StaffRole.ADMIN, User.active)).all()
    text = f"Webhook '{subscription.name}' was disabled: {reason}"[:300]
    session.add_all(Notification(user_id=admin.id, text=text, created_at=now) for admin in admins)
    log.warning("webhook subscription %s disabled: %s", subscription.id, reason)
    return len(admins)


# ---- admin operations ------------------------------------------------------------------------------------


def resend(session: Session, delivery_ids: Iterable[int], *, now: datetime) -> list[WebhookDelivery]:
    """A fresh delivery of the same event to the same subscription for each given delivery (caller commits and
    enqueues the line heads of the returned deliveries' tickets)."""
    originals = session.scalars(sa.select(WebhookDelivery).where(WebhookDelivery.id.in_(list(delivery_ids)))).all()
    fresh = [
        WebhookDelivery(
            event_seq=original.event_seq,
            subscription_id=original.subscription_id,
            ticket_id=original.ticket_id,
            status=DeliveryStatus.PENDING,
            created_at=now,
            resend_of_id=original.id,
        )
        for original in originals
    ]
    session.add_all(fresh)
    session.flush()
    return fresh


# ---- recovery --------------------------------------------------------------------------------------------


@dataclass
class Recovery:
    event_ids: list[str] = field(default_factory=list)
    delivery_ids: list[int] = field(default_factory=list)
    expired_leases: int = 0


def recovery(session: Session, *, now: datetime, older_than: timedelta = timedelta(minutes=1)) -> Recovery:
    """What the cron re-enqueues (caller commits, then enqueues): events never fanned out, deliveries whose job
    was lost (pending, overdue retries) and deliveries whose worker died mid-request (SENDING, lease expired:
    put back to PENDING, their open attempt closed as 'no outcome')."""
    cutoff = now - older_than
    found = Recovery()
    found.event_ids = list(
        session.scalars(
            sa.select(WebhookEvent.id)
            .where(WebhookEvent.dispatched.is_(False), WebhookEvent.created_at < cutoff)
            .order_by(WebhookEvent.seq)
        )
    )
    expired = session.execute(
        sa.select(WebhookDelivery.id, WebhookDelivery.ticket_id).where(
            WebhookDelivery.status == DeliveryStatus.SENDING, WebhookDelivery.lease_until < now
        )
    ).all()
    if expired:
        ids = [row.id for row in expired]
        for chunk in in_chunks(ids, CHUNK):
            session.execute(
                sa.update(WebhookDelivery)
                .where(
                    WebhookDelivery.id.in_(chunk),
                    WebhookDelivery.status == DeliveryStatus.SENDING,
                    WebhookDelivery.lease_until < now,
                )
                .values(status=DeliveryStatus.PENDING, lease_token=None, lease_until=None)
                .execution_options(synchronize_session=False)
            )
            _close_abandoned(session, chunk, now)
        found.expired_leases = len(ids)
    stale_pending = session.execute(
        sa.select(WebhookDelivery.id, WebhookDelivery.ticket_id).where(
            WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.created_at < cutoff
        )
    ).all()
    tickets: set[int] = {row.ticket_id for row in [*expired, *stale_pending] if row.ticket_id is not None}
    ticketless = [row.id for row in [*expired, *stale_pending] if row.ticket_id is None]
    overdue = session.scalars(
        sa.select(WebhookDelivery.id).where(
            WebhookDelivery.status == DeliveryStatus.RETRYING, WebhookDelivery.next_attempt_at < cutoff
        )
    ).all()
    ordered: dict[int, None] = dict.fromkeys([*line_heads(session, tickets), *ticketless, *overdue])
    found.delivery_ids = list(ordered)
    return found
