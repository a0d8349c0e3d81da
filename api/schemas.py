"""Every request body and query of the API, defined once: the validators enforce these objects and api/openapi.py
renders them into the OpenAPI document (response shapes: api/shapes.py)."""

from __future__ import annotations

from api.validation import NOT_BLANK, Body, F, Query, ident
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import PortalRole, Priority, Tier

STATUSES = tuple(s.value for s in Status)
PRIORITIES = tuple(p.value for p in Priority)
TIERS = tuple(t.value for t in Tier)
MAX_BODY = 20000

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
        "q": F(
            "string",
            min_length=1,
            max_length=100,
            description="a ticket number (42 or #42), or words to find in the subject, messages, contact or customer: "
            'each word anywhere in the ticket, "a phrase" in quotes as written, a whole email address as that '
            "contact's; one of at least 3 characters (staff tokens only)",
        ),
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
        "tags": TAGS.but(description="staff tokens only"),
        "assignee_ids": IDS.but(description="staff tokens only"),
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
        "tags": TAGS.but(description="the whole new set"),
        "assignee_ids": IDS.but(description="the whole new set of assignees"),
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
CONTACT_CREATE = Body("ContactCreate", {**_CONTACT_FIELDS, "email": _CONTACT_FIELDS["email"].but(required=True)})
CONTACT_UPDATE = Body("ContactUpdate", _CONTACT_FIELDS)

_CUSTOMER_FIELDS = {
    "name": F("string", min_length=1, max_length=200, pattern=NOT_BLANK),
    "tier": F("string", enum=TIERS),
    "notes": F("string", max_length=MAX_BODY),
    "domains": F("array", items=F("string", min_length=3, max_length=255), max_items=50,
                 description="email domains whose senders belong to this customer (the whole new set)"),
}  # fmt: skip
CUSTOMER_CREATE = Body("CustomerCreate", {**_CUSTOMER_FIELDS, "name": _CUSTOMER_FIELDS["name"].but(required=True)})
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

REQUESTS = [TICKET_CREATE, TICKET_UPDATE, INTERACTION_CREATE, TIME_ENTRY_CREATE, CONTACT_CREATE, CONTACT_UPDATE,
            CUSTOMER_CREATE, CUSTOMER_UPDATE, FORM_SUBMISSION]  # fmt: skip
