"""Audit chain head keeps the previous hash too; no unique index on event hashes

With ``prev_hash`` on ``audit_chain_head`` one PostgreSQL statement can append an event:
``UPDATE audit_chain_head SET prev_hash = hash, seq = seq + 1, hash = <sha256 of the
event>`` in a CTE (every SET expression reads the row's old values, under its row lock)
and ``INSERT ... SELECT`` of the event with the returned ``seq``, ``prev_hash`` and
``hash`` (``app.services.audit``). The hash formula is unchanged, so existing chains
still verify. Nullable column: the existing head row needs no value.

The unique constraint on ``audit_events.hash`` goes: ``seq`` is unique and each hash
covers its ``seq``, so it guarded nothing, and it was the widest of the table's indexes
(64 characters), updated on every append (issue 4's overhead budget).

Revision ID: e8f1b2c3d4a5
Revises: d4a7c9e1f2b3
Create Date: 2026-11-23 12:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'e8f1b2c3d4a5'
down_revision = 'd4a7c9e1f2b3'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('audit_chain_head') as batch:
        batch.add_column(sa.Column('prev_hash', sa.String(length=64), nullable=True))
    with op.batch_alter_table('audit_events') as batch:
        batch.drop_constraint('uq_audit_events_hash', type_='unique')


def downgrade():
    with op.batch_alter_table('audit_events') as batch:
        batch.create_unique_constraint('uq_audit_events_hash', ['hash'])
    with op.batch_alter_table('audit_chain_head') as batch:
        batch.drop_column('prev_hash')
