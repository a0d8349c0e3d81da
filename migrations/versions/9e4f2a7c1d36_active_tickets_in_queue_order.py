"""active tickets in queue order (My tickets, Unassigned)

A partial index on the active tickets by (updated_at, id): My tickets and Unassigned walk it and check each
ticket's assignees. SQLite walked every ticket through ix_ticket_updated_id when such a queue held less than a page.

Revision ID: 9e4f2a7c1d36
Revises: 5c1e0a9d7b42
Create Date: 2026-11-27 13:40:00.000000

"""
import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = '9e4f2a7c1d36'
down_revision = '5c1e0a9d7b42'
branch_labels = None
depends_on = None

ACTIVE = "status IN ('open', 'in_progress', 'pending', 'waiting_on_customer')"


# Plain (not batch) index operations: on SQLite a batch operation may rebuild the table, which drops the search
# indexes' triggers.
def upgrade():
    op.create_index(
        'ix_ticket_active_updated', 'ticket', ['updated_at', 'id'], unique=False,
        postgresql_where=sa.text(ACTIVE), sqlite_where=sa.text(ACTIVE),
    )


def downgrade():
    op.drop_index('ix_ticket_active_updated', table_name='ticket')
