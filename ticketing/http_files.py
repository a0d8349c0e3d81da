"""Serving stored files without ever letting them run on our origin (shared by portal and agent screens)."""

from __future__ import annotations

from flask import Response
from werkzeug.http import quote_header_value

from ticketing.models import Attachment
from ticketing.storage import AttachmentStore

# Raster images only: SVG and HTML can carry script.
INLINE_SAFE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})


def file_response(data: bytes, *, filename: str, content_type: str, inline: bool = False) -> Response:
    disposition_inline = inline and content_type in INLINE_SAFE_TYPES
    response = Response(data, mimetype=content_type if disposition_inline else "application/octet-stream")
    safe_name = "".join(c if c.isprintable() and c not in '"\\' else "_" for c in filename) or "attachment"
    response.headers["Content-Disposition"] = (
        f"{'inline' if disposition_inline else 'attachment'}; filename={quote_header_value(safe_name)}"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    # Even if a browser decided to render it, nothing in it may run or load anything.
    response.headers["Content-Security-Policy"] = "default-src 'none'; img-src 'self' data:; sandbox"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


def attachment_response(attachment: Attachment, store: AttachmentStore, *, inline: bool = False) -> Response:
    return file_response(
        store.get(attachment.storage_key),
        filename=attachment.filename,
        content_type=attachment.content_type,
        inline=inline,
    )
