"""Admin screens of the outgoing webhooks: subscriptions (secret shown once), the delivery log with Re-send,
and every HTTP attempt. Admins only."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import flash
from flask_admin.actions import action
from markupsafe import Markup
from wtforms import SelectMultipleField
from wtforms.validators import ValidationError

from admin.base import AdminOnlyModelView
from admin.views import enum_label
from ticketing.events import EVENT_TYPES
from ticketing.extensions import db
from ticketing.models import utcnow
from ticketing.models.webhooks import WebhookAttempt, WebhookDelivery, WebhookSubscription
from ticketing.services import webhooks as service


def _flash_secret(subscription: WebhookSubscription) -> None:
    flash(
        Markup(
            "Signing secret for <strong>{name}</strong>: <code>{secret}</code><br>"
            "Copy it now into the receiver: it is not shown again."
        ).format(name=subscription.name, secret=subscription.secret),
        "warning",
    )


def _short(limit: int) -> Any:
    def format_value(view: Any, context: Any, model: Any, name: str) -> str:
        value = getattr(model, name) or ""
        return value if len(value) <= limit else value[:limit] + "..."

    return format_value


class WebhookSubscriptionView(AdminOnlyModelView):
    """Subscriptions: URL, events, filter, enable/disable. The secret is generated on create and shown once."""

    column_list = ["name", "url", "event_types", "enabled", "customer_facing", "team", "customer",
                   "consecutive_failures", "disabled_reason"]  # fmt: skip
    column_exclude_list = ["secret"]
    column_details_exclude_list = ["secret"]
    column_export_exclude_list = ["secret"]
    column_searchable_list = ["name", "url"]
    column_filters = ["enabled", "customer_facing"]
    column_labels = {"consecutive_failures": "Failures in a row", "allowed_address": "Allowed private address"}
    column_formatters = {
        "event_types": lambda v, c, m, n: ", ".join(m.event_types or []) or "every event",
        "url": _short(80),
    }
    form_columns = ["name", "url", "events", "team", "customer", "customer_visible_only", "customer_facing",
                    "allowed_address", "enabled"]  # fmt: skip
    form_extra_fields = {
        "events": SelectMultipleField(
            "Events", choices=[(t, t) for t in EVENT_TYPES], description="None selected: every event type."
        )
    }
    column_descriptions = {
        "url": "http or https. Loopback, private, link-local and metadata addresses are refused.",
        "customer_visible_only": "Send interaction.created only for entries the customer can see.",
        "customer_facing": "The receiver shows things to customers: internal interactions and internal-only "
        "changes are never sent, and team, assignees, tags, category and SLA stamps are left out of the ticket.",
        "allowed_address": "An address the guard would refuse that this subscription may reach anyway, e.g. "
        "10.0.0.5 or 10.0.0.5:8080 (several: separated by spaces). Metadata addresses are never allowed.",
        "enabled": "Re-enabling resets the failure count.",
    }

    def on_form_prefill(self, form: Any, id: Any) -> None:  # noqa: A002 - Flask-Admin's signature
        subscription = db.session.get(WebhookSubscription, int(id))
        if subscription is not None:
            form.events.data = list(subscription.event_types or [])

    def on_model_change(self, form: Any, model: WebhookSubscription, is_created: bool) -> None:
        from ticketing import webhook_http

        model.url = (model.url or "").strip()
        try:
            entries = webhook_http.parse_allow_list(model.allowed_address)
            parsed = webhook_http.parse_url(model.url)
            if parsed.literal is not None:  # an IP in the URL is checked now; names are resolved at send time
                webhook_http.check_addresses(parsed.host, parsed.port, [parsed.literal], entries)
        except (ValueError, webhook_http.TargetRefused) as exc:
            raise ValidationError(str(exc)) from exc
        model.allowed_address = " ".join(sorted(entries)) or None
        model.event_types = [t for t in (form.events.data or []) if t in EVENT_TYPES]
        if is_created:
            model.secret = service.generate_secret()
        model.updated_at = utcnow()
        if model.enabled:
            model.consecutive_failures = 0
            model.disabled_reason = None

    def after_model_change(self, form: Any, model: WebhookSubscription, is_created: bool) -> None:
        if is_created:
            _flash_secret(model)

    @action("rotate_secret", "Generate a new secret", "Replace the signing secret? Receivers must be updated.")
    def action_rotate_secret(self, ids: list[str]) -> None:
        chosen = db.session.scalars(
            sa.select(WebhookSubscription).where(WebhookSubscription.id.in_([int(i) for i in ids]))
        ).all()
        for subscription in chosen:
            subscription.secret = service.generate_secret()
            subscription.updated_at = utcnow()
        db.session.commit()
        for subscription in chosen:
            _flash_secret(subscription)


def _attempt_table(view: Any, context: Any, model: WebhookDelivery, name: str) -> Markup:
    rows = Markup("").join(
        Markup(
            "<tr><td>{n}</td><td>{at}</td><td>{ok}</td><td>{code}</td><td>{ms}</td><td><pre>{excerpt}</pre></td>"
            "<td>{error}</td></tr>"
        ).format(
            n=a.number,
            at=a.started_at.strftime("%Y-%m-%d %H:%M:%S UTC"),
            ok={True: "yes", False: "no", None: "-"}[a.success],
            code=a.status_code or "",
            ms=a.latency_ms if a.latency_ms is not None else "",
            excerpt=(a.response_excerpt or "")[:500],
            error=a.error or "",
        )
        for a in model.attempt_log
    )
    return Markup(
        '<table class="table table-sm"><tr><th>#</th><th>Started</th><th>2xx</th><th>Status</th><th>ms</th>'
        "<th>Response (excerpt)</th><th>Error</th></tr>{rows}</table>"
    ).format(rows=rows)


class WebhookDeliveryView(AdminOnlyModelView):
    """One row per event x subscription; every attempt is in its details. Re-send makes a fresh delivery."""

    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["id", "created_at", "subscription", "event.type", "event.id", "ticket_id", "status", "attempts",
                   "last_status_code", "delivered_at", "next_attempt_at", "last_error"]  # fmt: skip
    column_details_list = ["id", "subscription", "event.type", "event.id", "ticket_id", "status", "attempts",
                           "created_at", "delivered_at", "next_attempt_at", "last_status_code", "last_error",
                           "resend_of_id", "attempt_log"]  # fmt: skip
    column_labels = {"event.type": "Event", "event.id": "Event id", "last_status_code": "HTTP", "resend_of_id":
                     "Re-send of"}  # fmt: skip
    column_sortable_list = ["id", "created_at", "status", "ticket_id", "delivered_at"]
    column_default_sort = ("id", True)
    column_filters = ["status", "ticket_id", "created_at", "subscription.name"]
    column_formatters = {"status": enum_label, "last_error": _short(160)}
    column_formatters_detail = {"status": enum_label, "attempt_log": _attempt_table}

    @action("resend", "Re-send", "Send the selected deliveries again (a fresh delivery of the same event)?")
    def action_resend(self, ids: list[str]) -> None:
        from ticketing import webhook_jobs

        fresh = service.resend(db.session(), [int(i) for i in ids], now=utcnow())
        disabled = sum(1 for d in fresh if not d.subscription.enabled)
        ticketless = [d.id for d in fresh if d.ticket_id is None]
        tickets = {d.ticket_id for d in fresh if d.ticket_id is not None}
        db.session.commit()
        webhook_jobs.enqueue_deliveries(ticketless)
        webhook_jobs.kick_lines(tickets)
        flash(f"{len(fresh)} delivery(ies) queued again.", "success")
        if disabled:
            flash(f"{disabled} of them belong to a disabled subscription and will be cancelled.", "warning")


class WebhookAttemptView(AdminOnlyModelView):
    """Every HTTP attempt: status, latency, the start of the response, the error."""

    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["started_at", "delivery_id", "number", "url", "success", "status_code", "latency_ms",
                   "response_excerpt", "error"]  # fmt: skip
    column_labels = {"delivery_id": "Delivery", "number": "#", "latency_ms": "ms", "status_code": "HTTP"}
    column_default_sort = ("id", True)
    column_filters = ["success", "status_code", "delivery_id", "started_at"]
    column_formatters = {"response_excerpt": _short(120), "error": _short(160), "url": _short(60)}


def add_webhook_views(admin: Any) -> None:
    session = db
    admin.add_view(
        WebhookSubscriptionView(
            WebhookSubscription,
            session,
            name="Webhooks",
            category="Webhooks",
            endpoint="webhooks",
            url="/admin/webhooks",
        )
    )
    admin.add_view(
        WebhookDeliveryView(
            WebhookDelivery, session, name="Deliveries", category="Webhooks", endpoint="webhook_deliveries",
            url="/admin/webhook-deliveries",
        )
    )  # fmt: skip
    admin.add_view(
        WebhookAttemptView(
            WebhookAttempt, session, name="Attempts", category="Webhooks", endpoint="webhook_attempts",
            url="/admin/webhook-attempts",
        )
    )  # fmt: skip
