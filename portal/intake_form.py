"""Building a WTForms form from an intake form's field definitions, and reading its answers back."""

from __future__ import annotations

from typing import Any

from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    EmailField,
    Field,
    HiddenField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional

from ticketing.domain.form_fields import FieldSpec


def _field(spec: FieldSpec) -> Field:
    required = [DataRequired()] if spec.required else [Optional()]
    length = [Length(max=spec.max_length)] if spec.max_length else []
    kwargs: dict[str, Any] = {"label": spec.label, "description": spec.help}
    match spec.type:
        case "text":
            return StringField(validators=[*required, *length], **kwargs)
        case "long_text":
            return TextAreaField(validators=[*required, *length], **kwargs)
        case "email":
            return EmailField(validators=[*required, Email(), *length], **kwargs)
        case "select":
            choices = [("", "Choose…"), *((o, o) for o in spec.options)]
            return SelectField(choices=choices, validators=[InputRequired()] if spec.required else [Optional()],
                               **kwargs)  # fmt: skip
        case "multi_select":
            return SelectMultipleField(choices=[(o, o) for o in spec.options], validators=required, **kwargs)
        case "checkbox":
            return BooleanField(validators=[InputRequired()] if spec.required else [Optional()], **kwargs)
        case "number":
            return DecimalField(validators=required, **kwargs)
        case "date":
            return DateField(validators=required, **kwargs)
        case _:  # file
            return FileField(validators=required, **kwargs)


def build_form_class(specs: list[FieldSpec], *, anonymous: bool, embedded: bool) -> type[FlaskForm]:
    attrs: dict[str, Any] = {
        "subject": StringField(
            "Summary", validators=[DataRequired(), Length(max=200)], description="One line that sums up your request."
        ),  # fmt: skip
        # A field people never see; bots fill every field they find.
        "website": StringField("Leave this empty", validators=[Optional(), Length(max=200)]),
    }
    if anonymous:
        attrs["name"] = StringField("Your name", validators=[Optional(), Length(max=200)])
        attrs["email"] = EmailField("Your email", validators=[DataRequired(), Email(), Length(max=254)])
    if embedded:
        # Third-party frames often get no cookies, so no session CSRF token: a signed, expiring token instead.
        attrs["embed_token"] = HiddenField()
        attrs["Meta"] = type("Meta", (), {"csrf": False})
    for spec in specs:
        attrs[spec.name] = _field(spec)
    return type("IntakeForm", (FlaskForm,), attrs)


def answers(form: FlaskForm, specs: list[FieldSpec]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for spec in specs:
        if spec.type == "file":
            continue
        data = form[spec.name].data
        values[spec.name] = (
            data.isoformat()
            if hasattr(data, "isoformat")
            else (str(data) if spec.type == "number" and data is not None else data)
        )
    return values
