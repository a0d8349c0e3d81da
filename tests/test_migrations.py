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


def test_contact_emails_are_lowercased_where_no_other_contact_has_the_address(fresh_database_url) -> None:
    url = fresh_database_url()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade(revision="9e4f2a7c1d36")
        rows = {1: "Ann@Acme.example", 2: " bob@acme.example", 3: "BOB@acme.example ", 4: "cy@acme.example",
                5: "Dee@Acme.example", 6: "dee@acme.example"}  # fmt: skip
        with db.engine.begin() as conn:
            for contact_id, email in rows.items():
                conn.execute(
                    sa.text("INSERT INTO contact (id, name, email, portal_role, portal_enabled, created_at) "
                            "VALUES (:id, '', :email, 'customer', false, CURRENT_TIMESTAMP)"),
                    {"id": contact_id, "email": email},
                )  # fmt: skip
        upgrade()
        with db.engine.connect() as conn:
            emails = dict(conn.execute(sa.text("SELECT id, email FROM contact")).all())
        db.engine.dispose()
    # 3 would be bob@acme.example too, which 2 took first; 5 clashes with 6: both keep what they had.
    assert emails == {1: "ann@acme.example", 2: "bob@acme.example", 3: "BOB@acme.example ", 4: "cy@acme.example",
                      5: "Dee@Acme.example", 6: "dee@acme.example"}  # fmt: skip
