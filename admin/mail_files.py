"""Agent views of what arrived by email: attachments, the original message, its full sanitised HTML."""

from __future__ import annotations

import base64
import re

from flask import Blueprint, abort, redirect, url_for
from flask.typing import ResponseReturnValue
from flask_admin import expose

from admin.base import StaffView, me, staff_role
from ticketing.domain.mail_parse import parse_email
from ticketing.domain.vocab import StaffRole
from ticketing.extensions import attachment_store, db
from ticketing.http_files import INLINE_SAFE_TYPES, attachment_response, file_response
from ticketing.models import Attachment, InboundMessage, Interaction
from ticketing.services.html import sanitise_html, text_to_html
from ticketing.services.staff_access import can_open

bp = Blueprint("agent_files", __name__, url_prefix="/agent")
_CID = re.compile(r'src="cid:([^"]+)"')


@bp.before_request
def staff_only() -> None:
    if staff_role() is None:
        abort(404)  # the same answer as a missing file: no hint that it exists


def _require_ticket_access(*ticket_ids: int | None) -> None:
    """Files and emails are as visible as their ticket (an agent's teams, like the workspace); one that belongs to
    no ticket only to admins, like the inbound list. Otherwise 404, as for a missing one."""
    known = [t for t in ticket_ids if t is not None]
    if not known:
        if staff_role() != StaffRole.ADMIN:
            abort(404)
    elif not any(can_open(db.session, me(), t) for t in known):
        abort(404)


def _message_and_entry(inbound_id: int) -> tuple[InboundMessage, Interaction | None]:
    message = db.get_or_404(InboundMessage, inbound_id)
    entry = db.session.query(Interaction).filter_by(inbound_message_id=inbound_id).one_or_none()
    # The entry's ticket is where the message lives now (a merge moves it); the message remembers the first one.
    _require_ticket_access(entry.ticket_id if entry else None, message.ticket_id)
    return message, entry


@bp.get("/attachments/<int:attachment_id>")
@bp.get("/attachments/<int:attachment_id>/inline", endpoint="attachment_inline", defaults={"inline": True})
def attachment(attachment_id: int, inline: bool = False) -> ResponseReturnValue:
    found = db.get_or_404(Attachment, attachment_id)
    _require_ticket_access(found.ticket_id)
    return attachment_response(found, attachment_store(), inline=inline)


@bp.get("/email/<int:inbound_id>.eml")
def original(inbound_id: int) -> ResponseReturnValue:
    message, _ = _message_and_entry(inbound_id)
    return file_response(message.raw, filename=f"message-{inbound_id}.eml", content_type="message/rfc822")


ORIGINAL_HTML_MAX_TAGS = 3_000


class EmailOriginalView(StaffView):
    """The whole message as received (quoted history included), sanitised, in a sandboxed frame."""

    def is_visible(self) -> bool:
        return False  # reached from the inbound list and the timeline, not the menu

    @expose("/")
    def index(self) -> ResponseReturnValue:
        return redirect(url_for("inbound_email.index_view"))

    @expose("/<int:inbound_id>")
    def view(self, inbound_id: int) -> ResponseReturnValue:
        message, entry = _message_and_entry(inbound_id)
        parsed = parse_email(message.raw)
        # cid: images become data: URIs, so the sandboxed frame needs no request to our origin at all.
        images = {a.content_id: a for a in parsed.attachments if a.content_id and a.content_type in INLINE_SAFE_TYPES}

        def inline_image(match: re.Match[str]) -> str:
            image = images.get(match.group(1))
            if image is None:
                return 'src=""'
            return f'src="data:{image.content_type};base64,{base64.b64encode(image.data).decode()}"'

        # The sanitiser's HTML parser slows with the square of some tag soups (8,000 unclosed tags: 39 s), so a
        # message with more tags than a support email needs is shown as its text (3,000 such tags: under a second).
        as_html = bool(parsed.html) and parsed.html.count("<") <= ORIGINAL_HTML_MAX_TAGS
        body = _CID.sub(inline_image, sanitise_html(parsed.html)) if as_html else text_to_html(parsed.text)
        return self.render(
            "agent/email_original.html", message=message, parsed=parsed, body=body, entry=entry,
            html_withheld=bool(parsed.html) and not as_html,
        )  # fmt: skip
