"""Persistence: one module per aggregate. Importing this package registers every table."""

from ticketing.models.agent import CannedResponse, Notification, SmsProvider
from ticketing.models.api_tokens import ApiToken
from ticketing.models.base import Base, UTCDateTime, utcnow
from ticketing.models.customer import Contact, Customer, CustomerDomain, Milestone, OnboardingPlan
from ticketing.models.interaction import Attachment, Interaction
from ticketing.models.mail import (
    ImapSecurity,
    InboundMessage,
    InboundStatus,
    Mailbox,
    MailThreadRef,
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
)
from ticketing.models.portal import Branding, IntakeForm
from ticketing.models.routing import AutoAssign, RoutingRule, TeamRoundRobin
from ticketing.models.sla import BusinessCalendar, Holiday, SlaPolicy, SlaTarget
from ticketing.models.staff import Team, User, team_members
from ticketing.models.ticket import (
    Category,
    SlaPause,
    Ticket,
    TicketTag,
    TimeEntry,
    ticket_assignees,
    ticket_contacts,
)
from ticketing.models.webhooks import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEvent,
    WebhookSubscription,
)

__all__ = [
    "ApiToken",
    "Attachment",
    "DeliveryStatus",
    "WebhookAttempt",
    "WebhookDelivery",
    "WebhookEvent",
    "WebhookSubscription",
    "AutoAssign",
    "RoutingRule",
    "TeamRoundRobin",
    "CannedResponse",
    "Notification",
    "SmsProvider",
    "Branding",
    "IntakeForm",
    "ImapSecurity",
    "InboundMessage",
    "InboundStatus",
    "Mailbox",
    "MailThreadRef",
    "OutboundKind",
    "OutboundMessage",
    "OutboundStatus",
    "Base",
    "BusinessCalendar",
    "Category",
    "Contact",
    "Customer",
    "CustomerDomain",
    "Holiday",
    "Interaction",
    "Milestone",
    "OnboardingPlan",
    "SlaPause",
    "SlaPolicy",
    "SlaTarget",
    "Team",
    "Ticket",
    "TicketTag",
    "TimeEntry",
    "UTCDateTime",
    "User",
    "team_members",
    "ticket_assignees",
    "ticket_contacts",
    "utcnow",
]
