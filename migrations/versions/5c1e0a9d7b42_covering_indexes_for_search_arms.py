"""covering indexes for search's contact and customer arms

Search collects the tickets of matching contacts and customers by id; with the id in the index those come from the
index alone instead of one ticket row read per match.

Revision ID: 5c1e0a9d7b42
Revises: daf032673589
Create Date: 2026-11-27 08:40:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '5c1e0a9d7b42'
down_revision = 'daf032673589'
branch_labels = None
depends_on = None


# Plain (not batch) index operations: on SQLite a batch operation may rebuild the table, which drops the search
# indexes' triggers.
def upgrade():
    op.drop_index('ix_ticket_primary_contact_id', table_name='ticket')
    op.create_index('ix_ticket_contact_id', 'ticket', ['primary_contact_id', 'id'], unique=False)
    op.drop_index('ix_ticket_customer_updated', table_name='ticket')
    op.create_index('ix_ticket_customer_updated', 'ticket', ['customer_id', 'updated_at', 'id'], unique=False)


def downgrade():
    op.drop_index('ix_ticket_customer_updated', table_name='ticket')
    op.create_index('ix_ticket_customer_updated', 'ticket', ['customer_id', 'updated_at'], unique=False)
    op.drop_index('ix_ticket_contact_id', table_name='ticket')
    op.create_index('ix_ticket_primary_contact_id', 'ticket', ['primary_contact_id'], unique=False)
