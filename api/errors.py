"""Every API failure is one JSON shape: {"error": {"code", "message", "fields"?}}; never an HTML page."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.exc import IntegrityError, OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import RequestRedirect

from ticketing.extensions import db

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
    500: "server_error",
    503: "unavailable",
}


class ApiError(Exception):
    def __init__(
        self, status: int, message: str, *, code: str | None = None, fields: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or CODES.get(status, "error")
        self.message = message
        self.fields = fields


def not_found() -> ApiError:
    """Missing and not-yours answer alike."""
    return ApiError(404, "No such resource.")


def invalid(fields: dict[str, str], message: str = "Some fields are not valid.") -> ApiError:
    return ApiError(422, message, fields=fields)


def error_response(status: int, code: str, message: str, fields: dict[str, str] | None = None) -> Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify({"error": body})
    response.status_code = status
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


def _http(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = exc.description or exc.name
    if status == 429:
        message = f"Too many requests: the limit is {exc.description}."
    response = error_response(status, CODES.get(status, "error"), message)
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def register(bp: Blueprint) -> None:
    @bp.errorhandler(ApiError)
    def api_error(exc: ApiError) -> Response:
        db.session.rollback()
        return error_response(exc.status, exc.code, exc.message, exc.fields)

    @bp.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response:
        db.session.rollback()
        return _http(exc)

    @bp.errorhandler(IntegrityError)
    def conflict(exc: IntegrityError) -> Response:
        db.session.rollback()  # a uniqueness race another request won between our check and our commit
        log.info("integrity error: %s", exc.orig)
        return error_response(409, "conflict", "This conflicts with an existing record.")

    @bp.errorhandler(OperationalError)
    def database_down(exc: OperationalError) -> Response:
        db.session.rollback()
        log.error("database unavailable: %s", exc.orig)
        return error_response(503, "unavailable", "The database is unavailable; try again shortly.")

    # Paths under the prefix that match no route (or not with this method) answer JSON too.
    methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]

    @bp.route("/", defaults={"rest": ""}, methods=methods)
    @bp.route("/<path:rest>", methods=methods)
    def unmatched(rest: str) -> Response:
        adapter = current_app.url_map.bind("")
        allowed = set()
        for method in methods:
            try:
                endpoint, _ = adapter.match(request.path, method=method)
            except (NotFound, MethodNotAllowed, RequestRedirect):
                continue
            if endpoint != "api.unmatched":
                allowed.add(method)
        if allowed:
            exc = MethodNotAllowed(valid_methods=sorted(allowed))
            return _http(exc)
        return _http(NotFound("No such resource."))
