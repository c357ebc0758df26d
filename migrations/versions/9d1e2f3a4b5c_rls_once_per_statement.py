"""Row-level security evaluated once per statement; ticket indexes that serve it

Every policy read ``current_setting('atrium.*', true)`` as a plain function call, which
PostgreSQL evaluates for every row it checks. Wrapped in a scalar subquery,
``(SELECT current_setting('atrium.staff', true))``, the setting becomes an InitPlan:
evaluated once per statement, its value a parameter the planner can also use as an
index condition (``client_id = $1``). The policies say exactly what they said before;
only when the settings are read changes. This rewrites every policy of the schema that
reads an ``atrium.*`` setting, as PostgreSQL stores it (``pg_policies``), so policies
added by later migrations in the old form are not missed; downgrade unwraps them.

The ticket list's indexes carry ``client_id`` (``INCLUDE``), so a count or the ids of a
deep page under the policies (which read ``client_id``) are index-only scans again, and
a client's list is ordered by ``(client_id, created_at, id)`` like the staff list's
``(created_at, id)``.

Revision ID: 9d1e2f3a4b5c
Revises: 3a7f9c2e5b14
Create Date: 2026-12-07 17:30:00
"""
import re

import sqlalchemy as sa
from alembic import op

revision = '9d1e2f3a4b5c'
down_revision = '3a7f9c2e5b14'
branch_labels = None
depends_on = None

_PLAIN = re.compile(r"(?<!SELECT )current_setting\('(atrium\.[a-z_]+)'::text, true\)")
_WRAPPED = re.compile(r"\( SELECT current_setting\('(atrium\.[a-z_]+)'::text, true\) AS current_setting\)")

# (name, columns, included columns): before -> after.
_INDEXES_BEFORE = (
    ('ix_tickets_created_at_id', ['created_at', 'id'], []),
    ('ix_tickets_status_created_at', ['status', 'created_at', 'id'], []),
    ('ix_tickets_client_created_at', ['client_id', 'created_at'], []),
)
_INDEXES_AFTER = (
    ('ix_tickets_created_at_id', ['created_at', 'id'], ['client_id']),
    ('ix_tickets_status_created_at', ['status', 'created_at', 'id'], ['client_id']),
    ('ix_tickets_client_created_at', ['client_id', 'created_at', 'id'], []),
)


def _rewrite_policies(change) -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        "SELECT tablename, policyname, qual, with_check FROM pg_policies "
        "WHERE schemaname = current_schema() ORDER BY tablename, policyname")).all()
    for table, name, qual, check in rows:
        new_qual, new_check = (change(qual) if qual else None), (change(check) if check else None)
        if (new_qual, new_check) == (qual, check):
            continue
        clauses = (f' USING ({new_qual})' if new_qual else '') + (f' WITH CHECK ({new_check})' if new_check else '')
        op.execute(f'ALTER POLICY "{name}" ON "{table}"{clauses}')


def _wrap(expression: str) -> str:
    return _PLAIN.sub(r"(SELECT current_setting('\1'::text, true))", expression)


def _unwrap(expression: str) -> str:
    return _WRAPPED.sub(r"current_setting('\1'::text, true)", expression)


def _replace_indexes(indexes) -> None:
    for name, columns, include in indexes:
        op.drop_index(name, table_name='tickets')
        op.create_index(name, 'tickets', columns, postgresql_include=include)


def upgrade():
    _replace_indexes(_INDEXES_AFTER)
    if op.get_bind().dialect.name == 'postgresql':
        _rewrite_policies(_wrap)


def downgrade():
    if op.get_bind().dialect.name == 'postgresql':
        _rewrite_policies(_unwrap)
    _replace_indexes(_INDEXES_BEFORE)
