"""Inbound email: store the raw bytes first (idempotent by Message-ID), then process them in a job.

Processing threads the message onto its ticket (headers first, then signed tokens), enriches contacts,
and recognises auto-replies, bounces and our own mail so none of them reopens, acknowledges or opens tickets.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from functools import lru_cache

import sqlalchemy as sa
from mailparser_reply import EmailReplyParser
from mailparser_reply.parser import EmailMessage as ReplyParserMessage
from mailparser_reply.parser import EmailReply
from sqlalchemy.orm import Session, lazyload, selectinload, undefer

from ticketing import events
from ticketing.domain import mail_tokens
from ticketing.domain.lifecycle import Status
from ticketing.domain.mail_parse import ParsedEmail, normalise_message_id, parse_email, stable_fallback_id
from ticketing.domain.visibility import InteractionType
from ticketing.domain.vocab import Source
from ticketing.models import (
    Contact,
    InboundMessage,
    InboundStatus,
    Interaction,
    Mailbox,
    MailThreadRef,
    OutboundMessage,
    OutboundStatus,
    Ticket,
)
from ticketing.models.base import in_chunks, insert_for
from ticketing.services import mail_outbound, routing, tickets
from ticketing.services.attachments import IncomingFile, store_attachments
from ticketing.services.enrichment import find_contacts, resolve_contact
from ticketing.services.html import text_to_html
from ticketing.services.interactions import add_interaction
from ticketing.services.mail_policy import MailPolicy
from ticketing.storage import AttachmentStore

log = logging.getLogger(__name__)
_HEADERS = BytesHeaderParser(policy=compat32)
MAX_MERGE_HOPS = 20
MAX_CC_LOOKUPS = 100


# --- step 1: store -------------------------------------------------------------------------------------------


def _header_block(raw: bytes, limit: int = 262144) -> bytes:
    """The bytes up to the first empty line (the header block), at most `limit` of them."""
    ends = [i for i in (raw.find(b"\r\n\r\n", 0, limit), raw.find(b"\n\n", 0, limit)) if i >= 0]
    return raw[: min(ends) + 2] if ends else raw[:limit]


def message_key(raw: bytes) -> tuple[str, str | None, str | None]:
    """The dedup key (Message-ID, else a stable hash), plus From and Subject for the admin list."""
    headers = _HEADERS.parsebytes(_header_block(raw))  # a broken (or huge) body can't stop or slow the store
    key = normalise_message_id(str(headers.get("Message-ID") or ""))
    sender, subject = headers.get("From"), headers.get("Subject")
    return (
        key or stable_fallback_id(raw),
        (str(sender)[:255] if sender else None),
        (str(subject)[:300] if subject else None),
    )


STORE_CHUNK = 100  # messages per INSERT statement (11 parameters each: well inside SQLite's limit)


def store_many(
    session: Session,
    raws: Sequence[bytes],
    *,
    source: str,
    now: datetime,
    mailbox_id: int | None = None,
    enqueue: bool = True,
) -> list[tuple[int, bool]]:
    """Store the raw messages not stored yet; returns (id, created) for each, in order. An IMAP poll's batch or
    an import chunk is one INSERT statement.

    The processing job is enqueued after commit, one job for all the messages stored in that transaction. The same
    message through any connector, any number of times (twice in one batch too: the first copy is kept), is one
    row.
    """
    keys = [message_key(raw) for raw in raws]
    ids: dict[str, int] = {}
    created: set[str] = set()
    for start in range(0, len(raws), STORE_CHUNK):
        rows: dict[str, dict[str, object]] = {}
        window = slice(start, start + STORE_CHUNK)
        for (key, sender, subject), raw in zip(keys[window], raws[window], strict=True):
            if key not in ids and key not in rows:
                rows[key] = {
                    "message_key": key, "raw": raw, "size": len(raw), "source": source, "mailbox_id": mailbox_id,
                    "from_address": sender, "subject": subject, "received_at": now,
                    "status": InboundStatus.RECEIVED, "attempts": 0,
                }  # fmt: skip
        if rows:
            _insert_new(session, rows, ids, created)
    results: list[tuple[int, bool]] = []
    for key, _, _ in keys:
        first = key in created
        created.discard(key)  # a later copy in the same batch is a duplicate
        results.append((ids[key], first))
        if first and enqueue:
            events.defer_batch(session, "ticketing.jobs.process_inbound_batch", ids[key])
    return results


def _insert_new(session: Session, rows: dict[str, dict[str, object]], ids: dict[str, int], created: set[str]) -> None:
    # INSERT ... ON CONFLICT DO NOTHING: a concurrent connector storing the same message loses quietly, with no
    # SAVEPOINT (pysqlite commits on releasing one, which would break the caller's batching).
    statement = (
        insert_for(session)(InboundMessage)
        .values(list(rows.values()))
        .on_conflict_do_nothing(index_elements=["message_key"])
        .returning(InboundMessage.id, InboundMessage.message_key)
    )
    for inbound_id, key in session.execute(statement):
        ids[key] = inbound_id
        created.add(key)
    stored_before = [key for key in rows if key not in ids]
    if stored_before:
        found = sa.select(InboundMessage.id, InboundMessage.message_key).where(
            InboundMessage.message_key.in_(stored_before)
        )
        ids.update((key, inbound_id) for inbound_id, key in session.execute(found))


def store_raw(
    session: Session, raw: bytes, *, source: str, now: datetime, mailbox_id: int | None = None, enqueue: bool = True
) -> tuple[InboundMessage, bool]:
    """One message (the HTTP intake): `store_many` of one, and its row; returns (row, created)."""
    ((inbound_id, created),) = store_many(session, [raw], source=source, now=now, mailbox_id=mailbox_id,
                                          enqueue=enqueue)  # fmt: skip
    return session.get_one(InboundMessage, inbound_id), created


# --- step 2: process -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    status: InboundStatus
    text: str
    ticket: Ticket | None = None  # a ticket the batch opened has no id until the batch's flush

    @property
    def ticket_id(self) -> int | None:
        return self.ticket.id if self.ticket is not None else None


class _Replies(ReplyParserMessage):
    """The reply parser's split into replies, without its signature and disclaimer scans: the timeline keeps a
    reply's whole text (only quoted history goes), and those two scans of every reply were most of its cost."""

    def _process_signatures_disclaimers(self, text: str) -> tuple[list[str], str]:
        return [], ""

    def read(self) -> _Replies:
        """The parser's own split, up to its first reply: only that one (the new text) is used, and whether there
        is another. The parser always keeps its last part, so once it has a first reply it has a second: the rest
        of the text stands for it here. It looked for every quote header of the whole quoted history first."""
        current, previous = 0, ""
        for header in self._headers():
            position = self.text.find(header, current + 1 if current > 0 else current)
            reply = EmailReply(headers=previous, content=self.text[current:position])
            current, previous = (position if position >= 0 else 0), header
            if reply.content:
                self.replies.append(reply)
                break
        self.replies.append(EmailReply(headers=previous, content=self.text[current:]))
        return self

    def _headers(self) -> Iterator[str]:
        # As the parser's findall() and flattening give them: each match's non-empty groups, in order (its pattern
        # is an alternation of groups, so findall gives their tuples).
        for match in self.HEADER_REGEX.finditer(self.text):
            yield from (g for g in match.groups() if g)


@lru_cache(maxsize=4)
def _reply_setup(languages: tuple[str, ...]) -> tuple[tuple[str, ...], re.Pattern[str]]:
    """The parser's languages (unknown ones dropped, English added) and its quote-header pattern, built once: it
    builds them for every message."""
    known = EmailReplyParser(languages=list(languages)).languages
    probe = _Replies(text="", languages=list(known))
    return tuple(probe.languages), probe.HEADER_REGEX


def split_replies(text: str, languages: tuple[str, ...]) -> ReplyParserMessage:
    known, header_regex = _reply_setup(languages)
    return _Replies(text=text, languages=list(known), _header_regex=header_regex).read()


# The reply parser's patterns backtrack: on a long line (100,000 characters starting "On ": 148 s; a German
# "Am ... schrieb" line grows with the cube of its length), and over runs of empty lines (20,000 of them: 39 s). It
# reads a probe instead: the text's first lines, stripped (as it strips them itself), cut to REPLY_PROBE_LINE
# characters (a quote header is one short line), runs of empty lines kept to two, REPLY_SCAN_CHARS in all. The new
# part it finds is then taken from the text's own lines, whole. Quoted history that starts past the probe is kept,
# as is the full original.
REPLY_SCAN_CHARS = 20_000
REPLY_PROBE_LINE = 200
REPLY_BLANK_RUN = 2


def reply_probe(text: str) -> tuple[list[str], list[str], bool]:
    """(probe lines, the stripped text lines they stand for, whether the probe covers the whole text)."""
    probe: list[str] = []
    whole: list[str] = []
    size = blank = 0
    for line in text.split("\n"):
        line = line.strip()
        blank = blank + 1 if not line else 0
        if blank > REPLY_BLANK_RUN:
            continue
        size += min(len(line), REPLY_PROBE_LINE) + 1
        if size > REPLY_SCAN_CHARS:
            return probe, whole, False
        probe.append(line[:REPLY_PROBE_LINE].rstrip())
        whole.append(line)
    return probe, whole, True


def visible_reply(text: str, policy: MailPolicy) -> str:
    """The new part of a reply, without quoted history; the whole text when parsing fails or finds no history in
    the probe of a long text."""
    probe, whole, complete = reply_probe(text)
    try:
        mail = split_replies("\n".join(probe), policy.reply_languages)
    except Exception:  # a third-party parser must never lose a message
        log.exception("reply stripping failed; keeping the full text")
        return text.strip()
    latest = mail.latest_reply
    if not latest or (len(mail.replies) < 2 and not complete):
        return text.strip()
    # The new part is the probe's first lines (from its first non-empty one): give them back whole.
    first = next(i for i, line in enumerate(probe) if line)
    found = latest.split("\n")
    if probe[first : first + len(found)] != found:  # the parser changed a line (it splits some separators)
        return text.strip()
    return "\n".join(whole[first : first + len(found)]).strip()


def _follow_merges(session: Session, ticket: Ticket | None) -> Ticket | None:
    for _ in range(MAX_MERGE_HOPS):
        if ticket is None or ticket.merged_into_id is None:
            return ticket
        ticket = session.get(Ticket, ticket.merged_into_id)
    return ticket


def _ticket(session: Session, ticket_id: int) -> Ticket | None:
    # Tags are not needed to thread a message: skip their eager load (one statement per reply).
    return session.get(Ticket, ticket_id, options=[lazyload(Ticket.tag_rows)])


def thread_ids(parsed: ParsedEmail) -> list[str]:
    """The Message-IDs a message answers, most precise first: In-Reply-To, then References, newest first."""
    return list(dict.fromkeys([*parsed.in_reply_to, *reversed(parsed.references)]))


@dataclass
class Known:
    """What a batch's messages will look up, read ahead in a few statements for the whole batch (a statement per
    message for each was most of the cost of a message): the senders' contacts by address, the tickets of the
    thread Message-IDs they name and of their tokens. An address not among the contacts is looked up (an earlier
    message of the batch may have added it). Every thread id of the batch is asked once: `refs` holds the stored
    ones, `absent` the others, and `new_refs` the batch's own Message-IDs as its messages are processed.

    Nothing here may rely on an autoflush: with everything read ahead, a message may be processed without a single
    query, so a change that threading reads (a contact's customer) must be flushed where it is made.
    A thread id another worker stores while this batch runs is not seen by it (one message at a time, it was seen
    if stored before that message's look-up): the same race, over a batch's time instead of a message's."""

    contacts: dict[str, Contact] = field(default_factory=dict)
    refs: dict[str, int] = field(default_factory=dict)
    absent: set[str] = field(default_factory=set)
    held: list[Ticket] = field(default_factory=list)  # the read tickets: the session keeps only referenced objects
    acks: dict[str, int] = field(default_factory=dict)  # acknowledgements per sender in the last hour, kept counting
    # The batch's own Message-IDs, by ticket, written together by `store_refs` (an id already stored keeps its
    # ticket); a later message of the batch answering one finds it here.
    new_refs: dict[str, Ticket] = field(default_factory=dict)
    # The tickets the batch opened (with the Message-ID that opened each), acknowledged once it has flushed them:
    # an acknowledgement names its ticket's id, and a flush per new ticket to learn it was most of its cost.
    to_acknowledge: list[tuple[Ticket, str | None]] = field(default_factory=list)

    def ask(self, session: Session, ids: Sequence[str]) -> None:
        unasked = [i for i in ids if i not in self.refs and i not in self.absent]
        found = _thread_refs(session, unasked)
        self.refs.update(found)
        self.absent.update(i for i in unasked if i not in found)

    def ticket_of(self, session: Session, message_id: str) -> Ticket | None:
        found = self.refs.get(message_id)
        if found is not None:
            return _ticket(session, found)
        ticket = self.new_refs.get(message_id)
        if ticket is not None and ticket.id is None:
            session.flush()  # a reply, within the batch, to a ticket it opened: notes and links name its id
        return ticket

    def store_refs(self, session: Session) -> None:
        if self.new_refs:  # one statement for the batch (its tickets are flushed: they have ids)
            rows = [{"message_id": m, "ticket_id": t.id, "outbound": False} for m, t in self.new_refs.items()]
            session.execute(
                insert_for(session)(MailThreadRef).on_conflict_do_nothing(index_elements=["message_id"]), rows
            )
            self.new_refs.clear()


LOOKUP_CHUNK = 1000  # ids per IN list: a batch of 100 messages may name 100 x 200 thread ids


def _thread_refs(session: Session, ids: Sequence[str]) -> dict[str, int]:
    refs: dict[str, int] = {}
    for chunk in in_chunks(ids, LOOKUP_CHUNK):
        rows = session.execute(
            sa.select(MailThreadRef.message_id, MailThreadRef.ticket_id).where(MailThreadRef.message_id.in_(chunk))
        )
        refs.update((message_id, ticket_id) for message_id, ticket_id in rows)
    return refs


def _token_tickets(parsed: ParsedEmail, policy: MailPolicy) -> Iterator[tuple[int, str]]:
    for address in [*(a.email for a in parsed.to), *(a.email for a in parsed.cc), *parsed.delivered_to]:
        ticket_id = mail_tokens.ticket_from_address(address, policy.token_secret)
        if ticket_id is not None:
            yield ticket_id, "reply address token"
    ticket_id = mail_tokens.ticket_from_subject(parsed.subject)
    if ticket_id is not None:
        yield ticket_id, "subject token"


def read_ahead(session: Session, batch: Sequence[ParsedEmail], policy: MailPolicy, now: datetime) -> Known:
    senders = [p.from_.email for p in batch if p.from_ is not None and p.from_.email]
    known = Known(contacts={c.email: c for c in find_contacts(session, senders)})
    known.acks = mail_outbound.acknowledgements_this_hour(session, senders, now)
    known.ask(session, list(dict.fromkeys(i for p in batch for i in thread_ids(p))))
    ticket_ids = {*known.refs.values(), *(i for p in batch for i, _ in _token_tickets(p, policy))}
    for chunk in in_chunks(sorted(ticket_ids), LOOKUP_CHUNK):
        # With their contacts: whether a sender belongs to a ticket without its customer reads them.
        query = sa.select(Ticket).where(Ticket.id.in_(chunk)).options(lazyload(Ticket.tag_rows),
                                                                      selectinload(Ticket.contacts))  # fmt: skip
        known.held.extend(session.scalars(query))
    return known


def _by_headers(session: Session, parsed: ParsedEmail, known: Known) -> Ticket | None:
    ids = thread_ids(parsed)
    known.ask(session, ids)  # read_ahead asked them all: this asks only for a message it did not see
    for message_id in ids:
        ticket = known.ticket_of(session, message_id)
        if ticket is not None:
            return ticket
    return None


def _by_tokens(session: Session, parsed: ParsedEmail, policy: MailPolicy) -> tuple[Ticket | None, str]:
    for ticket_id, how in _token_tickets(parsed, policy):
        return _ticket(session, ticket_id), how
    return None, ""


def find_thread(session: Session, parsed: ParsedEmail, policy: MailPolicy, known: Known) -> tuple[Ticket | None, str]:
    ticket = _by_headers(session, parsed, known)
    if ticket is not None:
        return _follow_merges(session, ticket), "thread headers"
    ticket, how = _by_tokens(session, parsed, policy)
    return _follow_merges(session, ticket), how


def belongs_to(contact: Contact, ticket: Ticket) -> bool:
    # The customer first: it answers most replies without loading the ticket's contacts. A ticket the batch opened
    # is not flushed yet: its customer is set, its customer_id not (a persistent ticket's None loads nothing).
    customer_id = ticket.customer_id if ticket.customer_id is not None else getattr(ticket.customer, "id", None)
    return (customer_id is not None and contact.customer_id == customer_id) or contact in ticket.contacts


def _files(parsed: ParsedEmail) -> list[IncomingFile]:
    return [IncomingFile(a.filename, a.content_type, a.data, a.content_id, a.inline) for a in parsed.attachments]


def _add_email(
    session: Session, ticket: Ticket, parsed: ParsedEmail, inbound: InboundMessage, sender: Contact, *,
    policy: MailPolicy, store: AttachmentStore, now: datetime, reopen: bool, known: Known,
) -> Interaction:  # fmt: skip
    body = visible_reply(parsed.text, policy)
    entry = add_interaction(
        session, ticket, type=InteractionType.EMAIL_INBOUND, actor=sender, body_text=body,
        body_html=text_to_html(body), now=now, reopen=reopen, message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to[0] if parsed.in_reply_to else None,
        references=" ".join(parsed.references) or None, email_subject=parsed.subject[:300],
        email_from=sender.email, email_to=", ".join(a.email for a in parsed.to)[:2000] or None,
        email_cc=", ".join(a.email for a in parsed.cc)[:2000] or None, inbound_message_id=inbound.id, flush=False,
    )  # fmt: skip
    _, refused = store_attachments(
        session, ticket, entry, _files(parsed), store=store, limits=policy.attachment_limits, now=now
    )
    if refused:
        add_interaction(
            session, ticket, type=InteractionType.SYSTEM, actor=None, now=now,
            body_text="Attachments not stored: " + "; ".join(refused), flush=False,
        )  # fmt: skip
    if parsed.message_id:
        known.new_refs.setdefault(parsed.message_id, ticket)
    # One look-up for the first MAX_CC_LOOKUPS addresses (it was a query per Cc address, uncapped).
    for copied in find_contacts(session, [a.email for a in parsed.cc if a.email][:MAX_CC_LOOKUPS]):
        if belongs_to(copied, ticket) and copied not in ticket.contacts:
            tickets.add_contact(session, ticket, copied, actor=None, now=now)
    return entry


def _open_ticket(
    session: Session, parsed: ParsedEmail, inbound: InboundMessage, sender: Contact, *, policy: MailPolicy,
    store: AttachmentStore, now: datetime, known: Known, linked: Ticket | None = None, note: str | None = None,
) -> Ticket:  # fmt: skip
    mailbox = session.get(Mailbox, inbound.mailbox_id) if inbound.mailbox_id else None
    ticket = tickets.create_ticket(
        session, subject=parsed.subject or "(no subject)", source=Source.EMAIL, now=now, actor=sender,
        sender_email=sender.email, contact=sender, team=mailbox.team if mailbox else None,
        email_thread_id=parsed.message_id, linked_ticket_id=linked.id if linked else None, flush=False,
    )  # fmt: skip
    _add_email(session, ticket, parsed, inbound, sender, policy=policy, store=store, now=now, reopen=False,
               known=known)  # fmt: skip
    # Rules see the first message (keywords) and may override the mailbox's team.
    routing.apply_rules(session, ticket, now=now, mailbox_id=inbound.mailbox_id)
    if note:
        add_interaction(
            session, ticket, type=InteractionType.INTERNAL_NOTE, actor=None, body_text=note, now=now, flush=False
        )
    if not (parsed.suppress_autoresponse or parsed.is_list):
        known.to_acknowledge.append((ticket, parsed.message_id))
    return ticket


def _acknowledge(session: Session, known: Known, *, policy: MailPolicy, now: datetime) -> None:
    """The batch's new tickets' acknowledgements, in the order the tickets were opened (the per-sender cap counts
    them in that order)."""
    for ticket, message_id in known.to_acknowledge:
        to = ticket.primary_contact.email if ticket.primary_contact else None
        opened = mail_outbound.OpenedHere(known.acks.get(to, 0) if to else 0, message_id)
        ack = mail_outbound.queue_acknowledgement(session, ticket, policy=policy, now=now, opened=opened)
        if ack is not None:
            known.acks[ack.to_address] = known.acks.get(ack.to_address, 0) + 1
    known.to_acknowledge.clear()


def _handle_bounce(session: Session, parsed: ParsedEmail, now: datetime) -> Outcome:
    candidates = [i for i in [parsed.bounce_original_message_id, *parsed.in_reply_to] if i]
    if not candidates:
        return Outcome(InboundStatus.IGNORED, "bounce for a message we did not send")
    # Without an autoflush of the batch's pending rows: the outbound rows and tickets read here are never pending
    # (the batch queues its acknowledgements after deciding every message, and a pending ticket has no id).
    with session.no_autoflush:
        original = session.scalar(sa.select(OutboundMessage).where(OutboundMessage.message_id.in_(candidates)))
        if original is None:
            return Outcome(InboundStatus.IGNORED, "bounce for a message we did not send")
        ticket = session.get_one(Ticket, original.ticket_id)
    original.status = OutboundStatus.BOUNCED
    recipients = ", ".join(parsed.bounce_recipients) or original.to_address
    original.last_error = f"bounced: {recipients}"[:2000]
    add_interaction(
        session, ticket, type=InteractionType.SYSTEM, actor=None, now=now,
        body_text=f"Delivery of “{original.subject}” to {recipients} failed (bounce received).",
        meta={"bounce_of": original.id}, flush=False,
    )  # fmt: skip
    return Outcome(InboundStatus.PROCESSED, f"bounce linked to outbound #{original.id}", ticket)


def decide(
    session: Session, inbound: InboundMessage, parsed: ParsedEmail, *, policy: MailPolicy, store: AttachmentStore,
    now: datetime, known: Known,
) -> Outcome:  # fmt: skip
    if parsed.is_bounce:
        return _handle_bounce(session, parsed, now)
    if parsed.from_ is None or not parsed.from_.email or "@" not in parsed.from_.email:
        return Outcome(InboundStatus.IGNORED, "no usable sender address")
    if policy.is_own(parsed.from_.email):
        return Outcome(InboundStatus.IGNORED, "our own mail came back")
    sender = resolve_contact(session, parsed.from_.email, parsed.from_.name, known=known.contacts)
    known.contacts[sender.email] = sender  # kept for the batch's later messages from them, with its customer loaded
    ticket, how = find_thread(session, parsed, policy, known)
    matched = ticket is not None and belongs_to(sender, ticket)
    if parsed.auto_submitted:
        if ticket is None or not matched:
            return Outcome(InboundStatus.IGNORED, "automatic message with no ticket of the sender")
        _add_email(session, ticket, parsed, inbound, sender, policy=policy, store=store, now=now, reopen=False,
                   known=known)  # fmt: skip
        return Outcome(InboundStatus.PROCESSED, f"automatic reply appended ({how})", ticket)
    if ticket is not None and not matched:
        note = (
            f"This email referenced ticket #{ticket.id} ({how}), but {sender.email} is not a contact of that "
            "ticket or its customer, so it was opened as a new ticket."
        )
        new = _open_ticket(session, parsed, inbound, sender, policy=policy, store=store, now=now, note=note,
                           known=known)  # fmt: skip
        return Outcome(InboundStatus.PROCESSED, f"new ticket: sender not on #{ticket.id}", new)
    if ticket is not None and ticket.status == Status.CLOSED:
        note = f"Follow-up to closed ticket #{ticket.id}."
        new = _open_ticket(session, parsed, inbound, sender, policy=policy, store=store, now=now, linked=ticket,
                           note=note, known=known)  # fmt: skip
        return Outcome(InboundStatus.PROCESSED, f"new ticket linked to closed #{ticket.id}", new)
    if ticket is not None:
        _add_email(session, ticket, parsed, inbound, sender, policy=policy, store=store, now=now, reopen=True,
                   known=known)  # fmt: skip
        return Outcome(InboundStatus.PROCESSED, f"appended ({how})", ticket)
    new = _open_ticket(session, parsed, inbound, sender, policy=policy, store=store, now=now, known=known)
    return Outcome(InboundStatus.PROCESSED, "new ticket", new)


def process_inbound(
    session: Session, inbound_id: int, *, policy: MailPolicy, store: AttachmentStore, now: datetime
) -> Outcome | None:
    """Process one stored message. Returns None when it was already processed (idempotent)."""
    return process_batch(session, [inbound_id], policy=policy, store=store, now=now)[0]


# Messages parsed at once, by raw size: their parsed parts (attachments) are held until the group is processed.
READ_AHEAD_BYTES = 64 * 1024 * 1024


def process_batch(
    session: Session, inbound_ids: Sequence[int], *, policy: MailPolicy, store: AttachmentStore, now: datetime
) -> list[Outcome | None]:
    """Process stored messages in one transaction, in the order they were stored; an outcome per id (None when
    it was already processed: idempotent). The rows are locked in one statement (a second worker on the same
    messages waits there, then sees them done) and what their processing looks up is read ahead (`Known`)."""
    rows = session.scalars(
        sa.select(InboundMessage).where(InboundMessage.id.in_(inbound_ids)).order_by(InboundMessage.id)
        .options(undefer(InboundMessage.raw)).with_for_update()
    ).all()  # fmt: skip
    outcomes: dict[int, Outcome] = {}
    group: list[InboundMessage] = []
    size = 0
    for row in [r for r in rows if r.status == InboundStatus.RECEIVED]:
        if group and size + row.size > READ_AHEAD_BYTES:
            outcomes.update(_process_group(session, group, policy=policy, store=store, now=now))
            group, size = [], 0
        group.append(row)
        size += row.size
    outcomes.update(_process_group(session, group, policy=policy, store=store, now=now))
    return [outcomes.get(inbound_id) for inbound_id in inbound_ids]


def _process_group(
    session: Session, rows: Sequence[InboundMessage], *, policy: MailPolicy, store: AttachmentStore, now: datetime
) -> dict[int, Outcome]:
    if not rows:
        return {}
    batch = [parse_email(row.raw) for row in rows]
    known = read_ahead(session, batch, policy, now)
    outcomes = {
        inbound.id: decide(session, inbound, parsed, policy=policy, store=store, now=now, known=known)
        for inbound, parsed in zip(rows, batch, strict=True)
    }
    session.flush()  # the batch's new tickets, entries and files, inserted together: from here on they have ids
    _acknowledge(session, known, policy=policy, now=now)
    known.store_refs(session)
    # Marked together, by primary key: one UPDATE statement run for every row (the ORM's flush of as many changed
    # objects cost more than the statement, and split it wherever a row's changed columns differed).
    marks = [
        {"id": row.id, "status": outcomes[row.id].status, "outcome": outcomes[row.id].text[:200],
         "ticket_id": outcomes[row.id].ticket_id, "processed_at": now, "error": None, "attempts": row.attempts + 1}
        for row in rows
    ]  # fmt: skip
    session.execute(sa.update(InboundMessage), marks)
    return outcomes


def record_failure(session: Session, inbound_id: int, error: str, *, final: bool) -> None:
    """In a fresh transaction after a failed attempt: the raw message stays, with its error."""
    inbound = session.get(InboundMessage, inbound_id)
    if inbound is None or inbound.status != InboundStatus.RECEIVED:
        return
    inbound.attempts += 1
    inbound.error = error[:4000]
    if final:
        inbound.status = InboundStatus.FAILED


def retry_failed(session: Session, inbound_id: int) -> bool:
    """An admin asks to re-process a failed message after a fix."""
    inbound = session.get(InboundMessage, inbound_id)
    if inbound is None or inbound.status != InboundStatus.FAILED:
        return False
    inbound.status = InboundStatus.RECEIVED
    events.defer_job(session, "ticketing.jobs.process_inbound", inbound.id)
    return True
