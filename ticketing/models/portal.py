"""What the portal needs of its own: the brand it wears and the intake forms customers fill in."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.domain.vocab import Priority
from ticketing.models.base import Base, UTCDateTime, str_enum, utcnow
from ticketing.models.staff import Team
from ticketing.models.ticket import Category


class Branding(Base):
    """One row: the product name, logo, colour and support address on every portal page and customer email."""

    __tablename__ = "branding"

    id: Mapped[int] = mapped_column(primary_key=True)
    product_name: Mapped[str] = mapped_column(sa.String(80), default="Bluehill Support")
    primary_color: Mapped[str] = mapped_column(sa.String(7), default="#1f5fbf")
    support_address: Mapped[str | None] = mapped_column(sa.String(255))
    logo_key: Mapped[str | None] = mapped_column(sa.String(80))
    logo_content_type: Mapped[str | None] = mapped_column(sa.String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IntakeForm(Base):
    """An admin-defined intake form; its fields live in `fields` (see ticketing/domain/form_fields.py)."""

    __tablename__ = "intake_form"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(80), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    description: Mapped[str] = mapped_column(sa.Text, default="")
    fields: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    # What a submission becomes.
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("category.id"))
    team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team.id"))
    priority: Mapped[Priority] = mapped_column(str_enum(Priority), default=Priority.MEDIUM)
    tags: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # Anyone may submit it (public page and embed); otherwise only signed-in contacts on the portal.
    public: Mapped[bool] = mapped_column(default=True)
    # Origins allowed to embed the form in a frame, space-separated (e.g. "https://www.example.com").
    allowed_origins: Mapped[str] = mapped_column(sa.Text, default="")
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    category: Mapped[Category | None] = relationship()
    team: Mapped[Team | None] = relationship()

    def __str__(self) -> str:
        return self.name

    @property
    def origins(self) -> list[str]:
        return [o.rstrip("/") for o in self.allowed_origins.split() if o.startswith(("https://", "http://"))]
