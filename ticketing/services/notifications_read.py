"""Staff notices marked read: opening a ticket reads the signed-in user's notices about it, "Mark all read" reads
the rest. Each is one UPDATE of that user's unread rows (the ix_notification_user_unread range), no ORM objects.

Not ticketing.notifications: that module queues the notices sent to customers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.orm import Session

from ticketing.models import Notification


def _mark_read(session: Session, now: datetime, *where: Any) -> int:
    result = session.execute(
        sa.update(Notification)
        .where(Notification.read_at.is_(None), *where)
        .values(read_at=now)
        .execution_options(synchronize_session=False)  # no Notification objects are loaded: nothing to refresh
    )
    return cast(CursorResult[Any], result).rowcount


def mark_ticket_read(session: Session, *, user_id: int, ticket_id: int, now: datetime) -> int:
    """The user's unread notices about the ticket, read now; how many."""
    return _mark_read(session, now, Notification.user_id == user_id, Notification.ticket_id == ticket_id)


def mark_all_read(session: Session, *, user_id: int, now: datetime) -> int:
    """Every unread notice of the user, read now; how many. Nobody else's."""
    return _mark_read(session, now, Notification.user_id == user_id)
