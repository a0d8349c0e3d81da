"""Error pages: a clear page, never a stack trace."""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from ticketing.extensions import db

log = logging.getLogger(__name__)


# The agent side's own words where the stock ones mislead: a ticket of another team answers 404 like a missing one
# (its existence is not confirmed), and an agent should know why.
AGENT_MESSAGES = {
    403: "This page is not open to your role. Managers and admins see it.",
    404: "There is nothing here: the page does not exist, or the ticket belongs to a team you are not in.",
}
AGENT_PREFIXES = ("/admin", "/agent")


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        code, page = exc.code or 500, {"title": exc.name, "message": exc.description}
        if request.path.startswith(AGENT_PREFIXES):
            if exc.description == type(exc).description:  # not a message of our own (abort(400, "..."))
                page["message"] = AGENT_MESSAGES.get(code, exc.description)
            page["layout"] = "agent/_page.html"
            if getattr(current_user, "is_staff", False):
                page["back"] = {"url": url_for("admin.index"), "label": "Back to your queues"}
        return render_template("errors/error.html", code=code, **page), code

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError) -> ResponseReturnValue:
        log.error("database unavailable: %s", exc.orig)
        with contextlib.suppress(Exception):
            db.session.rollback()  # the connection is dead; the pool's pre-ping replaces it later
        # A static page: the site template's context (the logged-in user, branding) would query the database
        # again, fail inside this handler and end in a bare 500.
        return DATABASE_DOWN_PAGE, 503, {"Content-Type": "text/html; charset=utf-8", "Retry-After": "10"}


DATABASE_DOWN_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Temporarily unavailable</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;color:#222}</style>
</head><body><main><h1>Temporarily unavailable</h1>
<p>We can't reach our database right now. Please try again in a moment.</p>
<p style="color:#666">Error 503</p></main></body></html>
"""
