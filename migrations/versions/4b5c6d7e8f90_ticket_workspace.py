"""The ticket workspace (issue 20): macros, staff alerts, presence, ratings, follow-ups

- ``tickets``: ``follows_id`` (a client's reply to a ticket resolved too long ago opens
  a new ticket that follows it), the requester's rating (``satisfaction``,
  ``satisfaction_comment``, ``rated_at``).
- ``ticket_attachments``: files attached when the ticket was opened.
- ``ticket_macros``: canned replies with optional status/priority moves (Admin).
- ``staff_alerts``: in-app alerts per staff member (new client ticket, assignment).
- ``ticket_presence``: who has a ticket's staff page open, and whether they are writing.
- ``user_preferences``: a staff member's timezone.

PostgreSQL: the four new tables are staff-only under row-level security (any
transaction may add a staff alert, as it may queue an e-mail), the setting
read once per statement as migration ``9d1e2f3a4b5c`` left every policy (the staff
role's twins follow from ``flask db upgrade``, ``app.services.db_roles``).

Revision ID: 4b5c6d7e8f90
Revises: 9d1e2f3a4b5c
Create Date: 2026-12-07 20:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '4b5c6d7e8f90'
down_revision = '9d1e2f3a4b5c'
branch_labels = None
depends_on = None

IS_STAFF = "(SELECT COALESCE(current_setting('atrium.staff', true), '') = 'on')"
STAFF_TABLES = ('ticket_macros', 'ticket_presence', 'user_preferences')
STATUSES = ('open', 'in_progress', 'waiting_client', 'resolved', 'closed')
PRIORITIES = ('low', 'medium', 'high', 'urgent')


def _enum(name, values):
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=max(16, *map(len, values)))


def upgrade():
    with op.batch_alter_table('tickets') as batch:
        batch.add_column(sa.Column('follows_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('satisfaction', _enum('satisfaction', ('satisfied', 'unsatisfied')),
                                   nullable=True))
        batch.add_column(sa.Column('satisfaction_comment', sa.String(length=2000), nullable=True))
        batch.add_column(sa.Column('rated_at', sa.DateTime(timezone=True), nullable=True))
        batch.create_foreign_key(batch.f('fk_tickets_follows_id_tickets'), 'tickets', ['follows_id'], ['id'],
                                 ondelete='SET NULL')
    op.create_table(
        'ticket_attachments',
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('file_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_attachments_ticket_id_tickets'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['file_id'], ['storage_files.id'],
                                name=op.f('fk_ticket_attachments_file_id_storage_files'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('ticket_id', 'file_id', name=op.f('pk_ticket_attachments')),
    )
    op.create_table(
        'ticket_macros',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=120), nullable=False),
        sa.Column('body', sa.Text(), nullable=False),
        sa.Column('set_status', _enum('macro_status', STATUSES), nullable=True),
        sa.Column('set_priority', _enum('macro_priority', PRIORITIES), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_ticket_macros')),
        sa.UniqueConstraint('name', name=op.f('uq_ticket_macros_name')),
    )
    op.create_table(
        'staff_alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('message', sa.String(length=300), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('read_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], name=op.f('fk_staff_alerts_user_id_ab_user'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_staff_alerts_ticket_id_tickets'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_staff_alerts')),
    )
    op.create_index('ix_staff_alerts_user_unread', 'staff_alerts', ['user_id', 'read_at'])
    op.create_table(
        'ticket_presence',
        sa.Column('ticket_id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('composing', sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(['ticket_id'], ['tickets.id'], name=op.f('fk_ticket_presence_ticket_id_tickets'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], name=op.f('fk_ticket_presence_user_id_ab_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('ticket_id', 'user_id', name=op.f('pk_ticket_presence')),
    )
    op.create_table(
        'user_preferences',
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(['user_id'], ['ab_user.id'], name=op.f('fk_user_preferences_user_id_ab_user'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('user_id', name=op.f('pk_user_preferences')),
    )
    if op.get_bind().dialect.name == 'postgresql':
        for table in STAFF_TABLES:
            op.execute(f'ALTER TABLE {table} ENABLE ROW LEVEL SECURITY')
            op.execute(f'ALTER TABLE {table} FORCE ROW LEVEL SECURITY')
            op.execute(f'CREATE POLICY atrium_tenant ON {table} USING ({IS_STAFF}) WITH CHECK ({IS_STAFF})')
        # Like the outbox: any transaction may write an alert (a client's new ticket alerts
        # the Operators), only staff transactions read, mark or delete one.
        op.execute('ALTER TABLE staff_alerts ENABLE ROW LEVEL SECURITY')
        op.execute('ALTER TABLE staff_alerts FORCE ROW LEVEL SECURITY')
        op.execute('CREATE POLICY atrium_alert_queue ON staff_alerts FOR INSERT WITH CHECK (true)')
        for command in ('SELECT', 'UPDATE', 'DELETE'):
            op.execute(f'CREATE POLICY atrium_alert_{command.lower()} ON staff_alerts FOR {command} USING ({IS_STAFF})')


def downgrade():
    for table in ('user_preferences', 'ticket_presence', 'staff_alerts', 'ticket_macros', 'ticket_attachments'):
        op.drop_table(table)
    with op.batch_alter_table('tickets') as batch:
        batch.drop_constraint(batch.f('fk_tickets_follows_id_tickets'), type_='foreignkey')
        batch.drop_column('rated_at')
        batch.drop_column('satisfaction_comment')
        batch.drop_column('satisfaction')
        batch.drop_column('follows_id')
