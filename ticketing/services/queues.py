"""Agent queues: which tickets, in which order, one keyset page at a time; the menu's counts.

A queue page is one statement (the page's rows, then their customer and assignee names) of plain columns, not
ORM objects: a page shows 50 rows and nothing on it is edited in place. The menu's counts are one
aggregate statement, kept in Redis per user and recounted after a ticket, a user or a team changed, at most every
few seconds (see `counts`), so the menu is not recounted on every page.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import sqlalchemy as sa
from redis import Redis, RedisError
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.orm import Session

from ticketing.domain.ids import id_from
from ticketing.domain.lifecycle import ACTIVE, Status
from ticketing.domain.search_terms import (
    SEARCH_MIN_RUN,
    address_term,
    leading_term,
    leading_terms,
    like_pattern,
    search_terms,
)
from ticketing.domain.vocab import Priority, Tier
from ticketing.models import Contact, Customer, Interaction, Team, Ticket, TicketTag, User, ticket_assignees
from ticketing.models.base import read_rows
from ticketing.models.staff import team_members
from ticketing.services.staff_access import sees_everything

log = logging.getLogger(__name__)

PAGE_SIZE = 50
BREACHING_HORIZON = timedelta(hours=4)  # the agent screens colour "< 4h left" amber too
COUNTS_KEY = "queue-counts"  # a Redis hash: user id -> {"at": epoch seconds, "counts": {...}}
COUNTS_TTL_SECONDS = 30


@dataclass(frozen=True)
class Queue:
    key: str
    title: str
    managers_only: bool = False


QUEUES = [
    Queue("mine", "My tickets"),
    Queue("unassigned", "Unassigned"),
    Queue("breaching", "Breaching soon"),
    Queue("waiting", "Waiting on customer"),
    Queue("all", "All tickets", managers_only=True),
]
SORTS = {"updated", "due", "priority", "created"}


@dataclass(frozen=True)
class Filters:
    status: Status | None = None
    priority: Priority | None = None
    team_id: int | None = None
    tag: str | None = None
    query: str | None = None
    sort: str = "updated"


@dataclass(frozen=True)
class Scope:
    """Whose queues: the user and the teams they belong to (read once per request, then used as literals)."""

    user_id: int
    everything: bool
    team_ids: tuple[int, ...]

    @classmethod
    def of_teams(cls, user: User, teams: list[Any]) -> Scope:
        """From every team with the user's membership flag (`TeamRow`s)."""
        if sees_everything(user):
            return cls(user.id, True, ())
        return cls(user.id, False, tuple(sorted(t.id for t in teams if t.member)))

    @classmethod
    def of(cls, session: Session, user: User) -> Scope:
        if sees_everything(user):
            return cls(user.id, True, ())
        ids = session.scalars(sa.select(team_members.c.team_id).where(team_members.c.user_id == user.id))
        return cls(user.id, False, tuple(sorted(ids)))


@dataclass
class QueueRow:
    """One line of a queue page (the attributes `cursor_of` reads are a ticket's own names)."""

    id: int
    subject: str
    status: Status
    priority: Priority
    created_at: datetime
    updated_at: datetime
    due_date: datetime | None
    resolved_at: datetime | None
    sla_breach_at: datetime | None
    assigned_team_id: int | None
    customer_name: str | None
    customer_tier: Tier | None
    assignees: list[str] = field(default_factory=list)


# The active statuses in the order of the partial indexes' WHERE (ACTIVE_SQL, models/ticket.py).
_ACTIVE_VALUES = ("open", "in_progress", "pending", "waiting_on_customer")
if set(_ACTIVE_VALUES) != {s.value for s in ACTIVE}:
    raise RuntimeError("queues._ACTIVE_VALUES must list the active statuses")


def _active() -> sa.ColumnElement[bool]:
    # Constants, not parameters: a partial index on the active tickets (ix_ticket_active_*) serves a query only
    # when the planner sees the same values in its WHERE: SQLite compares the IN list as written, and a
    # PostgreSQL generic plan (prepared statements) knows no parameter's value.
    return Ticket.status.in_([sa.literal_column(f"'{value}'") for value in _ACTIVE_VALUES])


def _scope(session: Session | None, user: User, scope: Scope | None) -> Scope:
    if scope is not None:
        return scope
    if session is None:
        session = sa.inspect(user).session
    if session is None:
        raise ValueError("a detached user needs an explicit Scope")
    return Scope.of(session, user)


def _mine(user_id: int) -> sa.ColumnElement[bool]:
    # Named parameters (here and below): a page's statement is built once per shape and run with new values.
    user = sa.bindparam("user_id", user_id, type_=sa.Integer)
    # EXISTS, not IN: inside an OR (an agent's visibility) or a FILTER (the menu's counts) PostgreSQL hashes the
    # whole IN list, every ticket the agent ever had (100k rows at 1M tickets); EXISTS probes the primary key.
    return sa.exists().where(ticket_assignees.c.ticket_id == Ticket.id, ticket_assignees.c.user_id == user)


def _in_my_teams(scope: Scope) -> sa.ColumnElement[bool]:
    """The team part of what an agent may see: their teams' tickets and the general inbox (no team)."""
    if not scope.team_ids:
        return Ticket.assigned_team_id.is_(None)
    return sa.or_(Ticket.assigned_team_id.in_(scope.team_ids), Ticket.assigned_team_id.is_(None))


def visible(scope: Scope) -> sa.ColumnElement[bool]:
    """staff_access.visible_clause with the user's teams as literals (the planner sees the real values)."""
    if scope.everything:
        return sa.true()
    return sa.or_(_in_my_teams(scope), _mine(scope.user_id))


def _unassigned() -> sa.ColumnElement[bool]:
    # NOT EXISTS, not NOT IN: with a desk's history of assignee rows, PostgreSQL ran NOT IN as a subplan over
    # the whole list for every active ticket (> 10 s at 1M tickets); NOT EXISTS is an anti-join.
    return ~sa.exists().where(ticket_assignees.c.ticket_id == Ticket.id)


def _breaching_horizon() -> datetime:
    return datetime.now(UTC) + BREACHING_HORIZON


def _horizon_param() -> sa.BindParameter[datetime]:
    return sa.bindparam("horizon", _breaching_horizon(), type_=Ticket.due_date.type)


def queue_clause(user: User, key: str, scope: Scope | None = None) -> sa.ColumnElement[bool]:
    """Which tickets are in queue `key` for `user`, visibility included (each queue adds only what it needs:
    Mine and the user's own team queues are visible by construction)."""
    scope = _scope(None, user, scope)
    if key == "mine":
        return sa.and_(_active(), _mine(scope.user_id))
    if key == "unassigned":
        # An unassigned ticket is nobody's, so "assigned to me" adds nothing to what the agent may see.
        teams = sa.true() if scope.everything else _in_my_teams(scope)
        return sa.and_(_active(), _unassigned(), teams)
    if key == "breaching":
        # Overdue ones first (their due date is earliest), then those due within the next hours.
        due = sa.and_(Ticket.due_date.is_not(None), Ticket.due_date <= _horizon_param())
        return sa.and_(_active(), due, visible(scope))
    if key == "waiting":
        return sa.and_(Ticket.status == Status.WAITING_ON_CUSTOMER, visible(scope))
    if key.startswith("team-") and (team_id := id_from(key[5:])) is not None:
        own = scope.everything or team_id in scope.team_ids
        return sa.and_(_active(), Ticket.assigned_team_id == team_id, sa.true() if own else visible(scope))
    if key == "all":
        return visible(scope)
    raise ValueError(f"unknown queue {key!r}")


def _order(sort: str, key: str) -> tuple[Any, bool]:
    """(sort column, descending?) — 'breaching' is always most urgent first."""
    if key == "breaching" or sort == "due":
        return Ticket.due_date, False
    if sort == "created":
        return Ticket.created_at, True
    if sort == "priority":
        rank = sa.case({p.value: p.rank for p in Priority}, value=Ticket.priority)
        return rank, True
    return Ticket.updated_at, True


_TICKET_COLUMNS = (
    Ticket.id,
    Ticket.subject,
    Ticket.status,
    Ticket.priority,
    Ticket.created_at,
    Ticket.updated_at,
    Ticket.due_date,
    Ticket.resolved_at,
    Ticket.sla_breach_at,
    Ticket.assigned_team_id,
)
NAME_SEPARATOR = "\x1f"  # between the assignee names of a row (the ASCII unit separator: never in a name)


def _assignee_names(dialect: str, ticket_id: Any) -> sa.ScalarSelect[Any]:
    """The ticket's assignees' names in one string: by name on PostgreSQL, sorted in Python on SQLite (whose
    group_concat has no ORDER BY before 3.44; its BINARY order is Python's code point order)."""
    join = ticket_assignees.join(User, User.id == ticket_assignees.c.user_id)
    if dialect == "postgresql":
        agg = sa.func.string_agg(User.name, aggregate_order_by(sa.literal(NAME_SEPARATOR), User.name))
    else:
        agg = sa.func.group_concat(User.name, NAME_SEPARATOR)
    return sa.select(agg).select_from(join).where(ticket_assignees.c.ticket_id == ticket_id).scalar_subquery()


def page(
    session: Session, user: User, key: str, filters: Filters, *, after: tuple[Any, int] | None = None,
    limit: int = PAGE_SIZE, scope: Scope | None = None,
) -> list[QueueRow]:  # fmt: skip
    """One page of a queue, keyset-paginated on (sort key, id): constant cost however deep the page.

    One statement: the page's tickets first (WHERE, ORDER BY, LIMIT on the ticket table alone, so the planner
    walks an index in queue order and stops after `limit` rows), then, for those rows only, their customer and
    their assignees' names. Joined before the LIMIT, the customer was looked up for every candidate row (My
    tickets sorts all of the agent's tickets before it can cut).

    A text search is one statement per term tried: it collects the matching ids of one term through the search
    indexes, reads the page of those (checking the other terms on them) and says how many it found. Past
    SEARCH_MANY_MATCHES (it then read no page) the next term that can lead is tried, and after the last one a
    statement checks the queue's tickets in order instead (`_search_walk`, every term).
    """
    scope = _scope(session, user, scope)
    if key == "all" and not scope.everything:
        raise PermissionError("the All queue is for managers")
    if filters.sort == "due" and key != "breaching":
        # Time left, most urgent first, then the tickets without a running clock (paused, waiting on the customer,
        # no SLA) by number: each part read in its own index order (one ORDER BY with NULLs last could use none).
        rows: list[QueueRow] = []
        if after is None or after[0] is not None:
            rows = _page(session, user, key, filters, after, limit, scope, undated=False)
        if len(rows) < limit:
            tail = after if after is not None and after[0] is None else None
            rows += _page(session, user, key, filters, tail, limit - len(rows), scope, undated=True)
        return rows
    return _page(session, user, key, filters, after, limit, scope)


def _page(
    session: Session, user: User, key: str, filters: Filters, after: tuple[Any, int] | None, limit: int,
    scope: Scope, undated: bool = False,
) -> list[QueueRow]:  # fmt: skip
    """`page` for one order (`undated`: the tickets without a due date, by number, for the Time left sort)."""
    dialect = session.get_bind().dialect.name
    values: dict[str, Any] = {"user_id": scope.user_id}
    if key == "breaching":
        values["horizon"] = _breaching_horizon()
    query = filters.query or ""
    terms = search_terms(query) if query else []
    leads = leading_terms(terms)
    chosen = {"f_status": filters.status, "f_priority": filters.priority, "f_team": filters.team_id,
              "f_tag": filters.tag, "q_number": ticket_number(query) if query else None}  # fmt: skip
    if query and not leads and chosen["q_number"] is None:
        return []  # too short to search text, and not a ticket number (the page says so)
    values.update((name, value) for name, value in chosen.items() if value)
    indexed = bool(leads) and dialect == "sqlite" and search_index_ready(session)
    number = "q_number" in values
    if after is not None:
        values["after_value"], values["after_id"] = after
    search = "number" if number else None
    also = len(terms) - 1 if leads else 0
    # One term is looked up through the indexes, the others are checked on the tickets it finds (`_search_walk`,
    # each anywhere in a ticket). When it finds too many (a common word), the next one is tried: "invoice 4711".
    for lead in leads:
        values["q_pattern"], values["q_exact"] = like_pattern(lead), address_term(lead)
        for i, term in enumerate(t for t in terms if t != lead):
            values[f"q_also_{i}"], values[f"q_also_exact_{i}"] = like_pattern(term), address_term(term)
        values["q_limit"], values["q_many"] = SEARCH_MANY_MATCHES + 1, SEARCH_MANY_MATCHES
        if dialect == "sqlite":
            # Two statements: the ids (as one JSON array), then their page. As one statement (the ids a CTE read by
            # the page and by the count), SQLite spent twice as long as on the two together.
            found, values["q_ids"] = read_rows(session, _found_ids_statement(indexed, number), values).one()
            if found <= SEARCH_MANY_MATCHES:
                rows = _read_page(session, dialect, user, key, filters, after, limit, scope, "ids", number,
                                  indexed, values, also, undated)  # fmt: skip
                return [_queue_row(row, dialect) for row in rows]
        else:
            rows = _read_page(session, dialect, user, key, filters, after, limit, scope, "ids", number, indexed,
                              values, also, undated)  # fmt: skip
            if rows[0][-1] <= SEARCH_MANY_MATCHES:  # the count's row is there even with no page
                return [_queue_row(row[:-1], dialect) for row in rows if row[0] is not None]
        search = "walk"  # if no term is left to lead: check the queue's tickets in order (the last lead's values)
    rows = _read_page(session, dialect, user, key, filters, after, limit, scope, search, number, indexed, values,
                      also, undated)  # fmt: skip
    return [_queue_row(row, dialect) for row in rows]


def _read_page(
    session: Session, dialect: str, user: User, key: str, filters: Filters, after: tuple[Any, int] | None,
    limit: int, scope: Scope, search: str | None, number: bool, indexed: bool, values: dict[str, Any],
    also: int = 0, undated: bool = False,
) -> list[sa.Row[Any]]:  # fmt: skip
    shape = (dialect, key, scope.everything, scope.team_ids, filters.sort, limit, after is None,
             after is not None and after[0] is None, search, number, indexed, also, undated,
             *(bool(getattr(filters, name)) for name in ("status", "priority", "team_id", "tag")))  # fmt: skip
    stmt = _PAGE_STATEMENTS.get(shape)
    if stmt is None:
        if len(_PAGE_STATEMENTS) >= _PAGE_STATEMENTS_KEPT:
            _PAGE_STATEMENTS.clear()
        stmt = _PAGE_STATEMENTS[shape] = _page_statement(
            dialect, user, key, filters, after, limit, scope, search, number, indexed, also, undated
        )
    return list(read_rows(session, stmt, values))


def _queue_row(row: Any, dialect: str) -> QueueRow:
    *columns, names = row
    assignees = names.split(NAME_SEPARATOR) if names else []
    return QueueRow(*columns, assignees=assignees if dialect == "postgresql" else sorted(assignees))


# Built statements by shape (queue, the user's scope, which filters, sort, keyset or not): building one costs more
# than running it on an indexed page, and the values go in as named parameters.
_PAGE_STATEMENTS: dict[tuple[Any, ...], sa.Select[Any]] = {}
_PAGE_STATEMENTS_KEPT = 512


def _page_statement(
    dialect: str, user: User, key: str, filters: Filters, after: tuple[Any, int] | None, limit: int, scope: Scope,
    search: str | None = None, number: bool = False, indexed: bool = False, also: int = 0, undated: bool = False,
) -> sa.Select[Any]:  # fmt: skip
    """`search`: None, "number" (the ticket q_number), "ids" (the tickets matching q_pattern, and q_number when
    `number`, collected first: on PostgreSQL `_found`, none when they are more than q_many, each row, and a row of
    nulls when there is no page, ending with how many were found; on SQLite the JSON array q_ids, collected by
    `_found_ids_statement`) or "walk" (every ticket checked against them: `_search_walk`).
    With either, each of the `also` other terms (q_also_0, ...) must match the ticket too. Each term comes with its
    address (q_exact, q_also_exact_0, ...: `address_term`, NULL when it is none).
    """
    column, descending = (Ticket.id, False) if undated else _order(filters.sort, key)
    stmt = sa.select(*_TICKET_COLUMNS, Ticket.customer_id, column.label("sort_key")).where(
        queue_clause(user, key, scope)
    )
    if filters.status:
        stmt = stmt.where(Ticket.status == sa.bindparam("f_status", type_=Ticket.status.type))
    if filters.priority:
        stmt = stmt.where(Ticket.priority == sa.bindparam("f_priority", type_=Ticket.priority.type))
    if filters.team_id:
        stmt = stmt.where(Ticket.assigned_team_id == sa.bindparam("f_team", type_=sa.Integer))
    if filters.tag:
        tagged = sa.select(TicketTag.ticket_id).where(TicketTag.tag == sa.bindparam("f_tag", type_=sa.String))
        stmt = stmt.where(Ticket.id.in_(tagged))
    if search == "number":
        stmt = stmt.where(Ticket.id == sa.bindparam("q_number", type_=sa.Integer))
    elif search == "ids" and dialect == "sqlite":
        # The ids `_found_ids_statement` collected, as its JSON array (q_ids).
        ids = sa.select(sa.column("value", sa.Integer)).select_from(sa.func.json_each(sa.bindparam("q_ids")))
        stmt = stmt.where(Ticket.id.in_(ids))
    elif search == "ids":
        found, total = _found(dialect, indexed, number)
        if dialect == "postgresql":
            # = ANY(ARRAY((SELECT ...))): the planner takes the list for a handful of ids and reads each by its key;
            # as `IN (SELECT ...)` it sized the list at the cap and chose to scan the whole ticket table instead.
            stmt = stmt.where(Ticket.id == sa.any_(sa.func.array(sa.select(found.c.id).scalar_subquery())))
        else:
            stmt = stmt.where(Ticket.id.in_(sa.select(found.c.id)))
        # Past the cap the matches are not all there, and the walk reads the page: read none here.
        stmt = stmt.where(sa.select(total.c.n).scalar_subquery() <= sa.bindparam("q_many", type_=sa.Integer))
    elif search == "walk":
        found = sa.bindparam("q_number", type_=sa.Integer) if number else None
        stmt = stmt.where(_search_walk(*_term_params("q_pattern", "q_exact"), dialect, found))
    for i in range(also if search in ("ids", "walk") else 0):
        stmt = stmt.where(_search_walk(*_term_params(f"q_also_{i}", f"q_also_exact_{i}"), dialect))
    if undated:
        stmt = stmt.where(Ticket.due_date.is_(None))
    elif key == "breaching" or filters.sort == "due":
        stmt = stmt.where(Ticket.due_date.is_not(None))  # ordering by time left needs a clock
    if undated and after is not None:
        stmt = stmt.where(Ticket.id > sa.bindparam("after_id", type_=sa.Integer))
    elif after is not None:
        value_type = column.type if after[0] is not None else sa.NullType()
        row = sa.tuple_(column, Ticket.id)
        bound = sa.tuple_(sa.bindparam("after_value", type_=value_type), sa.bindparam("after_id", type_=sa.Integer))
        stmt = stmt.where(row < bound if descending else row > bound)
    ticket_id: Any = Ticket.id
    if search == "ids":
        # Every listed ticket read by id, then sorted: OFFSET 0 keeps the LIMIT out of the subquery. Seeing it, the
        # planner walked the sort index checking each ticket against the list, and when the matches were old
        # tickets it read most of the table (1.7 s for 11,000 ids at a million tickets).
        matches = stmt.offset(0).subquery("matches")
        column, ticket_id, stmt = matches.c.sort_key, matches.c.id, sa.select(matches)
    direction = (column.desc(), ticket_id.desc()) if descending else (column.asc(), ticket_id.asc())
    tickets = stmt.order_by(*direction).limit(limit).subquery("page")
    columns = [
        *(tickets.c[c.key] for c in _TICKET_COLUMNS),
        Customer.name,
        Customer.tier,
        _assignee_names(dialect, tickets.c.id),
    ]
    rows = tickets.outerjoin(Customer, Customer.id == tickets.c.customer_id)
    if search == "ids" and dialect == "postgresql":
        # Joined to the one-row count, so that the count comes back with no page too: asked again on an empty page,
        # a common word's 20,000 ids were collected twice before the walk (+30 ms at a million tickets).
        columns.append(total.c.n)
        rows = total.outerjoin(rows, sa.true())
    outer = (tickets.c.sort_key, tickets.c.id)
    return sa.select(*columns).select_from(rows).order_by(*(c.desc() if descending else c.asc() for c in outer))


def cursor_of(ticket: Any, filters: Filters, key: str) -> str:
    """The keyset cursor after `ticket` (a QueueRow or a Ticket)."""
    if key == "breaching" or filters.sort == "due":
        value: Any = ticket.due_date
    elif filters.sort == "created":
        value = ticket.created_at
    elif filters.sort == "priority":
        value = ticket.priority.rank
    else:
        value = ticket.updated_at
    encoded = value.isoformat() if isinstance(value, datetime) else ("" if value is None else str(value))
    return f"{encoded}|{ticket.id}"


def parse_cursor(raw: str | None, filters: Filters, key: str) -> tuple[Any, int] | None:
    if not raw or "|" not in raw:
        return None
    value, _, ident = raw.rpartition("|")
    ticket_id = id_from(ident)
    if ticket_id is None:
        return None
    try:
        if filters.sort == "priority" and key != "breaching":
            return int(value), ticket_id
        return (datetime.fromisoformat(value) if value else None), ticket_id
    except ValueError:
        return None


SEARCH_HINT = f"Search for at least {SEARCH_MIN_RUN} characters, or a ticket number such as #42."
SEARCH_HELP = (
    "Words are found anywhere in a ticket (subject, messages, contact, customer), each of them (up to 5); "
    '"a phrase" in quotes as written; an email address finds that contact; #42 finds ticket 42 (a link to it when '
    f"it is in another queue). {SEARCH_HINT}"
)
_TICKET_NUMBER = re.compile(r"#?([0-9]{1,9})")


def ticket_number(text: str) -> int | None:
    """The ticket a query names by number ("42" or "#42"), if it is one."""
    found = _TICKET_NUMBER.fullmatch(text.strip())
    return int(found.group(1)) or None if found else None  # ids start at 1: "0" names no ticket


def searches_text(text: str) -> bool:
    """Whether a query is long enough to look for in text: a term with a run of SEARCH_MIN_RUN characters besides
    the wildcards. Shorter ones cannot use a trigram index and would read every message body (seconds at a million
    tickets, for a match in nearly every ticket); they find a ticket by its number only."""
    return leading_term(search_terms(text)) is not None


def search_lead(session: Session, text: str) -> str | None:
    """The term a search clause looks up first: as in the queues (`page`), the first of the `leading_terms` that
    finds at most SEARCH_MANY_MATCHES tickets (one capped count each: "invoice 4711" leads with 4711 when invoice is
    everywhere), else the first one."""
    leads = leading_terms(search_terms(text))
    if len(leads) < 2:
        return leads[0] if leads else None
    dialect = session.get_bind().dialect.name
    _, total = _found(dialect, dialect == "sqlite" and search_index_ready(session), False)
    count = sa.select(total.c.n)
    for lead in leads:
        values = {"q_pattern": like_pattern(lead), "q_exact": address_term(lead), "q_limit": SEARCH_MANY_MATCHES + 1}
        n = session.scalar(count, values)
        if n is not None and n <= SEARCH_MANY_MATCHES:
            return lead
    return leads[0]


def search_clause(text: str, dialect: str = "postgresql", lead: str | None = None) -> sa.ColumnElement[bool]:
    """The ticket numbered `text`, or tickets where each term of `text` (`search_terms`) is in the subject, a
    message body, the contact's name or email or the customer's name: `lead` (see `search_lead`; by default the
    longest term) through the indexes (`_search`), the others checked on each of those tickets; a short query
    (`searches_text`) finds by number only."""
    number = ticket_number(text)
    terms = search_terms(text)
    lead = lead if lead in terms else leading_term(terms)
    if lead is None:
        return Ticket.id == number if number is not None else sa.false()
    found = sa.literal(number, sa.Integer) if number is not None else None
    others = [_search_walk(*_term_literals(t), dialect) for t in terms if t != lead]
    return sa.and_(_search(*_term_literals(lead), dialect, number=found), *others)


def _term_params(pattern: str, exact: str) -> tuple[Any, Any]:
    """A term's two parameters: its LIKE pattern and its address (`address_term`, or NULL)."""
    return sa.bindparam(pattern, type_=sa.String), sa.bindparam(exact, type_=sa.String)


def _term_literals(term: str) -> tuple[Any, Any]:
    return sa.literal(like_pattern(term), sa.String), sa.literal(address_term(term), sa.String)


def _search(
    pattern: Any, exact: Any, dialect: str, indexed: bool = False, number: Any = None
) -> sa.ColumnElement[bool]:
    """The tickets a text query matches, as one condition: `Ticket.id IN` the UNION of `_search_arms`."""
    return Ticket.id.in_(sa.union(*_search_arms(pattern, exact, dialect, indexed, number)))


def _search_arms(
    pattern: Any, exact: Any, dialect: str, indexed: bool = False, number: Any = None
) -> list[sa.Select[Any]]:
    """The ids of each kind of match, each looked up on its own through its own index (trigram indexes on
    PostgreSQL), instead of OR-ing the conditions into the ticket scan: with an OR, no index can serve, and
    every page read every ticket and every message body.

    On PostgreSQL every kind has a trigram index (subjects, bodies, contacts' emails and names, customers' names).
    SQLite has no index for a substring, and reads every contact and customer: its own LIKE, already blind to
    ASCII case, not ILIKE, which SQLAlchemy renders as lower(x) LIKE lower(y) (the same matches, as SQLite's
    lower() folds ASCII only, at twice the cost per row).

    With `indexed` (SQLite with the trigram indexes of bodies and subjects, see SEARCH_INDEX_DDL) those come
    through the indexes: the same LIKE on their virtual tables, which find candidates by trigram and check them.
    With `number`, the ticket with that id matches too. With `exact` (the term is an address), the contact with that
    address is looked up by it, and customers' names are not searched (see `_matching_contacts`).
    """
    matching = _matching(pattern, dialect)
    if indexed:
        bodies = sa.select(_BODY_INDEX.c.rowid).where(_BODY_INDEX.c.body_text.like(pattern))
        by_body = sa.select(Interaction.ticket_id).where(Interaction.id.in_(bodies))
        by_subject = sa.select(_SUBJECT_INDEX.c.rowid).where(_SUBJECT_INDEX.c.subject.like(pattern))
    else:
        by_body = sa.select(Interaction.ticket_id).where(matching(Interaction.body_text))
        by_subject = sa.select(Ticket.id).where(matching(Ticket.subject))
    return [
        by_subject,
        by_body,
        sa.select(Ticket.id).where(Ticket.primary_contact_id.in_(_matching_contacts(matching, exact, dialect))),
        sa.select(Ticket.id).where(exact.is_(None), Ticket.customer_id.in_(_matching_customers(matching))),
        *([sa.select(Ticket.id).where(Ticket.id == number)] if number is not None else []),
    ]


def _matching(pattern: Any, dialect: str) -> Callable[[Any], sa.ColumnElement[bool]]:
    def matching(column: Any) -> sa.ColumnElement[bool]:
        return column.ilike(pattern) if dialect == "postgresql" else column.like(pattern)

    return matching


def _matching_customers(matching: Callable[[Any], sa.ColumnElement[bool]]) -> sa.Select[Any]:
    return sa.select(Customer.id).where(matching(Customer.name))


def _matching_contacts(matching: Callable[[Any], sa.ColumnElement[bool]], exact: Any, dialect: str) -> Any:
    """The contacts a term finds: the one with its address when it is one (`exact`: through the unique index; a
    substring found joann@acme.com for ann@acme.com, and read every contact on SQLite), else those with the term in
    their address or name. `exact IS NULL` is the same for every row: both databases test it once per statement."""
    by_address = sa.select(Contact.id).where(Contact.email == exact)
    text = exact.is_(None)
    email, name = matching(Contact.email), matching(Contact.name)
    if dialect == "postgresql":  # apart: OR-ed, the planner costed the two index scans above one pass over the table
        return sa.union(by_address, sa.select(Contact.id).where(text, email), sa.select(Contact.id).where(text, name))
    # No index for a substring: one pass over the contacts, not two.
    return sa.union_all(by_address, sa.select(Contact.id).where(text, sa.or_(email, name)))


# A query matching more tickets than this is common (a word in most messages): collecting and sorting every match
# (all of a million tickets' bodies read) took seconds; walking the queue in its order and checking each ticket
# finds a page after a few hundred. Fewer matches are found through the indexes, then their page is read by id.
# At a million tickets on PostgreSQL: 20,000 ids cost ~20 ms to collect; a walk costs up to ~0.4-0.8 s when the
# matches are all old (the whole table is checked), a few ms when they are spread over the years.
SEARCH_MANY_MATCHES = 20000


def _found(dialect: str, indexed: bool, number: bool) -> tuple[sa.CTE, sa.CTE]:
    """`found`: at most SEARCH_MANY_MATCHES + 1 (q_limit) ids of matching tickets, repeated when a ticket matches
    twice (UNION ALL under a LIMIT stops reading once there are too many); `total`: how many, one row."""
    found_number = sa.bindparam("q_number", type_=sa.Integer) if number else None
    arms = sa.union_all(*_search_arms(*_term_params("q_pattern", "q_exact"), dialect, indexed, found_number))
    limit = sa.bindparam("q_limit", type_=sa.Integer)
    found = sa.select(arms.subquery("arms").c[0].label("id")).limit(limit).cte("found")
    return found, sa.select(sa.func.count().label("n")).select_from(found).cte("total")


@cache
def _found_ids_statement(indexed: bool, number: bool) -> sa.Select[Any]:
    """SQLite: how many tickets the lead term matches (at most q_limit) and their ids as one JSON array, for the
    page statement's q_ids (`_page_statement`, search "ids")."""
    found, _ = _found("sqlite", indexed, number)
    return sa.select(sa.func.count(), sa.func.json_group_array(found.c.id)).select_from(found)


def _search_walk(pattern: Any, exact: Any, dialect: str, number: Any = None) -> sa.ColumnElement[bool]:
    """The same matches as `_search`, checked ticket by ticket (for a query matching many: see
    SEARCH_MANY_MATCHES); the planner walks the queue's order and stops after a page."""
    matching = _matching(pattern, dialect)
    body = sa.exists().where(Interaction.ticket_id == Ticket.id, matching(Interaction.body_text))
    return sa.or_(
        matching(Ticket.subject),
        body,
        Ticket.primary_contact_id.in_(_matching_contacts(matching, exact, dialect)),
        sa.and_(exact.is_(None), Ticket.customer_id.in_(_matching_customers(matching))),
        *([Ticket.id == number] if number is not None else []),
    )


# SQLite's indexes for searching message bodies and ticket subjects: FTS5 tables with the trigram tokenizer over
# interaction.body_text and ticket.subject (external content: they store the trigrams, the text stays in its table),
# kept by triggers. Their migration creates them (SQLite only; PostgreSQL has ix_interaction_body_trgm and
# ix_ticket_subject_trgm); schemas made with create_all have none and search reads every body and subject, as does a
# database where a trigger is gone (a batch migration that rebuilds the table drops them: run SEARCH_INDEX_DDL).
SEARCH_INDEXES = {"interaction_search": ("interaction", "body_text"), "ticket_search": ("ticket", "subject")}
SEARCH_INDEX_TRIGGERS = tuple(f"{index}_{kind}" for index in SEARCH_INDEXES for kind in ("ai", "ad", "au"))


def _fts_ddl(index: str, table: str, column: str) -> tuple[str, ...]:
    # Our own constant names only (SEARCH_INDEXES), nothing from a request.
    delete = f"INSERT INTO {index}({index}, rowid, {column}) VALUES ('delete', old.id, old.{column});"  # noqa: S608
    insert = f"INSERT INTO {index}(rowid, {column}) VALUES (new.id, new.{column});"  # noqa: S608
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {index} USING fts5({column}, content='{table}', content_rowid='id', "
        "tokenize='trigram')",
        f"CREATE TRIGGER IF NOT EXISTS {index}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER IF NOT EXISTS {index}_ad AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER IF NOT EXISTS {index}_au AFTER UPDATE OF {column} ON {table} BEGIN {delete} {insert} END",
        f"INSERT INTO {index}({index}) VALUES ('rebuild')",  # noqa: S608
    )


SEARCH_INDEX_DDL = tuple(
    ddl for index, (table, column) in SEARCH_INDEXES.items() for ddl in _fts_ddl(index, table, column)
)
SEARCH_INDEX_DROP = (
    *(f"DROP TRIGGER IF EXISTS {name}" for name in SEARCH_INDEX_TRIGGERS),
    *(f"DROP TABLE IF EXISTS {index}" for index in SEARCH_INDEXES),
)
_BODY_INDEX = sa.table("interaction_search", sa.column("rowid", sa.Integer), sa.column("body_text", sa.Text))
_SUBJECT_INDEX = sa.table("ticket_search", sa.column("rowid", sa.Integer), sa.column("subject", sa.Text))
_search_index_seen: dict[str, bool] = {}  # database URL -> index and triggers all there (looked up once)


def search_index_ready(session: Session) -> bool:
    """Whether this SQLite database has the search indexes with all of their triggers (looked up once per process)."""
    url = str(session.get_bind().url)
    ready = _search_index_seen.get(url)
    if ready is None:
        names = set(session.scalars(sa.text("SELECT name FROM sqlite_master WHERE type IN ('table', 'trigger')")))
        ready = _search_index_seen[url] = {*SEARCH_INDEXES, *SEARCH_INDEX_TRIGGERS} <= names
    return ready


def forget_search_index() -> None:
    """Look again (after the index was created or dropped while the process runs)."""
    _search_index_seen.clear()


# --------------------------------------------------------------------------------------------------------
# The menu's counts
# --------------------------------------------------------------------------------------------------------


def menu_keys(scope: Scope, teams: list[Any]) -> list[str]:
    """The menu's queues: the fixed ones, then a queue per team (every team for managers, in `teams` order)."""
    keys = [q.key for q in QUEUES if not q.managers_only or scope.everything]
    return keys + [f"team-{t.id}" for t in teams if scope.everything or t.id in scope.team_ids]


def count_statement(scope: Scope, keys: list[str]) -> sa.Select[Any]:
    """Every count of the menu in one pass over the active tickets the user may see (conditional counts);
    All, for managers, is a scalar subquery of the same statement (`counts` counts it on its own)."""
    parts: dict[str, sa.ColumnElement[bool]] = {
        "mine": _mine(scope.user_id),
        "unassigned": _unassigned(),
        "breaching": sa.and_(Ticket.due_date.is_not(None), Ticket.due_date <= _breaching_horizon()),
        "waiting": Ticket.status == Status.WAITING_ON_CUSTOMER,
    }
    columns: list[sa.ColumnElement[Any]] = []
    for key in keys:
        if key == "all":
            columns.append(_all_count().scalar_subquery().label(key))
        elif key.startswith("team-"):
            columns.append(sa.func.count().filter(Ticket.assigned_team_id == int(key[5:])).label(key))
        else:
            columns.append(sa.func.count().filter(parts[key]).label(key))
    # Unassigned means "nobody's", so the assigned-to-me part of an agent's scope never adds to it; the others
    # count within the whole visible scope.
    stmt = sa.select(*columns).select_from(Ticket).where(_active(), visible(scope))
    return stmt


def _all_count() -> sa.Select[Any]:
    return sa.select(sa.func.count()).select_from(Ticket)


def _compute_counts(session: Session, scope: Scope, keys: list[str]) -> dict[str, int]:
    if not keys:
        return {}
    row = session.execute(count_statement(scope, keys)).one()
    return {key: int(value or 0) for key, value in zip(keys, row, strict=True)}


COUNTS_MIN_FRESH_SECONDS = 5.0  # a change makes a user's counts stale once they are this old (see `counts`)
ALL_COUNT_TTL_SECONDS = 60.0  # the whole desk's ticket total, shared by every manager
_CHANGED_FIELD, _ALL_FIELD = "_changed", "_all"


def counts(
    session: Session, user: User, *, scope: Scope | None = None, keys: list[str] | None = None,
    cache: Redis | None = None,
) -> dict[str, int]:  # fmt: skip
    """Ticket counts for the queue menu: from the cache when fresh, else one aggregate statement.

    A user's counts are kept for COUNTS_TTL_SECONDS. A committed ticket change (any process) marks every entry
    stale (`_forget_counts`), but an entry younger than COUNTS_MIN_FRESH_SECONDS is still used: on a busy desk,
    where something changes every second, each user's menu is recounted at most every few seconds (a count
    costs 100-200 ms at a million tickets with their assignee history), and a quiet desk's menu follows a change
    at once. The managers' All (every ticket ever) is counted once a minute for all of them, not per change.
    """
    scope = _scope(session, user, scope)
    keys = keys if keys is not None else menu_keys(scope, teams_for(session, user))
    if cache is None:
        return _compute_counts(session, scope, keys)
    field_name, now = str(scope.user_id), time.time()
    try:
        raw, changed, raw_all = cache.hmget(COUNTS_KEY, [field_name, _CHANGED_FIELD, _ALL_FIELD])
    except RedisError:
        log.warning("queue counts: Redis unavailable, counting directly", exc_info=True)
        return _compute_counts(session, scope, keys)
    all_count = json.loads(raw_all) if raw_all is not None else None
    if all_count is not None and now - all_count["at"] >= ALL_COUNT_TTL_SECONDS:
        all_count = None
    if raw is not None:
        entry = json.loads(raw)
        age, stale = now - entry["at"], changed is not None and float(changed) >= entry["at"]
        fresh = age < COUNTS_TTL_SECONDS and (not stale or age < COUNTS_MIN_FRESH_SECONDS)
        if fresh and entry["keys"] == keys and ("all" not in keys or all_count is not None):
            return {**entry["counts"], **({"all": all_count["n"]} if "all" in keys else {})}  # type: ignore[index]
    result = _compute_counts(session, scope, [k for k in keys if k != "all"])
    writes = {field_name: json.dumps({"at": now, "keys": keys, "counts": result})}
    if "all" in keys:
        if all_count is None:
            all_count = {"at": now, "n": int(session.execute(_all_count()).scalar_one())}
            writes[_ALL_FIELD] = json.dumps(all_count)
        result["all"] = all_count["n"]
    try:
        with cache.pipeline() as pipe:
            pipe.hset(COUNTS_KEY, mapping=writes)
            pipe.expire(COUNTS_KEY, COUNTS_TTL_SECONDS)
            pipe.execute()
    except RedisError:
        log.warning("queue counts: not cached", exc_info=True)
    return {key: result[key] for key in keys}


def forget_counts(cache: Redis) -> None:
    """Every user's counts are stale from now on (the All total keeps its minute)."""
    with cache.pipeline() as pipe:
        pipe.hset(COUNTS_KEY, _CHANGED_FIELD, repr(time.time()))
        pipe.expire(COUNTS_KEY, COUNTS_TTL_SECONDS)
        pipe.execute()


_CHANGES = "queue_counts_stale"
# Other per-process caches derived from tickets (e.g. the reports page's) register here to be dropped too.
on_tickets_changed: list[Callable[[], None]] = []
_COUNTED = (Ticket, User, Team)  # tickets move between queues; a user's or team's change moves the scope


@sa.event.listens_for(Session, "after_flush")
def _note_changes(session: Session, flush_context: Any) -> None:
    if not session.info.get(_CHANGES) and any(
        isinstance(obj, _COUNTED) for obj in (*session.new, *session.dirty, *session.deleted)
    ):
        session.info[_CHANGES] = True


@sa.event.listens_for(Session, "after_commit")
def _forget_counts(session: Session) -> None:
    """A committed change to tickets, users or teams makes every cached menu count stale (see `counts`)."""
    if not session.info.pop(_CHANGES, False):
        return
    for forget in on_tickets_changed:
        forget()
    from flask import has_app_context

    if not has_app_context():
        return
    from ticketing.extensions import redis_conn  # not at module level: extensions imports services

    try:
        forget_counts(redis_conn())
    except RedisError:
        log.warning("queue counts: could not drop the cache", exc_info=True)


@dataclass(frozen=True)
class TeamRow:
    id: int
    name: str
    member: bool


def teams_and_scope(session: Session, user: User) -> tuple[list[TeamRow], Scope]:
    """Every team (by name, for the filters and bulk actions) and the user's scope, in one statement."""
    member = sa.exists().where(team_members.c.team_id == Team.id, team_members.c.user_id == user.id)
    teams = [TeamRow(*row) for row in session.execute(sa.select(Team.id, Team.name, member).order_by(Team.name))]
    return teams, Scope.of_teams(user, teams)


def teams_for(session: Session, user: User) -> list[Team]:
    if sees_everything(user):
        return list(session.scalars(sa.select(Team).order_by(Team.name)))
    return sorted(user.teams, key=lambda t: t.name)
