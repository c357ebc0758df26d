"""PostgreSQL row-level security on every tenant-owned table

Each transaction carries ``atrium.staff`` ('on'/'off'), ``atrium.client_id`` and
``atrium.user_id`` (set by ``app.tenancy.guard``). A row is visible and writable when
the transaction is staff, or the row belongs to ``atrium.client_id``. Without settings
nothing is visible. Policies are FORCEd so they hold for the tables' owner too (only a
superuser or a BYPASSRLS role escapes them). SQLite has no RLS: this is a no-op there.

Revision ID: b7c2d9e4a1f0
Revises: 74841d16f758
Create Date: 2026-11-22 03:40:00
"""
from alembic import op

revision = 'b7c2d9e4a1f0'
down_revision = '74841d16f758'
branch_labels = None
depends_on = None

# Frozen here on purpose: a migration describes the schema of its day.
CLIENT_TABLES = (
    'projects', 'milestones', 'infrastructure', 'network_usage', 'performance_metrics', 'domains',
    'storage_folders', 'storage_files', 'tickets', 'monitors', 'monitor_checks', 'incidents',
    'incident_updates', 'campaigns', 'campaign_metrics', 'reports',
    'audit_events', 'impersonation_sessions',  # client_id may be NULL: staff-only then
)
STAFF_TABLES = ('billing_events', 'job_runs', 'daily_analytics')

IS_STAFF = "coalesce(current_setting('atrium.staff', true), '') = 'on'"
CLIENT = "nullif(current_setting('atrium.client_id', true), '')::integer"
USER = "nullif(current_setting('atrium.user_id', true), '')::integer"

POLICIES = {
    **{table: f"{IS_STAFF} OR client_id = {CLIENT}" for table in CLIENT_TABLES},
    'clients': f"{IS_STAFF} OR id = {CLIENT}",
    # A user may read their own membership: that is how their client is found.
    'client_members': f"{IS_STAFF} OR client_id = {CLIENT} OR user_id = {USER}",
    # Internal notes never reach a client, whatever the query.
    'ticket_messages': f"{IS_STAFF} OR (client_id = {CLIENT} AND NOT internal)",
    **{table: IS_STAFF for table in STAFF_TABLES},
}


def upgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table, rule in POLICIES.items():
        op.execute(f'ALTER TABLE {table} ENABLE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE {table} FORCE ROW LEVEL SECURITY')
        op.execute(f'CREATE POLICY atrium_tenant ON {table} USING ({rule}) WITH CHECK ({rule})')


def downgrade():
    if op.get_bind().dialect.name != 'postgresql':
        return
    for table in POLICIES:
        op.execute(f'DROP POLICY IF EXISTS atrium_tenant ON {table}')
        op.execute(f'ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY')
        op.execute(f'ALTER TABLE {table} DISABLE ROW LEVEL SECURITY')
