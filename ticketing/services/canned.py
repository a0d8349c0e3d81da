"""Canned responses with placeholders."""

from __future__ import annotations

import string

from ticketing.models import CannedResponse, Ticket, User

PLACEHOLDERS = ("customer", "contact", "ticket", "subject", "agent")


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"  # an unknown placeholder stays visible for the agent to fix


def fill(response: CannedResponse, ticket: Ticket, agent: User) -> str:
    contact = ticket.primary_contact
    values = _Blank(
        customer=ticket.customer.name if ticket.customer else "",
        contact=(contact.name or contact.email) if contact else "there",
        ticket=f"#{ticket.id}",
        subject=ticket.subject,
        agent=agent.name,
    )
    # Only plain {name} fields: no attribute or index access from template text.
    fields = [name for _, name, _, _ in string.Formatter().parse(response.body) if name]
    if any(not name.isidentifier() for name in fields):
        return response.body
    return response.body.format_map(values)
