"""The Alembic migrations build exactly the schema the models describe, on this backend."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from ticketing.app import create_app
from ticketing.extensions import db
from ticketing.models import Base
from ticketing.services import queues


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    return not (type_ == "table" and name and name.startswith(tuple(queues.SEARCH_INDEXES)))  # as migrations/env.py


def test_migrations_match_models(fresh_database_url) -> None:
    url = fresh_database_url()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            opts = {"compare_type": True, "include_object": include_object}
            diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
            tables = set(sa.inspect(conn).get_table_names())
            in_sqlite = "SELECT name FROM sqlite_master WHERE name LIKE '%search%'"
            search_index = set(conn.scalars(sa.text(in_sqlite))) if conn.dialect.name == "sqlite" else set()
        db.engine.dispose()
    assert diff == []
    assert {"ticket", "interaction", "customer", "contact", "sla_policy", "time_entry"} <= tables
    # SQLite: the body search index (no model) with its triggers; PostgreSQL has its trigram index instead.
    expected = {*queues.SEARCH_INDEXES, *queues.SEARCH_INDEX_TRIGGERS} if url.startswith("sqlite") else set()
    assert expected <= search_index and (expected or not search_index), search_index
