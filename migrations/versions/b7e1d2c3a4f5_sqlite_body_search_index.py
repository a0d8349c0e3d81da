"""SQLite: trigram full-text index of the message bodies for queue search

Revision ID: b7e1d2c3a4f5
Revises: 74c0c4b0365b
Create Date: 2026-11-27 01:45:00

SQLite has no index for a substring match, so searching the queues read every message body (74 ms at 100,000
tickets). An FTS5 table with the trigram tokenizer over interaction.body_text (external content: only the trigrams
are stored), kept by triggers, serves the same LIKE (ticketing/services/queues.py: SEARCH_INDEX_DDL, which this
copies). PostgreSQL has its trigram index (ix_interaction_body_trgm): nothing to do there. The table has no model:
migrations/env.py leaves it out of autogenerate.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7e1d2c3a4f5'
down_revision = '74c0c4b0365b'
branch_labels = None
depends_on = None

CREATE = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS interaction_search USING fts5(body_text, content='interaction', "
    "content_rowid='id', tokenize='trigram')",
    "CREATE TRIGGER IF NOT EXISTS interaction_search_ai AFTER INSERT ON interaction BEGIN "
    "INSERT INTO interaction_search(rowid, body_text) VALUES (new.id, new.body_text); END",
    "CREATE TRIGGER IF NOT EXISTS interaction_search_ad AFTER DELETE ON interaction BEGIN "
    "INSERT INTO interaction_search(interaction_search, rowid, body_text) VALUES ('delete', old.id, old.body_text); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS interaction_search_au AFTER UPDATE OF body_text ON interaction BEGIN "
    "INSERT INTO interaction_search(interaction_search, rowid, body_text) VALUES ('delete', old.id, old.body_text); "
    "INSERT INTO interaction_search(rowid, body_text) VALUES (new.id, new.body_text); END",
    "INSERT INTO interaction_search(interaction_search) VALUES ('rebuild')",
)
DROP = (
    "DROP TRIGGER IF EXISTS interaction_search_ai",
    "DROP TRIGGER IF EXISTS interaction_search_ad",
    "DROP TRIGGER IF EXISTS interaction_search_au",
    "DROP TABLE IF EXISTS interaction_search",
)


def upgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    for statement in CREATE:
        op.execute(statement)


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        return
    for statement in DROP:
        op.execute(statement)
