"""flask commands: seed-demo, create-user, sla-sweep."""

import re

import sqlalchemy as sa

from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.models import Customer, Interaction, Team, Ticket, TimeEntry, User


def test_seed_demo_builds_a_realistic_desk_and_prints_logins(app, db) -> None:
    result = app.test_cli_runner().invoke(args=["seed-demo", "--tickets", "120"])
    assert result.exit_code == 0, result.output
    logins = re.findall(r"^(admin|manager|agent|contact): (\S+@\S+) (\S+)$", result.output, re.M)
    assert [role for role, _, _ in logins] == ["admin", "manager", "agent", "contact"]
    assert {c.tier.value for c in db.scalars(sa.select(Customer))} == {"standard", "premium", "enterprise"}
    assert all(c.domains and c.contacts and c.onboarding_plan for c in db.scalars(sa.select(Customer)))
    assert {t.name for t in db.scalars(sa.select(Team))} == {"Billing", "Integrations", "Trust & Safety"}
    roles = [u.role.value for u in db.scalars(sa.select(User))]
    assert roles.count("agent") == 6 and roles.count("manager") == 1 and roles.count("admin") == 1
    statuses = set(db.scalars(sa.select(Ticket.status).distinct()))
    assert statuses == set(Status)
    kinds = set(db.scalars(sa.select(Interaction.type).distinct()))
    assert {InteractionType.INTERNAL_NOTE, InteractionType.PHONE_CALL, InteractionType.EMAIL_OUTBOUND} <= kinds
    assert db.scalar(sa.select(sa.func.count()).select_from(TimeEntry)) > 0
    # Logins work: the printed passwords match.
    for role, email, password in logins:
        model = User if role != "contact" else None
        if model:
            assert db.scalar(sa.select(User).where(User.email == email)).check_password(password)
    again = app.test_cli_runner().invoke(args=["seed-demo"])
    assert "already has data" in again.output and "admin: admin@bluehill.test demo-admin" in again.output


def test_create_user_and_duplicate(app, db) -> None:
    runner = app.test_cli_runner()
    ok = runner.invoke(
        args=[
            "create-user",
            "--email",
            "New@Bluehill.test",
            "--name",
            "New Agent",
            "--role",
            "manager",
            "--password",
            "s3cret-pass",
        ]
    )
    assert ok.exit_code == 0, ok.output
    user = db.scalar(sa.select(User).where(User.email == "new@bluehill.test"))
    assert user.role.value == "manager" and user.check_password("s3cret-pass")
    dup = runner.invoke(args=["create-user", "--email", "new@bluehill.test", "--name", "X", "--password", "p"])
    assert dup.exit_code != 0 and "already exists" in dup.output


def test_sla_sweep_command(app, db, make) -> None:
    from datetime import UTC, datetime, timedelta

    from ticketing.domain.vocab import Priority

    make.policy(None, None, {Priority.MEDIUM: (60, 120)})
    make.ticket(now=datetime.now(UTC) - timedelta(hours=3))
    db.commit()
    result = app.test_cli_runner().invoke(args=["sla-sweep"])
    assert result.exit_code == 0
    assert "resolution breaches: 1, first-response breaches: 1" in result.output


def test_demo_bug_form_sets_priority_by_the_severity_answer(app, db) -> None:
    from datetime import UTC, datetime

    from ticketing.domain.vocab import Priority
    from ticketing.extensions import attachment_store
    from ticketing.models import IntakeForm
    from ticketing.services import forms
    from ticketing.services.attachments import AttachmentLimits

    assert app.test_cli_runner().invoke(args=["seed-demo", "--tickets", "20"]).exit_code == 0
    form = db.scalar(sa.select(IntakeForm).where(IntakeForm.slug == "report-a-bug"))
    chosen = {}
    for severity in ("Blocks our work", "Annoying, with a workaround", "Cosmetic"):
        answers = {"steps": "Open the export", "expected": "A file", "actual": "Nothing", "severity": severity}
        ticket = forms.submit(db, form, subject=f"Export ({severity})", answers=answers, files={},
                              now=datetime.now(UTC), store=attachment_store(), limits=AttachmentLimits(),
                              submitter_email="dev@northwind.example")  # fmt: skip
        chosen[severity] = ticket.priority
    assert chosen == {"Blocks our work": Priority.HIGH, "Annoying, with a workaround": Priority.MEDIUM,
                      "Cosmetic": Priority.LOW}  # fmt: skip
