"""The three inbound connectors (HTTP, IMAP, import command) and the SMTP sender, against real servers."""

from __future__ import annotations

import mailbox
from email import message_from_bytes, policy
from email import policy as policy_module

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from tests.mail.conftest import email, signature
from ticketing import jobs
from ticketing.domain.vocab import Tier
from ticketing.mail import imap
from ticketing.models import (
    ImapSecurity,
    InboundMessage,
    InboundStatus,
    Interaction,
    Mailbox,
    OutboundMessage,
    OutboundStatus,
    Ticket,
)
from ticketing.services import mail_outbound


def inbound_count(db) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(InboundMessage))


# --- HTTP intake -------------------------------------------------------------------------------------------


def test_http_intake_stores_once_and_answers_after_commit(client, db, redis_url) -> None:
    raw = email(message_id="<http-1@client.example>")
    headers = {"X-Bluehill-Signature": signature(raw), "Content-Type": "message/rfc822"}
    first = client.post("/inbound/email", data=raw, headers=headers)
    again = client.post("/inbound/email", data=raw, headers=headers)
    assert first.status_code == 202 and first.json["duplicate"] is False
    assert again.status_code == 200 and again.json == {"id": first.json["id"], "duplicate": True}
    assert db.get(InboundMessage, first.json["id"]).raw == raw


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("sha256=" + "0" * 64, 401), ("garbage", 401)],
    ids=["missing", "wrong", "garbage"],
)
def test_http_intake_refuses_bad_signatures(client, db, header, status) -> None:
    raw = email()
    response = client.post("/inbound/email", data=raw, headers={"X-Bluehill-Signature": header} if header else {})
    assert response.status_code == status and "signature" in response.json["error"]
    assert inbound_count(db) == 0


def test_http_intake_refuses_oversized_and_unconfigured(client, db, app, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "INBOUND_MAX_BYTES", 1000)
    big = email(body="x" * 5000)
    assert client.post("/inbound/email", data=big, headers={"X-Bluehill-Signature": signature(big)}).status_code == 413
    monkeypatch.setitem(app.config, "INBOUND_SECRET", "")
    small = email()
    assert (
        client.post("/inbound/email", data=small, headers={"X-Bluehill-Signature": signature(small)}).status_code == 503
    )
    assert inbound_count(db) == 0


# --- IMAP --------------------------------------------------------------------------------------------------


@pytest.fixture
def imap_mailbox(db, dovecot, make):
    team = make.team("Support")
    box = Mailbox(name="Support", address="support@bluehill.test", imap_host="127.0.0.1", imap_port=dovecot.port,
                  imap_security=ImapSecurity.NONE, imap_username=dovecot.user, imap_password=dovecot.password,
                  team=team)  # fmt: skip
    db.add(box)
    db.commit()
    return box


def test_imap_poll_stores_then_flags_and_routes_to_the_mailbox_team(db, dovecot, imap_mailbox, now) -> None:
    for n in range(3):
        dovecot.deliver(email(subject=f"Question {n}"))
    assert dovecot.unseen() == 3
    assert imap.poll_all(db) == {"support@bluehill.test": 3}
    assert dovecot.unseen() == 0 and inbound_count(db) == 3
    for row in db.scalars(sa.select(InboundMessage)).all():
        jobs.process_inbound(row.id)
    teams = {t.assigned_team.name for t in db.scalars(sa.select(Ticket))}
    assert teams == {"Support"}
    assert imap.poll_all(db) == {"support@bluehill.test": 0}


def test_a_poll_holds_at_most_fetch_bytes_of_mail_at_a_time(db, dovecot, imap_mailbox, monkeypatch) -> None:
    """Batches are bounded in bytes as well as in messages: a large message is fetched (and stored) on its own."""
    big = email(subject="Scan", attachments=[("scan.pdf", "application/pdf", b"%PDF" + b"x" * 300_000)])
    for raw in (email(subject="Small 1"), big, email(subject="Small 2"), email(subject="Small 3")):
        dovecot.deliver(raw)
    monkeypatch.setattr(imap, "FETCH_BYTES", 200_000)
    batches: list[list[int]] = []  # the sizes of the messages of each fetch
    fetch = imap._fetch_raw

    def recording(client, uids):
        messages = fetch(client, uids)
        batches.append([len(raw) for _, raw in messages])
        return messages

    monkeypatch.setattr(imap, "_fetch_raw", recording)
    assert imap.poll_all(db) == {"support@bluehill.test": 4}
    assert sum(len(b) for b in batches) == 4 and len(batches) >= 2
    assert [len(b) for b in batches if sum(b) > 200_000] == [1]  # the scan (over the limit on its own) alone
    assert any(len(b) > 1 for b in batches)  # small ones next to each other share a fetch
    assert dovecot.unseen() == 0 and inbound_count(db) == 4


def test_database_down_during_poll_marks_nothing_and_loses_nothing(
    db, dovecot, imap_mailbox, fresh_database_url
) -> None:
    dovecot.deliver(email(subject="While the database is down"))
    broken = sa.create_engine("postgresql+psycopg://nobody@127.0.0.1:1/none", connect_args={"connect_timeout": 2})
    with Session(broken) as down:
        with pytest.raises(sa.exc.OperationalError):
            imap.poll(down, db.get(Mailbox, imap_mailbox.id))
    assert dovecot.unseen() == 1 and inbound_count(db) == 0
    assert imap.poll_all(db) == {"support@bluehill.test": 1}
    assert dovecot.unseen() == 0 and inbound_count(db) == 1


def test_a_broken_mailbox_is_reported_and_does_not_stop_others(db, imap_mailbox) -> None:
    db.add(Mailbox(name="Broken", address="broken@bluehill.test", imap_host="127.0.0.1", imap_port=1,
                   imap_security=ImapSecurity.NONE, imap_username="x", imap_password="y"))  # fmt: skip
    db.commit()
    results = imap.poll_all(db)
    assert results["broken@bluehill.test"] == -1 and results["support@bluehill.test"] == 0
    assert db.scalar(sa.select(Mailbox).where(Mailbox.name == "Broken")).last_error


# --- duplicates through two connectors ----------------------------------------------------------------------


def test_same_message_through_imap_and_http_is_one_ticket(client, db, dovecot, imap_mailbox) -> None:
    raw = email(message_id="<twice@client.example>")
    dovecot.deliver(raw)
    imap.poll_all(db)
    response = client.post("/inbound/email", data=raw, headers={"X-Bluehill-Signature": signature(raw)})
    assert response.status_code == 200 and response.json["duplicate"] is True
    row = db.scalar(sa.select(InboundMessage))
    jobs.process_inbound(row.id)
    jobs.process_inbound(row.id)
    assert db.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
    assert (
        db.scalar(
            sa.select(sa.func.count()).select_from(Interaction).where(Interaction.inbound_message_id.is_not(None))
        )
        == 1
    )


# --- import command ----------------------------------------------------------------------------------------


def test_ingest_command_reads_maildir_mbox_and_eml(app, db, tmp_path) -> None:
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    maildir.add(email(subject="From maildir", message_id="<m1@c.example>"))
    mbox = mailbox.mbox(tmp_path / "archive.mbox")
    mbox.add(email(subject="From mbox 1", message_id="<b1@c.example>"))
    mbox.add(email(subject="From mbox 2", message_id="<b2@c.example>"))
    mbox.flush()
    (tmp_path / "emls").mkdir()
    (tmp_path / "emls" / "one.eml").write_bytes(email(subject="From eml", message_id="<e1@c.example>"))
    (tmp_path / "emls" / "dup.eml").write_bytes(email(subject="From maildir", message_id="<m1@c.example>"))
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ingest", "--now", str(tmp_path / "Maildir"), str(tmp_path / "archive.mbox"),
                                 str(tmp_path / "emls")])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "stored: 4, duplicate: 1, processed: 4, failed: 0" in result.output
    subjects = set(db.scalars(sa.select(Ticket.subject)))
    assert subjects == {"From maildir", "From mbox 1", "From mbox 2", "From eml"}


# --- outbound over SMTP ------------------------------------------------------------------------------------


def test_agent_reply_is_sent_with_thread_headers_and_no_injection(db, make, smtp_sink, now) -> None:
    from ticketing.extensions import mail_policy

    agent = make.user(name="Priya")
    customer = make.customer(tier=Tier.STANDARD, domains=("acme.example",))
    ticket = make.ticket(now=now, contact=make.contact(customer, email="jane@acme.example"),
                         subject="Hello\r\nBcc: victim@evil.example")  # fmt: skip
    ticket.email_thread_id = "root-1@client.example"
    entry = mail_outbound.reply_to_customer(
        db, ticket, agent=agent, body="**Fixed** now", policy=mail_policy(), now=now
    )
    db.commit()
    outbound = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.interaction_id == entry.id))
    assert jobs.send_outbound(outbound.id) == "sent to jane@acme.example"
    assert jobs.send_outbound(outbound.id) == "nothing to send"  # idempotent
    assert len(smtp_sink.messages) == 1
    _, rcpts, raw = smtp_sink.messages[0]
    sent = message_from_bytes(raw, policy=policy.default)
    assert rcpts == ["jane@acme.example"] and "Bcc" not in sent and "victim" not in str(sent["To"])
    assert sent["Message-ID"] == f"<{entry.message_id}>" and "root-1@client.example" in sent["References"]
    assert sent["Subject"].startswith(f"[#{ticket.id}]") and "\n" not in sent["Subject"]
    assert sent["Reply-To"].startswith("support+t") and sent["Auto-Submitted"] is None
    assert "<strong>Fixed</strong>" in sent.get_body(("html",)).get_content()
    assert db.get(Ticket, ticket.id).first_response_at == now


def test_a_reply_carries_its_files_and_nothing_internal(db, make, smtp_sink, now) -> None:
    """The files an agent attached to a reply go with its email (the timeline told the customer they would); an
    inline image and an internal note's file do not; a reply on a ticket with no earlier mail answers nothing."""
    from ticketing.domain.visibility import InteractionType
    from ticketing.extensions import attachment_store, mail_policy
    from ticketing.services.attachments import IncomingFile, store_attachments
    from ticketing.services.interactions import add_interaction

    agent = make.user(name="Priya")
    customer = make.customer(tier=Tier.STANDARD, domains=("acme.example",))
    ticket = make.ticket(now=now, contact=make.contact(customer, email="jane@acme.example"), subject="Logs")
    policy, store = mail_policy(), attachment_store()
    note = add_interaction(db, ticket, type=InteractionType.INTERNAL_NOTE, actor=agent, now=now, body_text="ours")
    store_attachments(db, ticket, note, [IncomingFile("internal.txt", "text/plain", b"secret")], store=store,
                      limits=policy.attachment_limits, now=now)  # fmt: skip
    entry = mail_outbound.reply_to_customer(db, ticket, agent=agent, body="Logs attached", policy=policy, now=now)
    files = [IncomingFile("server log.txt", "text/plain", b"line 1\n"),
             IncomingFile("r\u00e9sum\u00e9.pdf", "application/pdf", b"%PDF-1.4 x"),
             IncomingFile("logo.png", "image/png", b"\x89PNG", content_id="logo@x", inline=True),
             IncomingFile("odd.bin", "multipart/mixed", b"raw")]  # fmt: skip
    store_attachments(db, ticket, entry, files, store=store, limits=policy.attachment_limits, now=now)
    db.commit()
    outbound = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.interaction_id == entry.id))
    assert jobs.send_outbound(outbound.id) == "sent to jane@acme.example"
    sent = message_from_bytes(smtp_sink.messages[0][2], policy=policy_module.default)
    attached = [(p.get_filename(), p.get_content_type(), p.get_payload(decode=True)) for p in sent.iter_attachments()]
    assert attached == [("server log.txt", "text/plain", b"line 1\n"),
                        ("r\u00e9sum\u00e9.pdf", "application/pdf", b"%PDF-1.4 x"),
                        ("odd.bin", "application/octet-stream", b"raw")]  # fmt: skip
    assert "Logs attached" in sent.get_body(("plain",)).get_content()
    assert sent["In-Reply-To"] is None or entry.message_id not in sent["In-Reply-To"]
    assert entry.message_id not in (sent["References"] or "")


def test_a_reply_whose_file_is_gone_fails_with_its_error_instead_of_hanging(db, make, app, smtp_sink, now) -> None:
    from ticketing.extensions import attachment_store, mail_policy
    from ticketing.models import Attachment
    from ticketing.services.attachments import IncomingFile, store_attachments

    ticket = make.ticket(now=now, contact=make.contact(make.customer(), email="jane@acme.example"))
    policy, store = mail_policy(), attachment_store()
    entry = mail_outbound.reply_to_customer(db, ticket, agent=make.user(), body="See file", policy=policy, now=now)
    stored, _ = store_attachments(db, ticket, entry, [IncomingFile("a.txt", "text/plain", b"a")], store=store,
                                  limits=policy.attachment_limits, now=now)  # fmt: skip
    db.commit()
    store.delete(db.get(Attachment, stored[0].id).storage_key)
    outbound = db.scalar(sa.select(OutboundMessage).where(OutboundMessage.interaction_id == entry.id))
    with pytest.raises(FileNotFoundError):
        jobs.send_outbound(outbound.id)
    db.expire_all()
    again = db.get(OutboundMessage, outbound.id)
    assert again.status == OutboundStatus.FAILED and "FileNotFoundError" in again.last_error
    assert smtp_sink.messages == []


def test_smtp_failure_keeps_the_message_queued_with_its_error(db, make, app, monkeypatch, now) -> None:
    from ticketing.extensions import mail_policy

    monkeypatch.setitem(app.config, "SMTP_URL", "smtp://127.0.0.1:1")
    ticket = make.ticket(now=now)
    outbound = mail_outbound.queue_acknowledgement(db, ticket, policy=mail_policy(), now=now)
    db.commit()
    with pytest.raises(OSError):
        jobs.send_outbound(outbound.id)
    db.expire_all()
    again = db.get(OutboundMessage, outbound.id)
    assert again.status == OutboundStatus.FAILED and again.attempts == 1 and "Connection" in again.last_error


def test_a_batch_of_acknowledgements_goes_over_one_smtp_session(db, make, smtp_sink, now) -> None:
    """The emails one transaction queues are one job and one SMTP session; a recipient the server refuses fails
    alone (kept with its error; outside RQ there is no retry, so it is final) and the job fails so that RQ would
    retry it; running it again sends nothing twice."""
    from ticketing.extensions import mail_policy

    customer = make.customer(domains=("acme.example",))
    tickets = [make.ticket(now=now, contact=make.contact(customer, email=f"c{i}@acme.example")) for i in range(3)]
    queued = [mail_outbound.queue_acknowledgement(db, t, policy=mail_policy(), now=now) for t in tickets]
    db.commit()
    smtp_sink.refuse.add("c1@acme.example")
    ids = [o.id for o in queued]
    with pytest.raises(jobs.SendFailed, match=f"1 of 3 emails not sent: 1 failed: #{ids[1]}: SMTPRecipientsRefused"):
        jobs.send_outbound_batch(ids)
    assert [rcpts for _, rcpts, _ in smtp_sink.messages] == [["c0@acme.example"], ["c2@acme.example"]]
    assert len({peer for peer in smtp_sink.sessions}) == 2  # the refusal closed the first session
    db.expire_all()
    statuses = [db.get(OutboundMessage, i).status for i in ids]
    assert statuses == [OutboundStatus.SENT, OutboundStatus.FAILED, OutboundStatus.SENT]
    assert "no such user" in db.get(OutboundMessage, ids[1]).last_error
    assert jobs.send_outbound_batch(ids) == ["nothing to send"] * 3
    assert len(smtp_sink.messages) == 2


def test_a_batch_stops_at_a_server_it_cannot_reach(db, make, app, monkeypatch, now) -> None:
    from ticketing.extensions import mail_policy

    monkeypatch.setitem(app.config, "SMTP_URL", "smtp://127.0.0.1:1")
    customer = make.customer(domains=("acme.example",))
    tickets = [make.ticket(now=now, contact=make.contact(customer, email=f"c{i}@acme.example")) for i in range(3)]
    queued = [mail_outbound.queue_acknowledgement(db, t, policy=mail_policy(), now=now) for t in tickets]
    db.commit()
    ids = [o.id for o in queued]
    with pytest.raises(jobs.SendFailed, match="3 of 3 emails not sent: 1 failed: .*; 2 not tried, queued again"):
        jobs.send_outbound_batch(ids)
    db.expire_all()
    rows = [db.get(OutboundMessage, i) for i in ids]
    assert [r.attempts for r in rows] == [1, 0, 0]  # the others were not tried: each would have failed the same
    assert [r.status for r in rows] == [OutboundStatus.FAILED, OutboundStatus.QUEUED, OutboundStatus.QUEUED]
    assert "ConnectionRefusedError" in rows[0].last_error  # the queued ones are the recovery sweep's to re-queue


def _three_acknowledgements(db, make, now) -> list[int]:
    from ticketing.extensions import mail_policy

    customer = make.customer(domains=("acme.example",))
    tickets = [make.ticket(now=now, contact=make.contact(customer, email=f"c{i}@acme.example")) for i in range(3)]
    queued = [mail_outbound.queue_acknowledgement(db, t, policy=mail_policy(), now=now) for t in tickets]
    db.commit()
    return [o.id for o in queued]


def test_a_server_that_ends_sessions_early_gets_each_message_in_a_new_one(db, make, smtp_sink, now) -> None:
    """Some servers take a few messages per session and answer 421 to the next: that message was never theirs,
    so it goes again in a new session instead of failing (and stopping the batch)."""
    ids = _three_acknowledgements(db, make, now)
    smtp_sink.per_session = 1
    assert jobs.send_outbound_batch(ids) == [f"sent to c{i}@acme.example" for i in range(3)]
    assert len(set(smtp_sink.sessions)) == 3
    db.expire_all()
    assert {db.get(OutboundMessage, i).attempts for i in ids} == {1}


def test_a_batch_that_runs_out_of_time_puts_the_rest_back_untried(db, make, smtp_sink, monkeypatch, now) -> None:
    """A batch stops well before the sending lease runs out (after which another job may send a claimed email):
    what it did not try is queued again, as it was, and the job fails so that its retry sends them."""
    ids = _three_acknowledgements(db, make, now)
    monkeypatch.setattr(jobs, "SEND_BATCH_SECONDS", -1)
    with pytest.raises(jobs.SendFailed, match="3 of 3 emails not sent: 3 not tried, queued again"):
        jobs.send_outbound_batch(ids)
    db.expire_all()
    rows = [db.get(OutboundMessage, i) for i in ids]
    assert [(r.status, r.attempts) for r in rows] == [(OutboundStatus.QUEUED, 0)] * 3 and smtp_sink.messages == []
    monkeypatch.setattr(jobs, "SEND_BATCH_SECONDS", 240)
    assert jobs.send_outbound_batch(ids) == [f"sent to c{i}@acme.example" for i in range(3)]


def test_recover_stuck_work_requeues_lost_jobs(db, make, redis_url, now) -> None:
    from redis import Redis
    from rq import Queue

    ticket = make.ticket(now=now)
    db.add(InboundMessage(message_key="lost@x", raw=b"x", size=1, source="imap", received_at=now))
    from ticketing.extensions import inbound_queue_name, mail_policy

    mail_outbound.queue_acknowledgement(db, ticket, policy=mail_policy(), now=now)
    db.commit()
    Redis.from_url(redis_url).flushdb()  # the enqueued jobs are gone, as after a Redis restart
    assert jobs.recover_stuck_work(older_than_seconds=0) == {
        "inbound": 1, "outbound": 1, "released": 0, "sms": 0, "sms_unknown": 0,
    }  # fmt: skip
    conn = Redis.from_url(redis_url)
    assert Queue(inbound_queue_name("default"), connection=conn).count == 1  # the processing job, taken first
    assert Queue("default", connection=conn).count == 1  # the send job
    assert db.scalar(sa.select(InboundMessage)).status == InboundStatus.RECEIVED


# --- what agents see of stored mail -----------------------------------------------------------------------


def test_agents_view_the_original_safely_and_customers_get_404(client, db, make, now) -> None:
    from tests.conftest import login_staff
    from ticketing.models import Attachment
    from ticketing.services import mail_inbound

    make.customer(domains=("acme.example",))
    raw = email(sender="jane@acme.example", html='<p>See <img src="cid:logo1"></p><script>alert(1)</script>',
                attachments=[("evil.html", "text/html", b"<script>alert(1)</script>")])  # fmt: skip
    row, _ = mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)
    db.commit()
    jobs.process_inbound(row.id)
    attachment = db.scalar(sa.select(Attachment))
    for url in (f"/agent/email/{row.id}.eml", f"/agent/attachments/{attachment.id}"):
        assert client.get(url).status_code == 404  # anonymous: indistinguishable from missing
    assert client.get(f"/admin/email/{row.id}").status_code == 302  # to sign-in
    make.user(email="agent@bluehill.test", password="pw-agent-1")
    db.commit()
    login_staff(client, "agent@bluehill.test", "pw-agent-1")
    page = client.get(f"/admin/email/{row.id}").get_data(as_text=True)
    frame = page.split("<iframe", 1)[1].split("</iframe>", 1)[0]
    assert " sandbox " in frame and "srcdoc=" in frame
    assert "alert(1)" not in frame  # the sanitiser removed the script before the frame ever saw it
    assert "&lt;p&gt;See" in frame  # the message body, escaped into the srcdoc attribute
    download = client.get(f"/agent/attachments/{attachment.id}")
    assert download.status_code == 200 and download.data == b"<script>alert(1)</script>"
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert download.headers["Content-Disposition"].startswith("attachment;")
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in download.headers["Content-Security-Policy"]
    inline = client.get(f"/agent/attachments/{attachment.id}/inline")
    assert inline.headers["Content-Disposition"].startswith("attachment;")  # HTML is never served inline
    original = client.get(f"/agent/email/{row.id}.eml")
    assert original.data == raw


def test_an_original_with_a_tag_soup_is_shown_as_its_text(client, db, make, now) -> None:
    """The sanitiser's HTML parser slows with the square of some tag soups (8,000 unclosed tags: 39 s): past
    ORIGINAL_HTML_MAX_TAGS the page shows the message's text, and says so."""
    from admin.mail_files import ORIGINAL_HTML_MAX_TAGS
    from tests.conftest import login_staff
    from ticketing.services import mail_inbound

    make.customer(domains=("acme.example",))
    soup = "".join(f"<b id={n}><p>x" for n in range(ORIGINAL_HTML_MAX_TAGS)) + "<p>Readable end</p>"
    raw = email(sender="jane@acme.example", body="Plain version of the soup", html=soup)
    row, _ = mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)
    db.commit()
    jobs.process_inbound(row.id)
    make.user(email="agent@bluehill.test", password="pw-agent-1")
    db.commit()
    login_staff(client, "agent@bluehill.test", "pw-agent-1")
    response = client.get(f"/admin/email/{row.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page[:300]
    frame = page.split("<iframe", 1)[1].split("</iframe>", 1)[0]
    assert "Plain version of the soup" in frame and "id=" not in frame  # the text, not the markup
    assert "too many tags to show safely" in page
