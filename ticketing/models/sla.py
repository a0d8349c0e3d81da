"""SLA policies (targets per tier and priority) and the business calendars they count in."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.domain.vocab import Priority, Tier
from ticketing.models.base import Base, str_enum


class BusinessCalendar(Base):
    __tablename__ = "business_calendar"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    timezone: Mapped[str] = mapped_column(sa.String(64), default="UTC")
    # {"0": [["09:00", "17:00"]], ...}: weekday (0 = Monday) -> local working intervals; "24:00" ends a day.
    hours: Mapped[dict[str, list[list[str]]]] = mapped_column(sa.JSON, default=dict)
    always_open: Mapped[bool] = mapped_column(default=False)
    # Country (and optional subdivision) whose public holidays the seed/admin loads into Holiday rows.
    holiday_country: Mapped[str | None] = mapped_column(sa.String(8))

    holidays: Mapped[list[Holiday]] = relationship(
        back_populates="calendar", cascade="all, delete-orphan", order_by="Holiday.day"
    )

    def __str__(self) -> str:
        return self.name


class Holiday(Base):
    __tablename__ = "holiday"
    __table_args__ = (sa.UniqueConstraint("calendar_id", "day", name="uq_holiday_calendar_day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    calendar_id: Mapped[int] = mapped_column(sa.ForeignKey("business_calendar.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(sa.Date)
    name: Mapped[str] = mapped_column(sa.String(120), default="")

    calendar: Mapped[BusinessCalendar] = relationship(back_populates="holidays")


class SlaPolicy(Base):
    """Targets for one customer tier (tier NULL = the default policy for customers without one)."""

    __tablename__ = "sla_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    tier: Mapped[Tier | None] = mapped_column(str_enum(Tier), unique=True)
    calendar_id: Mapped[int | None] = mapped_column(sa.ForeignKey("business_calendar.id"))

    calendar: Mapped[BusinessCalendar | None] = relationship()
    targets: Mapped[list[SlaTarget]] = relationship(back_populates="policy", cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.name


class SlaTarget(Base):
    __tablename__ = "sla_target"
    __table_args__ = (sa.UniqueConstraint("policy_id", "priority", name="uq_sla_target_policy_priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(sa.ForeignKey("sla_policy.id", ondelete="CASCADE"))
    priority: Mapped[Priority] = mapped_column(str_enum(Priority))
    # Working minutes; NULL = no target for this priority (e.g. Low has no resolution SLA).
    first_response_minutes: Mapped[int | None]
    resolution_minutes: Mapped[int | None]

    policy: Mapped[SlaPolicy] = relationship(back_populates="targets")
