"""The fixed vocabularies of the help desk (stored by value)."""

from __future__ import annotations

from enum import StrEnum


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"

    @property
    def label(self) -> str:
        return self.value.title()

    @property
    def rank(self) -> int:
        return list(Priority).index(self)


class Tier(StrEnum):
    STANDARD = "standard"
    PREMIUM = "premium"
    ENTERPRISE = "enterprise"

    @property
    def label(self) -> str:
        return self.value.title()


class Source(StrEnum):
    EMAIL = "email"
    PORTAL = "portal"
    WEB = "web"
    MANUAL = "manual"
    API = "api"
    PHONE = "phone"

    @property
    def label(self) -> str:
        return self.value.title()


class StaffRole(StrEnum):
    AGENT = "agent"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return self.value.title()


class PortalRole(StrEnum):
    """What a contact sees in the portal: own tickets, or every ticket of the customer."""

    OWN = "own"
    CUSTOMER = "customer"


class MilestoneStatus(StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    BLOCKED = "blocked"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()
