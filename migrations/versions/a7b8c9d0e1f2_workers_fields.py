"""Fields and tables the workers need (SPEC §7)

- ``email_outbox``: notifications written with the change they report, sent by a
  worker over SMTP; ``dedupe_key`` makes each notification idempotent. PostgreSQL RLS:
  every transaction may queue an email (a client's ticket reply notifies staff), only
  staff transactions (and workers) may read, update or delete one.
- ``domains``: when the TLS certificate and the registration were last checked, the last
  handshake error, and the last expiry warning given (21/7/1 and 60/30/7 days), so a
  warning is sent once per threshold.
- ``campaigns.account_id``: the platform account (Google Ads customer id, Meta ad
  account id) the sync adapters query.

Revision ID: a7b8c9d0e1f2
Revises: f2a3b4c5d6e7
Create Date: 2026-11-23 14:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = 'a7b8c9d0e1f2'
down_revision = 'f2a3b4c5d6e7'
branch_labels = None
depends_on = None

IS_STAFF = "coalesce(current_setting('atrium.staff', true), '') = 'on'"


def upgrade():
    op.create_table(
        'email_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('dedupe_key', sa.String(length=200), nullable=True),
        sa.Column('kind', sa.String(length=50), nullable=False),
        sa.Column('to_address', sa.String(length=254), nullable=False),
        sa.Column('subject', sa.String(length=300), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=True),
        sa.Column('status', sa.Enum('queued', 'sent', 'failed', name='status', native_enum=False,
                                    create_constraint=True, length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['clients.id'], name=op.f('fk_email_outbox_client_id_clients'),
                                ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_email_outbox')),
        sa.UniqueConstraint('dedupe_key', name=op.f('uq_email_outbox_dedupe_key')),
    )
    with op.batch_alter_table('email_outbox') as batch:
        batch.create_index('ix_email_outbox_status_created', ['status', 'created_at'], unique=False)
        batch.create_index(batch.f('ix_email_outbox_client_id'), ['client_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('ALTER TABLE email_outbox ENABLE ROW LEVEL SECURITY')
        op.execute('ALTER TABLE email_outbox FORCE ROW LEVEL SECURITY')
        op.execute('CREATE POLICY atrium_outbox_queue ON email_outbox FOR INSERT WITH CHECK (true)')
        for command in ('SELECT', 'UPDATE', 'DELETE'):
            op.execute(f'CREATE POLICY atrium_outbox_{command.lower()} ON email_outbox FOR {command} '
                       f'USING ({IS_STAFF})')
    with op.batch_alter_table('domains') as batch:
        batch.add_column(sa.Column('ssl_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('ssl_error', sa.Text(), nullable=True))
        batch.add_column(sa.Column('ssl_warning_days', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('registration_checked_at', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('registration_warning_days', sa.Integer(), nullable=True))
    with op.batch_alter_table('campaigns') as batch:
        batch.add_column(sa.Column('account_id', sa.String(length=64), nullable=True))


def downgrade():
    with op.batch_alter_table('campaigns') as batch:
        batch.drop_column('account_id')
    with op.batch_alter_table('domains') as batch:
        batch.drop_column('registration_warning_days')
        batch.drop_column('registration_checked_at')
        batch.drop_column('ssl_warning_days')
        batch.drop_column('ssl_error')
        batch.drop_column('ssl_checked_at')
    with op.batch_alter_table('email_outbox') as batch:
        batch.drop_index(batch.f('ix_email_outbox_client_id'))
        batch.drop_index('ix_email_outbox_status_created')
    op.drop_table('email_outbox')
