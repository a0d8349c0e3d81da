"""POST /inbound/email: raw MIME from an inbound mail service, authenticated by an HMAC of the body.

    X-Bluehill-Signature: sha256=<hex HMAC-SHA256 of the raw body with INBOUND_SECRET>

Answers 202 only after the raw message is committed (a retrying sender can never lose mail), 200 for a
message already stored, 401 for a bad signature, 413 for an oversized message, 503 while intake is not set up.
"""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from ticketing.extensions import db
from ticketing.models import Mailbox, utcnow
from ticketing.services import mail_inbound

bp = Blueprint("inbound", __name__)


def _error(status: int, message: str) -> ResponseReturnValue:
    return jsonify(error=message), status


def valid_signature(secret: str, body: bytes, header: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header.strip())


@bp.post("/inbound/email")
def receive() -> ResponseReturnValue:
    secret = current_app.config["INBOUND_SECRET"]
    if not secret:
        return _error(503, "inbound email intake is not configured (INBOUND_SECRET)")
    limit = current_app.config["INBOUND_MAX_BYTES"]
    if request.content_length is not None and request.content_length > limit:
        return _error(413, f"message larger than {limit} bytes")
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        return _error(413, f"message larger than {limit} bytes")
    if not valid_signature(secret, body, request.headers.get("X-Bluehill-Signature", "")):
        return _error(401, "bad or missing signature (X-Bluehill-Signature header)")
    if not body.strip():
        return _error(400, "empty message")
    mailbox_id = None
    if address := request.args.get("mailbox"):
        mailbox_id = db.session.scalar(sa.select(Mailbox.id).where(Mailbox.address == address.lower()))
    row, created = mail_inbound.store_raw(db.session, body, source="http", now=utcnow(), mailbox_id=mailbox_id)
    db.session.commit()
    return jsonify(id=row.id, duplicate=not created), 202 if created else 200
