"""Small builders for test data; each returns a flushed object."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from werkzeug.security import generate_password_hash

from ticketing.domain.vocab import Priority, Source, StaffRole, Tier
from ticketing.models import (
    BusinessCalendar,
    Contact,
    Customer,
    CustomerDomain,
    SlaPolicy,
    SlaTarget,
    Team,
    Ticket,
    User,
)
from ticketing.services import tickets

_seq = itertools.count(1)
_hashes: dict[str, str] = {}


def password_hash(password: str) -> str:
    """Hashing is deliberately slow; tests reuse one hash per password."""
    if password not in _hashes:
        _hashes[password] = generate_password_hash(password)
    return _hashes[password]


NINE_TO_FIVE = {str(d): [["09:00", "17:00"]] for d in range(5)}


class Factory:
    def __init__(self, session: Any) -> None:
        self.session = session

    def _add(self, obj: Any) -> Any:
        self.session.add(obj)
        self.session.flush()
        return obj

    def customer(
        self, name: str | None = None, *, tier: Tier = Tier.STANDARD, domains: tuple[str, ...] = ()
    ) -> Customer:
        n = next(_seq)
        customer = Customer(name=name or f"Customer {n}", tier=tier)
        customer.domains = [CustomerDomain(domain=d) for d in (domains or (f"c{n}.example",))]
        return self._add(customer)

    def contact(
        self,
        customer: Customer | None = None,
        *,
        email: str | None = None,
        name: str = "",
        password: str | None = None,
        **kw: Any,
    ) -> Contact:
        n = next(_seq)
        if email is None:
            domain = customer.domains[0].domain if customer and customer.domains else "people.example"
            email = f"person{n}@{domain}"
        contact = Contact(email=email, name=name or f"Person {n}", customer=customer, **kw)
        if password:
            contact.password_hash = password_hash(password)
        return self._add(contact)

    def user(
        self,
        *,
        role: StaffRole = StaffRole.AGENT,
        teams: list[Team] | None = None,
        password: str = "pw-secret-1",
        email: str | None = None,
        name: str | None = None,
    ) -> User:
        n = next(_seq)
        user = User(name=name or f"Agent {n}", email=email or f"agent{n}@bluehill.test", role=role, teams=teams or [])
        user.password_hash = password_hash(password)
        return self._add(user)

    def team(self, name: str | None = None) -> Team:
        return self._add(Team(name=name or f"Team {next(_seq)}"))

    def calendar(
        self, *, tz: str = "Europe/Berlin", hours: dict[str, list[list[str]]] | None = None, always_open: bool = False
    ) -> BusinessCalendar:
        return self._add(
            BusinessCalendar(
                name=f"Calendar {next(_seq)}",
                timezone=tz,
                hours=NINE_TO_FIVE if hours is None else hours,
                always_open=always_open,
            )
        )

    def policy(
        self,
        tier: Tier | None,
        calendar: BusinessCalendar | None = None,
        targets: dict[Priority, tuple[int | None, int | None]] | None = None,
    ) -> SlaPolicy:
        targets = targets or {
            Priority.MEDIUM: (60, 480),
            Priority.HIGH: (30, 240),
            Priority.URGENT: (15, 120),
            Priority.LOW: (240, None),
        }
        policy = SlaPolicy(name=f"Policy {next(_seq)}", tier=tier, calendar=calendar)
        policy.targets = [
            SlaTarget(priority=p, first_response_minutes=fr, resolution_minutes=res) for p, (fr, res) in targets.items()
        ]
        return self._add(policy)

    def ticket(
        self,
        *,
        now: datetime | None = None,
        contact: Contact | None = None,
        priority: Priority = Priority.MEDIUM,
        source: Source = Source.PORTAL,
        subject: str = "Help please",
        body: str = "It is broken.",
        **kw: Any,
    ) -> Ticket:
        contact = contact or self.contact(self.customer())
        return tickets.create_ticket(
            self.session,
            subject=subject,
            body=body,
            source=source,
            now=now or datetime.now(UTC),
            actor=contact,
            contact=contact,
            priority=priority,
            **kw,
        )
