"""The ticket workspace: timeline, compose, properties, SLA, time, and the whole customer beside it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any, NamedTuple

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template_string, request, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose
from flask_login import current_user
from sqlalchemy.orm import joinedload

from admin.base import StaffView, me
from admin.markup import PRIORITY_OPTIONS
from admin.menu import drop_notifications_about, keep_notifications, notifications_part
from ticketing.domain.ids import id_from
from ticketing.domain.lifecycle import TRANSITIONS, Status, TransitionError
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority, StaffRole
from ticketing.extensions import attachment_store, db, mail_policy, redis_conn
from ticketing.models import (
    CannedResponse,
    Category,
    Contact,
    OutboundMessage,
    OutboundStatus,
    SmsProvider,
    Team,
    Ticket,
    TimeEntry,
    User,
    UTCDateTime,
    utcnow,
)
from ticketing.models.base import read_rows
from ticketing.models.ticket import ticket_assignees, ticket_contacts
from ticketing.presence import visit
from ticketing.redirects import safe_next
from ticketing.services import (
    agent_timeline,
    canned,
    customer_context,
    mail_outbound,
    mentions,
    merge,
    notifications_read,
    sla,
    sms,
    tickets,
    timelog,
)
from ticketing.services.attachments import store_attachments
from ticketing.services.interactions import add_interaction
from ticketing.services.property_edits import PROPERTY_NAMES, changed_fields, stored_properties
from ticketing.services.staff_access import can_open, sees_everything, visible_clause
from ticketing.uploads import incoming_list

log = logging.getLogger(__name__)

COMPOSE_KINDS = {
    "reply": "Reply to customer",
    "note": "Internal note",
    "call": "Log phone call",
    "meeting": "Log meeting",
    "sms": "SMS",
}


# What a reply's email state means to the agent (timeline entries, agent/workspace.html).
DELIVERY_LABELS = {
    OutboundStatus.QUEUED: "waiting to be sent",
    OutboundStatus.SENDING: "being sent",
    OutboundStatus.SENT: "sent",
    OutboundStatus.UNCONFIRMED: "no answer from the mail server",
    OutboundStatus.FAILED: "not sent",
    OutboundStatus.BOUNCED: "bounced",
}


class WorkspaceView(StaffView):
    def is_visible(self) -> bool:
        return False  # opened from queues and lists

    def _ticket(self, ticket_id: int, *options: Any) -> Ticket:
        # One statement: the ticket, if this user may open it (a ticket they may not see is "not found").
        query = sa.select(Ticket).where(Ticket.id == ticket_id, visible_clause(me())).options(*options)
        ticket = db.session.scalars(query).unique().first()
        if ticket is None:
            abort(404)
        return ticket

    def _back(self, ticket_id: int, anchor: str | None = None, kind: str | None = None) -> ResponseReturnValue:
        # The compose box keeps its kind: the next thing typed after a note must not become an email.
        return redirect(url_for(".ticket", ticket_id=ticket_id, kind=kind, _anchor=anchor), 303)

    @expose("/")
    def index(self) -> ResponseReturnValue:
        return redirect(url_for("queues.index"))

    @expose("/<int:ticket_id>")
    def ticket(self, ticket_id: int) -> ResponseReturnValue:
        # The page's statements are built once (building one cost more than running it). The ticket comes with
        # its tags and pauses joined; its contacts and assignees come as plain rows with the pick lists.
        user = me()
        values = {"ticket_id": ticket_id, "user_id": user.id}
        ticket = db.session.scalars(_ticket_statement(sees_everything(user)), values).unique().first()
        if ticket is None:
            abort(404)  # or not visible to this user: "not found" either way
        timeline = agent_timeline.read_timeline(db.session, ticket.id)
        entries = read_rows(db.session, _time_entries_statement(), {"ticket_id": ticket.id}).all()
        now = utcnow()
        choices = _choices(user.id, ticket.id)
        # The menu's notices came with the pick lists: only when one is about this ticket is there anything to mark
        # read (the common case costs no statement); they leave this page's menu, being read now.
        read_here = drop_notifications_about(ticket.id)
        here = url_for(".ticket", ticket_id=ticket.id)
        page = self.render(
            "agent/workspace.html",
            ticket=ticket,
            timeline=timeline,
            now=now,
            explanation=sla.explain_resolution_due(ticket),
            time_left=sla.resolution_time_left(ticket, now),
            minutes=entries[0].total if entries else 0,
            recent_entries=entries,
            assignees=choices.assignees,
            options=_options(ticket, choices, here),
            choices=choices,
            ticket_url=here,
            # Link prefixes (ids are appended in the template): a url_for per timeline entry cost more than it.
            original_url=url_for("email_original.view", inbound_id=0)[:-1],
            attachment_url=url_for("agent_files.attachment", attachment_id=0)[:-1],
            compose_kinds=COMPOSE_KINDS,
            delivery_labels=DELIVERY_LABELS,
            compose_kind=request.args.get("kind") if request.args.get("kind") in COMPOSE_KINDS else "reply",
            sms_provider=choices.sms[0] if choices.sms else None,
        )
        if read_here:
            # After rendering: a COMMIT before it would expire the ticket the template reads (and SQLite's write
            # lock is held for the UPDATE and COMMIT only). The page doesn't fail for it: they stay unread.
            try:
                notifications_read.mark_ticket_read(db.session, user_id=user.id, ticket_id=ticket.id, now=now)
                db.session.commit()
            except sa.exc.SQLAlchemyError:
                db.session.rollback()
                log.warning("could not mark the notices about ticket %s read", ticket.id, exc_info=True)
        return page

    @expose("/notifications/read", methods=["POST"])
    def read_notifications(self) -> ResponseReturnValue:
        """The menu's "Mark all read": every unread notice of the signed-in user (nobody else's), then back."""
        count = notifications_read.mark_all_read(db.session, user_id=me().id, now=utcnow())
        db.session.commit()
        if count:
            flash(f"{count} notification{'s' if count != 1 else ''} marked read.", "info")
        return redirect(safe_next(request.form.get("next"), url_for("queues.index")), 303)

    @expose("/<int:ticket_id>/customer")
    def customer(self, ticket_id: int) -> ResponseReturnValue:
        """The customer panel, loaded by htmx after the page: the customer's other tickets, time and history are
        the workspace's most expensive reads and the agent looks at the ticket first."""
        ticket = self._ticket(ticket_id)
        return self.render(
            "agent/_customer_panel.html",
            ticket=ticket,
            context=customer_context.for_ticket(db.session, ticket, me()),
        )

    @expose("/<int:ticket_id>/compose", methods=["POST"])
    def compose(self, ticket_id: int) -> ResponseReturnValue:
        ticket = self._ticket(ticket_id)
        kind, body, now = request.form.get("kind", "note"), (request.form.get("body") or "").strip(), utcnow()
        files = incoming_list(request.files.getlist("files"))
        if not body and not files:
            flash("Write something first.", "warning")
            return self._back(ticket_id)
        policy = mail_policy()
        try:
            if kind == "reply":
                entry = mail_outbound.reply_to_customer(db.session, ticket, agent=me(), body=body,
                                                        policy=policy, now=now)  # fmt: skip
            elif kind == "sms":
                contact = db.session.get(Contact, int(request.form.get("contact_id") or 0)) or ticket.primary_contact
                if contact is None or contact not in ticket.contacts:
                    raise sms.SmsError("Choose a contact of this ticket.")
                entry = sms.record_sms(db.session, ticket, agent=me(), contact=contact, body=body,
                                       send=request.form.get("send") == "1", now=now)  # fmt: skip
            else:
                types = {"note": InteractionType.INTERNAL_NOTE, "call": InteractionType.PHONE_CALL,
                         "meeting": InteractionType.MEETING}  # fmt: skip
                if kind not in types:
                    abort(400)
                duration = request.form.get("duration", type=int)
                entry = add_interaction(db.session, ticket, type=types[kind], actor=me(), body_text=body,
                                        now=now, duration_minutes=duration if kind != "note" else None)  # fmt: skip
                if kind == "note":
                    url = url_for(".ticket", ticket_id=ticket.id, _external=True)
                    mentioned = mentions.notify_mentions(db.session, ticket, entry, author=me(), policy=policy,
                                                         now=now, ticket_url=url)  # fmt: skip
                    if mentioned.notified:
                        flash("Notified " + ", ".join(u.name for u in mentioned.notified) + ".", "info")
                    if mentioned.without_access:
                        flash("Not notified, as they cannot open this ticket (another team's): "
                              + ", ".join(u.name for u in mentioned.without_access) + ".", "warning")  # fmt: skip
            if files:
                _, refused = store_attachments(db.session, ticket, entry, files, store=attachment_store(),
                                               limits=policy.attachment_limits, now=now)  # fmt: skip
                if refused:
                    flash("Not attached: " + "; ".join(refused), "warning")
        except (ValueError, sms.SmsError) as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._back(ticket_id)
        db.session.commit()
        flash(f"{COMPOSE_KINDS.get(kind, 'Entry')} added.", "success")
        return self._back(ticket_id, "latest", kind if kind in COMPOSE_KINDS else None)

    @expose("/<int:ticket_id>/properties", methods=["POST"])
    def properties(self, ticket_id: int) -> ResponseReturnValue:
        """Saves only what this agent changed in the form (see `changed_fields`): a change someone else made
        meanwhile to a field they did not touch stays."""
        ticket, now = self._ticket(ticket_id), utcnow()
        changes = changed_fields(request.form, stored_properties(ticket))
        overwritten = {name: _property_label(ticket, name) for name in changes.overwritten}  # before it changes
        values = changes.values
        try:
            if "status" in values:
                tickets.change_status(db.session, ticket, Status(values["status"]), actor=me(), now=now)
            if "priority" in values:
                tickets.set_priority(db.session, ticket, Priority(values["priority"]), actor=me(), now=now)
            if "team_id" in values:
                team = db.session.get(Team, int(values["team_id"])) if values["team_id"] else None
                tickets.set_team(db.session, ticket, team, actor=me(), now=now)
            if "category_id" in values:
                category = db.session.get(Category, int(values["category_id"])) if values["category_id"] else None
                tickets.set_category(db.session, ticket, category, actor=me(), now=now)
            if "tags" in values:
                tickets.set_tags(db.session, ticket, values["tags"].split(","), actor=me(), now=now)
        except (TransitionError, ValueError) as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._back(ticket_id)
        db.session.commit()
        for name, theirs in overwritten.items():
            flash(f"{PROPERTY_NAMES[name]} had been changed to “{theirs}” by someone else while you had this ticket "
                  f"open; your “{_property_label(ticket, name)}” replaced it.", "warning")  # fmt: skip
        if values:
            flash("Ticket updated.", "success")
        else:
            flash("Nothing was changed.", "info")
        return self._back(ticket_id)

    @expose("/<int:ticket_id>/assignees", methods=["POST"])
    def assignees(self, ticket_id: int) -> ResponseReturnValue:
        ticket, now = self._ticket(ticket_id), utcnow()
        user = db.session.get(User, request.form.get("user_id", type=int) or 0)
        if user is None or not user.active:
            abort(400)
        if request.form.get("op") == "remove":
            tickets.remove_assignee(db.session, ticket, user, actor=me(), now=now)
        else:
            tickets.add_assignee(db.session, ticket, user, actor=me(), now=now)
        db.session.commit()
        return self._back(ticket_id)

    @expose("/<int:ticket_id>/time", methods=["POST"])
    def time(self, ticket_id: int) -> ResponseReturnValue:
        ticket = self._ticket(ticket_id)
        try:
            work_date = date.fromisoformat(request.form["work_date"]) if request.form.get("work_date") else None
            timelog.log_time(db.session, ticket, user=me(), minutes=request.form.get("minutes", type=int) or 0,
                             note=request.form.get("note", ""), work_date=work_date, now=utcnow())  # fmt: skip
        except ValueError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._back(ticket_id)
        db.session.commit()
        flash("Time logged.", "success")
        return self._back(ticket_id)

    @expose("/<int:ticket_id>/merge", methods=["POST"])
    def merge_into(self, ticket_id: int) -> ResponseReturnValue:
        source = self._ticket(ticket_id)
        target_id = id_from(request.form.get("target", "").lstrip("#"))
        if target_id is None or not can_open(db.session, me(), target_id):
            flash("No such ticket.", "danger")
            return self._back(ticket_id)
        target = db.get_or_404(Ticket, target_id)
        try:
            merge.merge(db.session, source, target, actor=me(), now=utcnow())
        except merge.MergeError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return self._back(ticket_id)
        db.session.commit()
        flash(f"#{source.id} merged into #{target.id}.", "success")
        return self._back(target.id)

    @expose("/<int:ticket_id>/presence", methods=["POST"])
    def presence(self, ticket_id: int) -> ResponseReturnValue:
        """htmx, once the page has loaded and then every few seconds: say we're here (and whether we're typing),
        hear who else is."""
        ticket = self._ticket(ticket_id)
        state = "replying" if request.form.get("state") == "replying" else "viewing"
        return render_template_string(PRESENCE, others=visit(redis_conn(), ticket.id, current_user.id,
                                                             current_user.name, state))  # fmt: skip

    @expose("/<int:ticket_id>/outbound/<int:outbound_id>/resend", methods=["POST"])
    def resend(self, ticket_id: int, outbound_id: int) -> ResponseReturnValue:
        """Send a failed or unconfirmed email of this ticket again (from its timeline entry)."""
        ticket = self._ticket(ticket_id)
        outbound = db.session.get(OutboundMessage, outbound_id)
        if outbound is None or outbound.ticket_id != ticket.id:
            abort(404)
        try:
            mail_outbound.resend(db.session, outbound, actor=me(), now=utcnow())
        except ValueError as exc:
            db.session.rollback()
            flash(str(exc), "warning")
            return self._back(ticket_id)
        db.session.commit()
        flash(f"“{outbound.subject}” is queued to {outbound.to_address} again.", "success")
        return self._back(ticket_id, "latest")

    @expose("/<int:ticket_id>/canned/<int:response_id>")
    def canned_text(self, ticket_id: int, response_id: int) -> ResponseReturnValue:
        ticket = self._ticket(ticket_id)
        response = db.get_or_404(CannedResponse, response_id)
        return canned.fill(response, ticket, current_user), 200, {"Content-Type": "text/plain; charset=utf-8"}


class _UserParam(NamedTuple):
    """A stand-in user for staff_access.visible_clause whose id is the statement parameter user_id."""

    role: StaffRole
    id: Any


@cache
def _ticket_statement(everything: bool) -> sa.Select[Any]:
    """The ticket, if the user (parameter user_id) may open it, with its tags and pauses; built once per kind of
    access (the clause itself is staff_access's)."""
    role = StaffRole.MANAGER if everything else StaffRole.AGENT
    visible = visible_clause(_UserParam(role, sa.bindparam("user_id", type_=sa.Integer)))  # type: ignore[arg-type]
    return (
        sa.select(Ticket)
        .where(Ticket.id == sa.bindparam("ticket_id", type_=sa.Integer), visible)
        .options(joinedload(Ticket.tag_rows), joinedload(Ticket.sla_pauses))
    )


RECENT_TIME_ENTRIES = 5


@cache
def _time_entries_statement() -> sa.Select[Any]:
    """The ticket's latest time entries as plain rows (work_date, user_name, minutes, note), each with the ticket's
    total minutes (a window sum, taken before the LIMIT): the time card's one statement, with no ORM objects."""
    return (
        sa.select(
            TimeEntry.work_date,
            User.name.label("user_name"),
            TimeEntry.minutes,
            TimeEntry.note,
            sa.func.sum(TimeEntry.minutes).over().label("total"),
        )
        .join(User, User.id == TimeEntry.user_id)
        .where(TimeEntry.ticket_id == sa.bindparam("ticket_id", type_=sa.Integer))
        .order_by(TimeEntry.work_date.desc(), TimeEntry.id.desc())
        .limit(RECENT_TIME_ENTRIES)
    )


@dataclass(frozen=True)
class Choices:
    """The workspace's pick lists (id, label[, away]) and the ticket's people, read in one statement."""

    teams: list[Any]
    categories: list[Any]
    staff: list[Any]
    canned: list[Any]
    sms: list[Any]  # the active SMS providers (the compose box's "send" needs one)
    contacts: list[Any]  # the ticket's contacts (id, label = display name, detail = phone)
    assignees: list[Any]  # the ticket's assignees (id, label = name)


def _options(ticket: Ticket, choices: Choices, here: str) -> dict[str, tuple[tuple[Any, str], ...]]:
    """(value, label) pairs of the workspace's select boxes, for agent.option_tags."""
    order = list(Status)
    statuses = [ticket.status, *sorted(TRANSITIONS[ticket.status], key=order.index)]
    assigned = {u.id for u in choices.assignees}
    return {
        "statuses": tuple((s.value, s.label) for s in statuses),
        "priorities": PRIORITY_OPTIONS,
        "teams": (("", "No team"), *((t.id, t.label) for t in choices.teams)),
        "categories": (
            ("", "None"),
            *((c.id, c.label) for c in choices.categories),
            *_retired_category(ticket, choices),
        ),
        "staff": tuple(
            (u.id, f"{u.label} (away)" if u.away else u.label) for u in choices.staff if u.id not in assigned
        ),
        "canned": (("", "Insert canned response…"), *((f"{here}/canned/{c.id}", c.label) for c in choices.canned)),
        "sms_contacts": tuple((c.id, f"{c.label} ({c.detail or 'no phone'})") for c in choices.contacts),
    }


def _retired_category(ticket: Ticket, choices: Choices) -> tuple[tuple[Any, str], ...]:
    """The ticket's own category when it is no longer offered (deactivated): without its option the form posted
    "None", and saving any other field cleared the category."""
    if ticket.category_id is None or any(c.id == ticket.category_id for c in choices.categories):
        return ()
    name = ticket.category.name if ticket.category else f"#{ticket.category_id}"
    return ((ticket.category_id, f"{name} (inactive)"),)


def _choices(user_id: int, ticket_id: int) -> Choices:
    """Teams, active categories, active staff, canned responses, active SMS providers, the menu's notices and the
    ticket's contacts and assignees as one UNION ALL: eight round trips less. The people as plain rows: joined into
    the ticket's statement they multiplied its rows (contacts x assignees x tags x pauses), and SQLite materialized
    every ticket_contact row with its contact before it looked at the ticket."""
    lists: dict[str, list[Any]] = {"teams": [], "categories": [], "staff": [], "canned": [], "sms": [], "notes": [],
                                   "contacts": [], "assignees": []}  # fmt: skip
    for row in read_rows(db.session, _choices_statement(), {"user_id": user_id, "ticket_id": ticket_id}):
        lists[row.kind].append(row)
    keep_notifications(lists.pop("notes"))
    lists["sms"].sort(key=lambda row: row.id)  # sms.active_provider's choice: the first one
    return Choices(**lists)


@cache
def _choices_statement() -> sa.Select[Any]:
    """Built once (building it cost more than running it); the user and the ticket come in as the parameters
    user_id and ticket_id."""
    no, no_time = sa.cast(sa.null(), sa.Boolean), sa.cast(sa.null(), UTCDateTime())
    no_text = sa.cast(sa.null(), sa.String)
    ticket_id = sa.bindparam("ticket_id", type_=sa.Integer)

    def part(kind: str, table: Any, label: Any, away: Any, *where: Any, detail: Any = no_text) -> sa.Select[Any]:
        return sa.select(sa.literal(kind).label("kind"), table.id.label("id"), label.label("label"),
                         away.label("away"), detail.label("detail"), no_time.label("at")).where(*where)  # fmt: skip

    on_ticket = ticket_contacts.c.ticket_id == ticket_id
    assigned = ticket_assignees.c.ticket_id == ticket_id
    query = sa.union_all(
        part("teams", Team, Team.name, no),
        part("categories", Category, Category.name, no, Category.active),
        part("staff", User, User.name, User.away, User.active),
        part("canned", CannedResponse, CannedResponse.title, no),
        part("sms", SmsProvider, SmsProvider.name, no, SmsProvider.active),
        part(
            "contacts",
            Contact,
            sa.func.coalesce(sa.func.nullif(Contact.name, ""), Contact.email),
            no,
            Contact.id.in_(sa.select(ticket_contacts.c.contact_id).where(on_ticket)),
            detail=Contact.phone,
        ),  # fmt: skip
        part(
            "assignees", User, User.name, User.away, User.id.in_(sa.select(ticket_assignees.c.user_id).where(assigned))
        ),  # fmt: skip
        notifications_part(sa.bindparam("user_id", type_=sa.Integer), "notes", no, no_text),
    ).subquery()
    return sa.select(query).order_by(query.c.kind, query.c.label, query.c.id)


PRESENCE = """{% for o in others %}<div class="alert alert-warning py-1 px-2 mb-1 small" role="status">
<strong>{{ o.name }}</strong> is {{ "writing a reply" if o.state == "replying" else "viewing this ticket" }}.</div>
{% endfor %}"""


def _property_label(ticket: Ticket, name: str) -> str:
    """The stored value of a property as the agent reads it."""
    if name == "status":
        return ticket.status.label
    if name == "priority":
        return ticket.priority.label
    if name == "team_id":
        return ticket.assigned_team.name if ticket.assigned_team else "No team"
    if name == "category_id":
        return ticket.category.name if ticket.category else "None"
    return ", ".join(ticket.tags) or "none"
