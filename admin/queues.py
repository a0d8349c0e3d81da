"""Agent queues: My tickets, my teams, Unassigned, Breaching soon, Waiting on customer, All (managers)."""

from __future__ import annotations

from datetime import datetime
from functools import cache, lru_cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import abort, flash, redirect, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from markupsafe import Markup, escape

from admin.base import StaffView, me
from admin.markup import (
    PRIORITY_OPTIONS,
    STATUS_OPTIONS,
    option_tags,
    priority_badge,
    short_time,
    sla_cell,
    status_badge,
)
from admin.menu import keep_notifications, notifications_part
from ticketing.domain.ids import id_from
from ticketing.domain.lifecycle import ACTIVE, Status, TransitionError
from ticketing.domain.vocab import Priority, Tier
from ticketing.extensions import db, redis_conn
from ticketing.models import Team, Ticket, User, UTCDateTime, utcnow
from ticketing.models.base import read_rows
from ticketing.models.staff import team_members
from ticketing.services import queues, tickets
from ticketing.services.staff_access import can_open, sees_everything, visible_clause

BULK_ACTIONS = {
    "assign": "Add assignee",
    "unassign": "Remove assignee",
    "team": "Set team",
    "status": "Set status",
    "priority": "Set priority",
    "tag": "Add tag",
    "untag": "Remove tag",
}
TAG_ACTIONS = frozenset({"tag", "untag"})  # their value is the tag typed in the bar's tag box


# The cells that depend only on an enum, made once (labels are ours: nothing to escape).
_STATUS_CELL = {s: f"<td>{status_badge(s)}</td>" for s in Status}
_PRIORITY_CELL = {p: f"<td>{priority_badge(p)}</td>" for p in Priority}
_TIER_BADGE = {t: f' <span class="tier tier-{t.value}">{t.label}</span>' for t in Tier}
_DASH = '<span class="text-muted">—</span>'


def rows_html(rows: list[queues.QueueRow], now: datetime, ticket_url: str, team_names: dict[int, str]) -> Markup:
    """The queue table's rows, built here rather than in Jinja: 50 rows of ten cells were a third of the page's
    render time (a thousand escape calls and attribute lookups); every text from the database is escaped (the
    SLA cell's and the enums' texts are our own)."""
    url = escape(ticket_url)
    teams = {team_id: escape(name) for team_id, name in team_names.items()}
    parts = []
    for row in rows:
        name, tier = row.customer_name, row.customer_tier
        customer = f"{escape(name)}{_TIER_BADGE[tier]}" if name is not None and tier is not None else _DASH
        parts.append(
            f'<tr><td><input class="pick" type="checkbox" name="ids" value="{row.id}" aria-label="Select #{row.id}">'
            f'</td><td class="text-muted">{row.id}</td><td class="subject"><a href="{url}{row.id}">'
            f"{escape(row.subject)}</a></td><td>{customer}</td>{_STATUS_CELL[row.status]}"
            f'{_PRIORITY_CELL[row.priority]}<td class="small">{escape(", ".join(row.assignees)) or "—"}</td>'
            f'<td class="small">{teams.get(row.assigned_team_id, "—")}</td>'  # type: ignore[arg-type]
            f'<td class="small">{sla_cell(row, now).__html__()}</td>'
            f'<td class="small text-muted text-nowrap">{short_time(row.updated_at)}</td></tr>\n'
        )
    return Markup("".join(parts))  # noqa: S704  (every value from the database is escaped above)


SORT_LABELS = {"updated": "Last update", "due": "Time left", "priority": "Priority", "created": "Newest"}


# The statuses a queue of open work can hold (every queue but All): offering Resolved there found nothing, ever.
ACTIVE_OPTIONS = tuple((value, label) for value, label in STATUS_OPTIONS if Status(value) in ACTIVE)


def queue_options(
    filters: queues.Filters, teams: list[queues.TeamRow], staff: list[StaffOption], every_status: bool = True
) -> dict[str, Markup]:
    """The queue page's select boxes (filters and the bulk bar), built from cached pieces: a Jinja loop over them
    cost more than the rows (names escaped; the enums' and actions' labels are ours)."""
    team_pairs = tuple((t.id, t.name) for t in teams)
    status = filters.status.value if filters.status else None  # None: the "Any ..." option stays unmarked
    priority = filters.priority.value if filters.priority else None
    return {
        "status": option_tags((("", "Any status"), *(STATUS_OPTIONS if every_status else ACTIVE_OPTIONS)), status),
        "priority": option_tags((("", "Any priority"), *PRIORITY_OPTIONS), priority),
        "team": option_tags((("", "Any team"), *team_pairs), filters.team_id),
        "sort": option_tags(tuple(SORT_LABELS.items()), filters.sort),
        "bulk_action": option_tags(tuple(BULK_ACTIONS.items())),
        "bulk_value": _bulk_value_options(tuple(staff), team_pairs),
    }


@lru_cache(maxsize=256)
def _bulk_value_options(staff: tuple[tuple[int, str], ...], teams: tuple[tuple[int, str], ...]) -> Markup:
    # People and teams are told apart by their value (their ids overlap): "user:3", "team:2".
    people = tuple((f"user:{user_id}", name) for user_id, name in staff)
    team_values = tuple((f"team:{team_id}", name) for team_id, name in teams)
    groups = {"People": people, "Teams (Set team)": team_values, "Status": STATUS_OPTIONS, "Priority": PRIORITY_OPTIONS}
    html = "".join(f'<optgroup label="{label}">{option_tags(pairs)}</optgroup>' for label, pairs in groups.items())
    # No value chosen until the agent picks one: the first person was preselected, and "Set status" with it said
    # "choose a value that fits".
    return Markup('<option value="" selected>Choose a value…</option>' + html)  # noqa: S704  (the options are escaped; the group labels are ours)


def _filters() -> queues.Filters:
    args = request.args
    status = args.get("status") if args.get("status") in {s.value for s in Status} else None
    priority = args.get("priority") if args.get("priority") in {p.value for p in Priority} else None
    return queues.Filters(
        status=Status(status) if status else None,
        priority=Priority(priority) if priority else None,
        team_id=args.get("team", type=int),
        tag=(args.get("tag") or "").strip().lower() or None,
        query=(args.get("q") or "").strip() or None,
        sort=args.get("sort") if args.get("sort") in queues.SORTS else "updated",
    )


class QueueView(StaffView):
    @expose("/")
    def index(self) -> ResponseReturnValue:
        return redirect(url_for(".queue", key="breaching" if sees_everything(me()) else "mine"))

    @expose("/<key>")
    def queue(self, key: str) -> ResponseReturnValue:
        user, filters, session = me(), _filters(), db.session
        teams, scope, staff = _pick_lists(user)
        keys = queues.menu_keys(scope, teams)
        titles = {q.key: q.title for q in queues.QUEUES}
        titles.update({f"team-{t.id}": f"{t.name} queue" for t in teams})
        if key == "all" and not scope.everything:
            abort(403)
        if key not in keys:
            abort(404)
        cursor = queues.parse_cursor(request.args.get("after"), filters, key)
        rows = queues.page(session, user, key, filters, after=cursor, limit=queues.PAGE_SIZE + 1, scope=scope)
        more, rows = len(rows) > queues.PAGE_SIZE, rows[: queues.PAGE_SIZE]
        # A ticket number found in no row of this queue may be in another, or resolved or closed (queues hold open
        # work): the page links to it when this user may open it.
        number = queues.ticket_number(filters.query) if filters.query and not rows and cursor is None else None
        elsewhere = number if number is not None and can_open(session, user, number) else None
        now = utcnow()
        return self.render(
            "agent/queue.html",
            key=key,
            title=titles[key],
            rows=rows_html(rows, now, url_for("workspace.ticket", ticket_id=0)[:-1], {t.id: t.name for t in teams}),
            next_cursor=queues.cursor_of(rows[-1], filters, key) if more and rows else None,
            filters=filters,
            search_help=queues.SEARCH_HELP,
            search_hint=queues.SEARCH_HINT,
            # The "at least 3 characters" hint, but not for a ticket number ("#1", "42"): it found no such ticket.
            short_query=bool(filters.query)
            and not queues.searches_text(filters.query)
            and queues.ticket_number(filters.query) is None,
            elsewhere=elsewhere,
            counts=queues.counts(session, user, scope=scope, keys=keys, cache=redis_conn()),
            titles=titles,
            queue_url=url_for(".queue", key="mine")[: -len("mine")],
            queue_keys=[k for k in keys if not k.startswith("team-")],
            team_keys=[k for k in keys if k.startswith("team-")],
            options=queue_options(filters, teams, staff, every_status=key == "all"),
        )

    @expose("/bulk", methods=["POST"])
    def bulk(self) -> ResponseReturnValue:
        user, now, form = me(), utcnow(), request.form
        action = form.get("action", "")
        value = form.get("tag", "") if action in TAG_ACTIONS else form.get("value", "")
        ids = [found for i in form.getlist("ids") if (found := id_from(i)) is not None]
        back = form.get("back") if (form.get("back") or "").startswith("/admin/queues/") else url_for(".index")
        if action not in BULK_ACTIONS or not ids:
            flash("Choose tickets and an action.", "warning")
            return redirect(back, 303)
        if not value.strip():
            flash(f"Choose a value for “{BULK_ACTIONS[action]}”.", "warning")
            return redirect(back, 303)
        changed, problems = 0, []
        for ticket in db.session.scalars(sa.select(Ticket).where(Ticket.id.in_(ids), visible_clause(user))):
            try:
                _apply(ticket, action, value, user, now)
                changed += 1
            except TransitionError as exc:
                problems.append(f"#{ticket.id}: {exc}")
            except (ValueError, LookupError):
                problems.append(f"#{ticket.id}: choose a value that fits “{BULK_ACTIONS[action]}”.")
        db.session.commit()
        flash(f"{BULK_ACTIONS[action]}: {changed} ticket(s) updated.", "success" if changed else "warning")
        for problem in problems[:10]:
            flash(problem, "warning")
        return redirect(back, 303)


class StaffOption(NamedTuple):
    id: int
    name: str


def _pick_lists(user: User) -> tuple[list[queues.TeamRow], queues.Scope, list[Any]]:
    """Every team (with the user's membership, hence the scope), the active staff for the bulk bar and the menu's
    notices in one statement (UNION ALL): three round trips less per page."""
    lists: dict[str, list[Any]] = {"team": [], "staff": [], "note": []}
    for row in read_rows(db.session, _pick_lists_statement(), {"user_id": user.id}):
        lists[row.kind].append(row)
    keep_notifications(lists["note"])
    teams = [queues.TeamRow(row.id, row.label, bool(row.flag)) for row in lists["team"]]
    staff = [StaffOption(row.id, row.label) for row in lists["staff"]]
    return teams, queues.Scope.of_teams(user, teams), staff


@cache
def _pick_lists_statement() -> sa.Select[Any]:
    """Built once (building it cost more than running it); the user comes in as the parameter user_id."""
    user_id = sa.bindparam("user_id", type_=sa.Integer)
    member = sa.exists().where(team_members.c.team_id == Team.id, team_members.c.user_id == user_id)
    no_flag, no_time = sa.cast(sa.null(), sa.Boolean), sa.cast(sa.null(), UTCDateTime())

    def part(kind: str, table: Any, flag: Any, *where: Any) -> sa.Select[Any]:
        return sa.select(sa.literal(kind).label("kind"), table.id.label("id"), table.name.label("label"),
                         flag.label("flag"), no_time.label("at")).where(*where)  # fmt: skip

    query = sa.union_all(
        part("team", Team, member),
        part("staff", User, no_flag, User.active),
        notifications_part(user_id, "note", no_flag),
    ).subquery()
    return sa.select(query).order_by(query.c.kind, query.c.label, query.c.id)


def _picked_id(value: str, kind: str) -> int:
    """The id in a bulk value of that kind ("user:3", "team:2"); LookupError for another kind or none."""
    prefix, _, number = value.partition(":")
    found = id_from(number) if prefix == kind else None
    if found is None:
        raise LookupError(f"choose a {kind}")
    return found


def _apply(ticket: Ticket, action: str, value: str, user: User, now: datetime) -> None:
    session = db.session
    if action in {"assign", "unassign"}:
        target = session.get(User, _picked_id(value, "user"))
        if target is None:
            raise LookupError("choose a person")
        (tickets.add_assignee if action == "assign" else tickets.remove_assignee)(
            session, ticket, target, actor=user, now=now
        )
    elif action == "team":
        # A status or a person picked for "Set team" cleared the team, or set the team of the person's id.
        team = session.get(Team, _picked_id(value, "team"))
        if team is None:
            raise LookupError("choose a team")
        tickets.set_team(session, ticket, team, actor=user, now=now)
    elif action == "status":
        tickets.change_status(session, ticket, Status(value), actor=user, now=now)
    elif action == "priority":
        tickets.set_priority(session, ticket, Priority(value), actor=user, now=now)
    elif action == "tag":
        tickets.add_tags(session, ticket, [value], actor=user, now=now)
    elif action == "untag":
        tickets.remove_tags(session, ticket, [value], actor=user, now=now)
