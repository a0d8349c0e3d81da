"""What still uses a configuration record, and so what deleting it may do: delete it, deactivate it instead (where
the record has an `active` flag and its history must keep pointing at it), or refuse with the records that use it.

Foreign keys alone did not say it: SQLite (no PRAGMA foreign_keys) let a team or a policy go and left its tickets
pointing at nothing; PostgreSQL refused with a raw IntegrityError; and ON DELETE CASCADE / SET NULL would silently
drop a staff user's ticket assignments, an intake form's routing rules, or a webhook's team filter (which then
sends every team's events)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.domain.config_rules import ConfigError, Use, describe
from ticketing.domain.lifecycle import ACTIVE
from ticketing.models import (
    ApiToken,
    Contact,
    Customer,
    IntakeForm,
    Interaction,
    Mailbox,
    OnboardingPlan,
    RoutingRule,
    SlaPolicy,
    Team,
    Ticket,
    TimeEntry,
    User,
    WebhookSubscription,
    ticket_assignees,
    ticket_contacts,
)


class Verdict(StrEnum):
    DELETE = "delete"  # nothing uses it: the caller deletes it
    DEACTIVATE = "deactivate"  # deactivated (flushed) instead of deleted
    REFUSE = "refuse"  # left as it is


@dataclass(frozen=True)
class Removal:
    verdict: Verdict
    message: str = ""  # what was done instead, or why not, for the admin


DELETE = Removal(Verdict.DELETE)


def _named(session: Session, singular: str, plural: str, name: Any, *where: Any) -> Use:
    """Records matching `where`, by name."""
    names = list(session.scalars(sa.select(name).where(*where).order_by(name)))
    return Use(len(names), singular, plural, names=names)


def _ticket_use(session: Session, *where: Any) -> Use:
    """Tickets matching `where`, with how many of them are still open (closed ones keep their history too)."""
    is_open = Ticket.status.in_([s.value for s in ACTIVE])
    total, still_open = session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(is_open)).select_from(Ticket).where(*where)
    ).one()
    return Use(total, "ticket", "tickets", detail=f"{still_open} open" if still_open else "")


def team_uses(session: Session, team: Team) -> list[Use]:
    return [
        _ticket_use(session, Ticket.assigned_team_id == team.id),
        _named(session, "mailbox", "mailboxes", Mailbox.name, Mailbox.team_id == team.id),
        _named(session, "intake form", "intake forms", IntakeForm.name, IntakeForm.team_id == team.id),
        _named(session, "routing rule", "routing rules", RoutingRule.name, RoutingRule.set_team_id == team.id),
        _named(session, "webhook", "webhooks", WebhookSubscription.name, WebhookSubscription.team_id == team.id),
    ]


def team_removal(session: Session, team: Team) -> Removal:
    """Teams have no active flag: one still used is refused (a webhook filtered on it would send every team's events
    once the filter was nulled)."""
    uses = describe(team_uses(session, team))
    if not uses:
        return DELETE
    return Removal(Verdict.REFUSE, f"Team {team.name} was not deleted: it is still used by {uses}. "
                                   "Move them to another team first.")  # fmt: skip


def sla_policy_removal(session: Session, policy: SlaPolicy) -> Removal:
    """A ticket keeps its policy for its calendar (the SLA clock), so a policy that times tickets stays."""
    uses = describe([_ticket_use(session, Ticket.sla_policy_id == policy.id)])
    if not uses:
        return DELETE
    return Removal(Verdict.REFUSE, f"SLA policy {policy.name} was not deleted: it still times {uses}. "
                                   "Edit the policy instead of deleting it.")  # fmt: skip


def _count(session: Session, statement: Any) -> int:
    return int(session.scalar(statement) or 0)


def staff_history(session: Session, user: User) -> list[Use]:
    """What keeps the user's name once they leave: what they wrote, the time they logged, tickets they had, API
    tokens they held or issued (a token's row records who had access, and until when)."""
    count = sa.select(sa.func.count())
    token_of_theirs = sa.or_(ApiToken.user_id == user.id, ApiToken.created_by_id == user.id)
    return [
        Use(_count(session, count.select_from(Interaction).where(Interaction.author_user_id == user.id)),
            "timeline entry", "timeline entries"),
        Use(_count(session, count.select_from(TimeEntry).where(TimeEntry.user_id == user.id)),
            "time entry", "time entries"),
        Use(_count(session, count.select_from(ticket_assignees).where(ticket_assignees.c.user_id == user.id)),
            "ticket assigned to them", "tickets assigned to them"),
        Use(_count(session, count.select_from(ApiToken).where(token_of_theirs)), "API token", "API tokens"),
    ]  # fmt: skip


def open_assigned(session: Session, user: User) -> int:
    return _count(
        session,
        sa.select(sa.func.count())
        .select_from(ticket_assignees)
        .join(Ticket, Ticket.id == ticket_assignees.c.ticket_id)
        .where(ticket_assignees.c.user_id == user.id, Ticket.status.in_([s.value for s in ACTIVE])),
    )


def _deactivate(session: Session, record: User | IntakeForm, *, inactive: str) -> str:
    """Deactivates (flushes) a record kept for its history; what was done, for the admin's message."""
    was_active, record.active = record.active, False
    session.flush()
    return "was deactivated instead of deleted" if was_active else f"stays {inactive} and cannot be deleted"


def staff_removal(session: Session, user: User, *, by: User) -> Removal:
    """Refused for oneself and while open tickets are assigned (they would silently lose their assignee); an account
    with a history is deactivated, so that history keeps its author; only an unused account is deleted."""
    if user.id == by.id:
        return Removal(Verdict.REFUSE, "You cannot delete your own account: another admin has to do it.")
    if still_open := open_assigned(session, user):
        tickets = "1 open ticket is" if still_open == 1 else f"{still_open} open tickets are"
        those = "it" if still_open == 1 else "them"
        return Removal(Verdict.REFUSE, f"{user.name} was not deleted: {tickets} still assigned to them. "
                                       f"Reassign {those} first.")  # fmt: skip
    history = describe(staff_history(session, user))
    if not history:
        return DELETE
    done = _deactivate(session, user, inactive="deactivated")
    return Removal(Verdict.DEACTIVATE, f"{user.name} {done}: their name stays on {history}. "
                                       "A deactivated account cannot sign in.")  # fmt: skip


def intake_form_removal(session: Session, form: IntakeForm) -> Removal:
    """Tickets keep the form that made them, and routing rules on it would be deleted with it (ON DELETE CASCADE):
    a used form is deactivated instead, which stops new submissions."""
    uses = describe([
        _ticket_use(session, Ticket.form_id == form.id),
        _named(session, "routing rule", "routing rules", RoutingRule.name, RoutingRule.form_id == form.id),
    ])  # fmt: skip
    if not uses:
        return DELETE
    done = _deactivate(session, form, inactive="inactive")
    return Removal(Verdict.DEACTIVATE, f"Intake form {form.name} {done}: it is still used by {uses}. "
                                       "An inactive form takes no new requests.")  # fmt: skip


def check_single_default(session: Session, policy_id: int | None) -> None:
    """ConfigError when another policy is already the default (no tier): which one the SLA clock picked for
    customers without a policy of their own was then a matter of row order."""
    defaults = sa.select(SlaPolicy.name).where(SlaPolicy.tier.is_(None))
    if policy_id is not None:  # editing the default itself
        defaults = defaults.where(SlaPolicy.id != policy_id)
    other = session.scalar(defaults.limit(1))
    if other is not None:
        raise ConfigError(
            f"SLA policy {other} is already the default (the one with no tier). Choose a tier for this policy, "
            f"or give {other} a tier first."
        )


def customer_removal(session: Session, customer: Customer) -> Removal:
    """A customer's tickets, contacts and onboarding plan are its history, and a webhook may be filtered on it: one
    with any is kept (its tickets pointed at nothing once it was gone, and queues, reports and the SLA clock lost
    its tier)."""
    uses = describe([
        _ticket_use(session, Ticket.customer_id == customer.id),
        _named(session, "contact", "contacts", Contact.email, Contact.customer_id == customer.id),
        _named(session, "onboarding plan", "onboarding plans", OnboardingPlan.name,
               OnboardingPlan.customer_id == customer.id),
        # ON DELETE SET NULL: a webhook filtered on the customer would then send every customer's events.
        _named(session, "webhook", "webhooks", WebhookSubscription.name,
               WebhookSubscription.customer_id == customer.id),
    ])  # fmt: skip
    if not uses:
        return DELETE
    return Removal(Verdict.REFUSE, f"Customer {customer.name} was not deleted: it still has {uses}. A customer "
                                   "with history stays; edit it instead.")  # fmt: skip


def contact_removal(session: Session, contact: Contact) -> Removal:
    """A contact on tickets (as their requester or copied in) or who wrote on a timeline stays: their messages keep
    their author. Turning off their portal access is what stops them signing in."""
    on_ticket = sa.or_(
        Ticket.primary_contact_id == contact.id,
        Ticket.id.in_(sa.select(ticket_contacts.c.ticket_id).where(ticket_contacts.c.contact_id == contact.id)),
    )
    wrote = sa.select(sa.func.count()).select_from(Interaction).where(Interaction.author_contact_id == contact.id)
    uses = describe([
        _ticket_use(session, on_ticket),
        Use(_count(session, wrote), "timeline entry", "timeline entries"),
    ])  # fmt: skip
    if not uses:
        return DELETE
    return Removal(Verdict.REFUSE, f"{contact.email} was not deleted: they are on {uses}. Untick Portal enabled "
                                   "to stop them signing in.")  # fmt: skip
