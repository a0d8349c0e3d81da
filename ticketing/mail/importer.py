"""The import command's work: read a Maildir, an mbox file, a folder of .eml files or one .eml, and store
(and optionally process) every message through the same pipeline as the other connectors."""

from __future__ import annotations

import contextlib
import mailbox
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing import events
from ticketing.models import InboundMessage, InboundStatus, utcnow
from ticketing.services import mail_inbound


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def _is_mbox(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def count_messages(path: Path) -> int:
    if _is_maildir(path):
        return len(mailbox.Maildir(path, create=False))
    if _is_mbox(path):
        return len(mailbox.mbox(path, create=False))
    if path.is_dir():
        return sum(1 for _ in path.rglob("*.eml"))
    return 1 if path.is_file() else 0


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, raw bytes) for every message under path, in a stable order."""
    if _is_maildir(path):
        box = mailbox.Maildir(path, create=False)
        for key in sorted(box.keys()):
            yield f"{path}:{key}", box.get_bytes(key)
    elif _is_mbox(path):
        mbox = mailbox.mbox(path, create=False)
        for key in mbox.keys():
            yield f"{path}#{key}", mbox.get_bytes(key)
    elif path.is_dir():
        for file in sorted(path.rglob("*.eml")):
            yield str(file), file.read_bytes()
    elif path.is_file():
        yield str(path), path.read_bytes()
    else:
        raise FileNotFoundError(f"no such file or folder: {path}")


@dataclass
class ImportSummary:
    stored: int = 0
    duplicate: int = 0
    processed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)  # "where: error"

    def counts(self) -> dict[str, int]:
        return {"stored": self.stored, "duplicate": self.duplicate, "processed": self.processed, "failed": self.failed}


def import_messages(
    session: Session,
    messages: Iterable[tuple[str, bytes]],
    *,
    inline: bool,
    progress: Callable[[], None] = lambda: None,
) -> ImportSummary:
    """Store every message (committed in chunks), then queue its processing or, inline, process each chunk
    at once as a worker would: one transaction per chunk, one by one if any of it fails."""
    from ticketing import jobs  # jobs sits above the mail package

    summary = ImportSummary()
    chunk: list[tuple[str, int]] = []

    def flush() -> None:
        session.commit()  # the bytes are safe; without inline this also enqueues one job for the chunk
        if inline and chunk:
            ids = [inbound_id for _, inbound_id in chunk]
            # A failure is recorded on its message (kept, listed for admins, re-processable): read back below.
            with contextlib.suppress(Exception):
                jobs.process_inbound_batch(ids)
            errors = dict(
                session.execute(
                    sa.select(InboundMessage.id, InboundMessage.error).where(
                        InboundMessage.id.in_(ids),
                        InboundMessage.status.in_((InboundStatus.RECEIVED, InboundStatus.FAILED)),
                    )
                ).all()
            )
            session.rollback()
            for where, inbound_id in chunk:
                if inbound_id in errors:
                    summary.failed += 1
                    summary.failures.append(f"{where}: {errors[inbound_id]}")
                else:
                    summary.processed += 1
        chunk.clear()

    read: list[tuple[str, bytes]] = []

    def store() -> None:  # a chunk of read messages in one INSERT
        results = mail_inbound.store_many(session, [raw for _, raw in read], source="import", now=utcnow(),
                                          enqueue=not inline)  # fmt: skip
        for (where, _), (inbound_id, created) in zip(read, results, strict=True):
            if created:
                summary.stored += 1
                chunk.append((where, inbound_id))
            else:
                summary.duplicate += 1
        read.clear()

    for where, raw in messages:
        read.append((where, raw))
        if len(read) >= events.BATCH_MAX:
            store()
            flush()
        progress()
    store()
    flush()
    return summary
