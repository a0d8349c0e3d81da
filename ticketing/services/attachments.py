"""Storing attachments with size, count and type limits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from ticketing.models import Attachment, Interaction, Ticket
from ticketing.storage import AttachmentStore

# Executable and script types: never stored, whatever the sender claims they are.
BLOCKED_EXTENSIONS = frozenset(
    {
        "exe", "com", "bat", "cmd", "scr", "pif", "msi", "msp", "js", "jse", "vbs", "vbe", "wsf", "wsh", "ps1",
        "jar", "hta", "cpl", "lnk", "reg", "dll", "app", "apk", "iso",
    }
)  # fmt: skip


@dataclass(frozen=True)
class AttachmentLimits:
    max_bytes: int = 10 * 1024 * 1024
    max_count: int = 20
    blocked_extensions: frozenset[str] = field(default=BLOCKED_EXTENSIONS)


@dataclass(frozen=True)
class IncomingFile:
    filename: str
    content_type: str
    data: bytes
    content_id: str | None = None
    inline: bool = False


def rejection_reason(file: IncomingFile, limits: AttachmentLimits, index: int) -> str | None:
    extension = file.filename.rsplit(".", 1)[-1].lower() if "." in file.filename else ""
    if index >= limits.max_count:
        return f"more than {limits.max_count} attachments"
    if len(file.data) > limits.max_bytes:
        return f"larger than {limits.max_bytes // (1024 * 1024)} MB"
    if extension in limits.blocked_extensions:
        return f".{extension} files are not accepted"
    return None


def store_attachments(
    session: Session,
    ticket: Ticket,
    interaction: Interaction | None,
    files: list[IncomingFile],
    *,
    store: AttachmentStore,
    limits: AttachmentLimits,
    now: datetime,
) -> tuple[list[Attachment], list[str]]:
    """Returns what was stored and, for each file refused, 'name: reason' (the caller tells the agent)."""
    stored: list[Attachment] = []
    refused: list[str] = []
    for index, file in enumerate(files):
        reason = rejection_reason(file, limits, index)
        if reason:
            refused.append(f"{file.filename}: {reason}")
            continue
        attachment = Attachment(
            ticket=ticket,
            interaction=interaction,
            filename=file.filename[:255],
            content_type=file.content_type[:255],
            size=len(file.data),
            sha256=hashlib.sha256(file.data).hexdigest(),
            storage_key=store.put(file.data),
            content_id=file.content_id,
            inline=file.inline,
            created_at=now,
        )
        session.add(attachment)
        stored.append(attachment)
    return stored, refused
