"""SQLite connections in WAL mode: readers never wait for the writer (web, worker and scheduler share one file),
and a commit costs one fsync of the log instead of several of the rollback journal.

synchronous stays FULL: a committed raw email must survive a power cut, since the IMAP poller flags the message
on the server as soon as the commit returns.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import sqlalchemy as sa


@sa.event.listens_for(sa.engine.Engine, "connect")
def _tune(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # answers 'memory' for :memory: databases, which is fine
        cursor.execute("PRAGMA synchronous=FULL")
    finally:
        cursor.close()
