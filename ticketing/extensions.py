"""Unbound extensions; ticketing.app binds them to an app."""

from __future__ import annotations

from flask import current_app
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from redis import Redis
from rq import Queue

from ticketing.models.base import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()


def redis_conn() -> Redis:
    """One client per app (it pools its own connections)."""
    conn = current_app.extensions.get("ticketing_redis")
    if conn is None:
        conn = Redis.from_url(current_app.config["REDIS_URL"])
        current_app.extensions["ticketing_redis"] = conn
    return conn


def queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=redis_conn())
