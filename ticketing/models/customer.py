"""The customer record: the organisation, its domains, its people and its onboarding plan."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ticketing.domain.vocab import MilestoneStatus, PortalRole, Tier
from ticketing.models.base import Base, UTCDateTime, str_enum, trigram_index, utcnow

if TYPE_CHECKING:
    from ticketing.models.ticket import Ticket


class Customer(Base):
    __tablename__ = "customer"
    __table_args__ = (trigram_index("ix_customer_name_trgm", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), index=True)
    tier: Mapped[Tier] = mapped_column(str_enum(Tier), default=Tier.STANDARD)
    notes: Mapped[str] = mapped_column(sa.Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    domains: Mapped[list[CustomerDomain]] = relationship(
        back_populates="customer", cascade="all, delete-orphan", order_by="CustomerDomain.domain"
    )
    contacts: Mapped[list[Contact]] = relationship(back_populates="customer", order_by="Contact.name")
    onboarding_plan: Mapped[OnboardingPlan | None] = relationship(
        back_populates="customer", cascade="all, delete-orphan", uselist=False
    )
    tickets: Mapped[list[Ticket]] = relationship(back_populates="customer", viewonly=True)

    def __str__(self) -> str:
        return self.name


class CustomerDomain(Base):
    """An email domain that auto-links senders to the customer (unique across customers)."""

    __tablename__ = "customer_domain"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(sa.String(255), unique=True)

    customer: Mapped[Customer] = relationship(back_populates="domains")

    def __str__(self) -> str:
        return self.domain


class Contact(UserMixin, Base):
    """A person at a customer (or not yet linked to one); may sign in to the portal."""

    __tablename__ = "contact"
    __table_args__ = (trigram_index("ix_contact_email_trgm", "email"), trigram_index("ix_contact_name_trgm", "name"))

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(sa.ForeignKey("customer.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    phone: Mapped[str | None] = mapped_column(sa.String(40))
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    portal_role: Mapped[PortalRole] = mapped_column(str_enum(PortalRole), default=PortalRole.OWN)
    portal_enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    customer: Mapped[Customer | None] = relationship(back_populates="contacts")

    def get_id(self) -> str:
        return f"contact:{self.id}"

    @property
    def is_staff(self) -> bool:
        return False

    @property
    def display_name(self) -> str:
        return self.name or self.email

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash or "", password)

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>" if self.name else self.email


class OnboardingPlan(Base):
    __tablename__ = "onboarding_plan"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(sa.ForeignKey("customer.id", ondelete="CASCADE"), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    started_on: Mapped[date | None] = mapped_column(sa.Date)

    customer: Mapped[Customer] = relationship(back_populates="onboarding_plan")
    milestones: Mapped[list[Milestone]] = relationship(
        back_populates="plan", cascade="all, delete-orphan", order_by="Milestone.position"
    )

    def __str__(self) -> str:
        return self.name


class Milestone(Base):
    __tablename__ = "onboarding_milestone"

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("onboarding_plan.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(default=0)
    title: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[MilestoneStatus] = mapped_column(str_enum(MilestoneStatus), default=MilestoneStatus.PLANNED)
    due_on: Mapped[date | None] = mapped_column(sa.Date)
    completed_on: Mapped[date | None] = mapped_column(sa.Date)

    plan: Mapped[OnboardingPlan] = relationship(back_populates="milestones")

    def __str__(self) -> str:
        return self.title
