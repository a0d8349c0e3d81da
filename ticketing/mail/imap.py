"""IMAP polling: store each unseen message's raw bytes, commit, and only then flag (or move) it.

If the database is down, nothing is flagged and the next poll fetches the same messages again; the
Message-ID dedup makes that harmless.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import sqlalchemy as sa
from imap_tools import MailBox, MailBoxStartTls, MailBoxUnencrypted, MailMessageFlags
from sqlalchemy.orm import Session

from ticketing import events
from ticketing.models import ImapSecurity, Mailbox, utcnow
from ticketing.services import mail_inbound

log = logging.getLogger(__name__)
BATCH = events.BATCH_MAX  # messages fetched, stored and committed at a time: one processing job each
FETCH_BYTES = 64 * 1024 * 1024  # and at most this many bytes of them (a larger message is fetched on its own)
SIZE_CHUNK = 500  # UIDs per size look-up: servers cap a command's length (Dovecot at 64 KB)
_UID = re.compile(rb"UID (\d+)")
_SIZE = re.compile(rb"UID (\d+) RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+) UID (\d+)")
TIMEOUT_SECONDS = 30


def _connect(mailbox: Mailbox) -> Any:
    host = mailbox.imap_host or "localhost"
    if mailbox.imap_security == ImapSecurity.SSL:
        return MailBox(host, port=mailbox.imap_port or 993, timeout=TIMEOUT_SECONDS)
    if mailbox.imap_security == ImapSecurity.STARTTLS:
        return MailBoxStartTls(host, port=mailbox.imap_port or 143, timeout=TIMEOUT_SECONDS)
    return MailBoxUnencrypted(host, port=mailbox.imap_port or 143, timeout=TIMEOUT_SECONDS)


def _sizes(client: Any, uids: list[bytes]) -> dict[bytes, int]:
    sizes: dict[bytes, int] = {}
    for start in range(0, len(uids), SIZE_CHUNK):
        status, data = client.uid("FETCH", b",".join(uids[start : start + SIZE_CHUNK]), "(UID RFC822.SIZE)")
        if status != "OK":
            raise RuntimeError(f"IMAP FETCH failed: {status}")
        for item in data:
            line = item[0] if isinstance(item, tuple) else item
            match = _SIZE.search(line) if isinstance(line, bytes) else None
            if match:
                uid, size = (match.group(1), match.group(2)) if match.group(1) else (match.group(4), match.group(3))
                sizes[uid] = int(size)
    return sizes


def fetch_batches(uids: list[bytes], sizes: dict[bytes, int]) -> list[list[bytes]]:
    """The unseen messages in fetch order, in batches of at most BATCH messages and FETCH_BYTES bytes: a batch is
    held in memory until it is stored, and a poll of a hundred large messages must not hold them all at once."""
    batches: list[list[bytes]] = []
    held = FETCH_BYTES + 1
    for uid in uids:
        size = sizes.get(uid, 0)
        if held + size > FETCH_BYTES or len(batches[-1]) >= BATCH:
            batches.append([])
            held = 0
        batches[-1].append(uid)
        held += size
    return batches


def _fetch_raw(client: Any, uids: list[bytes]) -> list[tuple[str, bytes]]:
    """(uid, raw bytes) exactly as the server holds them; BODY.PEEK leaves \\Seen alone."""
    status, data = client.uid("FETCH", b",".join(uids), "(UID BODY.PEEK[])")
    if status != "OK":
        raise RuntimeError(f"IMAP FETCH failed: {status}")
    messages = []
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            match = _UID.search(item[0])
            if match:
                messages.append((match.group(1).decode(), bytes(item[1])))
    return messages


def poll(session: Session, mailbox: Mailbox) -> int:
    """Store every unseen message of one mailbox; returns how many were new."""
    stored = 0
    with _connect(mailbox).login(mailbox.imap_username or "", mailbox.imap_password or "", mailbox.imap_folder) as box:
        status, data = box.client.uid("SEARCH", None, "UNSEEN")
        if status != "OK":
            raise RuntimeError(f"IMAP SEARCH failed: {status}")
        pending = data[0].split() if data and data[0] else []
        for batch in fetch_batches(pending, _sizes(box.client, pending)):
            messages = _fetch_raw(box.client, batch)
            results = mail_inbound.store_many(
                session, [raw for _, raw in messages], source="imap", now=utcnow(), mailbox_id=mailbox.id
            )
            stored += sum(created for _, created in results)
            session.commit()  # the bytes are safe: only now may the server forget them
            uids = [uid for uid, _ in messages]
            if uids and mailbox.processed_folder:
                box.move(uids, mailbox.processed_folder)
            elif uids:
                box.flag(uids, MailMessageFlags.SEEN, True)
    return stored


def poll_all(session: Session) -> dict[str, int]:
    results: dict[str, int] = {}
    for mailbox in session.scalars(sa.select(Mailbox).where(Mailbox.active, Mailbox.imap_host.is_not(None))).all():
        try:
            results[mailbox.address] = poll(session, mailbox)
            mailbox.last_error = None
        except Exception as exc:  # one broken mailbox must not stop the others
            session.rollback()
            log.exception("polling %s failed", mailbox.address)
            mailbox = session.get(Mailbox, mailbox.id) or mailbox
            mailbox.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            results[mailbox.address] = -1
        mailbox.last_polled_at = utcnow()
        session.commit()
    return results
