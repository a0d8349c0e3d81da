"""Staff users and teams."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from ticketing.domain.vocab import StaffRole
from ticketing.models.base import Base, UTCDateTime, str_enum, utcnow

if TYPE_CHECKING:
    from ticketing.models.ticket import Ticket

team_members = sa.Table(
    "team_member",
    Base.metadata,
    sa.Column("team_id", sa.ForeignKey("team.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.ForeignKey("staff_user.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class User(UserMixin, Base):
    __tablename__ = "staff_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    email: Mapped[str] = mapped_column(sa.String(255), unique=True)
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    role: Mapped[StaffRole] = mapped_column(str_enum(StaffRole), default=StaffRole.AGENT)
    active: Mapped[bool] = mapped_column(default=True)
    # Away agents are skipped by auto-assignment.
    away: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    teams: Mapped[list[Team]] = relationship(secondary=team_members, back_populates="members")
    assigned_tickets: Mapped[list[Ticket]] = relationship(
        secondary="ticket_assignee", back_populates="assignees", viewonly=True
    )

    # Flask-Login: staff ids are prefixed so they never collide with portal contacts.
    def get_id(self) -> str:
        return f"staff:{self.id}"

    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    @property
    def is_staff(self) -> bool:
        return True

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return bool(self.password_hash) and check_password_hash(self.password_hash or "", password)

    def __str__(self) -> str:
        return self.name


class Team(Base):
    __tablename__ = "team"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)
    description: Mapped[str] = mapped_column(sa.Text, default="")

    members: Mapped[list[User]] = relationship(secondary=team_members, back_populates="teams")

    def __str__(self) -> str:
        return self.name
