"""Languages: a client's default and a user's own choice.

- ``clients.language``: the language the client's users see unless they choose one
  (none: each browser's own).
- ``user_preferences.language``: a user's own choice. Client users now keep a row of
  their own too, so the table's policy admits staff, or the row of the transaction's
  user (``atrium.user_id``), instead of staff only.

Revision ID: 5c6d7e8f9012
Revises: 4b5c6d7e8f90
Create Date: 2026-12-07 22:30:00
"""
import sqlalchemy as sa
from alembic import op

revision = '5c6d7e8f9012'
down_revision = '4b5c6d7e8f90'
branch_labels = None
depends_on = None

IS_STAFF = "(SELECT COALESCE(current_setting('atrium.staff', true), '') = 'on')"
OWN_ROW = "(user_id::text = (SELECT current_setting('atrium.user_id', true)))"


def upgrade():
    with op.batch_alter_table('clients') as batch:
        batch.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    with op.batch_alter_table('user_preferences') as batch:
        batch.add_column(sa.Column('language', sa.String(length=8), nullable=True))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP POLICY atrium_tenant ON user_preferences')
        op.execute(f'CREATE POLICY atrium_own_row ON user_preferences USING ({IS_STAFF} OR {OWN_ROW}) '
                   f'WITH CHECK ({IS_STAFF} OR {OWN_ROW})')


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP POLICY IF EXISTS atrium_own_row_staff_role ON user_preferences')
        op.execute('DROP POLICY atrium_own_row ON user_preferences')
        op.execute(f'CREATE POLICY atrium_tenant ON user_preferences USING ({IS_STAFF}) WITH CHECK ({IS_STAFF})')
    with op.batch_alter_table('user_preferences') as batch:
        batch.drop_column('language')
    with op.batch_alter_table('clients') as batch:
        batch.drop_column('language')
