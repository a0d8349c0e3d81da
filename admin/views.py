"""Flask-Admin views over the models. Ticket changes go through the services (audit + events)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import current_app, flash, url_for
from flask_admin.actions import action
from flask_login import current_user
from markupsafe import Markup
from wtforms.validators import DataRequired, Email, Length

from admin.base import AdminOnlyModelView, GuardedDeleteMixin, RoleLimitedMixin, StaffModelView, me, staff_role
from admin.config_views import (
    BrandingView,
    CalendarView,
    CannedResponseView,
    IntakeFormView,
    MailboxView,
    RoutingRuleView,
    SlaPolicyView,
    SmsProviderView,
    TeamView,
    UserView,
)
from admin.mail_files import EmailOriginalView
from ticketing.domain.lifecycle import Status, TransitionError
from ticketing.domain.vocab import StaffRole
from ticketing.extensions import db
from ticketing.models import (
    Branding,
    BusinessCalendar,
    CannedResponse,
    Category,
    Contact,
    Customer,
    CustomerDomain,
    InboundMessage,
    IntakeForm,
    Interaction,
    Mailbox,
    Milestone,
    OnboardingPlan,
    OutboundMessage,
    RoutingRule,
    SlaPolicy,
    SmsProvider,
    Team,
    Ticket,
    TimeEntry,
    User,
    utcnow,
)
from ticketing.services import config_usage
from ticketing.services import tickets as ticket_service
from ticketing.services.config_usage import Removal
from ticketing.services.enrichment import normalise_email


def enum_label(view: Any, context: Any, model: Any, name: str) -> str:
    value = getattr(model, name)
    return "" if value is None else str(getattr(value, "label", value))


class TeamScopedMixin:
    """Lists, counts, details, exports and actions see only tickets the agent may open.

    These lists are long (every ticket, every message, every time entry): they show no total (a count of a million
    rows, filtered by the agent's scope, cost more than the page) and sort only by columns an index keeps in order.
    """

    ticket_id_column: str | None = None  # the model's ticket id attribute (None: the model is Ticket)
    simple_list_pager = True

    def _scope(self, query: Any) -> Any:
        from ticketing.services.staff_access import sees_everything, visible_clause

        user = me()
        if sees_everything(user):  # no condition at all: "IN (every ticket id)" was most of a manager's page
            return query
        if self.ticket_id_column is None:
            return query.filter(visible_clause(user))
        # EXISTS for each row, not IN (the ids of every ticket the agent may open): the page is then read in its
        # list order through an index and stops after a page, instead of collecting those ids first.
        column = getattr(self.model, self.ticket_id_column)  # type: ignore[attr-defined]
        return query.filter(sa.exists().where(Ticket.id == column, visible_clause(user)))

    def get_query(self) -> Any:
        return self._scope(super().get_query())  # type: ignore[misc]

    def get_count_query(self) -> Any:
        return self._scope(super().get_count_query())  # type: ignore[misc]

    def get_one(self, id: Any) -> Any:  # noqa: A002 - Flask-Admin's signature
        return self._scope(super().get_query()).filter_by(id=int(id)).one_or_none()  # type: ignore[misc]


class TicketView(TeamScopedMixin, StaffModelView):
    # Tickets change through the services only (SYSTEM interaction + event per change).
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["id", "subject", "customer", "status", "priority", "assigned_team", "due_date", "updated_at"]
    column_labels = {"id": "#", "assigned_team": "Team", "due_date": "Due"}
    column_default_sort = ("updated_at", True)
    column_sortable_list = ["id", "status", "updated_at"]  # indexed (the queues sort by priority and time left)
    column_searchable_list = ["subject"]
    column_filters = [
        "status",
        "priority",
        "source",
        "assigned_team.name",
        "customer.name",
        "due_date",
        "sla_breach_at",
    ]
    column_details_exclude_list = ["form_data"]
    column_formatters = {
        "status": enum_label,
        "priority": enum_label,
        "source": enum_label,
        "subject": lambda v, c, m, n: Markup('<a href="{}">{}</a>').format(
            url_for("workspace.ticket", ticket_id=m.id), m.subject
        ),
    }
    column_formatters_detail = column_formatters

    def _set_status(self, ids: list[str], status: Status) -> None:
        from ticketing.services.staff_access import visible_clause

        now, moved = utcnow(), 0
        selected = sa.select(Ticket).where(Ticket.id.in_([int(i) for i in ids]), visible_clause(me()))
        for ticket in db.session.scalars(selected):
            try:
                ticket_service.change_status(db.session, ticket, status, actor=current_user, now=now)
                moved += 1
            except TransitionError as exc:
                flash(f"#{ticket.id}: {exc}", "warning")
        db.session.commit()
        flash(f"{moved} ticket(s) now {status.label}.", "success")

    @action("resolve", "Resolve", "Resolve the selected tickets?")
    def action_resolve(self, ids: list[str]) -> None:
        self._set_status(ids, Status.RESOLVED)

    @action("in_progress", "Mark in progress")
    def action_in_progress(self, ids: list[str]) -> None:
        self._set_status(ids, Status.IN_PROGRESS)


class InteractionView(TeamScopedMixin, StaffModelView):
    ticket_id_column = "ticket_id"

    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["ticket_id", "type", "author_user", "author_contact", "body_text", "created_at"]
    column_filters = ["type", "ticket_id"]
    column_default_sort = ("created_at", True)
    column_sortable_list = ["ticket_id", "created_at"]
    column_labels = {"ticket_id": "Ticket", "author_user": "Staff", "author_contact": "Contact", "body_text": "Text"}
    # The timeline's own words ("Internal note", "Message from customer"), not the stored value (INTERNAL_NOTE).
    column_formatters = {"type": lambda v, c, m, n: m.label, "body_text": lambda v, c, m, n: (m.body_text or "")[:120]}
    column_formatters_detail = {"type": lambda v, c, m, n: m.label}


class InboundMessageView(AdminOnlyModelView):
    """Every stored email with what processing decided; failed ones can be re-processed after a fix."""

    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["id", "received_at", "source", "from_address", "subject", "status", "outcome", "ticket_id",
                   "attempts", "error"]  # fmt: skip
    column_filters = ["status", "source", "received_at"]
    column_searchable_list = ["from_address", "subject", "message_key"]
    column_default_sort = ("received_at", True)
    column_details_exclude_list = ["raw"]
    column_formatters = {
        "status": enum_label,
        "error": lambda v, c, m, n: (m.error or "")[:160],
        "subject": lambda v, c, m, n: Markup('<a href="{}">{}</a>').format(
            url_for("email_original.view", inbound_id=m.id), m.subject or "(no subject)"
        ),
    }

    @action("reprocess", "Re-process", "Process the selected failed messages again?")
    def action_reprocess(self, ids: list[str]) -> None:
        from ticketing.services import mail_inbound

        queued = sum(mail_inbound.retry_failed(db.session, int(i)) for i in ids)
        db.session.commit()
        flash(f"{queued} message(s) queued for processing (only failed ones can be re-processed).", "success")


class OutboundMessageView(AdminOnlyModelView):
    can_create = False
    can_edit = False
    can_delete = False
    column_list = ["id", "created_at", "kind", "to_address", "subject", "status", "attempts", "sent_at", "last_error"]
    column_filters = ["status", "kind", "created_at"]
    column_searchable_list = ["to_address", "subject", "message_id"]
    column_default_sort = ("created_at", True)
    column_formatters = {"status": enum_label, "kind": enum_label}

    @action("resend", "Send again", "Send the selected failed or unconfirmed emails again? Unconfirmed ones may "
            "have been delivered already.")  # fmt: skip
    def action_resend(self, ids: list[str]) -> None:
        from ticketing.services import mail_outbound

        picked = db.session.scalars(sa.select(OutboundMessage).where(OutboundMessage.id.in_([int(i) for i in ids])))
        chosen = [m for m in picked if m.status in mail_outbound.RESENDABLE]
        for outbound in chosen:
            mail_outbound.resend(db.session, outbound, actor=current_user._get_current_object(), now=utcnow())
        db.session.commit()
        flash(f"{len(chosen)} email(s) queued again (only failed or unconfirmed ones can be sent again).", "success")


MANAGERS = frozenset({StaffRole.MANAGER, StaffRole.ADMIN})


class CustomerView(GuardedDeleteMixin, RoleLimitedMixin, StaffModelView):
    """Agents look; managers change a customer (its tier sets its SLA); admins delete an unused one."""

    edit_roles = MANAGERS
    column_list = ["name", "tier", "domains", "created_at"]
    column_searchable_list = ["name"]
    column_filters = ["tier"]
    form_columns = ["name", "tier", "notes"]
    inline_models = [(CustomerDomain, {"form_columns": ["id", "domain"]})]

    def removal(self, model: Customer) -> Removal:
        return config_usage.customer_removal(db.session, model)


class ContactView(GuardedDeleteMixin, RoleLimitedMixin, StaffModelView):
    """Managers add and change contacts and invite them (a contact's customer and portal role decide which tickets
    it sees in the portal: an agent could give an address of their own another team's customer's tickets); admins
    delete an unused one; agents look."""

    edit_roles = MANAGERS

    column_list = ["name", "email", "phone", "customer", "portal_role"]
    column_details_exclude_list = ["password_hash"]  # a hash is a secret too: it can be attacked offline
    column_searchable_list = ["name", "email"]
    form_columns = ["name", "email", "phone", "customer", "portal_role", "portal_enabled"]
    # A mistyped address (or one with a line break) would only fail later, when mail to the contact is built.
    form_args = {
        "email": {
            "filters": [lambda v: v.strip() if v else v],
            "validators": [DataRequired(), Email(), Length(max=255)],
        }
    }

    def on_model_change(self, form: Any, model: Any, is_created: bool) -> None:
        model.email = normalise_email(model.email)  # stored as mail threading looks it up

    def removal(self, model: Contact) -> Removal:
        return config_usage.contact_removal(db.session, model)

    def is_action_allowed(self, name: str) -> bool:
        if name == "invite" and staff_role() not in MANAGERS:
            return False
        return bool(super().is_action_allowed(name))

    @action("invite", "Send portal invitation", "Email the selected contacts a link to choose a password?")
    def action_invite(self, ids: list[str]) -> None:
        from ticketing.extensions import mail_policy
        from ticketing.services import accounts

        policy, now, sent = mail_policy(), utcnow(), 0
        for contact in db.session.scalars(sa.select(Contact).where(Contact.id.in_([int(i) for i in ids]))):
            if not contact.portal_enabled:
                continue
            token = accounts.make_token(contact, "invite", current_app.config["SECRET_KEY"])
            link = url_for("portal.invite", token=token, _external=True)
            accounts.queue_link_email(db.session, contact, purpose="invite", link=link, policy=policy, now=now)
            sent += 1
        db.session.commit()
        flash(f"Invitation sent to {sent} contact(s).", "success")


class OnboardingPlanView(RoleLimitedMixin, StaffModelView):
    """Every staff role updates milestones; admins delete a plan."""

    form_columns = ["customer", "name", "started_on"]
    inline_models = [(Milestone, {"form_columns": ["id", "position", "title", "status", "due_on", "completed_on"]})]


class TimeEntryView(TeamScopedMixin, StaffModelView):
    """Logged in the workspace; here listed, and deleted by whoever logged it or a manager."""

    ticket_id_column = "ticket_id"

    can_edit = False
    can_create = False
    column_list = ["ticket_id", "user", "minutes", "work_date", "note"]
    column_default_sort = ("work_date", True)
    column_sortable_list = ["ticket_id", "work_date"]

    def delete_model(self, model: TimeEntry) -> bool:
        user = me()
        if model.user_id != user.id and user.role not in MANAGERS:
            flash(f"Time entry of {model.minutes} min on #{model.ticket_id} was not deleted: only whoever logged "
                  "it, or a manager, may delete it.", "error")  # fmt: skip
            return False
        return bool(super().delete_model(model))


def add_views(admin: Any) -> None:
    session = db
    admin.add_view(TicketView(Ticket, session, name="Tickets", endpoint="tickets"))
    admin.add_view(InteractionView(Interaction, session, name="Timeline", endpoint="interactions"))
    admin.add_view(TimeEntryView(TimeEntry, session, name="Time entries", endpoint="time_entries"))
    admin.add_view(CustomerView(Customer, session, name="Customers", category="Customers"))
    admin.add_view(ContactView(Contact, session, name="Contacts", category="Customers"))
    admin.add_view(OnboardingPlanView(OnboardingPlan, session, name="Onboarding plans", category="Customers"))
    admin.add_view(UserView(User, session, name="Staff", category="Configuration"))
    admin.add_view(TeamView(Team, session, name="Teams", category="Configuration"))
    admin.add_view(AdminOnlyModelView(Category, session, name="Categories", category="Configuration"))
    admin.add_view(IntakeFormView(IntakeForm, session, name="Intake forms", category="Configuration"))
    admin.add_view(BrandingView(Branding, session, name="Branding", category="Configuration"))
    admin.add_view(RoutingRuleView(RoutingRule, session, name="Routing rules", category="Configuration"))
    admin.add_view(CannedResponseView(CannedResponse, session, name="Canned responses", category="Configuration"))
    admin.add_view(SmsProviderView(SmsProvider, session, name="SMS provider", category="Configuration"))
    admin.add_view(MailboxView(Mailbox, session, name="Mailboxes", category="Email"))
    admin.add_view(
        InboundMessageView(InboundMessage, session, name="Inbound email", category="Email", endpoint="inbound_email")
    )
    admin.add_view(
        OutboundMessageView(
            OutboundMessage, session, name="Outbound email", category="Email", endpoint="outbound_email"
        )
    )
    admin.add_view(EmailOriginalView(name="Email", endpoint="email_original", url="/admin/email"))
    admin.add_view(SlaPolicyView(SlaPolicy, session, name="SLA policies", category="Configuration"))
    admin.add_view(CalendarView(BusinessCalendar, session, name="Business calendars", category="Configuration"))
