"""A request whose transaction only read ends it with COMMIT on PostgreSQL, not with session.remove()'s ROLLBACK.

Views commit what they change; whatever is left open at teardown is rolled back. But psycopg forgets every
prepared statement of a connection on ROLLBACK (a rollback may have undone DDL it cannot see), so no statement
was ever prepared: each page's statements were parsed and planned afresh on every request, 1-2 ms apiece for a
queue page's or the workspace's. For a transaction that wrote nothing, COMMIT ends it with the same outcome and
the statements stay prepared (psycopg prepares a statement on a connection's sixth use).

"Wrote nothing" is checked twice: no pending ORM change in the session, and no statement other than a SELECT
went through the connection since the transaction began (a flush, a Core INSERT, a SET all count).
"""

from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from flask import Flask

log = logging.getLogger(__name__)
_WROTE = "ticketing_wrote"


@sa.event.listens_for(sa.engine.Engine, "begin")
def _begin(conn: sa.Connection) -> None:
    conn.info.pop(_WROTE, None)


@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _note_writes(conn: sa.Connection, _cursor: Any, statement: str, *_: Any) -> None:
    if _WROTE not in conn.info and statement.lstrip()[:6].upper() != "SELECT":
        conn.info[_WROTE] = True


def wrote(conn: sa.Connection) -> bool:
    """Whether anything but a SELECT went through the connection since its transaction began."""
    return bool(conn.info.get(_WROTE))


def init_app(app: Flask, db: Any) -> None:
    if sa.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).get_backend_name() != "postgresql":
        return  # SQLite has nothing to gain (its driver keeps its own statement cache across rollbacks)

    # Registered after Flask-SQLAlchemy's teardown, so it runs before it (teardowns run in reverse order).
    @app.teardown_appcontext
    def _commit_if_read_only(exc: BaseException | None) -> None:
        session = db.session()  # the request's Session (not the scoped proxy)
        if exc is not None or not session.in_transaction() or session.new or session.dirty or session.deleted:
            return
        try:
            if wrote(session.connection()):
                return
            session.commit()
        except Exception:  # the response is already made: leave it to session.remove() to roll back
            log.warning("could not end a read-only transaction with COMMIT", exc_info=True)
