"""The customer portal blueprint (served at /)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portal", __name__)

from portal import views  # noqa: E402,F401  (routes register on bp)
