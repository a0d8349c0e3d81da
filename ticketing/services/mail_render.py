"""Rendering customer emails from templates/email/ (plain Jinja, so jobs and services need no request)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from ticketing.config import PROJECT_ROOT


@lru_cache(maxsize=1)
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(PROJECT_ROOT / "templates" / "email"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, /, **context: Any) -> tuple[str, str]:
    """(text, html) bodies of templates/email/<name>.txt and .html."""
    env = _env()
    return env.get_template(f"{template}.txt").render(**context), env.get_template(f"{template}.html").render(**context)
