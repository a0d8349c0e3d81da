"""Declarative base and column types shared by every model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic can alter them on SQLite (batch mode) and PostgreSQL alike.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


# 'YYYY-MM-DD HH:MM', with ':SS', with ':SS.fff', with ':SS.ffffff': SQLite's naive date-and-time texts.
_NAIVE_TEXT_LENGTHS = frozenset({16, 19, 23, 26})


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite has no time zone type and returns naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        # SQLite stores text: keep it naive UTC so string ordering equals time ordering.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    def result_processor(self, dialect: Any, coltype: Any) -> Any:
        """On SQLite, one parse from the stored naive UTC text to the aware value: the default chain (the dialect's
        parser, then process_result_value's replace()) cost ten times as much, a fifth of a queue page's read."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        parse = datetime.fromisoformat

        def process(value: str | None) -> datetime | None:
            if value is None:
                return None
            if len(value) in _NAIVE_TEXT_LENGTHS:
                return parse(value + "+00:00")  # its tzinfo is the UTC singleton
            parsed = parse(value)  # text with an offset of its own, or a bare date
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

        return process


def trigram_index(name: str, column: str) -> sa.Index:
    """Search by substring (ILIKE '%...%'): a trigram index on PostgreSQL (pg_trgm, see models/ticket.py); SQLite
    has no such index, so there it is declared empty (WHERE 0) and the search scans."""
    return sa.Index(name, column, postgresql_using="gin", postgresql_ops={column: "gin_trgm_ops"},
                    sqlite_where=sa.text("0"))  # fmt: skip


def utcnow() -> datetime:
    return datetime.now(UTC)


def str_enum(enum_cls: type) -> sa.Enum:
    """Store a StrEnum by value as a plain string column (no native enum type to migrate)."""
    return sa.Enum(
        enum_cls,
        native_enum=False,
        create_constraint=False,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )


def read_rows(session: Session, statement: Any, params: dict[str, Any]) -> sa.CursorResult[Any]:
    """Run a SELECT of plain columns (no entities) on the session's connection: the ORM's execution path, made for
    loading objects, cost a quarter of a queue page's read more. Pending changes are flushed first, as
    session.execute would."""
    session.flush()
    return session.connection().execute(statement, params)


def holds_changes(session: Session, classes: tuple[type, ...]) -> bool:
    """Whether the session holds an unflushed new, changed or deleted object of one of these classes. A change to
    a collection only is not one: it is stored in another table (a contact added to a ticket marks the contact)."""
    if any(isinstance(obj, classes) for group in (session.new, session.deleted) for obj in group):
        return True
    return any(isinstance(o, classes) and session.is_modified(o, include_collections=False) for o in session.dirty)


@contextmanager
def flushing_for(session: Session, *classes: type) -> Iterator[None]:
    """Around a query that reads only these classes' tables: flush first (as autoflush would) only when the
    session holds a change to one of them. Otherwise an unrelated query's autoflush sends a batch's pending rows a
    few at a time (an inbound batch's entries and tickets), instead of together in one INSERT per table."""
    if holds_changes(session, classes):
        session.flush()
    with session.no_autoflush:
        yield


_T = TypeVar("_T")


def in_chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    """`items` in slices of at most `size`: the values of one IN (...) list, kept well under the databases'
    parameter limits."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def insert_for(session: Session) -> Any:
    """The dialect's INSERT construct (it has on_conflict_do_nothing) for the session's database: PostgreSQL's or
    SQLite's, the two the project runs on."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
