"""Every request body, query and response shape of the API, defined once: the validators enforce these objects
and api/openapi.py renders them into the OpenAPI document."""

from __future__ import annotations

from api.validation import NOT_BLANK, Body, F, Query, ident
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType, SmsStatus
from ticketing.domain.vocab import PortalRole, Priority, Source, Tier

STATUSES = tuple(s.value for s in Status)
PRIORITIES = tuple(p.value for p in Priority)
TIERS = tuple(t.value for t in Tier)
MAX_BODY = 20000

WHEN = F("string", format="date-time")
WHEN_OR_NULL = F("string", format="date-time", nullable=True)


def _staff(f: F) -> F:
    """Response fields only staff tokens receive (absent for customer tokens)."""
    return F(**{**f.__dict__, "required": False, "description": (f.description + " (staff tokens only)").strip()})


def _req(f: F) -> F:
    return F(**{**f.__dict__, "required": True})


# -- pagination --------------------------------------------------------------------------------------------------

CURSOR = F("string", max_length=500, description="next_cursor of the previous page")
LIMIT = F("integer", minimum=1, maximum=100, description="page size (default 25, at most 100)")
SORTS = ("-updated_at", "updated_at", "-created_at", "created_at", "-id", "id")

TICKET_QUERY = Query(
    {
        "status": F("string", enum=(*STATUSES, "active"), description="a status, or `active` for any unresolved"),
        "priority": F("string", enum=PRIORITIES, description="staff tokens only"),
        "team_id": ident("staff tokens only"),
        "customer_id": ident("staff tokens only"),
        "contact_id": ident("primary or CC'd contact (staff tokens only)"),
        "assignee_id": ident("staff tokens only"),
        "tag": F("string", min_length=1, max_length=64, description="staff tokens only"),
        "q": F("string", min_length=1, max_length=100, description="search subject and messages (staff tokens only)"),
        "sort": F("string", enum=SORTS, description="default -updated_at; a leading - sorts descending"),
        "cursor": CURSOR,
        "limit": LIMIT,
    }
)
CUSTOMER_TICKET_PARAMS = frozenset({"status", "sort", "cursor", "limit"})
INTERACTION_QUERY = Query(
    {"type": F("string", enum=tuple(t.value for t in InteractionType)), "cursor": CURSOR, "limit": LIMIT}
)
CONTACT_QUERY = Query(
    {
        "customer_id": ident(),
        "email": F("string", min_length=1, max_length=254, description="exact address"),
        "q": F("string", min_length=1, max_length=100, description="name or email contains"),
        "cursor": CURSOR,
        "limit": LIMIT,
    }
)
CUSTOMER_QUERY = Query(
    {
        "tier": F("string", enum=TIERS),
        "q": F("string", min_length=1, max_length=100, description="name contains"),
        "cursor": CURSOR,
        "limit": LIMIT,
    }
)
PAGE_QUERY = Query({"cursor": CURSOR, "limit": LIMIT})

# -- request bodies ----------------------------------------------------------------------------------------------

TAGS = F("array", items=F("string", min_length=1, max_length=64), max_items=30)
IDS = F("array", items=ident(), max_items=20)

TICKET_CREATE = Body(
    "TicketCreate",
    {
        "subject": F("string", required=True, min_length=1, max_length=300, pattern=NOT_BLANK),
        "body": F("string", max_length=MAX_BODY, description="the first message"),
        "contact_id": ident("the requester (staff tokens only)", nullable=True),
        "customer_id": ident("defaults to the contact's customer (staff tokens only)", nullable=True),
        "priority": F("string", enum=PRIORITIES, description="staff tokens only"),
        "team_id": ident("staff tokens only", nullable=True),
        "category_id": ident("staff tokens only", nullable=True),
        "tags": F(**{**TAGS.__dict__, "description": "staff tokens only"}),
        "assignee_ids": F(**{**IDS.__dict__, "description": "staff tokens only"}),
    },
    "Customer tokens may send only subject and body; any other field is refused with 422.",
)
CUSTOMER_TICKET_CREATE = frozenset({"subject", "body"})

TICKET_UPDATE = Body(
    "TicketUpdate",
    {
        "status": F("string", enum=STATUSES),
        "priority": F("string", enum=PRIORITIES),
        "team_id": ident(nullable=True),
        "category_id": ident(nullable=True),
        "tags": F(**{**TAGS.__dict__, "description": "the whole new set"}),
        "assignee_ids": F(**{**IDS.__dict__, "description": "the whole new set of assignees"}),
    },
    "Customer tokens may send only status (close an active ticket, reopen a resolved one).",
)
CUSTOMER_TICKET_UPDATE = frozenset({"status"})

STAFF_KINDS = ("email_outbound", "internal_note", "note", "phone_call", "meeting")
INTERACTION_CREATE = Body(
    "InteractionCreate",
    {
        "type": F("string", enum=(*STAFF_KINDS, "email_inbound"),
                  description="staff: email_outbound emails the customer; internal_note (default), note, phone_call, "
                  "meeting stay internal. Customer tokens: only email_inbound (the default), a reply."),
        "body": F("string", required=True, min_length=1, max_length=MAX_BODY, pattern=NOT_BLANK),
        "duration_minutes": F("integer", minimum=1, maximum=1440, nullable=True,
                              description="phone calls and meetings (staff tokens only)"),
    },
)  # fmt: skip

TIME_ENTRY_CREATE = Body(
    "TimeEntryCreate",
    {
        "minutes": F("integer", required=True, minimum=1, maximum=24 * 60),
        "note": F("string", max_length=2000),
        "work_date": F("string", format="date", max_length=10, description="defaults to today (UTC)"),
    },
)

_CONTACT_FIELDS = {
    "email": F("string", format="email", min_length=3, max_length=254),
    "name": F("string", max_length=200),
    "phone": F("string", max_length=40, nullable=True),
    "customer_id": ident(nullable=True),
    "portal_role": F("string", enum=tuple(r.value for r in PortalRole)),
    "portal_enabled": F("boolean"),
}
CONTACT_CREATE = Body("ContactCreate", {**_CONTACT_FIELDS, "email": _req(_CONTACT_FIELDS["email"])})
CONTACT_UPDATE = Body("ContactUpdate", _CONTACT_FIELDS)

_CUSTOMER_FIELDS = {
    "name": F("string", min_length=1, max_length=200, pattern=NOT_BLANK),
    "tier": F("string", enum=TIERS),
    "notes": F("string", max_length=MAX_BODY),
    "domains": F("array", items=F("string", min_length=3, max_length=255), max_items=50,
                 description="email domains whose senders belong to this customer (the whole new set)"),
}  # fmt: skip
CUSTOMER_CREATE = Body("CustomerCreate", {**_CUSTOMER_FIELDS, "name": _req(_CUSTOMER_FIELDS["name"])})
CUSTOMER_UPDATE = Body("CustomerUpdate", _CUSTOMER_FIELDS)

FORM_SUBMISSION = Body(
    "FormSubmission",
    {
        "subject": F("string", required=True, min_length=1, max_length=200, pattern=NOT_BLANK),
        "answers": F("object", free_form=True, description="field name -> answer (file fields cannot be sent)"),
        "contact_id": ident("submit for this contact (staff tokens only)"),
        "submitter_email": F("string", format="email", min_length=3, max_length=254,
                             description="submit for this address (staff tokens only)"),
        "submitter_name": F("string", max_length=200, description="staff tokens only"),
    },
    "Customer tokens submit as their contact and may send only subject and answers.",
)  # fmt: skip
CUSTOMER_FORM_SUBMISSION = frozenset({"subject", "answers"})

# -- responses ---------------------------------------------------------------------------------------------------

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
REQUESTS = [TICKET_CREATE, TICKET_UPDATE, INTERACTION_CREATE, TIME_ENTRY_CREATE, CONTACT_CREATE, CONTACT_UPDATE,
            CUSTOMER_CREATE, CUSTOMER_UPDATE, FORM_SUBMISSION]  # fmt: skip
