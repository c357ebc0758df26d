"""Server-side sessions: ``user_sessions`` (``app.services.sessions``)

Every signed-in browser and every "view as" session is a row the server checks on each
request; the cookie carries a token whose SHA-256 is ``token_hash``. Sessions signed in
before this revision carry no token and are sent to sign in once.

Revision ID: c1d2e3f4a5b6
Revises: b8c9d0e1f2a3
Create Date: 2026-12-07 09:30:00
"""
from alembic import op
import sqlalchemy as sa

import app.models.base

revision = 'c1d2e3f4a5b6'
down_revision = 'b8c9d0e1f2a3'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'user_sessions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('kind', sa.Enum('sign-in', 'view-as', name='kind', native_enum=False, create_constraint=True,
                                  length=16), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('true_user_id', sa.Integer(), nullable=False),
        sa.Column('parent_id', sa.Integer(), nullable=True),
        sa.Column('impersonation_session_id', sa.Integer(), nullable=True),
        sa.Column('created_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('expires_at', app.models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column('ended_at', app.models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column('end_reason', sa.Enum('logout', 'expired', 'view-as ended', 'password changed', 'deactivated',
                                        'sign-in ended', name='end_reason', native_enum=False,
                                        create_constraint=True, length=16), nullable=True),
        sa.Column('ip', sa.String(length=45), nullable=True),
        sa.Column('user_agent', sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], name=op.f('fk_user_sessions_user_id_ab_user'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['true_user_id'], ['ab_user.id'], name=op.f('fk_user_sessions_true_user_id_ab_user'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['parent_id'], ['user_sessions.id'],
                                name=op.f('fk_user_sessions_parent_id_user_sessions'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['impersonation_session_id'], ['impersonation_sessions.id'],
                                name=op.f('fk_user_sessions_impersonation_session_id_impersonation_sessions'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_user_sessions')),
        sa.UniqueConstraint('token_hash', name=op.f('uq_user_sessions_token_hash')),
    )
    with op.batch_alter_table('user_sessions') as batch:
        batch.create_index('ix_user_sessions_live_user', ['user_id', 'ended_at'])
        batch.create_index('ix_user_sessions_live_true_user', ['true_user_id', 'ended_at'])
        batch.create_index(batch.f('ix_user_sessions_parent_id'), ['parent_id'])
        batch.create_index(batch.f('ix_user_sessions_impersonation_session_id'), ['impersonation_session_id'])


def downgrade():
    op.drop_table('user_sessions')
