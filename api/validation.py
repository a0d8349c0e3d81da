"""Small explicit validators whose definitions also render as JSON Schema (the OpenAPI document uses the same
objects, so what is documented is what is enforced)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from flask import request

from api.errors import ApiError, invalid

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
INT_MAX = 2**31 - 1
NOT_BLANK = r"\S"


def is_text(value: str) -> bool:
    """Storable on both backends: PostgreSQL refuses NUL, and lone surrogates cannot be encoded."""
    if "\x00" in value:
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def is_email(value: str) -> bool:
    return _EMAIL.fullmatch(value) is not None


def is_date(value: str) -> bool:
    """An RFC 3339 full-date (Python alone would also take 20260301 or 2026-W09-1)."""
    if not _DATE.fullmatch(value):
        return False
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class F:
    """One field: its JSON type and constraints. `type` is string, integer, boolean, array or object."""

    type: str
    required: bool = False
    nullable: bool = False
    enum: tuple[str, ...] | None = None
    min_length: int | None = None
    max_length: int | None = None
    minimum: int | None = None
    maximum: int | None = None
    format: str | None = None  # email, date, date-time (date and email are checked)
    pattern: str | None = None  # e.g. r"\S": not blank
    items: F | None = None
    max_items: int | None = None
    description: str = ""
    ref: str | None = None  # response schemas: a component by name
    free_form: bool = False  # an object with any keys (answers, meta)

    def but(self, **changes: Any) -> F:
        return replace(self, **changes)

    def schema(self) -> dict[str, Any]:
        if self.ref:
            out: dict[str, Any] = {"$ref": f"#/components/schemas/{self.ref}"}
            return {"anyOf": [out, {"type": "null"}]} if self.nullable else out
        out = {"type": [self.type, "null"] if self.nullable else self.type}
        for key, value in (
            ("minLength", self.min_length),
            ("maxLength", self.max_length),
            ("minimum", self.minimum),
            ("maximum", self.maximum),
            ("format", self.format),
            ("pattern", self.pattern),
            ("maxItems", self.max_items),
            ("description", self.description or None),
        ):
            if value is not None:
                out[key] = value
        if self.enum is not None:
            out["enum"] = [*self.enum, None] if self.nullable else list(self.enum)
        if self.items is not None:
            out["items"] = self.items.schema()
        if self.type == "object" and not self.free_form:
            out["additionalProperties"] = False
        return out

    def check(self, value: Any) -> str | None:
        """None when valid, else the message shown under the field's name."""
        if value is None:
            return None if self.nullable else "must not be null"
        kind = {"string": str, "integer": int, "boolean": bool, "array": list, "object": dict}[self.type]
        if not isinstance(value, kind) or (self.type == "integer" and isinstance(value, bool)):
            return f"must be {'an' if self.type[0] in 'aeiou' else 'a'} {self.type}"
        if self.enum is not None and value not in self.enum:
            return "must be one of " + ", ".join(self.enum)
        if isinstance(value, str):
            if self.min_length is not None and len(value) < self.min_length:
                return (
                    f"must be at least {self.min_length} character(s)" if self.min_length > 1 else "must not be empty"
                )
            if self.max_length is not None and len(value) > self.max_length:
                return f"must be at most {self.max_length} characters"
            if not is_text(value):
                return "must be text without NUL characters or lone surrogates"
            if self.pattern is not None and not re.search(self.pattern, value):
                return "must not be blank" if self.pattern == NOT_BLANK else f"must match {self.pattern}"
            if self.format == "email" and not is_email(value):
                return "must be an email address"
            if self.format == "date" and not is_date(value):
                return "must be a date (YYYY-MM-DD)"
        if isinstance(value, int) and not isinstance(value, bool):
            if self.minimum is not None and value < self.minimum:
                return f"must be at least {self.minimum}"
            if self.maximum is not None and value > self.maximum:
                return f"must be at most {self.maximum}"
        if isinstance(value, list):
            if self.max_items is not None and len(value) > self.max_items:
                return f"must have at most {self.max_items} items"
            for position, item in enumerate(value):
                problem = self.items.check(item) if self.items else None
                if problem:
                    return f"item {position}: {problem}"
        return None


def ident(description: str = "", *, required: bool = False, nullable: bool = False) -> F:
    return F("integer", required=required, nullable=nullable, minimum=1, maximum=INT_MAX, description=description)


@dataclass(frozen=True)
class Body:
    """A request body: a JSON object with exactly these fields (unknown ones are refused with 422)."""

    name: str
    fields: Mapping[str, F]
    description: str = ""

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": "object",
            "properties": {name: f.schema() for name, f in self.fields.items()},
            "additionalProperties": False,
        }
        required = [name for name, f in self.fields.items() if f.required]
        if required:
            out["required"] = required
        if self.description:
            out["description"] = self.description
        return out

    def validate(self, data: Any, *, forbidden: frozenset[str] = frozenset(), why: str = "") -> dict[str, Any]:
        if not isinstance(data, dict):
            raise invalid({"body": "must be a JSON object"}, "The request body must be a JSON object.")
        problems: dict[str, str] = {}
        for name in data:
            if name not in self.fields:
                problems[name] = "unknown field"
            elif name in forbidden:
                problems[name] = why or "not allowed"
        for name, spec in self.fields.items():
            if name in data and name not in problems:
                problem = spec.check(data[name])
                if problem:
                    problems[name] = problem
            elif spec.required and name not in data:
                problems[name] = "is required"
        if problems:
            unknown = sorted(n for n, p in problems.items() if p == "unknown field")
            refused = sorted(n for n in problems if n in forbidden)
            message = (
                f"Unknown field(s): {', '.join(unknown)}." if unknown
                else f"Not allowed ({why or 'here'}): {', '.join(refused)}." if refused
                else "Some fields are not valid."
            )  # fmt: skip
            raise invalid(problems, message)
        return dict(data)


def json_body() -> Any:
    """The parsed JSON body; 400 when it is not JSON at all."""
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, "This request needs a JSON body.", code="invalid_json")
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ApiError(400, f"The body is not valid JSON: {exc}", code="invalid_json") from exc


@dataclass(frozen=True)
class Query:
    """The query parameters one list accepts; anything else is a 400 naming it."""

    params: Mapping[str, F] = field(default_factory=dict)

    def parse(self) -> dict[str, Any]:
        unknown = sorted(set(request.args) - set(self.params))
        if unknown:
            raise ApiError(400, f"Unknown query parameter(s): {', '.join(unknown)}.", code="unknown_parameter",
                           fields={name: "unknown parameter" for name in unknown})  # fmt: skip
        values: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name, spec in self.params.items():
            raw = request.args.getlist(name)
            if not raw:
                continue
            if len(raw) > 1:
                problems[name] = "give it once"
                continue
            value: Any = raw[0]
            if spec.type == "integer":
                value = int(value) if re.fullmatch(r"-?\d{1,12}", value) else value
            elif spec.type == "boolean":
                value = {"true": True, "false": False}.get(value, value)
            problem = spec.check(value)
            if problem:
                problems[name] = problem
            else:
                values[name] = value
        if problems:
            raise ApiError(400, "Some query parameters are not valid.", code="invalid_parameter", fields=problems)
        return values

    def openapi(self) -> list[dict[str, Any]]:
        return [
            {"name": name, "in": "query", "required": False, "schema": spec.schema(),
             **({"description": spec.description} if spec.description else {})}
            for name, spec in self.params.items()
        ]  # fmt: skip
