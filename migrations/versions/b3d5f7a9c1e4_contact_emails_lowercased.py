"""contact emails stored lowercased and trimmed

Mail threading and search look contacts up by their lowercased address (enrichment.normalise_email); the admin's
contact form stored addresses as typed until it learned to normalise them, so an older row such as "Ann@Acme.com"
was never found by its sender's mail or by a search for the address. A row whose normalised address another contact
already has is left as it is and logged (merge the two by hand).

Revision ID: b3d5f7a9c1e4
Revises: 9e4f2a7c1d36
Create Date: 2026-11-27 14:10:00.000000

"""
import logging

import sqlalchemy as sa
from alembic import op


# revision identifiers, used by Alembic.
revision = 'b3d5f7a9c1e4'
down_revision = '9e4f2a7c1d36'
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
contact = sa.table("contact", sa.column("id", sa.Integer), sa.column("email", sa.String))


def upgrade():
    conn = op.get_bind()
    # lower() in SQL folds ASCII only on SQLite: it picks the candidates, Python's lower() (as the app's) decides.
    candidates = conn.execute(
        sa.select(contact.c.id, contact.c.email)
        .where(sa.or_(contact.c.email != sa.func.lower(contact.c.email), contact.c.email != sa.func.trim(contact.c.email)))
        .order_by(contact.c.id)
    ).all()
    for contact_id, email in candidates:
        wanted = email.strip().lower()
        if wanted == email:
            continue
        clash = conn.scalar(sa.select(contact.c.id).where(contact.c.email == wanted))
        if clash is not None:
            log.warning("contact %s keeps the address %r: contact %s already has %r", contact_id, email, clash, wanted)
            continue
        conn.execute(contact.update().where(contact.c.id == contact_id).values(email=wanted))


def downgrade():
    pass  # the addresses as typed are not kept: lowercased ones work with every version
