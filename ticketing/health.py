"""/healthz: is the database reachable, is Redis reachable."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Flask, jsonify
from flask.typing import ResponseReturnValue

from ticketing.extensions import db, redis_conn


def healthz() -> ResponseReturnValue:
    state: dict[str, str] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        state["database"] = "ok"
    except Exception as exc:  # the answer is the report; never a stack trace
        state["database"] = f"error: {type(exc).__name__}"
        db.session.rollback()
    try:
        redis_conn().ping()
        state["redis"] = "ok"
    except Exception as exc:
        state["redis"] = f"error: {type(exc).__name__}"
    healthy = all(v == "ok" for v in state.values())
    return jsonify(status="ok" if healthy else "degraded", **state), 200 if healthy else 503


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "healthz", healthz)
