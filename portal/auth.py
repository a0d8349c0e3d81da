"""Contact sign-in, sign-out, password reset and invitations."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from portal import bp
from portal.forms import ForgotForm, LoginForm, NewPasswordForm
from portal.guards import current_contact
from ticketing.auth import end_session, start_session
from ticketing.extensions import db, limiter, mail_policy
from ticketing.models import utcnow
from ticketing.redirects import safe_next
from ticketing.services import accounts
from ticketing.services.enrichment import find_contact


def _email_key() -> str:
    return (request.form.get("email") or "").strip().lower()[:254] or "-"


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])  # per address
@limiter.limit("5 per 5 minutes", methods=["POST"], key_func=_email_key)  # per account, from any address
def login() -> ResponseReturnValue:
    form = LoginForm()
    if current_contact() is not None and request.method == "GET":
        return redirect(url_for("portal.tickets"))
    if form.validate_on_submit():
        contact = accounts.authenticate(db.session, form.email.data, form.password.data)
        if contact is not None:
            start_session(contact)  # a new session: nothing from before carries over
            return redirect(safe_next(request.args.get("next"), url_for("portal.tickets")))
        flash("That email and password don't match an account.", "danger")
        return render_template("portal/login.html", form=form), 401
    return render_template("portal/login.html", form=form), 400 if request.method == "POST" else 200


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("portal.login"))


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit("5 per 15 minutes", methods=["POST"])
def forgot() -> ResponseReturnValue:
    form = ForgotForm()
    if form.validate_on_submit():
        contact = find_contact(db.session, form.email.data)
        if contact is not None and contact.portal_enabled:
            token = accounts.make_token(contact, "reset", current_app.config["SECRET_KEY"])
            link = url_for("portal.reset", token=token, _external=True)
            accounts.queue_link_email(db.session, contact, purpose="password_reset", link=link, policy=mail_policy(),
                                      now=utcnow())  # fmt: skip
            db.session.commit()
        # The same answer whether or not the address has an account.
        flash("If that address has an account, a reset link is on its way.", "info")
        return redirect(url_for("portal.login"))
    return render_template("portal/forgot.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"], endpoint="reset", defaults={"purpose": "reset"})
@bp.route("/invite/<token>", methods=["GET", "POST"], endpoint="invite", defaults={"purpose": "invite"})
@limiter.limit("20 per hour", methods=["POST"])
def choose_password(token: str, purpose: str) -> ResponseReturnValue:
    contact = accounts.contact_for_token(db.session, token, purpose, current_app.config["SECRET_KEY"])
    if contact is None:
        flash("This link has expired or was already used. Ask for a new one.", "danger")
        return redirect(url_for("portal.forgot"))
    form = NewPasswordForm()
    if form.validate_on_submit():
        accounts.set_password(contact, form.password.data)
        db.session.commit()
        start_session(contact)
        flash("Your password is set.", "success")
        return redirect(url_for("portal.tickets"))
    return render_template("portal/choose_password.html", form=form, purpose=purpose)
