"""Staff sign-in and sign-out for the agent screens."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from ticketing.extensions import db
from ticketing.models import User
from ticketing.redirects import safe_next

bp = Blueprint("agent_auth", __name__, url_prefix="/agent")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    form = LoginForm()
    if form.validate_on_submit():
        user = db.session.scalar(sa.select(User).where(User.email == form.email.data.strip().lower()))
        if user is not None and user.active and user.check_password(form.password.data):
            session.clear()  # a fresh session at sign-in: no fixation
            login_user(user)
            return redirect(safe_next(request.args.get("next"), url_for("admin.index")))
        flash("Wrong email or password.", "danger")
    return render_template("agent/login.html", form=form), 200 if request.method == "GET" else 401


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    logout_user()
    session.clear()
    return redirect(url_for("agent_auth.login"))
