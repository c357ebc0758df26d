"""JobRun keeps attempts, the job's summary and the traceback of a failure

``workers.queues.run_job`` counts each attempt (RQ retries with back-off), stores the
summary the job returns (shown on the jobs console) and, on failure, the traceback
beside the one-line ``error``. Existing rows get ``attempts = 0``.

Revision ID: f2a3b4c5d6e7
Revises: e8f1b2c3d4a5
Create Date: 2026-11-23 13:00:00
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = 'f2a3b4c5d6e7'
down_revision = 'e8f1b2c3d4a5'
branch_labels = None
depends_on = None


def upgrade():
    json_type = sa.JSON().with_variant(postgresql.JSONB(), 'postgresql')
    with op.batch_alter_table('job_runs') as batch:
        batch.add_column(sa.Column('traceback', sa.Text(), nullable=True))
        batch.add_column(sa.Column('attempts', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('result', json_type, nullable=True))


def downgrade():
    with op.batch_alter_table('job_runs') as batch:
        batch.drop_column('result')
        batch.drop_column('attempts')
        batch.drop_column('traceback')
