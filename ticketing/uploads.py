"""Uploaded files from a request, as the services take them."""

from __future__ import annotations

import os

from werkzeug.datastructures import FileStorage

from ticketing.services.attachments import IncomingFile

READ_LIMIT = 50 * 1024 * 1024  # MAX_CONTENT_LENGTH caps the request; this caps one read


def incoming(storage: FileStorage) -> IncomingFile | None:
    if not storage or not storage.filename:
        return None
    name = os.path.basename(storage.filename.replace("\\", "/")).strip()[:200] or "attachment"
    data = storage.read(READ_LIMIT + 1)
    return IncomingFile(filename=name, content_type=(storage.mimetype or "application/octet-stream")[:100], data=data)


def incoming_list(storages: list[FileStorage]) -> list[IncomingFile]:
    return [f for f in (incoming(s) for s in storages) if f is not None]
