"""Portal pages."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from portal import bp


@bp.get("/")
def home() -> ResponseReturnValue:
    return render_template("portal/home.html")
