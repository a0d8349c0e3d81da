"""Routing: the rules a new ticket runs through, auto-assignment inside a team, and the load it is based on.

Every change goes through the ticket services with the system as actor, so each one is a SYSTEM entry on the
timeline and an event. Like every service: flushes, never commits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.domain import lifecycle
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import StaffRole
from ticketing.models import Interaction, Team, Ticket, User, team_members, ticket_assignees
from ticketing.models.base import insert_for
from ticketing.models.routing import AutoAssign, RoutingRule, TeamRoundRobin
from ticketing.services import tickets, txcache

# Who auto-assignment may pick (admins run the desk; they are not in the queue).
ASSIGNABLE_ROLES = (StaffRole.AGENT, StaffRole.MANAGER)
_ACTIVE_STATUSES = sorted(lifecycle.ACTIVE)


@dataclass(frozen=True)
class TeamLoad:
    team_id: int
    name: str
    open_tickets: int


@dataclass(frozen=True)
class AgentLoad:
    user_id: int
    name: str
    role: StaffRole
    active: bool
    away: bool
    open_tickets: int


# -- matching -------------------------------------------------------------------------------------------------


def keyword_pattern(keywords: list[str]) -> re.Pattern[str] | None:
    """Any of the keywords as a whole word or phrase, case-insensitive ("bill" does not match "billing")."""
    parts = [r"\s+".join(re.escape(word) for word in k.split()) for k in keywords if k.strip()]
    if not parts:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)", re.IGNORECASE)


def ticket_text(session: Session, ticket: Ticket) -> str:
    """What keywords are looked for in: the subject and the first message (the first non-system entry)."""
    first = session.execute(
        sa.select(Interaction.body_text, Interaction.body_html)
        .where(Interaction.ticket_id == ticket.id, Interaction.type != InteractionType.SYSTEM)
        .order_by(Interaction.created_at, Interaction.id)
        .limit(1)
    ).first()
    body = ""
    if first is not None:
        body = first.body_text or re.sub(r"<[^>]+>", " ", first.body_html or "")
    return f"{ticket.subject}\n{body}"


def rule_matches(rule: RoutingRule, ticket: Ticket, *, mailbox_id: int | None, text: str) -> bool:
    """All the rule's conditions hold for the ticket as it is now (`text`: see ticket_text)."""
    if rule.form_id is not None and ticket.form_id != rule.form_id:
        return False
    # Relationships, not the *_id columns: a rule earlier in the run may have changed them before any flush.
    if rule.category_id is not None and (ticket.category is None or ticket.category.id != rule.category_id):
        return False
    if rule.tag and not set(tickets.normalise_tags([rule.tag])) <= set(ticket.tags):
        return False
    if rule.mailbox_id is not None and mailbox_id != rule.mailbox_id:
        return False
    if rule.customer_tier is not None and (ticket.customer is None or ticket.customer.tier != rule.customer_tier):
        return False
    if rule.source is not None and ticket.source != rule.source:
        return False
    pattern = keyword_pattern(rule.keyword_list)
    return pattern is None or pattern.search(text) is not None


def active_rules(session: Session) -> list[RoutingRule]:
    """Read once per transaction (a batch of emails opens many tickets)."""
    return txcache.memo(
        session,
        "routing_rules",
        lambda: list(
            session.scalars(
                sa.select(RoutingRule)
                .where(RoutingRule.active.is_(True))
                .order_by(RoutingRule.position, RoutingRule.id)
            )
        ),
        depends_on=(RoutingRule,),
    )


def matching_rules(session: Session, ticket: Ticket, *, mailbox_id: int | None = None) -> list[RoutingRule]:
    """The rules that match the ticket as it is now, in order, up to the first matching stop_processing rule.

    A dry run: it does not see what applying an earlier rule would change (apply_rules does).
    """
    text = ticket_text(session, ticket)
    matched: list[RoutingRule] = []
    for rule in active_rules(session):
        if rule_matches(rule, ticket, mailbox_id=mailbox_id, text=text):
            matched.append(rule)
            if rule.stop_processing:
                break
    return matched


# -- applying -------------------------------------------------------------------------------------------------


def apply_rules(session: Session, ticket: Ticket, *, now: datetime, mailbox_id: int | None = None) -> list[str]:
    """Run the active rules over a new ticket, in order; each sees what the earlier ones changed.

    Returns one line per thing that happened, e.g. "Rule 'Billing keywords': team -> Billing".
    """
    rules = active_rules(session)
    if not rules:
        return []
    if ticket.id is None:
        session.flush()  # opened in a batch without a flush (ticketing.services.mail_inbound): the rules read by id
    # The first message is read only when some rule looks for keywords in it.
    text = ticket_text(session, ticket) if any(keyword_pattern(r.keyword_list) for r in rules) else ""
    lines: list[str] = []
    for rule in rules:
        if not rule_matches(rule, ticket, mailbox_id=mailbox_id, text=text):
            continue
        done = _apply_actions(session, rule, ticket, now=now)
        lines.extend(f"Rule '{rule.name}': {what}" for what in done or ["matched, nothing to change"])
        if rule.stop_processing:
            lines.append(f"Rule '{rule.name}': stopped processing further rules")
            break
    session.flush()
    return lines


def _apply_actions(session: Session, rule: RoutingRule, ticket: Ticket, *, now: datetime) -> list[str]:
    done: list[str] = []
    if rule.set_category is not None and rule.set_category is not ticket.category:
        tickets.set_category(session, ticket, rule.set_category, actor=None, now=now)
        done.append(f"category -> {rule.set_category.name}")
    if rule.set_team is not None and rule.set_team is not ticket.assigned_team:
        tickets.set_team(session, ticket, rule.set_team, actor=None, now=now)
        done.append(f"team -> {rule.set_team.name}")
    if rule.set_priority is not None and rule.set_priority != ticket.priority:
        tickets.set_priority(session, ticket, rule.set_priority, actor=None, now=now)
        done.append(f"priority -> {rule.set_priority.label}")
    if rule.add_tags:
        new = [t for t in tickets.normalise_tags(rule.add_tags) if t not in ticket.tags]
        if new:
            tickets.add_tags(session, ticket, new, actor=None, now=now)
            done.append("tags + " + ", ".join(new))
    if rule.auto_assign != AutoAssign.NONE:
        done.append(_auto_assign(session, rule.auto_assign, ticket, now=now))
    return done


def _auto_assign(session: Session, strategy: AutoAssign, ticket: Ticket, *, now: datetime) -> str:
    how = strategy.label.lower()
    team = ticket.assigned_team
    if team is None:
        return f"not auto-assigned ({how}): the ticket has no team"
    if ticket.assignees:
        return f"not auto-assigned ({how}): already assigned to " + ", ".join(u.name for u in ticket.assignees)
    user = pick_assignee(session, team, strategy=strategy, now=now)
    if user is None:
        return f"not auto-assigned ({how}): nobody available in {team.name}"
    tickets.add_assignee(session, ticket, user, actor=None, now=now)
    return f"assigned to {user.name} ({how})"


# -- auto-assignment ------------------------------------------------------------------------------------------


def candidates_query(team: Team) -> sa.Select[User]:
    """Active, present agents and managers of the team, by id."""
    return (
        sa.select(User)
        .join(team_members, team_members.c.user_id == User.id)
        .where(
            team_members.c.team_id == team.id,
            User.active.is_(True),
            User.away.is_(False),
            User.role.in_(ASSIGNABLE_ROLES),
        )
        .order_by(User.id)
    )


def _active_load_subquery() -> sa.Subquery:
    """user_id -> number of ACTIVE tickets assigned (users without any are absent: coalesce to 0)."""
    return (
        sa.select(ticket_assignees.c.user_id, sa.func.count().label("n"))
        .join(Ticket, Ticket.id == ticket_assignees.c.ticket_id)
        .where(Ticket.status.in_(_ACTIVE_STATUSES))
        .group_by(ticket_assignees.c.user_id)
        .subquery("load")
    )


def _lock_team_state(session: Session, team: Team) -> TeamRoundRobin:
    """The team's round-robin row, created if missing, locked FOR UPDATE until the transaction ends.

    Creating is an INSERT .. ON CONFLICT DO NOTHING, so two processes racing for a new team never collide.
    On SQLite the lock is a no-op (the database has one writer anyway).
    """
    session.flush()
    session.execute(insert_for(session)(TeamRoundRobin).values(team_id=team.id).on_conflict_do_nothing())
    return session.scalars(
        sa.select(TeamRoundRobin)
        .where(TeamRoundRobin.team_id == team.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()


def pick_assignee(session: Session, team: Team, *, strategy: AutoAssign | str, now: datetime) -> User | None:
    """Who in the team gets the next ticket, or None when nobody is available (or the strategy is none).

    round_robin: the next candidate (by user id, wrapping) after the one picked last for this team; the pointer
    lives in the database, so it survives restarts and is shared by every process.
    least_loaded: the candidate with the fewest active tickets assigned, ties to the lowest user id.
    Both hold the team's lock row until the transaction ends, so concurrent picks for a team queue up.
    """
    strategy = AutoAssign(strategy)
    if strategy == AutoAssign.NONE:
        return None
    state = _lock_team_state(session, team)
    if strategy == AutoAssign.ROUND_ROBIN:
        after = state.last_user_id if state.last_user_id is not None else 0
        # Those after the last pick first, then wrap around to the lowest id.
        wrapped = sa.case((User.id > after, 0), else_=1)
        user = session.scalars(candidates_query(team).order_by(None).order_by(wrapped, User.id).limit(1)).first()
        if user is not None:
            state.last_user_id = user.id
            state.updated_at = now
            session.flush()
        return user
    load = _active_load_subquery()
    return session.scalars(
        candidates_query(team)
        .outerjoin(load, load.c.user_id == User.id)
        .order_by(None)
        .order_by(sa.func.coalesce(load.c.n, 0), User.id)
        .limit(1)
    ).first()


# -- load -----------------------------------------------------------------------------------------------------


def team_load(session: Session) -> list[TeamLoad]:
    """Every team with its number of active tickets (0 included), by name."""
    count = sa.func.count(Ticket.id)
    rows = session.execute(
        sa.select(Team.id, Team.name, count)
        .outerjoin(Ticket, sa.and_(Ticket.assigned_team_id == Team.id, Ticket.status.in_(_ACTIVE_STATUSES)))
        .group_by(Team.id, Team.name)
        .order_by(Team.name, Team.id)
    )
    return [TeamLoad(team_id=team_id, name=name, open_tickets=n) for team_id, name, n in rows]


def agent_load(session: Session) -> list[AgentLoad]:
    """Active agents and managers with their number of active tickets (0 included), plus anyone else (inactive,
    admin) still holding active tickets, by name."""
    load = _active_load_subquery()
    n = sa.func.coalesce(load.c.n, 0)
    rows = session.execute(
        sa.select(User.id, User.name, User.role, User.active, User.away, n)
        .outerjoin(load, load.c.user_id == User.id)
        .where(sa.or_(sa.and_(User.active.is_(True), User.role.in_(ASSIGNABLE_ROLES)), n > 0))
        .order_by(User.name, User.id)
    )
    return [
        AgentLoad(user_id=uid, name=name, role=role, active=active, away=away, open_tickets=count)
        for uid, name, role, active, away, count in rows
    ]
