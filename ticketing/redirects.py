"""Where a `next=` parameter may send someone: our own paths only (shared by portal and agent sign-in)."""

from __future__ import annotations

from urllib.parse import urlsplit


def has_control_characters(value: str) -> bool:
    """Browsers drop tabs and newlines from URLs ('/<TAB>/evil' is '//evil'); a CR/LF cannot go in a header."""
    return any(ord(c) < 32 or ord(c) == 127 for c in value)


def safe_next(target: str | None, default: str) -> str:
    """Only our own paths: no scheme, no host, no protocol-relative '//' tricks, no control characters."""
    if not target or has_control_characters(target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
