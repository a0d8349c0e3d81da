"""Ticket use cases against the real database: enrichment, SLA start, audit trail, events."""

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from ticketing.domain.lifecycle import Status, TransitionError
from ticketing.domain.visibility import InteractionType, SmsStatus, is_customer_visible
from ticketing.domain.vocab import Priority, Source, Tier
from ticketing.models import Interaction, SlaPause, Ticket
from ticketing.services import tickets
from ticketing.services.interactions import add_interaction
from ticketing.services.timelog import log_time, minutes_for_customer, minutes_on_ticket


def system_entries(db, ticket: Ticket) -> list[Interaction]:
    return list(
        db.scalars(
            sa.select(Interaction)
            .where(Interaction.ticket_id == ticket.id, Interaction.type == InteractionType.SYSTEM)
            .order_by(Interaction.id)
        )
    )


def test_create_from_email_enriches_contact_and_customer(db, make, now) -> None:
    acme = make.customer("Acme", tier=Tier.PREMIUM, domains=("acme.example", "acme-corp.example"))
    ticket = tickets.create_ticket(
        db,
        subject="  Export   broken ",
        body="Hi",
        source=Source.EMAIL,
        now=now,
        sender_email="Jane@Acme-Corp.example",
        sender_name="Jane",
    )
    assert ticket.subject == "Export broken"
    assert ticket.customer is acme
    assert ticket.primary_contact.email == "jane@acme-corp.example"
    assert ticket.primary_contact.customer is acme
    assert ticket.contacts == [ticket.primary_contact]
    first = ticket.interactions[0]
    assert first.type == InteractionType.EMAIL_INBOUND and first.author_contact_id == ticket.primary_contact_id


def test_free_mail_domains_never_link_a_customer(db, make, now) -> None:
    make.customer("Gmail squatter", domains=("gmail.com",))
    ticket = tickets.create_ticket(
        db, subject="Hi", body="x", source=Source.EMAIL, now=now, sender_email="someone@gmail.com"
    )
    assert ticket.customer is None and ticket.primary_contact.customer is None


def test_existing_contact_is_reused(db, make, now) -> None:
    contact = make.contact(make.customer(), email="known@c.example")
    ticket = tickets.create_ticket(
        db, subject="Hi", body="x", source=Source.EMAIL, now=now, sender_email="KNOWN@c.example"
    )
    assert ticket.primary_contact is contact


def test_tier_picks_the_sla_policy_and_business_hours(db, make) -> None:
    calendar = make.calendar(tz="Europe/Berlin")
    make.policy(None, calendar, {Priority.MEDIUM: (480, 960)})
    make.policy(Tier.ENTERPRISE, calendar, {Priority.MEDIUM: (60, 240)})
    friday_4pm_berlin = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    enterprise = make.ticket(now=friday_4pm_berlin, contact=make.contact(make.customer(tier=Tier.ENTERPRISE)))
    standard = make.ticket(now=friday_4pm_berlin, contact=make.contact(make.customer(tier=Tier.STANDARD)))
    # 1 working hour left on Friday (16:00-17:00 Berlin), the rest from Monday 09:00 Berlin (08:00 UTC).
    assert enterprise.first_response_due == datetime(2026, 3, 6, 16, 0, tzinfo=UTC)
    assert enterprise.due_date == datetime(2026, 3, 9, 11, 0, tzinfo=UTC)
    assert standard.first_response_due == datetime(2026, 3, 9, 15, 0, tzinfo=UTC)
    assert standard.due_date == datetime(2026, 3, 10, 15, 0, tzinfo=UTC)


def test_low_priority_without_target_has_no_due_date(db, make, now) -> None:
    make.policy(None, None, {Priority.LOW: (240, None)})
    ticket = make.ticket(now=now, priority=Priority.LOW)
    assert ticket.due_date is None
    assert ticket.first_response_due == now + timedelta(hours=4)


def test_status_change_writes_system_entry_and_event_after_commit(db, make, now, captured) -> None:
    agent = make.user(name="Ann")
    ticket = make.ticket(now=now)
    db.commit()
    captured.clear()
    tickets.change_status(db, ticket, Status.IN_PROGRESS, actor=agent, now=now + timedelta(minutes=5))
    assert captured == []  # nothing leaves before the commit
    db.commit()
    assert [e.type for e in captured] == ["ticket.status_changed"]
    assert captured[0].data["changes"] == {"status": {"old": "open", "new": "in_progress"}}
    entry = system_entries(db, ticket)[-1]
    assert entry.body_text == "Ann changed status from Open to In Progress"
    assert entry.meta["old"] == "open" and entry.meta["new"] == "in_progress"
    assert ticket.public_updated_at == now + timedelta(minutes=5)


def test_events_of_a_rolled_back_transaction_are_dropped(db, make, now, captured) -> None:
    ticket = make.ticket(now=now)
    db.commit()
    captured.clear()
    tickets.change_status(db, ticket, Status.PENDING, actor=None, now=now)
    db.rollback()
    db.commit()
    assert captured == []


def test_forbidden_transition_changes_nothing(db, make, now) -> None:
    ticket = make.ticket(now=now)
    tickets.change_status(db, ticket, Status.CLOSED, actor=None, now=now)
    before = len(system_entries(db, ticket))
    with pytest.raises(TransitionError):
        tickets.change_status(db, ticket, Status.OPEN, actor=None, now=now)
    assert ticket.status == Status.CLOSED and len(system_entries(db, ticket)) == before


def test_pause_and_resume_move_the_due_date(db, make) -> None:
    make.policy(None, None, {Priority.MEDIUM: (60, 480)})  # 24x7
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ticket = make.ticket(now=start)
    assert ticket.due_date == start + timedelta(hours=8)
    tickets.change_status(db, ticket, Status.WAITING_ON_CUSTOMER, actor=None, now=start + timedelta(hours=2))
    assert ticket.due_date is None  # clock stopped
    tickets.change_status(db, ticket, Status.OPEN, actor=None, now=start + timedelta(hours=5))
    assert ticket.due_date == start + timedelta(hours=11)  # 6 h were left when it paused
    assert db.scalar(sa.select(sa.func.count()).select_from(SlaPause)) == 1


def test_resolve_then_reopen_restarts_the_clock(db, make) -> None:
    make.policy(None, None, {Priority.MEDIUM: (60, 480)})
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    ticket = make.ticket(now=start)
    tickets.change_status(db, ticket, Status.RESOLVED, actor=None, now=start + timedelta(hours=1))
    assert ticket.resolved_at == start + timedelta(hours=1)
    reopen = start + timedelta(days=2)
    tickets.change_status(db, ticket, Status.OPEN, actor=None, now=reopen)
    assert ticket.resolved_at is None
    assert ticket.due_date == reopen + timedelta(hours=8)


def test_customer_reply_reopens_waiting_ticket(db, make, now) -> None:
    ticket = make.ticket(now=now)
    tickets.change_status(db, ticket, Status.WAITING_ON_CUSTOMER, actor=None, now=now)
    add_interaction(
        db,
        ticket,
        type=InteractionType.EMAIL_INBOUND,
        actor=ticket.primary_contact,
        body_text="Here you go",
        now=now + timedelta(hours=1),
    )
    assert ticket.status == Status.OPEN


def test_auto_reply_does_not_reopen(db, make, now) -> None:
    ticket = make.ticket(now=now)
    tickets.change_status(db, ticket, Status.RESOLVED, actor=None, now=now)
    add_interaction(
        db,
        ticket,
        type=InteractionType.EMAIL_INBOUND,
        actor=ticket.primary_contact,
        body_text="I am out of office",
        now=now,
        reopen=False,
    )
    assert ticket.status == Status.RESOLVED


def test_first_outbound_email_stamps_first_response_once(db, make, now) -> None:
    agent = make.user()
    ticket = make.ticket(now=now)
    add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=agent, body_text="x", now=now)
    assert ticket.first_response_at is None
    first = now + timedelta(minutes=30)
    add_interaction(db, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=agent, body_text="Hi", now=first)
    add_interaction(
        db, ticket, type=InteractionType.EMAIL_OUTBOUND, actor=agent, body_text="Again", now=first + timedelta(hours=1)
    )
    assert ticket.first_response_at == first


def test_internal_work_does_not_move_the_public_timestamp(db, make, now) -> None:
    agent, team = make.user(), make.team()
    ticket = make.ticket(now=now)
    later = now + timedelta(hours=1)
    add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=agent, body_text="secret", now=later)
    tickets.set_team(db, ticket, team, actor=agent, now=later)
    tickets.add_assignee(db, ticket, agent, actor=agent, now=later)
    tickets.set_tags(db, ticket, ["vip"], actor=agent, now=later)
    log_time(db, ticket, user=agent, minutes=15, now=later)
    assert ticket.updated_at == later
    assert ticket.public_updated_at == now


def test_assignees_are_added_and_removed_one_at_a_time(db, make, now) -> None:
    a, b, c = make.user(name="A"), make.user(name="B"), make.user(name="C")
    ticket = make.ticket(now=now)
    for user in (a, b, c):
        tickets.add_assignee(db, ticket, user, actor=a, now=now)
    tickets.add_assignee(db, ticket, b, actor=a, now=now)  # no-op: already assigned
    tickets.remove_assignee(db, ticket, b, actor=a, now=now)
    db.commit()
    db.expire_all()
    assert {u.name for u in db.get(Ticket, ticket.id).assignees} == {"A", "C"}
    texts = [e.body_text for e in system_entries(db, ticket) if e.meta["field"] == "assignees"]
    assert texts == [
        "A changed assignees from none to A",
        "A changed assignees from A to A, B",
        "A changed assignees from A, B to A, B, C",
        "A changed assignees from A, B, C to A, C",
    ]


def test_priority_change_recomputes_targets(db, make, now) -> None:
    make.policy(None, None, {Priority.MEDIUM: (60, 480), Priority.URGENT: (15, 120)})
    ticket = make.ticket(now=now)
    tickets.set_priority(db, ticket, Priority.URGENT, actor=None, now=now + timedelta(minutes=5))
    assert ticket.due_date == now + timedelta(hours=2)
    assert ticket.first_response_due == now + timedelta(minutes=15)


def test_tags_are_normalised(db, make, now) -> None:
    ticket = make.ticket(now=now)
    tickets.set_tags(db, ticket, [" Billing ", "billing", "Feature Request", ""], actor=None, now=now)
    assert ticket.tags == ["billing", "feature-request"]
    tickets.remove_tags(db, ticket, ["BILLING"], actor=None, now=now)
    assert ticket.tags == ["feature-request"]


def test_category_and_team_changes_are_audited(db, make, now) -> None:
    from ticketing.models import Category

    category = Category(name="Billing & payments")
    db.add(category)
    ticket = make.ticket(now=now)
    tickets.set_category(db, ticket, category, actor=None, now=now)
    assert system_entries(db, ticket)[-1].body_text == "System changed category from none to Billing & payments"


def test_time_entries_sum_per_ticket_and_customer(db, make, now) -> None:
    agent = make.user()
    customer = make.customer()
    t1 = make.ticket(now=now, contact=make.contact(customer))
    t2 = make.ticket(now=now, contact=make.contact(customer))
    log_time(db, t1, user=agent, minutes=30, now=now, note="call")
    log_time(db, t1, user=agent, minutes=15, now=now)
    log_time(db, t2, user=agent, minutes=20, now=now)
    with pytest.raises(ValueError, match="minutes"):
        log_time(db, t2, user=agent, minutes=0, now=now)
    assert minutes_on_ticket(db, t1.id) == 45
    assert minutes_for_customer(db, customer.id) == 65


@pytest.mark.parametrize("kind", list(InteractionType))
@pytest.mark.parametrize("sms_status", [None, *SmsStatus])
def test_sql_visibility_clause_agrees_with_the_rule(db, make, now, kind, sms_status) -> None:
    ticket = make.ticket(now=now, body="")
    entry = Interaction(ticket=ticket, type=kind, sms_status=sms_status, body_text="x", created_at=now)
    db.add(entry)
    db.flush()
    visible_ids = set(db.scalars(sa.select(Interaction.id).where(Interaction.customer_visible_clause())))
    assert (entry.id in visible_ids) is is_customer_visible(kind, sms_status)
