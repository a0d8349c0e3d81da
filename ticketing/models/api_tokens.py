"""API tokens: a bearer secret for a staff user (acts as that user) or for a portal contact (sees what the
contact sees in the portal). Only a SHA-256 digest of the token is stored; the token itself is shown once."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ticketing.models.base import Base, UTCDateTime, utcnow
from ticketing.models.customer import Contact
from ticketing.models.staff import User


class ApiToken(Base):
    __tablename__ = "api_token"
    __table_args__ = (
        # Exactly one owner: a staff user, or a contact (customer scope).
        sa.CheckConstraint("(user_id IS NULL) <> (contact_id IS NULL)", name="one_owner"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    # The public part of the token (bh_<prefix>_<secret>): shown in lists, used to find the row.
    token_prefix: Mapped[str] = mapped_column(sa.String(16), unique=True)
    # sha256 hex of the whole token string.
    token_hash: Mapped[str] = mapped_column(sa.String(64))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contact.id", ondelete="CASCADE"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff_user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User | None] = relationship(foreign_keys=[user_id])
    contact: Mapped[Contact | None] = relationship(foreign_keys=[contact_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id])

    @property
    def owner(self) -> User | Contact | None:
        return self.user if self.user_id is not None else self.contact

    @property
    def is_staff(self) -> bool:
        return self.user_id is not None

    @property
    def display(self) -> str:
        return f"bh_{self.token_prefix}_…"

    def __str__(self) -> str:
        return f"{self.name} ({self.display})"
