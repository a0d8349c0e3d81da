"""Routing rules, auto-assignment and the load queries, on the real database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

# Imported at collection, before the session-scoped `app` fixture runs create_all, so the routing tables exist
# even while ticketing/models/__init__.py does not import the module yet.
import ticketing.models.routing  # noqa: F401
from tests.conftest import sql_statements
from ticketing import events
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority, Source, StaffRole, Tier
from ticketing.models import Category, IntakeForm, Interaction, Mailbox, Team, Ticket, User
from ticketing.models.routing import AutoAssign, RoutingRule, TeamRoundRobin
from ticketing.services import routing, tickets
from ticketing.services.interactions import add_interaction


@dataclass
class World:
    billing: Team
    tech: Team
    refunds: Category
    hardware: Category
    inbox_billing: Mailbox
    inbox_sales: Mailbox
    rma_form: IntakeForm
    bug_form: IntakeForm


@pytest.fixture
def world(db) -> World:
    billing, tech = Team(name="Billing"), Team(name="Tech")
    refunds, hardware = Category(name="Refunds"), Category(name="Hardware")
    w = World(
        billing=billing,
        tech=tech,
        refunds=refunds,
        hardware=hardware,
        inbox_billing=Mailbox(name="Billing inbox", address="billing@bluehill.test"),
        inbox_sales=Mailbox(name="Sales inbox", address="sales@bluehill.test"),
        rma_form=IntakeForm(slug="rma", name="Return a device"),
        bug_form=IntakeForm(slug="bug", name="Report a bug"),
    )
    db.add_all(vars(w).values())
    db.flush()
    return w


_positions = iter(range(10, 100_000, 10))


def add_rule(db, name: str = "Rule", **kw: Any) -> RoutingRule:
    kw.setdefault("position", next(_positions))
    rule = RoutingRule(name=name, **kw)
    db.add(rule)
    db.flush()
    return rule


def new_ticket(
    make,
    now,
    *,
    subject: str = "Help please",
    body: str = "It is broken.",
    tier: Tier | None = Tier.STANDARD,
    form: IntakeForm | None = None,
    **kw: Any,
) -> Ticket:
    contact = make.contact(make.customer(tier=tier) if tier is not None else None)
    ticket = make.ticket(now=now, contact=contact, subject=subject, body=body, **kw)
    if form is not None:
        ticket.form_id = form.id  # as forms.submit does
    return ticket


def system_texts(db, ticket: Ticket) -> list[str]:
    return list(
        db.scalars(
            sa.select(Interaction.body_text)
            .where(Interaction.ticket_id == ticket.id, Interaction.type == InteractionType.SYSTEM)
            .order_by(Interaction.id)
        )
    )


# -- conditions -----------------------------------------------------------------------------------------------

W = World
Case = tuple[str, Callable[[W], dict[str, Any]], Callable[[W], dict[str, Any]], bool]

CONDITION_CASES: list[Case] = [
    # (id, rule conditions, ticket (+ mailbox_id), matches)
    ("form", lambda w: {"form_id": w.rma_form.id}, lambda w: {"form": w.rma_form}, True),
    ("form-other", lambda w: {"form_id": w.rma_form.id}, lambda w: {"form": w.bug_form}, False),
    ("form-none", lambda w: {"form_id": w.rma_form.id}, lambda w: {}, False),
    ("category", lambda w: {"category_id": w.refunds.id}, lambda w: {"category": w.refunds}, True),
    ("category-other", lambda w: {"category_id": w.refunds.id}, lambda w: {"category": w.hardware}, False),
    ("category-none", lambda w: {"category_id": w.refunds.id}, lambda w: {}, False),
    ("tag", lambda w: {"tag": "vip"}, lambda w: {"tags": ["vip", "eu"]}, True),
    ("tag-normalised", lambda w: {"tag": " VIP "}, lambda w: {"tags": ["Vip"]}, True),
    ("tag-missing", lambda w: {"tag": "vip"}, lambda w: {"tags": ["eu"]}, False),
    ("mailbox", lambda w: {"mailbox_id": w.inbox_billing.id}, lambda w: {"mailbox_id": w.inbox_billing.id}, True),
    ("mailbox-other", lambda w: {"mailbox_id": w.inbox_billing.id}, lambda w: {"mailbox_id": w.inbox_sales.id}, False),
    ("mailbox-none", lambda w: {"mailbox_id": w.inbox_billing.id}, lambda w: {}, False),
    ("tier", lambda w: {"customer_tier": Tier.PREMIUM}, lambda w: {"tier": Tier.PREMIUM}, True),
    ("tier-other", lambda w: {"customer_tier": Tier.PREMIUM}, lambda w: {"tier": Tier.ENTERPRISE}, False),
    ("tier-no-customer", lambda w: {"customer_tier": Tier.STANDARD}, lambda w: {"tier": None}, False),
    ("source", lambda w: {"source": Source.EMAIL}, lambda w: {"source": Source.EMAIL}, True),
    ("source-other", lambda w: {"source": Source.EMAIL}, lambda w: {"source": Source.PORTAL}, False),
    ("keyword-subject", lambda w: {"keywords": "refund"}, lambda w: {"subject": "Refund for order 7"}, True),
    ("keyword-body", lambda w: {"keywords": "invoice"}, lambda w: {"body": "Please resend the INVOICE."}, True),
    ("keyword-any", lambda w: {"keywords": "refund, invoice ,  chargeback"}, lambda w: {"body": "a chargeback"}, True),
    ("keyword-phrase", lambda w: {"keywords": "credit card"}, lambda w: {"body": "my Credit\n  Card failed"}, True),
    ("keyword-punct", lambda w: {"keywords": "c++"}, lambda w: {"subject": "C++ SDK crash"}, True),
    ("keyword-inside-word", lambda w: {"keywords": "bill"}, lambda w: {"subject": "Billing question"}, False),
    ("keyword-prefix-word", lambda w: {"keywords": "fund"}, lambda w: {"body": "we got refunded"}, False),
    ("keyword-plural", lambda w: {"keywords": "invoice"}, lambda w: {"body": "two invoices"}, False),
    ("keyword-absent", lambda w: {"keywords": "refund,invoice"}, lambda w: {"subject": "Printer on fire"}, False),
    ("keywords-blank-is-no-condition", lambda w: {"keywords": " , "}, lambda w: {}, True),
    ("no-conditions", lambda w: {}, lambda w: {}, True),
    # AND: every condition given must hold.
    (
        "and-all",
        lambda w: {"customer_tier": Tier.PREMIUM, "source": Source.EMAIL, "keywords": "refund"},
        lambda w: {"tier": Tier.PREMIUM, "source": Source.EMAIL, "subject": "refund"},
        True,
    ),
    (
        "and-one-fails",
        lambda w: {"customer_tier": Tier.PREMIUM, "source": Source.EMAIL, "keywords": "refund"},
        lambda w: {"tier": Tier.STANDARD, "source": Source.EMAIL, "subject": "refund"},
        False,
    ),
    (
        "and-form-category-tag-mailbox",
        lambda w: {
            "form_id": w.rma_form.id,
            "category_id": w.hardware.id,
            "tag": "rma",
            "mailbox_id": w.inbox_sales.id,
        },
        lambda w: {"form": w.rma_form, "category": w.hardware, "tags": ["rma"], "mailbox_id": w.inbox_sales.id},
        True,
    ),
    (
        "and-form-category-tag-mailbox-missing-tag",
        lambda w: {
            "form_id": w.rma_form.id,
            "category_id": w.hardware.id,
            "tag": "rma",
            "mailbox_id": w.inbox_sales.id,
        },
        lambda w: {"form": w.rma_form, "category": w.hardware, "mailbox_id": w.inbox_sales.id},
        False,
    ),
]


@pytest.mark.parametrize(
    ("conditions", "ticket_spec", "expected"), [c[1:] for c in CONDITION_CASES], ids=[c[0] for c in CONDITION_CASES]
)
def test_conditions(db, make, now, world, conditions, ticket_spec, expected) -> None:
    rule = add_rule(db, "Under test", **conditions(world))
    spec = ticket_spec(world)
    mailbox_id = spec.pop("mailbox_id", None)
    ticket = new_ticket(make, now, **spec)
    assert routing.matching_rules(db, ticket, mailbox_id=mailbox_id) == ([rule] if expected else [])
    # apply_rules agrees with the dry run.
    lines = routing.apply_rules(db, ticket, now=now, mailbox_id=mailbox_id)
    assert lines == (["Rule 'Under test': matched, nothing to change"] if expected else [])


def test_keywords_only_look_at_the_first_message(db, make, now) -> None:
    add_rule(db, keywords="refund")
    ticket = new_ticket(make, now, subject="Question", body="Hello")
    add_interaction(
        db, ticket, type=InteractionType.EMAIL_INBOUND, actor=ticket.primary_contact, body_text="a refund", now=now
    )
    assert routing.matching_rules(db, ticket) == []


def test_keywords_match_an_html_only_first_message(db, make, now) -> None:
    add_rule(db, keywords="refund")
    contact = make.contact(make.customer())
    ticket = tickets.create_ticket(
        db, subject="Question", body_html="<p>I want a <b>refund</b></p>", source=Source.EMAIL, now=now,
        actor=contact, contact=contact,
    )  # fmt: skip
    assert len(routing.matching_rules(db, ticket)) == 1


def test_inactive_rules_are_ignored(db, make, now) -> None:
    add_rule(db, "Off", active=False, set_priority=Priority.URGENT)
    ticket = new_ticket(make, now)
    assert routing.matching_rules(db, ticket) == []
    assert routing.apply_rules(db, ticket, now=now) == []
    assert ticket.priority == Priority.MEDIUM


# -- order and stop_processing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "expected"),
    [
        # (name, position, matches, stop_processing) in insertion order
        ([("c", 30, True, False), ("a", 10, True, False), ("b", 20, True, False)], ["a", "b", "c"]),
        ([("a", 10, True, False), ("b", 20, True, True), ("c", 30, True, False)], ["a", "b"]),
        ([("a", 10, True, True), ("b", 20, True, False)], ["a"]),
        # A stop rule that does not match stops nothing.
        ([("a", 10, False, True), ("b", 20, True, False), ("c", 30, True, False)], ["b", "c"]),
        # Same position: by id (creation order).
        ([("x", 10, True, False), ("y", 10, True, False), ("w", 5, True, False)], ["w", "x", "y"]),
    ],
    ids=["by-position", "stop-in-the-middle", "stop-first", "non-matching-stop", "ties-by-id"],
)
def test_order_and_stop_processing(db, make, now, rules, expected) -> None:
    for name, position, matches, stop in rules:
        add_rule(db, name, position=position, stop_processing=stop, source=Source.PORTAL if matches else Source.API)
    ticket = new_ticket(make, now, source=Source.PORTAL)
    assert [r.name for r in routing.matching_rules(db, ticket)] == expected
    lines = routing.apply_rules(db, ticket, now=now)
    assert [line.split("'")[1] for line in lines if "stopped" not in line] == expected
    stopper = any(stop and matches and name in expected for name, _, matches, stop in rules)
    assert any("stopped processing" in line for line in lines) == stopper


def test_stop_processing_also_stops_the_actions_of_later_rules(db, make, now, world) -> None:
    add_rule(db, "First", set_team_id=world.billing.id, stop_processing=True)
    add_rule(db, "Second", set_priority=Priority.URGENT)
    ticket = new_ticket(make, now)
    assert routing.apply_rules(db, ticket, now=now) == [
        "Rule 'First': team -> Billing",
        "Rule 'First': stopped processing further rules",
    ]
    assert ticket.assigned_team is world.billing and ticket.priority == Priority.MEDIUM


# -- actions --------------------------------------------------------------------------------------------------

ACTION_CASES = [
    # (id, rule actions, check(ticket, world), line, SYSTEM entry)
    (
        "team",
        lambda w: {"set_team_id": w.billing.id},
        lambda t, w: t.assigned_team is w.billing and t.assigned_team_id == w.billing.id,
        "team -> Billing",
        "System changed team from none to Billing",
    ),
    (
        "priority",
        lambda w: {"set_priority": Priority.URGENT},
        lambda t, w: t.priority == Priority.URGENT,
        "priority -> Urgent",
        "System changed priority from Medium to Urgent",
    ),
    (
        "category",
        lambda w: {"set_category_id": w.refunds.id},
        lambda t, w: t.category is w.refunds and t.category_id == w.refunds.id,
        "category -> Refunds",
        "System changed category from none to Refunds",
    ),
    (
        "tags",
        lambda w: {"add_tags": ["VIP", "billing", "billing"]},
        lambda t, w: t.tags == ["billing", "vip"],
        "tags + billing, vip",
        "System changed tags from none to billing, vip",
    ),
]


@pytest.mark.parametrize(
    ("actions", "check", "line", "entry"), [c[1:] for c in ACTION_CASES], ids=[c[0] for c in ACTION_CASES]
)
def test_each_action(db, make, now, world, actions, check, line, entry) -> None:
    add_rule(db, "Act", **actions(world))
    ticket = new_ticket(make, now)
    before = len(events.pending(db))
    assert routing.apply_rules(db, ticket, now=now) == [f"Rule 'Act': {line}"]
    db.expire_all()  # what was written, not what is cached
    assert check(ticket, world)
    assert system_texts(db, ticket) == [entry]
    system = db.scalars(
        sa.select(Interaction).where(Interaction.ticket_id == ticket.id, Interaction.type == InteractionType.SYSTEM)
    ).one()
    assert system.author_user_id is None and system.meta["actor"] == {"kind": "system"}
    emitted = events.pending(db)[before:]
    assert [e.type for e in emitted] == ["ticket.updated"] and emitted[0].data["actor"] == {"kind": "system"}


def test_priority_action_recomputes_the_sla_targets(db, make, now) -> None:
    make.policy(None, None, {Priority.MEDIUM: (60, 480), Priority.URGENT: (15, 120)})
    add_rule(db, set_priority=Priority.URGENT)
    ticket = new_ticket(make, now)
    assert ticket.first_response_due == now + timedelta(minutes=60)
    routing.apply_rules(db, ticket, now=now)
    assert ticket.first_response_due == now + timedelta(minutes=15)
    assert ticket.due_date == now + timedelta(minutes=120)


def test_actions_that_change_nothing_write_nothing(db, make, now, world) -> None:
    add_rule(db, "Same", set_team_id=world.billing.id, set_priority=Priority.MEDIUM, add_tags=["vip"])
    ticket = new_ticket(make, now, team=world.billing, tags=["vip"])
    assert routing.apply_rules(db, ticket, now=now) == ["Rule 'Same': matched, nothing to change"]
    assert system_texts(db, ticket) == []


def test_one_rule_with_every_action(db, make, now, world) -> None:
    agent = make.user(teams=[world.billing], name="Alice")
    add_rule(
        db, "All", set_team_id=world.billing.id, set_priority=Priority.HIGH, set_category_id=world.refunds.id,
        add_tags=["vip"], auto_assign=AutoAssign.ROUND_ROBIN,
    )  # fmt: skip
    ticket = new_ticket(make, now)
    assert routing.apply_rules(db, ticket, now=now) == [
        "Rule 'All': category -> Refunds",
        "Rule 'All': team -> Billing",
        "Rule 'All': priority -> High",
        "Rule 'All': tags + vip",
        "Rule 'All': assigned to Alice (round robin)",
    ]
    assert ticket.assignees == [agent]
    assert system_texts(db, ticket) == [
        "System changed category from none to Refunds",
        "System changed team from none to Billing",
        "System changed priority from Medium to High",
        "System changed tags from none to vip",
        "System changed assignees from none to Alice",
    ]


def test_later_rules_see_what_earlier_ones_changed(db, make, now, world) -> None:
    add_rule(db, "Refund words", keywords="refund, money back", set_category_id=world.refunds.id)
    add_rule(db, "Refunds to billing", category_id=world.refunds.id, set_team_id=world.billing.id, add_tags=["money"])
    add_rule(db, "Money is urgent", tag="money", set_priority=Priority.URGENT)
    add_rule(db, "Tech never", category_id=world.hardware.id, set_team_id=world.tech.id)
    ticket = new_ticket(make, now, subject="I want my money back")
    # The dry run sees the ticket as it is: only the first rule.
    assert [r.name for r in routing.matching_rules(db, ticket)] == ["Refund words"]
    assert routing.apply_rules(db, ticket, now=now) == [
        "Rule 'Refund words': category -> Refunds",
        "Rule 'Refunds to billing': team -> Billing",
        "Rule 'Refunds to billing': tags + money",
        "Rule 'Money is urgent': priority -> Urgent",
    ]
    assert (ticket.category, ticket.assigned_team, ticket.tags, ticket.priority) == (
        world.refunds, world.billing, ["money"], Priority.URGENT,
    )  # fmt: skip


def test_a_later_rule_auto_assigns_in_the_team_an_earlier_rule_set(db, make, now, world) -> None:
    make.user(teams=[world.tech], name="Tess")
    billing_agent = make.user(teams=[world.billing], name="Bill")
    add_rule(db, "To billing", source=Source.EMAIL, set_team_id=world.billing.id)
    add_rule(db, "Assign", auto_assign=AutoAssign.LEAST_LOADED)
    ticket = new_ticket(make, now, source=Source.EMAIL, team=world.tech)
    lines = routing.apply_rules(db, ticket, now=now)
    assert lines[-1] == "Rule 'Assign': assigned to Bill (least loaded)"
    assert ticket.assignees == [billing_agent]


def test_auto_assign_needs_a_team_and_an_unassigned_ticket(db, make, now, world) -> None:
    someone = make.user(teams=[world.billing], name="Sam")
    add_rule(db, "Assign", auto_assign=AutoAssign.ROUND_ROBIN)
    no_team = new_ticket(make, now)
    assert routing.apply_rules(db, no_team, now=now) == [
        "Rule 'Assign': not auto-assigned (round robin): the ticket has no team"
    ]
    taken = new_ticket(make, now, team=world.billing)
    tickets.add_assignee(db, taken, someone, actor=None, now=now)
    assert routing.apply_rules(db, taken, now=now) == [
        "Rule 'Assign': not auto-assigned (round robin): already assigned to Sam"
    ]
    empty = make.team("Empty")
    lonely = new_ticket(make, now, team=empty)
    assert routing.apply_rules(db, lonely, now=now) == [
        "Rule 'Assign': not auto-assigned (round robin): nobody available in Empty"
    ]
    assert lonely.assignees == [] and system_texts(db, lonely) == []


# -- round robin ----------------------------------------------------------------------------------------------


def test_round_robin_rotates_over_five_assignments_and_survives_a_new_session(app, db, make, now, world) -> None:
    a1, a2, a3 = (make.user(teams=[world.billing], name=n) for n in ("Ann", "Ben", "Cat"))
    make.user(teams=[world.tech], name="Other team")
    add_rule(db, "Billing RR", set_team_id=world.billing.id, auto_assign=AutoAssign.ROUND_ROBIN)
    picked = []
    for _ in range(5):
        ticket = new_ticket(make, now)
        routing.apply_rules(db, ticket, now=now)
        picked.append(ticket.assignees[0])
    assert picked == [a1, a2, a3, a1, a2]
    assert db.get(TeamRoundRobin, world.billing.id).last_user_id == a2.id
    db.commit()

    # Another process: its own session, nothing cached.
    with sa.orm.Session(db.get_bind()) as other:
        team = other.get_one(Team, world.billing.id)
        nxt = [routing.pick_assignee(other, team, strategy=AutoAssign.ROUND_ROBIN, now=now) for _ in range(2)]
        assert [u.id for u in nxt] == [a3.id, a1.id]
        other.commit()
    db.expire_all()
    assert db.get(TeamRoundRobin, world.billing.id).last_user_id == a1.id
    assert routing.pick_assignee(db, world.billing, strategy="round_robin", now=now) is a2


def test_round_robin_state_is_per_team(db, make, now, world) -> None:
    b1, b2 = make.user(teams=[world.billing]), make.user(teams=[world.billing])
    both = make.user(teams=[world.billing, world.tech])
    t1 = make.user(teams=[world.tech])
    rr = AutoAssign.ROUND_ROBIN
    assert routing.pick_assignee(db, world.billing, strategy=rr, now=now) is b1
    assert routing.pick_assignee(db, world.tech, strategy=rr, now=now) is both
    assert routing.pick_assignee(db, world.billing, strategy=rr, now=now) is b2
    assert routing.pick_assignee(db, world.tech, strategy=rr, now=now) is t1
    assert routing.pick_assignee(db, world.billing, strategy=rr, now=now) is both


def test_round_robin_moves_past_someone_who_became_unavailable(db, make, now, world) -> None:
    a1, a2, a3 = (make.user(teams=[world.billing]) for _ in range(3))
    rr = AutoAssign.ROUND_ROBIN
    assert routing.pick_assignee(db, world.billing, strategy=rr, now=now) is a1
    a2.away = True
    assert routing.pick_assignee(db, world.billing, strategy=rr, now=now) is a3
    a1.active = False
    # The last one picked may be gone too: wrap to the lowest available id.
    a3.away = True
    a2.away = False
    assert routing.pick_assignee(db, world.billing, strategy=rr, now=now) is a2


def test_round_robin_lock_serialises_concurrent_pickers(app, db, make, now, world) -> None:
    engine = db.get_bind()
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks exist on PostgreSQL only (SQLite has one writer)")
    a1, a2 = make.user(teams=[world.billing]), make.user(teams=[world.billing])
    db.commit()
    first = sa.orm.Session(engine)
    got: list[int] = []

    def second_process() -> None:
        with sa.orm.Session(engine) as s:
            user = routing.pick_assignee(s, s.get_one(Team, world.billing.id), strategy=AutoAssign.ROUND_ROBIN, now=now)
            assert user is not None
            got.append(user.id)
            s.commit()

    try:
        user = routing.pick_assignee(first, first.get_one(Team, world.billing.id), strategy="round_robin", now=now)
        assert user is not None and user.id == a1.id
        thread = threading.Thread(target=second_process)
        thread.start()
        time.sleep(0.5)
        assert thread.is_alive() and got == []  # waiting on the team's row lock
        first.commit()
        thread.join(timeout=10)
        assert got == [a2.id]  # saw the first pick once it was committed
    finally:
        first.close()


# -- candidates -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("excluded", "included_role"),
    [
        ({"away": True}, StaffRole.AGENT),
        ({"active": False}, StaffRole.AGENT),
        ({"role": StaffRole.ADMIN}, StaffRole.AGENT),
        ({"away": True}, StaffRole.MANAGER),
    ],
    ids=["away", "inactive", "admin", "manager-is-a-candidate"],
)
@pytest.mark.parametrize("strategy", [AutoAssign.ROUND_ROBIN, AutoAssign.LEAST_LOADED])
def test_only_present_active_agents_and_managers_are_picked(db, make, now, world, excluded, included_role, strategy):
    # The excluded one has the lowest id and no load: either strategy would pick them first.
    skipped = make.user(teams=[world.billing], role=excluded.get("role", StaffRole.AGENT))
    skipped.away = excluded.get("away", False)
    skipped.active = excluded.get("active", True)
    chosen = make.user(teams=[world.billing], role=included_role)
    busy = new_ticket(make, now)
    busy.assignees.append(chosen)
    for _ in range(3):
        assert routing.pick_assignee(db, world.billing, strategy=strategy, now=now) is chosen


@pytest.mark.parametrize("strategy", [AutoAssign.ROUND_ROBIN, AutoAssign.LEAST_LOADED, AutoAssign.NONE])
def test_no_candidates_means_none(db, make, now, world, strategy) -> None:
    assert routing.pick_assignee(db, world.billing, strategy=strategy, now=now) is None
    away = make.user(teams=[world.billing])
    away.away = True
    make.user(teams=[world.tech])  # available, but in another team
    assert routing.pick_assignee(db, world.billing, strategy=strategy, now=now) is None


def test_strategy_none_picks_nobody_even_with_candidates(db, make, now, world) -> None:
    make.user(teams=[world.billing])
    assert routing.pick_assignee(db, world.billing, strategy=AutoAssign.NONE, now=now) is None


# -- least loaded ---------------------------------------------------------------------------------------------


def assign(make, now, user: User, *statuses: Status, team: Team | None = None) -> None:
    for status in statuses:
        ticket = new_ticket(make, now, team=team)
        ticket.status = status
        ticket.assignees.append(user)
    make.session.flush()


def test_least_loaded_picks_the_lightest_and_counts_only_active_tickets(db, make, now, world) -> None:
    a1, a2, a3 = (make.user(teams=[world.billing]) for _ in range(3))
    assign(make, now, a1, Status.OPEN, Status.IN_PROGRESS)
    # Resolved and closed work is not load; waiting and pending is.
    assign(make, now, a2, Status.WAITING_ON_CUSTOMER, Status.RESOLVED, Status.CLOSED, Status.CLOSED)
    assign(make, now, a3, Status.PENDING, team=world.tech)  # load counts whatever team the ticket is in
    ll = AutoAssign.LEAST_LOADED
    assert routing.pick_assignee(db, world.billing, strategy=ll, now=now) is a2  # 1 vs 1: lowest id
    assign(make, now, a2, Status.OPEN)
    assert routing.pick_assignee(db, world.billing, strategy=ll, now=now) is a3
    assign(make, now, a3, Status.OPEN, Status.OPEN)
    # a1 2, a2 2, a3 3
    assert routing.pick_assignee(db, world.billing, strategy=ll, now=now) is a1


def test_least_loaded_through_rules_spreads_the_work(db, make, now, world) -> None:
    a1, a2 = make.user(teams=[world.billing]), make.user(teams=[world.billing])
    assign(make, now, a1, Status.OPEN, Status.OPEN)
    add_rule(db, "LL", set_team_id=world.billing.id, auto_assign=AutoAssign.LEAST_LOADED)
    picked = []
    for _ in range(4):
        ticket = new_ticket(make, now)
        routing.apply_rules(db, ticket, now=now)
        picked.append(ticket.assignees[0])
    # a2 catches up to 2 first, then ties go to the lowest id.
    assert picked == [a2, a2, a1, a2]


def test_least_loaded_reads_the_load_in_one_query_whatever_the_number_of_tickets(db, make, now, world) -> None:
    a1, a2 = make.user(teams=[world.billing]), make.user(teams=[world.billing])
    routing.pick_assignee(db, world.billing, strategy=AutoAssign.LEAST_LOADED, now=now)  # creates the lock row
    db.flush()
    with sql_statements(only="SELECT") as few:
        routing.pick_assignee(db, world.billing, strategy=AutoAssign.LEAST_LOADED, now=now)
    assign(make, now, a1, *[Status.OPEN] * 6)
    assign(make, now, a2, *[Status.OPEN] * 5)
    db.flush()
    with sql_statements(only="SELECT") as many:
        user = routing.pick_assignee(db, world.billing, strategy=AutoAssign.LEAST_LOADED, now=now)
    assert user is a2
    assert len(few) == len(many) == 2  # the lock row, and the candidates with their load
    assert "count(" in many[-1].lower()


# -- load -----------------------------------------------------------------------------------------------------


def test_team_and_agent_load(db, make, now, world) -> None:
    sales = make.team("Sales")
    ann = make.user(name="Ann", teams=[world.billing])
    ben = make.user(name="Ben", teams=[world.billing], role=StaffRole.MANAGER)
    cat = make.user(name="Cat", teams=[world.tech])
    cat.away = True
    make.user(name="Zed", teams=[world.tech])  # no tickets: listed with 0
    gone = make.user(name="Gone")
    gone.active = False  # inactive but still holding a ticket: listed
    make.user(name="Left").active = False  # inactive, nothing held: not listed
    make.user(name="Root", role=StaffRole.ADMIN)  # admin without tickets: not listed

    assign(make, now, ann, Status.OPEN, Status.PENDING, team=world.billing)
    assign(make, now, ann, Status.RESOLVED, team=world.billing)
    assign(make, now, ben, Status.IN_PROGRESS, Status.CLOSED, team=world.billing)
    assign(make, now, gone, Status.WAITING_ON_CUSTOMER, team=sales)
    shared = new_ticket(make, now, team=world.billing)  # two assignees: load for both
    shared.assignees.extend([ann, cat])
    new_ticket(make, now)  # no team, nobody: no one's load
    db.flush()

    with sql_statements(only="SELECT") as queries:
        teams = routing.team_load(db)
    assert len(queries) == 1
    assert [(t.name, t.open_tickets) for t in teams] == [("Billing", 4), ("Sales", 1), ("Tech", 0)]
    assert teams[0].team_id == world.billing.id

    with sql_statements(only="SELECT") as queries:
        agents = routing.agent_load(db)
    assert len(queries) == 1
    assert [(a.name, a.open_tickets) for a in agents] == [("Ann", 3), ("Ben", 1), ("Cat", 1), ("Gone", 1), ("Zed", 0)]
    by_name = {a.name: a for a in agents}
    assert by_name["Cat"].away and not by_name["Gone"].active and by_name["Ben"].role == StaffRole.MANAGER
    assert by_name["Ann"].user_id == ann.id


def test_load_is_empty_without_teams_or_staff(db) -> None:
    assert routing.team_load(db) == [] and routing.agent_load(db) == []
