"""The brand on every portal page, the public logo, and the headers that keep pages out of foreign frames."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, abort, current_app, has_app_context, request
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from portal import bp
from portal.guards import current_contact
from ticketing.extensions import attachment_store, db
from ticketing.http_files import file_response
from ticketing.services import branding

_CACHE = "ticketing_brand"


def cached_brand() -> branding.Brand:
    """The brand, kept per process like the mail policy (MAIL_POLICY_TTL_SECONDS): every page of the portal and
    of the agent screens shows it, and it changes a few times a year. A commit that changes it in this process
    drops the copy at once; one made in another process shows within the time limit."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    kept = app.extensions.get(_CACHE)
    if kept is not None and time.monotonic() - kept[0] < app.config["MAIL_POLICY_TTL_SECONDS"]:
        return kept[1]  # type: ignore[no-any-return]
    brand = branding.snapshot(db.session)
    app.extensions[_CACHE] = (time.monotonic(), brand)
    return brand


def _forget_brand() -> None:
    if has_app_context():
        current_app.extensions.pop(_CACHE, None)


branding.on_brand_changed.append(_forget_brand)


@bp.app_context_processor
def inject_brand() -> dict[str, Any]:
    try:
        brand: Any = cached_brand()
    except SQLAlchemyError:  # the error page for a database outage must still render
        db.session.rollback()
        brand = branding.default()
    return {
        "brand": brand,
        "brand_text_colour": branding.text_colour_on(brand.primary_color),
        "portal_contact": current_contact(),
        "live_poll_ms": current_app.config["LIVE_POLL_MS"],
    }


@bp.get("/brand/logo")
def logo() -> ResponseReturnValue:
    brand = cached_brand()
    if not brand.logo_key or brand.logo_content_type not in branding.LOGO_TYPES:
        abort(404)
    return file_response(attachment_store().get(brand.logo_key), filename="logo", content_type=brand.logo_content_type,
                         inline=True)  # fmt: skip


@bp.after_app_request
def security_headers(response: Response) -> Response:
    # Embeddable form pages set their own frame-ancestors (per form); everything else stays in our own frames.
    if "Content-Security-Policy" not in response.headers:
        response.headers["Content-Security-Policy"] = "frame-ancestors 'self'; object-src 'none'; base-uri 'self'"
        response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if request.headers.get("HX-Request") is not None or request.path.endswith("/live"):
        response.headers.add("Vary", "HX-Request")
    return response
