"""The SLA sweep on the real database: set-based stamps, idempotent, one event per ticket."""

from datetime import timedelta

import pytest
import sqlalchemy as sa

from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Priority
from ticketing.models import Interaction, Ticket
from ticketing.services import sla_sweep, tickets
from ticketing.services.interactions import add_interaction

WARN = timedelta(minutes=30)


@pytest.fixture
def policy(make):
    # 24x7: first response 1 h, resolution 8 h for Medium.
    return make.policy(None, None, {Priority.MEDIUM: (60, 480), Priority.LOW: (120, None)})


def test_breach_is_stamped_once_with_the_due_moment(db, make, now, policy, captured) -> None:
    ticket = make.ticket(now=now)
    db.commit()
    captured.clear()
    first = sla_sweep.sweep(db, now=now + timedelta(hours=9), warn_before=WARN)
    db.commit()
    second = sla_sweep.sweep(db, now=now + timedelta(hours=10), warn_before=WARN)
    db.commit()
    db.refresh(ticket)
    assert first.resolution_breached == [ticket.id] and first.first_response_breached == [ticket.id]
    assert second.resolution_breached == [] and second.first_response_breached == []
    assert ticket.sla_breach_at == now + timedelta(hours=8)
    assert ticket.first_response_breach_at == now + timedelta(hours=1)
    assert sorted(e.data["target"] for e in captured if e.type == "sla.breached") == ["first_response", "resolution"]
    notes = db.scalars(
        sa.select(Interaction.body_text).where(
            Interaction.ticket_id == ticket.id, Interaction.type == InteractionType.SYSTEM
        )
    )
    assert sorted(notes) == ["SLA breached: first-response target passed", "SLA breached: resolution target passed"]


def test_warning_before_breach_then_breach(db, make, now, policy, captured) -> None:
    ticket = make.ticket(now=now)
    db.commit()
    captured.clear()
    assert sla_sweep.sweep(db, now=now + timedelta(hours=7), warn_before=WARN).warned == []
    assert sla_sweep.sweep(db, now=now + timedelta(hours=7, minutes=40), warn_before=WARN).warned == [ticket.id]
    assert sla_sweep.sweep(db, now=now + timedelta(hours=7, minutes=50), warn_before=WARN).warned == []
    db.commit()
    assert [e.type for e in captured if e.type.startswith("sla.")].count("sla.warning") == 1


def test_resolved_paused_and_answered_tickets_are_not_breached(db, make, now, policy) -> None:
    agent = make.user()
    resolved, paused, answered = make.ticket(now=now), make.ticket(now=now), make.ticket(now=now)
    tickets.change_status(db, resolved, Status.RESOLVED, actor=agent, now=now + timedelta(hours=1))
    tickets.change_status(db, paused, Status.PENDING, actor=agent, now=now + timedelta(minutes=30))
    add_interaction(
        db, answered, type=InteractionType.EMAIL_OUTBOUND, actor=agent, body_text="Hi", now=now + timedelta(minutes=20)
    )
    db.commit()
    result = sla_sweep.sweep(db, now=now + timedelta(days=3), warn_before=WARN)
    assert resolved.id not in result.resolution_breached
    assert paused.id not in result.resolution_breached and paused.id not in result.first_response_breached
    assert answered.id in result.resolution_breached and answered.id not in result.first_response_breached


def test_low_priority_without_resolution_target_never_breaches(db, make, now, policy) -> None:
    ticket = make.ticket(now=now, priority=Priority.LOW)
    result = sla_sweep.sweep(db, now=now + timedelta(days=30), warn_before=WARN)
    assert result.resolution_breached == [] and result.first_response_breached == [ticket.id]


def test_sweep_touches_only_overdue_rows(db, make, now, policy) -> None:
    overdue = [make.ticket(now=now - timedelta(days=1)) for _ in range(3)]
    fresh = [make.ticket(now=now) for _ in range(3)]
    db.commit()
    result = sla_sweep.sweep(db, now=now, warn_before=WARN)
    db.commit()
    assert sorted(result.resolution_breached) == sorted(t.id for t in overdue)
    stamped = set(db.scalars(sa.select(Ticket.id).where(Ticket.sla_breach_at.is_not(None))))
    assert stamped == {t.id for t in overdue} and not stamped & {t.id for t in fresh}
