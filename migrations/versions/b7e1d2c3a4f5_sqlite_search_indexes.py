"""SQLite: trigram full-text indexes of message bodies and ticket subjects for queue search

Revision ID: b7e1d2c3a4f5
Revises: 74c0c4b0365b
Create Date: 2026-11-27 01:45:00

SQLite has no index for a substring match, so searching the queues read every message body and subject (74 ms at
100,000 tickets). FTS5 tables with the trigram tokenizer over interaction.body_text and ticket.subject (external
content: only the trigrams are stored), kept by triggers, serve the same LIKE (ticketing/services/queues.py:
SEARCH_INDEX_DDL, which this copies). PostgreSQL has its trigram indexes (ix_interaction_body_trgm,
ix_ticket_subject_trgm): nothing to do there. The tables have no model: migrations/env.py leaves them out of
autogenerate.
"""
from alembic import op

# revision identifiers, used by Alembic.
revision = 'b7e1d2c3a4f5'
down_revision = '74c0c4b0365b'
branch_labels = None
depends_on = None

def _index(index, table, column):
    """An FTS5 trigram table over table.column (external content) and the triggers that keep it current."""
    delete = f"INSERT INTO {index}({index}, rowid, {column}) VALUES ('delete', old.id, old.{column});"
    insert = f"INSERT INTO {index}(rowid, {column}) VALUES (new.id, new.{column});"
    return (
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {index} USING fts5({column}, content='{table}', content_rowid='id', "
        "tokenize='trigram')",
        f"CREATE TRIGGER IF NOT EXISTS {index}_ai AFTER INSERT ON {table} BEGIN {insert} END",
        f"CREATE TRIGGER IF NOT EXISTS {index}_ad AFTER DELETE ON {table} BEGIN {delete} END",
        f"CREATE TRIGGER IF NOT EXISTS {index}_au AFTER UPDATE OF {column} ON {table} BEGIN {delete} {insert} END",
        f"INSERT INTO {index}({index}) VALUES ('rebuild')",
    )


INDEXES = (("interaction_search", "interaction", "body_text"), ("ticket_search", "ticket", "subject"))
CREATE = tuple(statement for index in INDEXES for statement in _index(*index))
DROP = (
    *(f"DROP TRIGGER IF EXISTS {index}_{kind}" for index, _, _ in INDEXES for kind in ("ai", "ad", "au")),
    *(f"DROP TABLE IF EXISTS {index}" for index, _, _ in INDEXES),
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
