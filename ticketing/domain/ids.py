"""Row ids that arrive as text: form fields, URL parts, session keys, cursors."""

from __future__ import annotations


def id_from(text: str) -> int | None:
    """The id `text` spells in ASCII digits, else None. str.isdigit() also accepts "²" (which int() refuses: a 500)
    and int() takes "٣" as 3: an id from outside is plain ASCII digits or nothing."""
    return int(text) if text.isascii() and text.isdigit() else None
