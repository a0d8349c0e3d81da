"""Agent views of what arrived by email: attachments, the original message, its full sanitised HTML."""

from __future__ import annotations

import base64
import re

from flask import Blueprint, abort, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose

from admin.base import StaffView, staff_role
from ticketing.domain.mail_parse import parse_email
from ticketing.extensions import attachment_store, db
from ticketing.http_files import INLINE_SAFE_TYPES, attachment_response, file_response
from ticketing.models import Attachment, InboundMessage, Interaction
from ticketing.services.html import sanitise_html, text_to_html

bp = Blueprint("agent_files", __name__, url_prefix="/agent")
_CID = re.compile(r'src="cid:([^"]+)"')


@bp.before_request
def staff_only() -> None:
    if staff_role() is None:
        abort(404)  # the same answer as a missing file: no hint that it exists


@bp.get("/attachments/<int:attachment_id>")
@bp.get("/attachments/<int:attachment_id>/inline", endpoint="attachment_inline", defaults={"inline": True})
def attachment(attachment_id: int, inline: bool = False) -> ResponseReturnValue:
    found = db.get_or_404(Attachment, attachment_id)
    return attachment_response(found, attachment_store(), inline=inline)


@bp.get("/email/<int:inbound_id>.eml")
def original(inbound_id: int) -> ResponseReturnValue:
    message = db.get_or_404(InboundMessage, inbound_id)
    return file_response(message.raw, filename=f"message-{inbound_id}.eml", content_type="message/rfc822")


class EmailOriginalView(StaffView):
    """The whole message as received (quoted history included), sanitised, in a sandboxed frame."""

    def is_visible(self) -> bool:
        return False  # reached from the inbound list and the timeline, not the menu

    @expose("/")
    def index(self) -> ResponseReturnValue:
        return redirect(url_for("inbound_email.index_view"))

    @expose("/<int:inbound_id>")
    def view(self, inbound_id: int) -> ResponseReturnValue:
        message = db.get_or_404(InboundMessage, inbound_id)
        parsed = parse_email(message.raw)
        entry = db.session.query(Interaction).filter_by(inbound_message_id=inbound_id).one_or_none()
        # cid: images become data: URIs, so the sandboxed frame needs no request to our origin at all.
        images = {a.content_id: a for a in parsed.attachments if a.content_id and a.content_type in INLINE_SAFE_TYPES}

        def inline_image(match: re.Match[str]) -> str:
            image = images.get(match.group(1))
            if image is None:
                return 'src=""'
            return f'src="data:{image.content_type};base64,{base64.b64encode(image.data).decode()}"'

        body = _CID.sub(inline_image, sanitise_html(parsed.html)) if parsed.html else text_to_html(parsed.text)
        return self.render("agent/email_original.html", message=message, parsed=parsed, body=body, entry=entry)
