"""The one rule for what a customer may ever see of a ticket's timeline."""

from __future__ import annotations

from enum import StrEnum


class InteractionType(StrEnum):
    EMAIL_INBOUND = "email_inbound"
    EMAIL_OUTBOUND = "email_outbound"
    PHONE_CALL = "phone_call"
    SMS = "sms"
    MEETING = "meeting"
    NOTE = "note"
    INTERNAL_NOTE = "internal_note"
    SYSTEM = "system"

    @property
    def label(self) -> str:
        return {
            "email_inbound": "Email from customer",
            "email_outbound": "Email reply",
            "phone_call": "Phone call",
            "sms": "SMS",
            "internal_note": "Internal note",
        }.get(self.value, self.value.title())


class SmsStatus(StrEnum):
    LOGGED = "logged"  # recorded by an agent, never sent through a provider
    QUEUED = "queued"
    SENDING = "sending"  # claimed by a worker: the provider is being called
    SENT = "sent"
    FAILED = "failed"


# Always visible to the customer, whatever else is true of them.
CUSTOMER_VISIBLE_TYPES = frozenset({InteractionType.EMAIL_INBOUND, InteractionType.EMAIL_OUTBOUND})
# An SMS is shown once the provider accepted it; a merely logged one stays internal.
CONDITIONAL_TYPES = frozenset({InteractionType.SMS})
NEVER_VISIBLE_TYPES = frozenset(InteractionType) - CUSTOMER_VISIBLE_TYPES - CONDITIONAL_TYPES


def is_customer_visible(kind: InteractionType, sms_status: SmsStatus | None = None) -> bool:
    if kind in CUSTOMER_VISIBLE_TYPES:
        return True
    if kind == InteractionType.SMS:
        return sms_status == SmsStatus.SENT
    return False


def entry_label(kind: InteractionType, email_from: str | None) -> str:
    """What the agents' timeline calls an entry. A customer's message that came by the portal, a form or the API is of
    the email_inbound type (what the customer sees and answers is the same thread) but was no email."""
    if kind == InteractionType.EMAIL_INBOUND and not email_from:
        return "Message from customer"
    return kind.label
