"""Every response shape of the API, defined once: api/presenters.py fills them, api/openapi.py documents them, and
the schemathesis test holds the two to each other (no undocumented field, none missing)."""

from __future__ import annotations

from api.schemas import PRIORITIES, STATUSES, TIERS
from api.validation import Body, F, ident
from ticketing.domain.visibility import InteractionType, SmsStatus
from ticketing.domain.vocab import PortalRole, Source

WHEN = F("string", format="date-time")
WHEN_OR_NULL = F("string", format="date-time", nullable=True)


def _staff(f: F) -> F:
    """Fields only staff tokens receive (absent for customer tokens)."""
    return f.but(required=False, description=(f.description + " (staff tokens only)").strip())


def _req(f: F) -> F:
    return f.but(required=True)


TICKET = Body(
    "Ticket",
    {
        "id": _req(ident()),
        "subject": _req(F("string")),
        "status": _req(F("string", enum=STATUSES)),
        "priority": _req(F("string", enum=PRIORITIES)),
        "source": _req(F("string", enum=tuple(s.value for s in Source))),
        "customer_id": _req(ident(nullable=True)),
        "primary_contact_id": _req(ident(nullable=True)),
        "form_data": _req(F("object", free_form=True, nullable=True)),
        "created_at": _req(WHEN),
        "updated_at": _req(F("string", format="date-time", description="last change the token's owner can see")),
        "resolved_at": _req(WHEN_OR_NULL),
        "closed_at": _req(WHEN_OR_NULL),
        "contact_ids": _staff(F("array", items=ident())),
        "team_id": _staff(ident(nullable=True)),
        "category_id": _staff(ident(nullable=True)),
        "tags": _staff(F("array", items=F("string"))),
        "assignee_ids": _staff(F("array", items=ident())),
        "first_response_due": _staff(WHEN_OR_NULL),
        "first_response_at": _staff(WHEN_OR_NULL),
        "due_date": _staff(WHEN_OR_NULL),
        "sla_breach_at": _staff(WHEN_OR_NULL),
        "merged_into_id": _staff(ident(nullable=True)),
        "linked_ticket_id": _staff(ident(nullable=True)),
    },
)
AUTHOR = Body(
    "Author",
    {
        "kind": _req(F("string", enum=("user", "contact", "system"))),
        "id": _req(ident(nullable=True)),
        "name": _req(F("string")),
    },
)
ATTACHMENT = Body(
    "Attachment",
    {
        "id": _req(ident()),
        "filename": _req(F("string")),
        "content_type": _req(F("string")),
        "size": _req(F("integer", minimum=0)),
    },
)
INTERACTION = Body(
    "Interaction",
    {
        "id": _req(ident()),
        "ticket_id": _req(ident()),
        "type": _req(F("string", enum=tuple(t.value for t in InteractionType))),
        "author": _req(F("object", ref="Author")),
        "body_text": _req(F("string")),
        "body_html": _req(F("string", nullable=True, description="sanitised HTML")),
        "created_at": _req(WHEN),
        "attachments": _req(F("array", items=F("object", ref="Attachment"))),
        "customer_visible": _staff(F("boolean")),
        "sms_status": _staff(F("string", enum=tuple(s.value for s in SmsStatus), nullable=True)),
        "duration_minutes": _staff(F("integer", nullable=True)),
        "email_from": _staff(F("string", nullable=True)),
        "email_to": _staff(F("string", nullable=True)),
        "email_cc": _staff(F("string", nullable=True)),
        "email_subject": _staff(F("string", nullable=True)),
        "meta": _staff(
            F("object", free_form=True, nullable=True, description="SYSTEM entries: field, old, new, actor")
        ),
    },
)
CONTACT = Body(
    "Contact",
    {
        "id": _req(ident()),
        "name": _req(F("string")),
        "email": _req(F("string")),
        "phone": _req(F("string", nullable=True)),
        "customer_id": _req(ident(nullable=True)),
        "portal_role": _staff(F("string", enum=tuple(r.value for r in PortalRole))),
        "portal_enabled": _staff(F("boolean")),
        "created_at": _staff(WHEN),
    },
)
CUSTOMER = Body(
    "Customer",
    {
        "id": _req(ident()),
        "name": _req(F("string")),
        "tier": _staff(F("string", enum=TIERS)),
        "notes": _staff(F("string")),
        "domains": _staff(F("array", items=F("string"))),
        "created_at": _staff(WHEN),
    },
)
TIME_ENTRY = Body(
    "TimeEntry",
    {
        "id": _req(ident()),
        "ticket_id": _req(ident()),
        "user_id": _req(ident()),
        "user_name": _req(F("string")),
        "minutes": _req(F("integer", minimum=1)),
        "note": _req(F("string")),
        "work_date": _req(F("string", format="date")),
        "created_at": _req(WHEN),
    },
)
FORM_FIELD = Body(
    "FormField",
    {
        "name": _req(F("string")),
        "label": _req(F("string")),
        "type": _req(F("string")),
        "required": _req(F("boolean")),
        "help": _req(F("string")),
        "options": _req(F("array", items=F("string"))),
    },
)
FORM = Body(
    "Form",
    {
        "slug": _req(F("string")),
        "name": _req(F("string")),
        "description": _req(F("string")),
        "public": _req(F("boolean")),
        "fields": _req(F("array", items=F("object", ref="FormField"))),
    },
)
ME = Body(
    "Me",
    {
        "kind": _req(F("string", enum=("staff", "customer"))),
        "token": _req(F("object", free_form=True, description="name, prefix, created_at, expires_at")),
        "user": F("object", free_form=True, nullable=True, description="staff tokens: id, name, email, role, team_ids"),
        "contact": F("object", ref="Contact", nullable=True, description="customer tokens"),
    },
)
ERROR_DETAIL = Body(
    "ErrorDetail",
    {
        "code": _req(F("string")),
        "message": _req(F("string")),
        "fields": F("object", free_form=True, description="field or parameter name -> what is wrong"),
    },
)
ERROR = Body("Error", {"error": _req(F("object", ref="ErrorDetail"))})

RESPONSES = [TICKET, AUTHOR, ATTACHMENT, INTERACTION, CONTACT, CUSTOMER, TIME_ENTRY, FORM_FIELD, FORM, ME,
             ERROR_DETAIL, ERROR]  # fmt: skip
