"""Audit trail: chain position, channel, staff-only flag; append-only on PostgreSQL

- ``audit_events`` gets ``seq`` (the position in the hash chain, unique), ``channel``
  (web/api/cli/job) and ``staff_only`` (never shown to clients); its foreign keys go:
  the log outlives the users, clients and sessions it names, and an ``ON DELETE SET
  NULL`` would be an UPDATE, which is refused below.
- ``audit_chain_head``: one row with the last ``seq`` and hash; appenders lock it.
- PostgreSQL: statement-level triggers refuse UPDATE and TRUNCATE of ``audit_events``
  always, and DELETE unless the transaction set ``atrium.audit_prune`` (``flask audit
  prune``, which leaves a checkpoint event). Row-level security on ``audit_events`` is
  split per command: every transaction may INSERT (a client user's own actions are
  logged too), a client reads only its own client's events that are not staff-only.

Revision ID: d4a7c9e1f2b3
Revises: c5e1a2b3d4f6
Create Date: 2026-11-23 11:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'd4a7c9e1f2b3'
down_revision = 'c5e1a2b3d4f6'
branch_labels = None
depends_on = None

FKS = ('fk_audit_events_actor_id_ab_user', 'fk_audit_events_client_id_clients',
       'fk_audit_events_impersonation_session_id_impersonation_sessions', 'fk_audit_events_true_user_id_ab_user')

IS_STAFF = "coalesce(current_setting('atrium.staff', true), '') = 'on'"
CLIENT = "nullif(current_setting('atrium.client_id', true), '')::integer"
PRUNING = "coalesce(current_setting('atrium.audit_prune', true), '') = 'on'"

TRIGGER_FUNCTION = f"""
CREATE OR REPLACE FUNCTION atrium_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND {PRUNING} THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit_events is append-only: % is not allowed', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$
"""


def upgrade():
    with op.batch_alter_table('audit_events') as batch:
        for name in FKS:
            batch.drop_constraint(name, type_='foreignkey')
        batch.add_column(sa.Column('seq', sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column('channel', sa.String(length=16), nullable=True))
        batch.add_column(sa.Column('staff_only', sa.Boolean(), nullable=False, server_default=sa.false()))
    op.execute('UPDATE audit_events SET seq = id')
    with op.batch_alter_table('audit_events') as batch:
        batch.alter_column('seq', existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column('staff_only', existing_type=sa.Boolean(), server_default=None)
        batch.create_unique_constraint('uq_audit_events_seq', ['seq'])
        batch.create_index('ix_audit_events_impersonation', ['impersonation_session_id'], unique=False)
        batch.create_index('ix_audit_events_true_user', ['true_user_id'], unique=False)
    op.create_table(
        'audit_chain_head',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('seq', sa.BigInteger(), nullable=False),
        sa.Column('hash', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_chain_head')),
    )
    if op.get_bind().dialect.name != 'postgresql':
        return
    op.execute(TRIGGER_FUNCTION)
    op.execute('CREATE TRIGGER atrium_audit_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events '
               'FOR EACH STATEMENT EXECUTE FUNCTION atrium_audit_append_only()')
    op.execute('DROP POLICY IF EXISTS atrium_tenant ON audit_events')
    op.execute(f'CREATE POLICY atrium_audit_read ON audit_events FOR SELECT '
               f'USING ({IS_STAFF} OR (client_id = {CLIENT} AND NOT staff_only))')
    op.execute('CREATE POLICY atrium_audit_append ON audit_events FOR INSERT WITH CHECK (true)')
    op.execute(f'CREATE POLICY atrium_audit_prune ON audit_events FOR DELETE USING ({IS_STAFF} AND {PRUNING})')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS atrium_audit_append_only ON audit_events')
        op.execute('DROP FUNCTION IF EXISTS atrium_audit_append_only()')
        for policy in ('atrium_audit_read', 'atrium_audit_append', 'atrium_audit_prune'):
            op.execute(f'DROP POLICY IF EXISTS {policy} ON audit_events')
        rule = f"{IS_STAFF} OR client_id = {CLIENT}"
        op.execute(f'CREATE POLICY atrium_tenant ON audit_events USING ({rule}) WITH CHECK ({rule})')
    op.drop_table('audit_chain_head')
    with op.batch_alter_table('audit_events') as batch:
        batch.drop_index('ix_audit_events_true_user')
        batch.drop_index('ix_audit_events_impersonation')
        batch.drop_constraint('uq_audit_events_seq', type_='unique')
        batch.drop_column('staff_only')
        batch.drop_column('channel')
        batch.drop_column('seq')
        batch.create_foreign_key('fk_audit_events_actor_id_ab_user', 'ab_user', ['actor_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_foreign_key('fk_audit_events_true_user_id_ab_user', 'ab_user', ['true_user_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_foreign_key('fk_audit_events_client_id_clients', 'clients', ['client_id'], ['id'],
                                 ondelete='SET NULL')
        batch.create_foreign_key('fk_audit_events_impersonation_session_id_impersonation_sessions',
                                 'impersonation_sessions', ['impersonation_session_id'], ['id'],
                                 ondelete='SET NULL')
