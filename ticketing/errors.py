"""Error pages: a clear page, never a stack trace."""

from __future__ import annotations

import logging

from flask import Flask, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> ResponseReturnValue:
        return render_template(
            "errors/error.html", code=exc.code, title=exc.name, message=exc.description
        ), exc.code or 500

    @app.errorhandler(OperationalError)
    def database_down(exc: OperationalError) -> ResponseReturnValue:
        log.error("database unavailable: %s", exc.orig)
        return render_template(
            "errors/error.html",
            code=503,
            title="Temporarily unavailable",
            message="We can't reach our database right now. Please try again in a moment.",
        ), 503
