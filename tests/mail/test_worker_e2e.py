"""Email through real RQ worker processes: the full round trip, and a worker killed mid-job."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from email import message_from_bytes, policy
from pathlib import Path

import psycopg
import sqlalchemy as sa
from redis import Redis
from rq import Queue

from tests.conftest import BACKEND
from tests.mail.conftest import email
from ticketing import jobs
from ticketing.domain.vocab import Tier
from ticketing.extensions import inbound_queue_name, mail_policy
from ticketing.mail import imap
from ticketing.models import ImapSecurity, InboundMessage, InboundStatus, Interaction, Mailbox, Ticket
from ticketing.services import mail_inbound, mail_outbound

ROOT = Path(__file__).resolve().parents[2]


def worker_env(app) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": app.config["REDIS_URL"],
            "SMTP_URL": app.config.get("SMTP_URL") or "", "MAIL_FROM": app.config["MAIL_FROM"],
            "SECRET_KEY": app.config["SECRET_KEY"], "ATTACHMENT_DIR": app.config["ATTACHMENT_DIR"]}  # fmt: skip


def run_burst(app) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "worker.py", "burst"], cwd=ROOT, env=worker_env(app), capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def test_round_trip_customer_reply_threads_back(app, db, make, dovecot, smtp_sink, redis_url, now) -> None:
    customer = make.customer(tier=Tier.PREMIUM, domains=("acme.example",))
    contact = make.contact(customer, email="jane@acme.example", name="Jane")
    agent = make.user(name="Priya")
    db.add(
        Mailbox(
            name="Support",
            address="support@bluehill.test",
            imap_host="127.0.0.1",
            imap_port=dovecot.port,
            imap_security=ImapSecurity.NONE,
            imap_username=dovecot.user,
            imap_password=dovecot.password,
        )
    )
    db.commit()
    # 1. The customer writes in; the worker processes it and sends our acknowledgement.
    dovecot.deliver(email(sender="Jane <jane@acme.example>", subject="Invoice is wrong"))
    imap.poll_all(db)
    run_burst(app)
    ticket = db.scalar(sa.select(Ticket))
    assert ticket is not None and ticket.primary_contact_id == contact.id
    # 2. An agent replies; the worker sends it over SMTP.
    mail_outbound.reply_to_customer(
        db, ticket, agent=agent, body="We fixed the invoice.", policy=mail_policy(), now=now
    )
    db.commit()
    run_burst(app)
    sent = [message_from_bytes(raw, policy=policy.default) for _, _, raw in smtp_sink.messages]
    assert [m["Auto-Submitted"] for m in sent] == ["auto-generated", None]  # acknowledgement, then the reply
    reply = sent[-1]
    # 3. The customer answers the reply from a normal client: In-Reply-To and References to our Message-ID.
    dovecot.deliver(email(sender="jane@acme.example", to=str(reply["Reply-To"]), subject=f"Re: {reply['Subject']}",
                          in_reply_to=str(reply["Message-ID"]),
                          references=f"{reply['References']} {reply['Message-ID']}",
                          body="Thanks, looks right now.\n\nOn Mon, Priya wrote:\n> We fixed it."))  # fmt: skip
    imap.poll_all(db)
    run_burst(app)
    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    inbound = db.scalars(sa.select(Interaction).where(Interaction.ticket_id == ticket.id,
                                                      Interaction.type == "email_inbound")
                         .order_by(Interaction.id)).all()  # fmt: skip
    assert [i.body_text for i in inbound] == [
        "Hi, the CSV export fails since this morning.",
        "Thanks, looks right now.",
    ]


class DatabaseLock:
    """Holds the inbound row (PostgreSQL) or the whole database (SQLite) so a worker blocks mid-job."""

    def __init__(self, url: str, inbound_id: int) -> None:
        self.url, self.inbound_id = url, inbound_id

    def __enter__(self) -> DatabaseLock:
        if BACKEND == "postgresql":
            self.conn = psycopg.connect(self.url.replace("postgresql+psycopg://", "postgresql://"))
            self.conn.execute("SELECT id FROM inbound_message WHERE id = %s FOR UPDATE", (self.inbound_id,))
        else:
            self.conn = sqlite3.connect(self.url.removeprefix("sqlite:///"), isolation_level=None)
            self.conn.execute("BEGIN IMMEDIATE")
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.rollback()
        self.conn.close()


def test_worker_killed_mid_job_processes_the_message_exactly_once(app, db, make, redis_url, now) -> None:
    make.customer(domains=("acme.example",))
    db.commit()
    row, _ = mail_inbound.store_raw(db, email(sender="jane@acme.example"), source="http", now=now)
    db.commit()  # the processing job is now in Redis
    queue = Queue(inbound_queue_name("default"), connection=Redis.from_url(redis_url))
    job_id = queue.job_ids[0]
    # Its own process group: the worker forks RQ's scheduler, and a killed machine takes both down.
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=ROOT, env=worker_env(app), start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        with DatabaseLock(app.config["SQLALCHEMY_DATABASE_URI"], row.id):
            deadline = time.monotonic() + 60
            while queue.fetch_job(job_id).get_status() != "started":
                assert time.monotonic() < deadline, "the worker never started the job"
                time.sleep(0.1)
            time.sleep(0.5)  # inside process_inbound, waiting on the database
            worker.send_signal(signal.SIGKILL)  # the worker itself dies mid-job
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)  # and nothing of it outlives the test
        worker.wait(timeout=10)
    db.expire_all()
    assert db.get(InboundMessage, row.id).status == InboundStatus.RECEIVED  # nothing half-done
    assert db.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0
    # The periodic recovery re-enqueues it; a new worker finishes it, once.
    assert jobs.recover_stuck_work(older_than_seconds=0)["inbound"] == 1
    run_burst(app)
    db.expire_all()
    assert db.get(InboundMessage, row.id).status == InboundStatus.PROCESSED
    assert db.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(Interaction)
                     .where(Interaction.inbound_message_id == row.id)) == 1  # fmt: skip
