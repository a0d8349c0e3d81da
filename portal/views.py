"""The portal's front page."""

from __future__ import annotations

from flask import redirect, render_template, url_for
from flask.typing import ResponseReturnValue

from portal import bp
from portal.guards import current_contact


@bp.get("/")
def home() -> ResponseReturnValue:
    if current_contact() is not None:
        return redirect(url_for("portal.tickets"))
    return render_template("portal/home.html")
