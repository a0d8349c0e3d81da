"""Redis restarted (crashed, no persistence: every queued job is gone) while a gunicorn web process and an RQ
worker run against it. Production rule this test holds the product to: Redis may be a plain cache-like
instance; every piece of mail work is recorded in the database first, and the recovery sweeper re-enqueues
whatever a restart lost."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request

import sqlalchemy as sa

from tests.faults.conftest import free_port, wait_until, worker_env
from tests.mail.conftest import email, signature
from ticketing import jobs
from ticketing.models import InboundMessage, InboundStatus, Interaction, Ticket


def fetch(url: str, data: bytes | None = None, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data else "GET")  # noqa: S310 - loopback http
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback http
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_redis_restart_loses_no_mail_and_the_web_keeps_serving(
    app, db, make, workers, private_redis, monkeypatch
) -> None:
    make.contact(make.customer(domains=("acme.example",)), email="jane@acme.example")
    db.commit()
    port = free_port()
    env = worker_env(app, REDIS_URL=private_redis.url, SMTP_URL="")
    web = workers.spawn([sys.executable, "-m", "gunicorn", "--no-control-socket", "--bind", f"127.0.0.1:{port}",
                         "--workers", "1", "--threads", "4", "ticketing.wsgi:app"], env=env)  # fmt: skip
    worker = workers.start(REDIS_URL=private_redis.url, SMTP_URL="")
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base), "gunicorn to answer", timeout=30)

    def send(subject: str) -> int:
        raw = email(sender="jane@acme.example", subject=subject)
        return fetch(f"{base}/inbound/email", raw, {"X-Bluehill-Signature": signature(raw)})[0]

    def processed(subject: str) -> bool:
        db.expire_all()
        return db.scalar(sa.select(Ticket.id).where(Ticket.subject == subject)) is not None

    assert send("Before") == 202
    wait_until(lambda: processed("Before"), "the worker to process mail before the restart")

    private_redis.stop()
    # The web keeps serving: pages, the login form (its rate limit is skipped while Redis is away), the intake.
    assert fetch(f"{base}/login")[0] == 200
    status, body = fetch(f"{base}/healthz")
    assert status == 503 and json.loads(body)["redis"].startswith("error")
    assert send("During") == 202  # stored in the database; its job could not be queued
    private_redis.start()  # empty: anything queued before the crash is gone too

    assert fetch(f"{base}/login")[0] == 200 and fetch(f"{base}/healthz")[0] == 200
    assert send("After") == 202
    try:
        wait_until(lambda: processed("After"), "the worker to reconnect and take new work")
    except AssertionError:
        print(workers.output(web)[-5000:], workers.output(worker)[-5000:])
        raise
    assert not processed("During")  # its job never reached Redis: only the database knows about it
    with workers.app_with(REDIS_URL=private_redis.url).app_context():
        assert jobs.recover_stuck_work(older_than_seconds=0)["inbound"] == 1
    wait_until(lambda: processed("During"), "the recovered mail to be processed")

    db.expire_all()
    assert db.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 3
    assert set(db.scalars(sa.select(InboundMessage.status))) == {InboundStatus.PROCESSED}
    per_message = db.execute(sa.select(Interaction.inbound_message_id, sa.func.count())
                             .where(Interaction.inbound_message_id.is_not(None))
                             .group_by(Interaction.inbound_message_id)).all()  # fmt: skip
    assert len(per_message) == 3 and {n for _, n in per_message} == {1}
    assert web.poll() is None  # the web process lived through it


def _answers(base: str) -> bool:
    try:
        return fetch(f"{base}/healthz")[0] in {200, 503}
    except OSError:
        return False
