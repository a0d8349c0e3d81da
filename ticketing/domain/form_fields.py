"""Intake form definitions: which field types exist, what a valid definition is, and how answers read as text."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

FIELD_TYPES = ("text", "long_text", "email", "select", "multi_select", "checkbox", "number", "date", "file")
CHOICE_TYPES = frozenset({"select", "multi_select"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
# Field names a form may not use: they are the form's own fields (summary, submitter, anti-abuse).
RESERVED = frozenset({"subject", "name", "email", "website", "csrf_token", "embed_token", "submit"})
MAX_FIELDS = 30
TEXT_LIMITS = {"text": 500, "long_text": 20000, "email": 254}


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    type: str
    required: bool = False
    help: str = ""
    options: tuple[str, ...] = ()

    @property
    def max_length(self) -> int | None:
        return TEXT_LIMITS.get(self.type)


class FormDefinitionError(ValueError):
    pass


def parse_fields(raw: list[dict[str, Any]]) -> list[FieldSpec]:
    """Validate an admin's field list; raise FormDefinitionError with a message a person can act on."""
    if not isinstance(raw, list) or len(raw) > MAX_FIELDS:
        raise FormDefinitionError(f"fields must be a list of at most {MAX_FIELDS} entries")
    specs: list[FieldSpec] = []
    seen: set[str] = set()
    for position, item in enumerate(raw, start=1):
        if not isinstance(item, dict):
            raise FormDefinitionError(f"field {position}: must be an object")
        name = str(item.get("name", ""))
        kind = str(item.get("type", ""))
        if not _NAME.match(name) or name in RESERVED:
            raise FormDefinitionError(f"field {position}: name {name!r} must be lower_snake_case and not reserved")
        if name in seen:
            raise FormDefinitionError(f"field {position}: duplicate name {name!r}")
        if kind not in FIELD_TYPES:
            raise FormDefinitionError(f"field {name}: type must be one of {', '.join(FIELD_TYPES)}")
        options = tuple(str(o)[:200] for o in item.get("options", []) or [])
        if kind in CHOICE_TYPES and not options:
            raise FormDefinitionError(f"field {name}: a {kind} needs options")
        seen.add(name)
        specs.append(
            FieldSpec(
                name=name,
                label=str(item.get("label") or name.replace("_", " ").capitalize())[:200],
                type=kind,
                required=bool(item.get("required", False)),
                help=str(item.get("help", ""))[:500],
                options=options,
            )
        )
    return specs


def _text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def answers_table(specs: list[FieldSpec], answers: dict[str, Any]) -> list[dict[str, str]]:
    """The structured answers stored on the ticket, in form order (file fields hold the file names)."""
    return [{"name": s.name, "label": s.label, "type": s.type, "value": _text(answers.get(s.name))} for s in specs]


def answers_as_text(rows: list[dict[str, str]]) -> str:
    """The ticket's first message: every answer under its label."""

    def heading(label: str) -> str:
        return label if label.endswith(("?", ":")) else f"{label}:"

    return "\n\n".join(f"{heading(row['label'])}\n{row['value'] or '—'}" for row in rows)
