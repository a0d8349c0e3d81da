"""Processing stored email: threading in order, sender checks, status rules, loops, content safety."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.mail.conftest import email
from ticketing import events, jobs
from ticketing.domain import mail_tokens
from ticketing.domain.lifecycle import Status
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Source, Tier
from ticketing.extensions import inbound_queue_name, mail_policy
from ticketing.models import (
    Attachment,
    Contact,
    InboundMessage,
    InboundStatus,
    Interaction,
    MailThreadRef,
    OutboundKind,
    OutboundMessage,
    OutboundStatus,
    Ticket,
)
from ticketing.services import mail_inbound, routing, tickets
from ticketing.services.mail_policy import MailPolicy


@pytest.fixture
def ingest(db, now):
    def run(raw: bytes) -> InboundMessage:
        row, _ = mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)
        db.commit()
        jobs.process_inbound(row.id)
        db.expire_all()
        return db.get(InboundMessage, row.id)

    return run


@pytest.fixture
def acme(make):
    return make.customer("Acme", tier=Tier.PREMIUM, domains=("acme.example",))


def ticket_count(db) -> int:
    return db.scalar(sa.select(sa.func.count()).select_from(Ticket))


def entries(db, ticket_id: int, kind: InteractionType | None = None) -> list[Interaction]:
    query = sa.select(Interaction).where(Interaction.ticket_id == ticket_id).order_by(Interaction.id)
    if kind is not None:
        query = query.where(Interaction.type == kind)
    return list(db.scalars(query))


def ack_of(db, ticket_id: int) -> OutboundMessage:
    return db.scalar(
        sa.select(OutboundMessage).where(
            OutboundMessage.ticket_id == ticket_id, OutboundMessage.kind == OutboundKind.RECEIVED
        )
    )


def test_new_email_opens_an_enriched_ticket_and_acknowledges(db, ingest, acme) -> None:
    row = ingest(email(sender="Jane Roe <Jane@Acme.example>", cc="boss@acme.example"))
    assert row.status == InboundStatus.PROCESSED and row.outcome == "new ticket"
    ticket = db.get(Ticket, row.ticket_id)
    assert ticket.subject == "Export is broken" and ticket.source.value == "email"
    assert ticket.customer.name == "Acme" and ticket.primary_contact.email == "jane@acme.example"
    assert ticket.primary_contact.name == "Jane Roe"
    first = entries(db, ticket.id, InteractionType.EMAIL_INBOUND)[0]
    assert first.body_text.startswith("Hi, the CSV export fails") and first.inbound_message_id == row.id
    ack = ack_of(db, ticket.id)
    assert ack.to_address == "jane@acme.example" and ack.auto_generated
    assert f"[#{ticket.id}]" in ack.subject and ack.in_reply_to == first.message_id


@pytest.mark.parametrize("how", ["in_reply_to", "references_only", "subject_token", "plus_address"])
def test_replies_thread_by_each_header_and_token(db, ingest, acme, how) -> None:
    first = ingest(email(sender="jane@acme.example"))
    ticket_id = first.ticket_id
    ack = ack_of(db, ticket_id)
    kwargs: dict = {"sender": "jane@acme.example", "subject": "Re: Export is broken", "body": "More details"}
    if how == "in_reply_to":
        kwargs["in_reply_to"] = f"<{ack.message_id}>"
    elif how == "references_only":
        kwargs["references"] = f"<unrelated@x.example> <{ack.message_id}>"
    elif how == "subject_token":
        kwargs["subject"] = f"Re: [#{ticket_id}] Export is broken"
    else:
        kwargs["to"] = ack.reply_to
    reply = ingest(email(**kwargs))
    assert reply.ticket_id == ticket_id, reply.outcome
    assert ticket_count(db) == 1
    assert len(entries(db, ticket_id, InteractionType.EMAIL_INBOUND)) == 2


def test_colleague_of_the_same_customer_may_reply(db, ingest, acme) -> None:
    first = ingest(email(sender="jane@acme.example"))
    reply = ingest(email(sender="bob@acme.example", subject=f"Re: [#{first.ticket_id}] Export"))
    assert reply.ticket_id == first.ticket_id


@pytest.mark.parametrize("forgery", ["subject_token", "in_reply_to", "forged_plus_signature"])
def test_outsiders_cannot_write_into_a_ticket(db, ingest, acme, forgery) -> None:
    first = ingest(email(sender="jane@acme.example"))
    ticket_id = first.ticket_id
    ack = ack_of(db, ticket_id)
    kwargs: dict = {"sender": "mallory@evil.example", "subject": "Re: hello", "body": "pay here"}
    if forgery == "subject_token":
        kwargs["subject"] = f"Re: [#{ticket_id}] hello"
    elif forgery == "in_reply_to":
        kwargs["in_reply_to"] = f"<{ack.message_id}>"
    else:
        kwargs["to"] = f"support+t{ticket_id}-0000000000@bluehill.test"
    row = ingest(email(**kwargs))
    assert row.ticket_id != ticket_id
    assert len(entries(db, ticket_id, InteractionType.EMAIL_INBOUND)) == 1
    if forgery != "forged_plus_signature":  # a bad signature is simply not a token
        note = entries(db, row.ticket_id, InteractionType.INTERNAL_NOTE)[0]
        assert f"referenced ticket #{ticket_id}" in note.body_text


def test_token_signature_is_checked() -> None:
    address = mail_tokens.reply_address("support@bluehill.test", 42, "secret")
    assert mail_tokens.ticket_from_address(address, "secret") == 42
    assert mail_tokens.ticket_from_address(address, "other-secret") is None
    assert mail_tokens.ticket_from_address(address.replace("t42", "t43"), "secret") is None


def test_reply_reopens_resolved_and_waiting_tickets(db, ingest, acme, now) -> None:
    first = ingest(email(sender="jane@acme.example"))
    ticket = db.get(Ticket, first.ticket_id)
    tickets.change_status(db, ticket, Status.RESOLVED, actor=None, now=now)
    db.commit()
    ingest(email(sender="jane@acme.example", subject=f"Re: [#{ticket.id}] x"))
    assert db.get(Ticket, ticket.id).status == Status.OPEN
    tickets.change_status(db, ticket, Status.WAITING_ON_CUSTOMER, actor=None, now=now)
    db.commit()
    ingest(email(sender="jane@acme.example", subject=f"Re: [#{ticket.id}] y"))
    assert db.get(Ticket, ticket.id).status == Status.OPEN


def test_reply_to_closed_ticket_opens_a_linked_one(db, ingest, acme, now) -> None:
    first = ingest(email(sender="jane@acme.example"))
    old = db.get(Ticket, first.ticket_id)
    tickets.change_status(db, old, Status.CLOSED, actor=None, now=now)
    db.commit()
    row = ingest(email(sender="jane@acme.example", subject=f"Re: [#{old.id}] again"))
    new = db.get(Ticket, row.ticket_id)
    assert new.id != old.id and new.linked_ticket_id == old.id
    assert db.get(Ticket, old.id).status == Status.CLOSED


def test_merged_tickets_are_followed(db, ingest, acme) -> None:
    first = ingest(email(sender="jane@acme.example"))
    second = ingest(email(sender="jane@acme.example", subject="Another one"))
    db.get(Ticket, first.ticket_id).merged_into_id = second.ticket_id
    db.commit()
    reply = ingest(email(sender="jane@acme.example", subject=f"Re: [#{first.ticket_id}] x"))
    assert reply.ticket_id == second.ticket_id


def test_known_cc_contacts_join_the_ticket(db, ingest, acme, make) -> None:
    boss = make.contact(acme, email="boss@acme.example")
    db.commit()
    first = ingest(email(sender="jane@acme.example"))
    ingest(email(sender="jane@acme.example", subject=f"Re: [#{first.ticket_id}]", cc="boss@acme.example"))
    assert boss in db.get(Ticket, first.ticket_id).contacts


@pytest.mark.parametrize("how", ["in_reply_to", "subject_token"])
def test_a_sender_whose_domain_a_customer_added_since_replies_onto_its_ticket(db, ingest, make, how) -> None:
    bob = make.contact(None, email="bob@acme.example")  # wrote in before Acme registered its domain
    db.commit()
    make.customer("Acme", domains=("acme.example",))
    db.commit()
    first = ingest(email(sender="jane@acme.example", message_id="<open@acme.example>"))
    if how == "in_reply_to":
        reply = email(sender="bob@acme.example", subject="Re: Export", in_reply_to="<open@acme.example>")
    else:
        reply = email(sender="bob@acme.example", subject=f"Re: [#{first.ticket_id}] Export")
    row = ingest(reply)
    assert db.get(type(bob), bob.id).customer.name == "Acme"
    assert row.ticket_id == first.ticket_id, row.outcome  # not "new ticket: sender not on #1"


def test_a_huge_cc_and_in_reply_to_cost_one_lookup_each(db, ingest, acme, make) -> None:
    from tests.conftest import sql_statements

    boss = make.contact(acme, email="boss@acme.example")
    db.commit()
    first = ingest(email(sender="jane@acme.example"))
    ack = ack_of(db, first.ticket_id)
    strangers = [f"u{n}@elsewhere.example" for n in range(5_000)]
    reply = email(
        sender="jane@acme.example", subject="Re: Export", cc=", ".join(["Boss@Acme.example", *strangers]),
        in_reply_to=" ".join([f"<{ack.message_id}>", *(f"<x{n}@spam.example>" for n in range(5_000))]),
    )  # fmt: skip
    with sql_statements(only="SELECT") as seen:
        row = ingest(reply)
    assert row.status == InboundStatus.PROCESSED and row.ticket_id == first.ticket_id
    assert boss in db.get(Ticket, first.ticket_id).contacts
    # One look-up for the sender (read ahead for the batch) and one for the Cc, capped at MAX_CC_LOOKUPS.
    assert sum("contact.email IN" in s for s in seen) == 2
    assert sum("mail_thread_ref" in s for s in seen) == 1


def test_same_message_twice_is_one_entry(db, ingest, acme) -> None:
    raw = email(sender="jane@acme.example", message_id="<same-1@client.example>")
    a = ingest(raw)
    b = ingest(raw)
    assert a.id == b.id and ticket_count(db) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(InboundMessage)) == 1


def test_message_without_message_id_dedups_by_content(db, now) -> None:
    raw = b"From: jane@acme.example\r\nSubject: no id\r\n\r\nbody\r\n"
    first, created = mail_inbound.store_raw(db, raw, source="imap", now=now, enqueue=False)
    again, created_again = mail_inbound.store_raw(
        db, raw.replace(b"\r\n", b"\n"), source="import", now=now, enqueue=False
    )
    assert created and not created_again and first.id == again.id


def test_a_fetched_batch_is_stored_in_one_insert_and_copies_in_it_are_one_row(db, now, redis_url) -> None:
    """The IMAP poller and the importer store a batch in one statement: a message already stored, and a second copy
    within the batch (same Message-ID, other bytes), are duplicates of the first copy; one job for the new ones."""
    from redis import Redis
    from rq import Queue

    from tests.conftest import sql_statements

    first = email(subject="One", message_id="<one@c.example>")
    copy = email(subject="One, resent", message_id="<one@c.example>")
    earlier = email(subject="Two", message_id="<two@c.example>")
    mail_inbound.store_raw(db, earlier, source="http", now=now, enqueue=False)
    db.commit()
    with sql_statements(only="INSERT") as inserts:
        results = mail_inbound.store_many(db, [first, copy, earlier, email(subject="Three")], source="imap", now=now)
    db.commit()
    assert len(inserts) == 1
    assert [created for _, created in results] == [True, False, False, True]
    assert results[0][0] == results[1][0] and len({inbound_id for inbound_id, _ in results}) == 3
    subjects = db.scalars(sa.select(InboundMessage.subject).order_by(InboundMessage.id)).all()
    assert subjects == ["Two", "One", "Three"]
    queued = Queue(inbound_queue_name("default"), connection=Redis.from_url(redis_url)).jobs
    assert [(j.func_name, j.args) for j in queued] == [
        ("ticketing.jobs.process_inbound_batch", ([results[0][0], results[3][0]],))
    ]


@pytest.mark.parametrize(
    "headers",
    [{"Auto-Submitted": "auto-replied"}, {"X-Autoreply": "yes"}, {"Precedence": "bulk"}, {"Precedence": "junk"}],
    ids=["auto-submitted", "x-autoreply", "precedence-bulk", "precedence-junk"],
)
def test_auto_replies_never_open_reopen_or_get_answered(db, ingest, acme, now, headers) -> None:
    first = ingest(email(sender="jane@acme.example"))
    ticket = db.get(Ticket, first.ticket_id)
    tickets.change_status(db, ticket, Status.RESOLVED, actor=None, now=now)
    db.commit()
    acks_before = db.scalar(sa.select(sa.func.count()).select_from(OutboundMessage))
    on_ticket = ingest(email(sender="jane@acme.example", subject=f"Out of office: [#{ticket.id}]", headers=headers))
    alone = ingest(email(sender="jane@acme.example", subject="Out of office", headers=headers))
    assert on_ticket.ticket_id == ticket.id and db.get(Ticket, ticket.id).status == Status.RESOLVED
    assert alone.status == InboundStatus.IGNORED and alone.ticket_id is None
    assert ticket_count(db) == 1
    assert db.scalar(sa.select(sa.func.count()).select_from(OutboundMessage)) == acks_before


def test_mailing_list_mail_opens_a_ticket_without_acknowledgement(db, ingest, acme) -> None:
    row = ingest(email(sender="jane@acme.example", headers={"List-Id": "<dev.acme.example>"}))
    assert row.ticket_id is not None and ack_of(db, row.ticket_id) is None


def test_our_own_mail_coming_back_is_ignored(db, ingest) -> None:
    row = ingest(email(sender="Bluehill Support <support@bluehill.test>", subject="[#1] We received it"))
    assert row.status == InboundStatus.IGNORED and ticket_count(db) == 0


def test_acknowledgements_are_rate_limited_per_sender(db, ingest, acme) -> None:
    for n in range(8):
        ingest(email(sender="loop@acme.example", subject=f"Ticket storm {n}"))
    acks = db.scalar(
        sa.select(sa.func.count()).select_from(OutboundMessage).where(OutboundMessage.to_address == "loop@acme.example")
    )
    assert ticket_count(db) == 8 and acks == mail_policy().ack_limit_per_hour


def test_the_acknowledgement_cap_holds_within_one_batch_and_across_batches(db, acme, now) -> None:
    """A batch counts its senders' acknowledgements once, before its first message: the cap must still count the
    ones the batch itself queues, and the ones earlier batches did."""

    def batch(first: int, count: int) -> None:
        raws = [email(sender="loop@acme.example", subject=f"Storm {n}") for n in range(first, first + count)]
        rows = [mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)[0] for raw in raws]
        db.commit()
        jobs.process_inbound_batch([row.id for row in rows])

    limit = mail_policy().ack_limit_per_hour
    batch(0, limit - 1)
    batch(limit - 1, 4)
    acks = db.scalar(
        sa.select(sa.func.count()).select_from(OutboundMessage).where(OutboundMessage.to_address == "loop@acme.example")
    )
    assert ticket_count(db) == limit + 3 and acks == limit


def dsn(original_message_id: str, recipient: str) -> bytes:
    return (
        "From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>\r\n"
        "To: support@bluehill.test\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: <dsn-{original_message_id}>\r\nAuto-Submitted: auto-replied\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nDelivery failed.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.acme.example\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"Message-ID: <{original_message_id}>\r\nSubject: [#1] We received your request\r\n\r\n--B--\r\n"
    ).encode()


def test_bounce_is_linked_to_the_failed_outbound_message(db, ingest, acme) -> None:
    first = ingest(email(sender="gone@acme.example"))
    ack = ack_of(db, first.ticket_id)
    row = ingest(dsn(ack.message_id, "gone@acme.example"))
    assert row.status == InboundStatus.PROCESSED and row.outcome == f"bounce linked to outbound #{ack.id}"
    db.refresh(ack)
    assert ack.status == OutboundStatus.BOUNCED and "gone@acme.example" in ack.last_error
    assert ticket_count(db) == 1
    note = entries(db, first.ticket_id, InteractionType.SYSTEM)[-1]
    assert "failed (bounce received)" in note.body_text
    unknown = ingest(dsn("never-sent@bluehill.test", "x@acme.example"))
    assert unknown.status == InboundStatus.IGNORED


def test_hostile_html_is_never_stored_as_markup(db, ingest, acme) -> None:
    html = '<p onclick="steal()">Hi</p><script>alert(1)</script><img src="http://track.example/p.gif">'
    row = ingest(email(sender="jane@acme.example", body="Hi <script>alert(2)</script>", html=html))
    entry = entries(db, row.ticket_id, InteractionType.EMAIL_INBOUND)[0]
    assert "<script" not in entry.body_html and "onclick" not in entry.body_html
    assert "track.example" not in entry.body_html
    assert "&lt;script&gt;" in entry.body_html


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe garbage",
        b"Subject: =?x-unknown?Q?abc?=\r\nFrom: =?utf-8?B?!!!?= <a@acme.example>\r\n\r\n\xff",
        b'From: jane@acme.example\r\nContent-Type: multipart/mixed; boundary="X"\r\n\r\n--X\r\nbroken',
    ],
    ids=["empty", "garbage", "broken-encodings", "unterminated-multipart"],
)
def test_broken_mime_is_handled_without_losing_the_message(db, ingest, acme, raw) -> None:
    row = ingest(raw)
    assert row.status in {InboundStatus.PROCESSED, InboundStatus.IGNORED}
    assert row.raw == raw  # the original stays retrievable


@pytest.mark.timeout(60)  # the reply parser took 148 s on a 100,000-character line starting "On ", more here
def test_a_body_that_makes_the_reply_parser_backtrack_does_not_stall_processing(db, ingest, acme) -> None:
    first = ingest(email(sender="jane@acme.example"))
    hostile = (
        "See the log below.\n\nOn " + "x" * 200_000 + "\n" + "\n".join("On " + "y" * 990 for _ in range(200))
        + "\n" * 20_000 + "x\n"  # a run of empty lines (39 s)
        + ("Am " + "schrieb " * 124 + "\n") * 20  # a German quote header pattern on long lines (8 s)
    )  # fmt: skip
    reply = ingest(email(sender="jane@acme.example", subject=f"Re: [#{first.ticket_id}] Export", body=hostile))
    assert reply.status == InboundStatus.PROCESSED and reply.ticket_id == first.ticket_id
    entry = entries(db, first.ticket_id, InteractionType.EMAIL_INBOUND)[-1]
    assert entry.body_text == hostile.strip()  # nothing cut: no quoted history in the part the parser read


def test_quoted_history_is_stripped_from_a_long_thread_and_kept_past_the_scanned_head(db, ingest, acme) -> None:
    first = ingest(email(sender="jane@acme.example"))
    subject = f"Re: [#{first.ticket_id}] Export"
    quoted = "\n".join(f"> line {n} of an old message" for n in range(5000))  # far longer than the scanned head
    short = ingest(
        email(sender="jane@acme.example", subject=subject, body=f"Works now.\n\nOn Mon, Priya wrote:\n{quoted}")
    )
    log_lines = "\n".join(f"{n:05d} ERROR export failed" for n in range(2000))  # the history starts past the head
    long = ingest(email(sender="jane@acme.example", subject=subject, body=f"{log_lines}\n\nOn Mon, Priya wrote:\n> ok"))
    bodies = {e.inbound_message_id: e.body_text for e in entries(db, first.ticket_id, InteractionType.EMAIL_INBOUND)}
    assert bodies[short.id] == "Works now."
    assert bodies[long.id].startswith("00000 ERROR") and bodies[long.id].endswith("> ok")


def test_the_reply_parser_reads_a_bounded_probe_and_the_reply_keeps_its_whole_lines() -> None:
    long_line = "  " + "word " * 300  # a long paragraph on one line, indented
    text = f"{long_line}\n\n\n\n\n\nSecond paragraph.\n\nOn Mon, Priya wrote:\n> quoted"
    probe, whole, complete = mail_inbound.reply_probe(text)
    assert complete and max(len(line) for line in probe) <= mail_inbound.REPLY_PROBE_LINE
    assert probe.count("") == mail_inbound.REPLY_BLANK_RUN + 1  # six empty lines kept to two (and one more later)
    assert len(probe) == len(whole) and whole[0] == long_line.strip()
    policy = MailPolicy(support_address="support@bluehill.test", token_secret="test")
    assert mail_inbound.visible_reply(text, policy) == f"{long_line.strip()}\n\n\nSecond paragraph."
    big = "\n".join(["a" * 80] * 1000)
    probe, _, complete = mail_inbound.reply_probe(big)
    assert not complete and sum(len(line) + 1 for line in probe) <= mail_inbound.REPLY_SCAN_CHARS
    assert mail_inbound.visible_reply(big, policy) == big


@pytest.mark.parametrize(
    "text",
    [
        "Thanks, fixed.",
        "",
        "Works now.\n\nOn Mon, 3 Feb 2025 at 10:00, Priya <p@x.example> wrote:\n> ok\n>\n> On Sun, Jane wrote:\n>> no",
        "Danke!\n\nAm 03.02.2025 um 10:00 schrieb Priya <p@x.example>:\n> gut\n\n"
        "Le lun. 3 févr. 2025, Jane a écrit :\n> x",
        "On Mon, Priya wrote:\n> only quoted history\n\nOn Sun, Jane wrote:\n> older",
        "Top.\n-----Original Message-----\nFrom: Priya\nSent: Monday\n\nbody\n\nFrom: Jane\nSent: Sunday\n\nolder",
    ],
)
def test_the_reply_split_stops_at_the_first_reply_with_the_parsers_own_result(text) -> None:
    """The split looks for quote headers only until it has a first reply: that reply, and whether there is
    another, are the reply parser's own (its full read over the whole history)."""
    from mailparser_reply.parser import EmailMessage

    languages, header_regex = mail_inbound._reply_setup(("en", "de", "fr"))
    full = EmailMessage(text=text, languages=list(languages), _header_regex=header_regex).read()
    ours = mail_inbound.split_replies(text, ("en", "de", "fr"))
    assert ours.latest_reply == full.latest_reply
    assert (len(ours.replies) >= 2) == (len(full.replies) >= 2)
    assert len(ours.replies) <= 2


def test_attachments_are_limited_and_refusals_noted(db, ingest, acme, app, monkeypatch) -> None:
    monkeypatch.setitem(app.config, "ATTACHMENT_MAX_BYTES", 1024)
    row = ingest(email(sender="jane@acme.example", attachments=[
        ("small.txt", "text/plain", b"ok"), ("big.bin", "application/octet-stream", b"x" * 5000),
        ("run.exe", "application/octet-stream", b"MZ")]))  # fmt: skip
    stored = db.scalars(sa.select(Attachment).where(Attachment.ticket_id == row.ticket_id)).all()
    assert [a.filename for a in stored] == ["small.txt"]
    note = entries(db, row.ticket_id, InteractionType.SYSTEM)[-1].body_text
    assert "big.bin: larger than" in note and "run.exe: .exe files are not accepted" in note


def test_failed_processing_is_kept_and_can_be_retried(db, acme, app, monkeypatch, tmp_path, now) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(blocker))  # storage fails
    raw = email(sender="jane@acme.example", attachments=[("a.txt", "text/plain", b"hello")])
    row, _ = mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)
    db.commit()
    with pytest.raises(OSError):
        jobs.process_inbound(row.id)
    db.expire_all()
    failed = db.get(InboundMessage, row.id)
    assert failed.status == InboundStatus.FAILED and "Error" in failed.error and ticket_count(db) == 0
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(tmp_path / "attachments"))
    assert mail_inbound.retry_failed(db, row.id)
    db.commit()
    jobs.process_inbound(row.id)
    db.expire_all()
    assert db.get(InboundMessage, row.id).status == InboundStatus.PROCESSED and ticket_count(db) == 1


# --- batches: what one IMAP poll or one import chunk stored is processed in one transaction -------------------


def test_messages_stored_together_are_one_job_with_every_id(db, acme, app, redis_url, now) -> None:
    from redis import Redis
    from rq import Queue

    conn = Redis.from_url(redis_url)
    queue = Queue(inbound_queue_name(app.config["RQ_QUEUE"]), connection=conn)  # taken first by workers
    queue.empty()
    rows = [mail_inbound.store_raw(db, email(subject=f"Issue {n}"), source="imap", now=now)[0] for n in range(3)]
    db.commit()
    jobs_queued = queue.get_jobs()
    assert [(job.func_name, job.args) for job in jobs_queued] == [
        ("ticketing.jobs.process_inbound_batch", ([row.id for row in rows],))
    ]
    queue.empty()
    # More than a job's worth (a poll fetches BATCH_MAX at a time, an import may store more): jobs of BATCH_MAX, in
    # the order stored, so a reply is never processed before the message it answers.
    raws = [email(subject=f"Bulk {n}", message_id=f"<bulk-{n}@acme.example>") for n in range(events.BATCH_MAX + 1)]
    stored = [inbound_id for inbound_id, _ in mail_inbound.store_many(db, raws, source="imap", now=now)]
    db.commit()
    assert [job.args for job in queue.get_jobs()] == [(stored[: events.BATCH_MAX],), (stored[events.BATCH_MAX :],)]
    assert stored == sorted(stored)
    queue.empty()


def test_a_batch_threads_every_message_in_one_go(db, acme, now) -> None:
    first = email(subject="Printer broken", message_id="<first@acme.example>")
    reply = email(subject="Re: Printer broken", in_reply_to="<first@acme.example>")
    rows = [mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)[0] for raw in (first, reply)]
    db.commit()
    assert jobs.process_inbound_batch([r.id for r in rows]) == ["new ticket", "appended (thread headers)"]
    db.expire_all()
    tickets_made = db.scalars(sa.select(Ticket)).all()
    assert len(tickets_made) == 1 and len(entries(db, tickets_made[0].id, InteractionType.EMAIL_INBOUND)) == 2
    assert jobs.process_inbound_batch([r.id for r in rows]) == [None, None]  # a re-run changes nothing


def test_a_batch_reads_its_lookups_ahead_and_still_threads_within_itself(db, acme, now) -> None:
    from tests.conftest import sql_statements

    def process(*raws: bytes) -> list[str | None]:
        rows = [mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)[0] for raw in raws]
        db.commit()
        result = jobs.process_inbound_batch([r.id for r in rows])
        db.expire_all()
        return result

    opened = [email(subject=f"Issue {n}", message_id=f"<open-{n}@acme.example>") for n in range(5)]
    assert process(*opened) == ["new ticket"] * 5
    replies = [email(subject=f"Re: Issue {n}", in_reply_to=f"<open-{n}@acme.example>") for n in range(5)]
    # Within the batch: a new sender twice (one contact), and a chain whose links arrive in the same batch.
    newcomer = [email(sender="Max <max@acme.example>", subject="Hello", message_id=f"<max-{n}@acme.example>",
                      in_reply_to="<max-0@acme.example>" if n else None) for n in range(2)]  # fmt: skip
    chain = email(subject="Re: Re: Issue 0", in_reply_to="<reply-0@acme.example>",
                  references="<open-0@acme.example> <reply-0@acme.example>")  # fmt: skip
    first_reply = email(subject="Re: Issue 0", message_id="<reply-0@acme.example>", in_reply_to="<open-0@acme.example>")
    with sql_statements(only="SELECT") as seen:
        outcomes = process(*replies, *newcomer, first_reply, chain)
    assert outcomes == [*["appended (thread headers)"] * 5, "new ticket", "appended (thread headers)",
                        *["appended (thread headers)"] * 2]  # fmt: skip
    by_key = {
        key: ticket for key, ticket in db.execute(sa.select(InboundMessage.message_key, InboundMessage.ticket_id))
    }
    assert by_key["max-1@acme.example"] == by_key["max-0@acme.example"]
    assert by_key[mail_inbound.message_key(chain)[0]] == by_key["open-0@acme.example"]
    assert db.scalar(sa.select(sa.func.count()).select_from(Contact).where(Contact.email == "max@acme.example")) == 1
    # Read ahead: one look-up of the senders, one of the thread ids for the nine messages and one of their
    # tickets; the ids the batch adds (max-0, reply-0) are found among its own, written in one statement at the end.
    assert sum(s.lstrip().startswith("SELECT contact.") and "contact.email IN" in s for s in seen) == 1
    assert sum("WHERE contact.email = " in s for s in seen) == 1  # max's first message; the second finds that contact
    assert sum("FROM mail_thread_ref" in s for s in seen) == 1
    assert sum(s.lstrip().startswith("SELECT ticket.") and "ticket.id IN" in s for s in seen) == 1
    refs = {m: t for m, t in db.execute(sa.select(MailThreadRef.message_id, MailThreadRef.ticket_id))}
    assert refs["reply-0@acme.example"] == refs["open-0@acme.example"] == by_key["open-0@acme.example"]
    assert refs["max-1@acme.example"] == by_key["max-0@acme.example"]


def test_one_broken_message_does_not_hold_up_its_batch(db, acme, app, monkeypatch, tmp_path, now) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    monkeypatch.setitem(app.config, "ATTACHMENT_DIR", str(blocker))  # storing an attachment fails
    good = email(subject="Plain question")
    broken = email(subject="With a file", attachments=[("a.txt", "text/plain", b"hello")])
    also_good = email(subject="Another question")
    rows = [
        mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)[0] for raw in (good, broken, also_good)
    ]
    db.commit()
    with pytest.raises(OSError):
        jobs.process_inbound_batch([r.id for r in rows])
    db.expire_all()
    states = [db.get(InboundMessage, r.id) for r in rows]
    assert [s.status for s in states] == [InboundStatus.PROCESSED, InboundStatus.FAILED, InboundStatus.PROCESSED]
    assert "Error" in states[1].error and states[1].raw == broken  # kept, with its error, for an admin to retry
    assert sorted(db.scalars(sa.select(Ticket.subject))) == ["Another question", "Plain question"]


def test_routing_rule_added_mid_transaction_is_seen_by_the_next_ticket(db, make, acme, now) -> None:
    from ticketing.models.routing import RoutingRule

    first = tickets.create_ticket(db, subject="Invoice wrong", source=Source.PORTAL, now=now)
    assert routing.apply_rules(db, first, now=now) == []  # the (empty) rule list is memoised for this transaction
    billing = make.team("Billing")
    db.add(RoutingRule(name="Invoices", position=1, active=True, keywords="invoice", set_team=billing))
    second = tickets.create_ticket(db, subject="Invoice wrong again", source=Source.PORTAL, now=now)
    routing.apply_rules(db, second, now=now)
    assert second.assigned_team is billing


def test_keyword_rules_read_the_body_of_every_ticket_a_batch_opens(db, make, acme, now) -> None:
    """A batch opens its tickets without a flush each: the rules still see each one's first message, not only the
    first ticket's (they read it by the ticket's id)."""
    from ticketing.models.routing import RoutingRule

    billing = make.team("Billing")
    db.add(RoutingRule(name="Invoices", position=1, active=True, keywords="invoice", set_team=billing))
    db.commit()
    raws = [email(sender="jane@acme.example", subject=f"Question {n}", body=f"About invoice {n}.") for n in range(3)]
    rows = [mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)[0] for raw in raws]
    db.commit()
    jobs.process_inbound_batch([row.id for row in rows])
    teams = db.scalars(sa.select(Ticket.assigned_team_id).order_by(Ticket.id)).all()
    assert teams == [billing.id] * 3


def test_a_batch_flushes_once_whatever_its_messages_look_up(db, acme, make, now) -> None:
    """New senders (a contact inserted each), a Cc of a known contact and a bounce in one batch: none of their
    look-ups flushes the batch's pending tickets and entries a few at a time (each flush was a round of INSERTs
    per table); they go in together, and every message is still threaded as before."""
    make.contact(acme, email="boss@acme.example")
    db.commit()
    first_row, _ = mail_inbound.store_raw(db, email(sender="gone@acme.example"), source="import", now=now,
                                          enqueue=False)  # fmt: skip
    db.commit()
    jobs.process_inbound(first_row.id)
    db.expire_all()
    opened = db.get(InboundMessage, first_row.id).ticket_id
    ack = ack_of(db, opened)
    raws = [
        *(email(sender=f"new{n}@acme.example", subject=f"Question {n}", cc="boss@acme.example") for n in range(3)),
        dsn(ack.message_id, "gone@acme.example"),
        email(sender="new0@acme.example", subject="Re: Question 0", in_reply_to="<q0@x>"),
    ]
    rows = [mail_inbound.store_raw(db, raw, source="import", now=now, enqueue=False)[0] for raw in raws]
    db.commit()
    flushes: list[int] = []

    def count(session, _context) -> None:
        flushes.append(len(session.new))

    sa.event.listen(db(), "after_flush", count)
    try:
        outcomes = jobs.process_inbound_batch([r.id for r in rows])
    finally:
        sa.event.remove(db(), "after_flush", count)
    assert outcomes == [*["new ticket"] * 3, f"bounce linked to outbound #{ack.id}", "new ticket"]
    # The batch's flush (tickets, entries, contacts' links), then the acknowledgements' and the status marks'.
    assert len(flushes) <= 3, flushes
    db.expire_all()
    boss = db.scalar(sa.select(Contact).where(Contact.email == "boss@acme.example"))
    new_tickets = db.scalars(sa.select(Ticket).where(Ticket.id != opened).order_by(Ticket.id)).all()
    assert len(new_tickets) == 4 and all(t.customer_id == acme.id for t in new_tickets)
    assert all(boss in t.contacts for t in new_tickets[:3])
    assert db.get(OutboundMessage, ack.id).status == OutboundStatus.BOUNCED
    senders = db.scalars(sa.select(Contact.email).where(Contact.email.like("new%")).order_by(Contact.email)).all()
    assert senders == ["new0@acme.example", "new1@acme.example", "new2@acme.example"]  # one contact each
