"""The REST API (JSON, bearer tokens) at /api/v1, with its OpenAPI description at /api/v1/openapi.json.

Wiring (ticketing/app.py, create_app): `from api import init_app as init_api; init_api(app)` — or by hand:
`app.register_blueprint(api.bp); csrf.exempt(api.bp)`.
"""

from __future__ import annotations

from flask import Blueprint, Flask
from flask_limiter.util import get_remote_address

from api import auth, errors, openapi
from ticketing.extensions import csrf, limiter

bp = Blueprint("api", __name__, url_prefix="/api/v1")
errors.register(bp)
bp.before_request(auth.authenticate)
# One budget per token across every endpoint (by the token's public prefix), kept in Redis like the others.
limiter.shared_limit(auth.rate_limit, scope="api", key_func=auth.rate_limit_key)(bp)
# Only failed authentications count here (per address): the per-token budget above cannot stop token guessing, as
# every guess names a prefix of its own.
limiter.shared_limit(auth.auth_failure_limit, scope="api-auth-failures", key_func=get_remote_address,
                     deduct_when=auth.is_auth_failure)(bp)  # fmt: skip
openapi.register(bp)

from api.resources import contacts, customers, forms, interactions, me, tickets, time_entries  # noqa: E402

for _module in (me, tickets, interactions, time_entries, contacts, customers, forms):
    _module.register(bp)


def init_app(app: Flask) -> None:
    """Register the blueprint; it authenticates by bearer token only, so it is exempt from session CSRF."""
    app.register_blueprint(bp)
    csrf.exempt(bp)
