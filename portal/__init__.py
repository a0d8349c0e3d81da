"""The customer portal blueprint (served at /): sign-in, tickets with a live timeline, intake forms."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal", __name__)

from portal import auth, brand, intake, tickets, views  # noqa: E402,F401  (routes register on bp)
