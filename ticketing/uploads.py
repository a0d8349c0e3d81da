"""Uploaded files from a request, as the services take them."""

from __future__ import annotations

import os

from werkzeug.datastructures import FileStorage

from ticketing.services.attachments import IncomingFile

READ_LIMIT = 50 * 1024 * 1024  # MAX_CONTENT_LENGTH caps the request; this caps one read


def display_name(raw: str) -> str:
    """The name a file is shown and offered for download under (the bytes are stored under a generated key): the
    base name only, without NUL or other control or invisible formatting characters (PostgreSQL refuses NUL; a
    right-to-left override makes 'txt.exe' read as 'exe.txt'); a name of only dots becomes 'attachment'."""
    name = os.path.basename(raw.replace("\\", "/"))
    name = "".join(c for c in name if c.isprintable()).strip()[:200]
    return name if name.strip(". ") else "attachment"


def incoming(storage: FileStorage) -> IncomingFile | None:
    if not storage or not storage.filename:
        return None
    name = display_name(storage.filename)
    data = storage.read(READ_LIMIT + 1)
    return IncomingFile(filename=name, content_type=(storage.mimetype or "application/octet-stream")[:100], data=data)


def incoming_list(storages: list[FileStorage]) -> list[IncomingFile]:
    return [f for f in (incoming(s) for s in storages) if f is not None]
