"""WTForms for the portal (the intake forms are built at run time in portal/intake_form.py)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import MultipleFileField
from wtforms import EmailField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=200)])


class ForgotForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(min=10, max=200)])
    confirm = PasswordField("Repeat it", validators=[DataRequired(), EqualTo("password", "The two passwords differ.")])


class ReplyForm(FlaskForm):
    body = TextAreaField("Your reply", validators=[Length(max=20000)])
    files = MultipleFileField("Attach files")


class StatusForm(FlaskForm):
    status = SelectField("Status", choices=[("closed", "closed"), ("open", "open")])


class SearchForm(FlaskForm):
    class Meta:
        csrf = False  # a GET filter

    q = StringField("Search", validators=[Length(max=100)])
    status = SelectField("Status", choices=[("", "All statuses"), ("open", "Not resolved yet"),
                                            ("resolved", "Resolved"), ("closed", "Closed")])  # fmt: skip
