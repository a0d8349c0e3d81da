"""Routing rules: what a new ticket's form, category, tags, mailbox, customer tier, source and words decide
about its team, priority, category, tags and assignee; and the per-team round-robin pointer."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.domain.vocab import Priority, Source, Tier
from ticketing.models.base import Base, UTCDateTime, str_enum, utcnow
from ticketing.models.mail import Mailbox
from ticketing.models.portal import IntakeForm
from ticketing.models.staff import Team, User
from ticketing.models.ticket import Category


class AutoAssign(StrEnum):
    NONE = "none"
    ROUND_ROBIN = "round_robin"  # the next team member after the last one picked
    LEAST_LOADED = "least_loaded"  # the team member with the fewest active tickets

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class RoutingRule(Base):
    """Evaluated in `position` order when a ticket is created.

    Conditions: every one that is set (not NULL / blank) must hold; a rule without conditions matches every ticket.
    Actions: every one that is set is applied, through the ticket services (so each change is audited).
    """

    __tablename__ = "routing_rule"
    __table_args__ = (sa.Index("ix_routing_rule_active_position", "active", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)
    # When this rule matched, the rules after it are not evaluated.
    stop_processing: Mapped[bool] = mapped_column(default=False)

    # Conditions.
    form_id: Mapped[int | None] = mapped_column(sa.ForeignKey("intake_form.id", ondelete="CASCADE"))
    category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("category.id", ondelete="CASCADE"))
    tag: Mapped[str | None] = mapped_column(sa.String(64))
    mailbox_id: Mapped[int | None] = mapped_column(sa.ForeignKey("mailbox.id", ondelete="CASCADE"))
    customer_tier: Mapped[Tier | None] = mapped_column(str_enum(Tier))
    source: Mapped[Source | None] = mapped_column(str_enum(Source))
    # Comma-separated; any one found as a whole word (case-insensitive) in the subject or first message matches.
    keywords: Mapped[str | None] = mapped_column(sa.Text)

    # Actions.
    set_team_id: Mapped[int | None] = mapped_column(sa.ForeignKey("team.id", ondelete="SET NULL"))
    set_priority: Mapped[Priority | None] = mapped_column(str_enum(Priority))
    set_category_id: Mapped[int | None] = mapped_column(sa.ForeignKey("category.id", ondelete="SET NULL"))
    add_tags: Mapped[list[str] | None] = mapped_column(sa.JSON)
    auto_assign: Mapped[AutoAssign] = mapped_column(str_enum(AutoAssign), default=AutoAssign.NONE)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    form: Mapped[IntakeForm | None] = relationship()
    category: Mapped[Category | None] = relationship(foreign_keys=[category_id])
    mailbox: Mapped[Mailbox | None] = relationship()
    set_team: Mapped[Team | None] = relationship()
    set_category: Mapped[Category | None] = relationship(foreign_keys=[set_category_id])

    @property
    def keyword_list(self) -> list[str]:
        """The keywords, trimmed, blanks dropped, in the order given."""
        return [k.strip() for k in (self.keywords or "").split(",") if k.strip()]

    def __str__(self) -> str:
        return self.name


class TeamRoundRobin(Base):
    """Per team: who auto-assignment picked last. The row is also the team's assignment lock (SELECT ... FOR UPDATE),
    so several web and worker processes hand out a team's tickets one at a time."""

    __tablename__ = "team_round_robin"

    team_id: Mapped[int] = mapped_column(sa.ForeignKey("team.id", ondelete="CASCADE"), primary_key=True)
    last_user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    team: Mapped[Team] = relationship()
    last_user: Mapped[User | None] = relationship()
