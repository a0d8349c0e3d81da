"""The installation's brand (one row; defaults until an admin saves it)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ticketing.models import Branding

HEX_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
LOGO_TYPES = frozenset({"image/png", "image/jpeg", "image/webp", "image/gif"})  # no SVG: it can carry script
LOGO_MAX_BYTES = 512 * 1024


def default() -> Branding:
    return Branding(product_name="Bluehill Support", primary_color="#1f5fbf")


def current(session: Session) -> Branding:
    brand = session.scalar(sa.select(Branding).order_by(Branding.id).limit(1))
    return brand if brand is not None else default()


@dataclass(frozen=True)
class Brand:
    """The brand's values, detached from any session: what a per-process cache can keep between requests."""

    product_name: str
    primary_color: str
    support_address: str | None = None
    logo_key: str | None = None
    logo_content_type: str | None = None
    updated_at: datetime | None = None


def snapshot(session: Session) -> Brand:
    brand = current(session)
    return Brand(brand.product_name, brand.primary_color, brand.support_address, brand.logo_key,
                 brand.logo_content_type, brand.updated_at)  # fmt: skip


# Callbacks run after a commit that changed the brand (the per-process caches of it drop their copy).
on_brand_changed: list[Any] = []
_CHANGED = "branding_changed"


@sa.event.listens_for(Session, "after_flush")
def _note_changes(session: Session, flush_context: Any) -> None:
    if any(isinstance(obj, Branding) for obj in (*session.new, *session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


@sa.event.listens_for(Session, "after_commit")
def _brand_committed(session: Session) -> None:
    if session.info.pop(_CHANGED, False):
        for forget in on_brand_changed:
            forget()


def validate_colour(value: str) -> str:
    if not HEX_COLOUR.match(value.strip()):
        raise ValueError("Use a colour like #1f5fbf.")
    return value.strip().lower()


def text_colour_on(background: str) -> str:
    """Black or white text, whichever reads better on the brand colour (WCAG relative luminance)."""
    channels = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return "#111111" if luminance > 0.4 else "#ffffff"
