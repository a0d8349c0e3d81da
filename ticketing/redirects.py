"""Where a `next=` parameter may send someone: our own paths only (shared by portal and agent sign-in)."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None, default: str) -> str:
    """Only our own paths: no scheme, no host, no protocol-relative '//' tricks."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target
