"""The Alembic migrations build exactly the schema the models describe, on this backend."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade

from ticketing.app import create_app
from ticketing.extensions import db
from ticketing.models import Base


def test_migrations_match_models(fresh_database_url) -> None:
    url = fresh_database_url()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
            tables = set(sa.inspect(conn).get_table_names())
        db.engine.dispose()
    assert diff == []
    assert {"ticket", "interaction", "customer", "contact", "sla_policy", "time_entry"} <= tables
