"""Composition root: config -> extensions -> blueprints -> admin -> CLI -> error pages."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, send_from_directory
from flask.typing import ResponseReturnValue
from werkzeug.middleware.proxy_fix import ProxyFix

from ticketing import read_only_commit
from ticketing.config import PROJECT_ROOT, Config
from ticketing.extensions import csrf, db, limiter, login_manager, migrate


def create_app(config: Config | Mapping[str, Any] | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "var"),
    )
    base = config if isinstance(config, Config) else Config()
    app.config.update(base.as_dict())
    if isinstance(config, Mapping):
        app.config.update(config)
    _prepare_sqlite_dir(app.config["SQLALCHEMY_DATABASE_URI"])
    if proxies := int(app.config.get("TRUSTED_PROXY_COUNT") or 0):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    app.config["RATELIMIT_STORAGE_URI"] = app.config.get("RATELIMIT_STORAGE_URI") or app.config["REDIS_URL"]
    db.init_app(app)
    read_only_commit.init_app(app, db)
    limiter.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    login_manager.init_app(app)
    csrf.init_app(app)

    from ticketing import auth, health, notifications
    from ticketing.mail import intake

    auth.init_app(app)
    health.init_app(app)
    notifications.init_app()
    import ticketing.services.webhooks  # noqa: F401 - registers the webhook outbox (a before-commit hook)

    app.register_blueprint(intake.bp)
    csrf.exempt(intake.bp)  # authenticated by an HMAC of the body, not a browser session

    from portal import bp as portal_bp

    app.register_blueprint(portal_bp)

    from api import init_app as init_api

    init_api(app)  # its own blueprint at /api/v1, bearer tokens, CSRF-exempt

    from admin import init_admin

    init_admin(app)

    from ticketing import cli, errors

    cli.init_app(app)
    errors.init_app(app)
    # Browsers ask for /favicon.ico on every page (the agent screens have no icon link): the brand mark, not a 404.
    app.add_url_rule("/favicon.ico", "favicon", _favicon)
    return app


def _favicon() -> ResponseReturnValue:
    return send_from_directory(PROJECT_ROOT / "static", "favicon.svg", mimetype="image/svg+xml", max_age=86400)


def _prepare_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
