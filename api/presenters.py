"""Models -> JSON, in two cuts: what staff tokens get, and the customer-safe subset (see api/schemas.py)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ticketing.models import Contact, Customer, IntakeForm, Interaction, Ticket, TimeEntry, User
from ticketing.models.api_tokens import ApiToken


def when(value: datetime | date | None) -> str | None:
    return value.isoformat() if value is not None else None


def ticket(t: Ticket, *, staff: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": t.id,
        "subject": t.subject,
        "status": t.status.value,
        "priority": t.priority.value,
        "source": t.source.value,
        "customer_id": t.customer_id,
        "primary_contact_id": t.primary_contact_id,
        "form_data": t.form_data,
        "created_at": when(t.created_at),
        # Customers see only when something they can see changed; internal work never moves their clock.
        "updated_at": when(t.updated_at if staff else t.public_updated_at),
        "resolved_at": when(t.resolved_at),
        "closed_at": when(t.closed_at),
    }
    if staff:
        out.update(
            contact_ids=sorted(c.id for c in t.contacts),
            team_id=t.assigned_team_id,
            category_id=t.category_id,
            tags=t.tags,
            assignee_ids=sorted(u.id for u in t.assignees),
            first_response_due=when(t.first_response_due),
            first_response_at=when(t.first_response_at),
            due_date=when(t.due_date),
            sla_breach_at=when(t.sla_breach_at),
            merged_into_id=t.merged_into_id,
            linked_ticket_id=t.linked_ticket_id,
        )
    return out


def _author(i: Interaction, *, staff: bool) -> dict[str, Any]:
    if i.author_user is not None:  # customers see the agent's name, not internal staff ids
        return {"kind": "user", "id": i.author_user.id if staff else None, "name": i.author_user.name}
    if i.author_contact is not None:
        return {"kind": "contact", "id": i.author_contact.id, "name": i.author_contact.display_name}
    return {"kind": "system", "id": None, "name": "System"}


def interaction(i: Interaction, *, staff: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": i.id,
        "ticket_id": i.ticket_id,
        "type": i.type.value,
        "author": _author(i, staff=staff),
        "body_text": i.body_text,
        "body_html": i.body_html,
        "created_at": when(i.created_at),
        "attachments": [
            {"id": a.id, "filename": a.filename, "content_type": a.content_type, "size": a.size} for a in i.attachments
        ],
    }
    if staff:
        out.update(
            customer_visible=i.is_customer_visible,
            sms_status=i.sms_status.value if i.sms_status else None,
            duration_minutes=i.duration_minutes,
            email_from=i.email_from,
            email_to=i.email_to,
            email_cc=i.email_cc,
            email_subject=i.email_subject,
            meta=i.meta,
        )
    return out


def contact(c: Contact, *, staff: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": c.id,
        "name": c.name,
        "email": c.email,
        "phone": c.phone,
        "customer_id": c.customer_id,
    }
    if staff:
        out.update(portal_role=c.portal_role.value, portal_enabled=c.portal_enabled, created_at=when(c.created_at))
    return out


def customer(c: Customer, *, staff: bool) -> dict[str, Any]:
    out: dict[str, Any] = {"id": c.id, "name": c.name}
    if staff:
        out.update(tier=c.tier.value, notes=c.notes, domains=[d.domain for d in c.domains],
                   created_at=when(c.created_at))  # fmt: skip
    return out


def time_entry(e: TimeEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "ticket_id": e.ticket_id,
        "user_id": e.user_id,
        "user_name": e.user.name,
        "minutes": e.minutes,
        "note": e.note,
        "work_date": when(e.work_date),
        "created_at": when(e.created_at),
    }


def form(f: IntakeForm, specs: list[Any]) -> dict[str, Any]:
    return {
        "slug": f.slug,
        "name": f.name,
        "description": f.description,
        "public": f.public,
        "fields": [
            {"name": s.name, "label": s.label, "type": s.type, "required": s.required, "help": s.help,
             "options": list(s.options)}
            for s in specs
        ],
    }  # fmt: skip


def user(u: User) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "email": u.email,
        "role": u.role.value,
        "team_ids": sorted(t.id for t in u.teams),
    }


def token(t: ApiToken) -> dict[str, Any]:
    return {"name": t.name, "prefix": t.token_prefix, "created_at": when(t.created_at),
            "expires_at": when(t.expires_at)}  # fmt: skip
