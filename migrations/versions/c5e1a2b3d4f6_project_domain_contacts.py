"""Contact data on projects and domains (name, email, phone)

The contact person a client sees on a project or domain; owner/admin members of the
client may edit it from the portal (SPEC §1). Nullable columns only, so existing rows
need no value. ``batch_alter_table`` keeps the downgrade working on SQLite. The
row-level-security policies of ``b7c2d9e4a1f0`` are per table, so they cover the new
columns unchanged.

Revision ID: c5e1a2b3d4f6
Revises: b7c2d9e4a1f0
Create Date: 2026-11-23 10:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'c5e1a2b3d4f6'
down_revision = 'b7c2d9e4a1f0'
branch_labels = None
depends_on = None

TABLES = ('projects', 'domains')


def upgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column('contact_name', sa.String(length=120), nullable=True))
            batch.add_column(sa.Column('contact_email', sa.String(length=254), nullable=True))
            batch.add_column(sa.Column('contact_phone', sa.String(length=32), nullable=True))


def downgrade():
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column('contact_phone')
            batch.drop_column('contact_email')
            batch.drop_column('contact_name')
