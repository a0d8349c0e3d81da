"""Canned responses with placeholders."""

from __future__ import annotations

import re
from collections.abc import Mapping

from ticketing.models import CannedResponse, Ticket, User

PLACEHOLDERS = ("customer", "contact", "ticket", "subject", "agent")

# Exactly "{name}": no spaces, attributes, indexes, conversions or format specs.
_FIELD = re.compile(r"\{(\w+)\}")


def substitute_placeholders(text: str, values: Mapping[str, str]) -> str:
    """`text` with each "{name}" whose name is a key of `values` replaced by that value; everything else (unknown
    placeholders, lone braces, "{0:>10}", "{ticket.__class__}") stays exactly as typed. Doubled braces are no escape
    (this is not a format string): "{{agent}}" reads "{Lena}". One pass, so a
    value that itself reads "{agent}" is not filled in again. Not str.format: an admin's text is not a format
    string, and no text can make this raise."""
    return _FIELD.sub(lambda field: values.get(field[1], field[0]), text)


def fill(response: CannedResponse, ticket: Ticket, agent: User) -> str:
    contact = ticket.primary_contact
    values = {
        "customer": ticket.customer.name if ticket.customer else "",
        "contact": (contact.name or contact.email) if contact else "there",
        "ticket": f"#{ticket.id}",
        "subject": ticket.subject,
        "agent": agent.name,
    }
    return substitute_placeholders(response.body, values)
