"""Scale-out: two gunicorn web processes and two RQ workers on one PostgreSQL and one Redis, driven through a whole
ticket life cycle that hops between them. Nothing one process needs may live in another process's memory."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import time
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
import requests
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from redis import Redis
from rq import Worker

from tests.conftest import BACKEND, REDIS_URL, csrf_token
from tests.factories import Factory
from tests.mail.conftest import Sink, email
from tests.scale.processes import ProcessGroup, free_port, migrate
from ticketing.demo import DEMO_FORMS
from ticketing.domain.vocab import StaffRole
from ticketing.models import IntakeForm

pytestmark = [
    pytest.mark.skipif(
        BACKEND != "postgresql",
        reason="scale-out runs on PostgreSQL only: SQLite is one file with "
        "one writer, not a database several hosts' processes share in production",
    ),  # fmt: skip
    pytest.mark.slow,
]

SECRET, INBOUND = "scale-test-secret", "scale-inbound-secret"
CONTACT, CONTACT_PASSWORD = "jane@acme.example", "portal-pass-123"
ADMIN, ADMIN_PASSWORD = "admin@bluehill.test", "admin-pass-123"
MANAGER = "manager@bluehill.test"
FORM = DEMO_FORMS[0]  # report-a-bug: long texts, a select, an optional file


@pytest.fixture(scope="module")
def smtp_sink() -> Iterator[tuple[Sink, str]]:
    sink, port = Sink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    yield sink, f"smtp://127.0.0.1:{port}"
    controller.stop()


def seed(url: str) -> None:
    engine = sa.create_engine(url)
    with sa.orm.Session(engine) as session:
        make = Factory(session)
        customer = make.customer("Acme", domains=("acme.example",))
        make.contact(customer, email=CONTACT, name="Jane Roe", password=CONTACT_PASSWORD)
        make.user(role=StaffRole.ADMIN, email=ADMIN, name="Alex Admin", password=ADMIN_PASSWORD)
        make.user(role=StaffRole.MANAGER, email=MANAGER, name="Morgan Lee", password=ADMIN_PASSWORD)
        fields = {key: FORM[key] for key in ("slug", "name", "description", "fields", "priority", "tags")}
        session.add(IntakeForm(**fields, public=True))
        session.commit()
    engine.dispose()


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    conn = Redis.from_url(REDIS_URL)
    conn.flushdb()
    yield REDIS_URL
    conn.flushdb()
    conn.close()


@pytest.fixture(scope="module")
def cluster(fresh_database_url, redis_url, smtp_sink, tmp_path_factory) -> Iterator[tuple[str, str, ProcessGroup]]:
    """Started once for the module: the processes are the expensive part."""
    url, tmp_path = fresh_database_url(), tmp_path_factory.mktemp("scale")
    (tmp_path / "logs").mkdir()
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "SECRET_KEY": SECRET,
           "SMTP_URL": smtp_sink[1], "INBOUND_SECRET": INBOUND, "MAIL_FROM": "support@bluehill.test",
           "ATTACHMENT_DIR": str(tmp_path / "attachments"), "BASE_URL": "http://portal.bluehill.test",
           "TRUSTED_PROXY_COUNT": "1"}  # fmt: skip
    migrate(env)
    seed(url)
    group = ProcessGroup(env, tmp_path / "logs")
    try:
        web1, web2 = group.web("web1", free_port()), group.web("web2", free_port())
        group.start("worker1", "worker.py")
        group.start("worker2", "worker.py")
        group.wait_healthy(web1)
        group.wait_healthy(web2)
        wait_for(lambda: len(Worker.all(connection=Redis.from_url(redis_url))) == 2, "two RQ workers", group)
        yield web1, web2, group
    finally:
        group.stop()


def wait_for(condition: Callable[[], object], what: str, group: ProcessGroup, timeout: float = 20) -> object:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        group.check_alive()
        assert time.monotonic() < deadline, f"timed out waiting for {what}\n{group.tail()}"
        time.sleep(0.1)
    return value


def sign_in(http: requests.Session, base: str, path: str, email_address: str, password: str) -> None:
    page = http.get(f"{base}{path}")
    data = {"email": email_address, "password": password, "csrf_token": csrf_token(page.text)}
    response = http.post(f"{base}{path}", data=data, allow_redirects=False)
    assert response.status_code == 302, response.text[:500]


def sent_to(sink: Sink, address: str) -> list[EmailMessage]:
    return [message_from_bytes(raw, policy=policy.default) for _, rcpts, raw in list(sink.messages) if address in rcpts]


def body_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def test_ticket_life_cycle_across_two_web_processes_and_two_workers(cluster, smtp_sink, redis_url) -> None:
    web1, web2, group = cluster
    sink = smtp_sink[0]

    # The customer signs in on web 1; the signed session cookie works on web 2 (no process keeps sessions).
    customer = requests.Session()
    sign_in(customer, web1, "/login", CONTACT, CONTACT_PASSWORD)
    assert customer.get(f"{web2}/tickets", allow_redirects=False).status_code == 200

    # 1. The customer opens a request through the portal form on web 1.
    page = customer.get(f"{web1}/forms/{FORM['slug']}")
    submitted = customer.post(f"{web1}/forms/{FORM['slug']}", allow_redirects=False, data={
        "csrf_token": csrf_token(page.text), "subject": "Export crashes on big files", "steps": "Export 2 GB",
        "expected": "A CSV", "actual": "A 500 error", "severity": "Blocks our work"})  # fmt: skip
    assert submitted.status_code == 303, submitted.text[:500]
    ticket_id = int(re.search(r"/tickets/(\d+)$", submitted.headers["Location"]).group(1))

    # 2. An admin on web 2 sees it in the All queue and replies from the workspace.
    agent = requests.Session()
    sign_in(agent, web2, "/agent/login", ADMIN, ADMIN_PASSWORD)
    assert "Export crashes on big files" in agent.get(f"{web2}/admin/queues/all").text
    workspace = agent.get(f"{web2}/admin/ticket/{ticket_id}")
    assert workspace.status_code == 200
    # A colleague opening it on web 1 shows up in the presence notice the admin's page polls on web 2.
    colleague = requests.Session()
    sign_in(colleague, web1, "/agent/login", MANAGER, ADMIN_PASSWORD)
    opened = colleague.get(f"{web1}/admin/ticket/{ticket_id}")
    assert opened.status_code == 200
    here = colleague.post(  # the page's first presence poll (htmx, on load)
        f"{web1}/admin/ticket/{ticket_id}/presence", data={"state": "viewing"},
        headers={"X-CSRFToken": csrf_token(opened.text)},
    )  # fmt: skip
    assert here.status_code == 200
    presence = agent.post(
        f"{web2}/admin/ticket/{ticket_id}/presence",
        data={"state": "replying"},
        headers={"X-CSRFToken": csrf_token(workspace.text)},
    )
    assert "<strong>Morgan Lee</strong> is viewing this ticket" in presence.text
    replied = agent.post(f"{web2}/admin/ticket/{ticket_id}/compose", allow_redirects=False, data={
        "csrf_token": csrf_token(workspace.text), "kind": "reply", "body": "Fixed in 2.1: please retry."})  # fmt: skip
    assert replied.status_code == 303

    # 3. A worker sends the reply (and another the portal acknowledgement) over SMTP.
    wait_for(lambda: any("Fixed in 2.1" in body_of(m) for m in sent_to(sink, CONTACT)), "the reply email", group)
    reply = next(m for m in sent_to(sink, CONTACT) if "Fixed in 2.1" in body_of(m))

    # 4. The customer sees the reply on web 1.
    assert "Fixed in 2.1: please retry." in customer.get(f"{web1}/tickets/{ticket_id}").text

    # 5. The customer answers by email; the inbound service posts it to web 2 and a worker threads it.
    raw = email(sender=f"Jane Roe <{CONTACT}>", to=str(reply["Reply-To"]), subject=f"Re: {reply['Subject']}",
                in_reply_to=str(reply["Message-ID"]), references=str(reply["Message-ID"]),
                body="Works now, thanks!\n\nOn Mon, support wrote:\n> Fixed in 2.1")  # fmt: skip
    signature = "sha256=" + hmac.new(INBOUND.encode(), raw, hashlib.sha256).hexdigest()
    posted = requests.post(f"{web2}/inbound/email", data=raw, headers={"X-Bluehill-Signature": signature}, timeout=10)
    assert posted.status_code == 202, posted.text
    wait_for(lambda: "Works now, thanks!" in customer.get(f"{web1}/tickets/{ticket_id}").text,
             "the emailed reply on the customer's ticket page", group)  # fmt: skip
    assert "Works now, thanks!" in agent.get(f"{web2}/admin/ticket/{ticket_id}").text

    # 6. The agent resolves on web 2; the customer sees Resolved on web 1 and gets the notice.
    workspace = agent.get(f"{web2}/admin/ticket/{ticket_id}")
    resolved = agent.post(f"{web2}/admin/ticket/{ticket_id}/properties", allow_redirects=False,
                          data={"csrf_token": csrf_token(workspace.text), "status": "resolved"})  # fmt: skip
    assert resolved.status_code == 303
    assert '<span class="badge status-resolved">Resolved</span>' in customer.get(f"{web1}/tickets/{ticket_id}").text
    wait_for(lambda: len(sent_to(sink, CONTACT)) >= 3, "the resolved notice", group)
    subjects = [str(m["Subject"]) for m in sent_to(sink, CONTACT)]
    assert len(subjects) == 3, subjects  # acknowledgement, reply, resolved notice: each sent exactly once
    assert all(f"[#{ticket_id}]" in s for s in subjects), subjects

    # Both workers took jobs from the one queue: three sends (acknowledgement, reply, resolved notice; the notices
    # are rows written with the change, sent by send_outbound) and the inbound message.
    workers = Worker.all(connection=Redis.from_url(redis_url))
    done = sorted(w.successful_job_count for w in workers)
    assert len(done) == 2 and done[0] >= 1 and sum(done) >= 4, done
    assert all(w.failed_job_count == 0 for w in workers)


def test_rate_limits_are_shared_by_every_web_process(cluster) -> None:
    """The sign-in limit per client address (10 a minute) counts on web 1 and web 2 together; behind the trusted
    proxy the client is X-Forwarded-For, so another client is not affected."""
    web1, web2, _ = cluster
    http = requests.Session()
    token = csrf_token(http.get(f"{web1}/login").text)

    def attempt(base: str, n: int, client: str) -> int:
        data = {"email": f"nobody{n}@acme.example", "password": "wrong-password", "csrf_token": token}
        return http.post(f"{base}/login", data=data, headers={"X-Forwarded-For": client}).status_code

    statuses = [attempt(web1 if n % 2 else web2, n, "203.0.113.7") for n in range(10)]
    assert statuses == [401] * 10
    assert attempt(web1, 10, "203.0.113.7") == 429
    assert attempt(web2, 11, "203.0.113.7") == 429
    assert attempt(web2, 12, "203.0.113.8") == 401  # a different client behind the same proxy
