"""Staff sign-in and sign-out for the agent screens."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from ticketing.auth import end_session, start_session
from ticketing.extensions import db, limiter
from ticketing.models import User
from ticketing.redirects import safe_next

bp = Blueprint("agent_auth", __name__, url_prefix="/agent")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def _email_key() -> str:
    return "agent:" + ((request.form.get("email") or "").strip().lower()[:254] or "-")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])  # per address
@limiter.limit("5 per 5 minutes", methods=["POST"], key_func=_email_key)  # per account, from any address
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(sa.select(User).where(User.email == form.email.data.strip().lower()))
        if user is not None and user.active and user.check_password(form.password.data):
            start_session(user)  # a fresh session at sign-in: no fixation
            return redirect(safe_next(request.args.get("next"), url_for("admin.index")))
        flash("Wrong email or password.", "danger")
    return render_template("agent/login.html", form=form), 200 if request.method == "GET" else 401


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    end_session()
    return redirect(url_for("agent_auth.login"))
