"""PostgreSQL unavailable for a few seconds (a TCP proxy in front of it is cut, then restored) while the web and a
worker run through it: pages answer with a clear 503 page, the HTTP intake refuses (non-2xx) so the sender
retries, the IMAP poll fails without flagging anything, and once the database is back the same worker processes
the retried post and the still-unseen message into tickets."""

from __future__ import annotations

import sqlalchemy as sa
from rq import Worker

from tests.conftest import IsolatedClient, login_staff
from tests.faults.conftest import queue, wait_until
from tests.mail.conftest import email, signature
from ticketing import jobs
from ticketing.models import ImapSecurity, InboundMessage, InboundStatus, Mailbox, Ticket


def test_database_outage_gives_a_clear_503_loses_no_mail_and_catches_up(
    app, db, make, workers, pg_proxy, dovecot, smtp_sink, redis_url
) -> None:
    make.contact(make.customer(domains=("acme.example",)), email="jane@acme.example")
    agent = make.user()
    db.add(Mailbox(name="Support", address="support@bluehill.test", imap_host="127.0.0.1", imap_port=dovecot.port,
                   imap_security=ImapSecurity.NONE, imap_username=dovecot.user,
                   imap_password=dovecot.password))  # fmt: skip
    db.commit()
    proxied = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(host="127.0.0.1", port=pg_proxy.port)
    proxied_url = proxied.render_as_string(hide_password=False)
    web = workers.app_with(SQLALCHEMY_DATABASE_URI=proxied_url, TESTING=False)
    web.test_client_class = IsolatedClient
    client = web.test_client()
    login_staff(client, agent.email, "pw-secret-1")
    raw = email(sender="jane@acme.example", subject="Posted during the outage")
    headers = {"X-Bluehill-Signature": signature(raw)}
    assert client.get("/admin/", follow_redirects=True).status_code == 200  # the pool holds a live connection now
    q = queue(redis_url)
    q.empty()
    workers.start(DATABASE_URL=proxied_url)
    wait_until(lambda: Worker.count(queue=q) == 1, "the worker to listen", timeout=60)

    pg_proxy.cut()
    page = client.get("/admin/", follow_redirects=True)
    text = page.get_data(as_text=True)
    assert page.status_code == 503 and "Temporarily unavailable" in text and "Traceback" not in text
    assert client.get("/healthz").status_code == 503
    refused = client.post("/inbound/email", data=raw, headers=headers)
    assert refused.status_code >= 500 and "Traceback" not in refused.get_data(as_text=True)  # the sender retries
    dovecot.deliver(email(sender="jane@acme.example", subject="Polled during the outage"))
    tick = q.enqueue(jobs.poll_mailboxes)  # the cron's poll, taken by the worker
    wait_until(lambda: tick.get_status(refresh=True) == "failed", "the poll to fail on the database", timeout=60)
    assert dovecot.unseen() == 1  # not flagged: the next poll fetches it again
    assert db.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 0

    pg_proxy.restore()  # pool_pre_ping replaces the dead connections, in the web and in the worker
    assert client.get("/admin/", follow_redirects=True).status_code == 200
    assert client.post("/inbound/email", data=raw, headers=headers).status_code == 202  # the sender's retry
    q.enqueue(jobs.poll_mailboxes)  # the cron's next tick

    def caught_up() -> bool:
        db.expire_all()
        return set(db.scalars(sa.select(InboundMessage.status))) == {InboundStatus.PROCESSED} and (
            db.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 2
        )

    wait_until(caught_up, "the worker to process both messages", timeout=60)
    assert sorted(db.scalars(sa.select(Ticket.subject))) == ["Polled during the outage", "Posted during the outage"]
    assert dovecot.unseen() == 0
    wait_until(lambda: len(smtp_sink.messages) == 2, "one acknowledgement per ticket", timeout=60)
