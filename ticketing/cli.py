"""flask commands: seed-demo, create-user, sla-sweep, ingest."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
import sqlalchemy as sa
from flask import Flask, current_app

from ticketing import demo, events
from ticketing.domain.vocab import StaffRole
from ticketing.extensions import db
from ticketing.models import User, utcnow
from ticketing.services import sla_sweep


@click.command("seed-demo")
@click.option("--tickets", "tickets_count", default=300, show_default=True, help="How many demo tickets.")
def seed_demo(tickets_count: int) -> None:
    """Fill an empty database with realistic demo data and print the demo logins."""
    if demo.already_seeded(db.session):
        click.echo("The database already has data; demo data not added.")
        logins = demo.known_logins(db.session)
    else:
        session = db.session()
        events.mute(session)
        logins = demo.seed(session, now=utcnow(), tickets_count=tickets_count)
        session.commit()
        session.info.pop("ticketing_muted", None)
        click.echo(f"Seeded {tickets_count} demo tickets.")
    for login in logins:
        click.echo(f"{login.role}: {login.email} {login.password}")


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option(
    "--role", type=click.Choice([r.value for r in StaffRole]), default=StaffRole.AGENT.value, show_default=True
)
@click.password_option()
def create_user(email: str, name: str, role: str, password: str) -> None:
    """Create a staff user (agent, manager or admin)."""
    email = email.strip().lower()
    if db.session.scalar(sa.select(User).where(User.email == email)):
        raise click.ClickException(f"a staff user with email {email} already exists")
    user = User(email=email, name=name.strip(), role=StaffRole(role))
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    click.echo(f"Created {role} {email}")


@click.command("sla-sweep")
def sla_sweep_command() -> None:
    """Run the SLA sweep once, now (the worker's cron runs it periodically)."""
    warn = timedelta(minutes=current_app.config["SLA_WARNING_MINUTES"])
    result = sla_sweep.sweep(db.session, now=utcnow(), warn_before=warn)
    db.session.commit()
    click.echo(
        f"resolution breaches: {len(result.resolution_breached)}, first-response breaches: "
        f"{len(result.first_response_breached)}, warnings: {len(result.warned)}"
    )


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@click.option("--now", "inline", is_flag=True, help="Process inline instead of queueing jobs for a worker.")
def ingest(paths: tuple[Path, ...], inline: bool) -> None:
    """Import email from Maildirs, mbox files, folders of .eml files or single .eml files."""
    from ticketing.mail import importer

    total = sum(importer.count_messages(p) for p in paths)
    with click.progressbar(length=total, label="Importing", show_pos=True) as bar:
        messages = (message for path in paths for message in importer.read_messages(path))
        summary = importer.import_messages(db.session, messages, inline=inline, progress=lambda: bar.update(1))
    click.echo(", ".join(f"{name}: {value}" for name, value in summary.counts().items()))
    if not inline:
        click.echo("Processing was queued; a worker (python worker.py) threads the messages onto tickets.")
    for line in summary.failures[:20]:
        click.echo(f"failed: {line}", err=True)


def init_app(app: Flask) -> None:
    for command in (seed_demo, create_user, sla_sweep_command, ingest):
        app.cli.add_command(command)
