"""Reading messages for the import command: a Maildir, an mbox file, a folder of .eml files, or one .eml."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path


def _is_maildir(path: Path) -> bool:
    return path.is_dir() and (path / "cur").is_dir() and (path / "new").is_dir()


def _is_mbox(path: Path) -> bool:
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        return handle.read(5) == b"From "


def count_messages(path: Path) -> int:
    if _is_maildir(path):
        return len(mailbox.Maildir(path, create=False))
    if _is_mbox(path):
        return len(mailbox.mbox(path, create=False))
    if path.is_dir():
        return sum(1 for _ in path.rglob("*.eml"))
    return 1 if path.is_file() else 0


def read_messages(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where, raw bytes) for every message under path, in a stable order."""
    if _is_maildir(path):
        box = mailbox.Maildir(path, create=False)
        for key in sorted(box.keys()):
            yield f"{path}:{key}", box.get_bytes(key)
    elif _is_mbox(path):
        mbox = mailbox.mbox(path, create=False)
        for key in mbox.keys():
            yield f"{path}#{key}", mbox.get_bytes(key)
    elif path.is_dir():
        for file in sorted(path.rglob("*.eml")):
            yield str(file), file.read_bytes()
    elif path.is_file():
        yield str(path), path.read_bytes()
    else:
        raise FileNotFoundError(f"no such file or folder: {path}")
