"""Which tickets a staff user may open: managers and admins all; agents their teams' tickets, the tickets
assigned to them, and the general inbox (tickets no team owns yet)."""

from __future__ import annotations

import sqlalchemy as sa

from ticketing.domain.vocab import StaffRole
from ticketing.models import Ticket, User, team_members, ticket_assignees


def sees_everything(user: User) -> bool:
    return user.role in (StaffRole.MANAGER, StaffRole.ADMIN)


def visible_clause(user: User) -> sa.ColumnElement[bool]:
    if sees_everything(user):
        return sa.true()
    my_teams = sa.select(team_members.c.team_id).where(team_members.c.user_id == user.id)
    mine = sa.select(ticket_assignees.c.ticket_id).where(ticket_assignees.c.user_id == user.id)
    return sa.or_(Ticket.assigned_team_id.in_(my_teams), Ticket.assigned_team_id.is_(None), Ticket.id.in_(mine))


def can_open(session: sa.orm.Session, user: User, ticket_id: int) -> bool:
    return session.scalar(sa.select(Ticket.id).where(Ticket.id == ticket_id, visible_clause(user))) is not None
