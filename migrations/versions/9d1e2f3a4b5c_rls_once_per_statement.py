"""Row-level security evaluated once per statement; ticket indexes that serve it

Every policy read ``current_setting('atrium.*', true)`` as a plain function call, and
turned it into a flag or an id with ``COALESCE(...) = 'on'`` / ``NULLIF(...)::integer``,
all of which PostgreSQL evaluates for every row it checks. Each of those expressions is
now a scalar subquery, ``(SELECT COALESCE(current_setting('atrium.staff', true), '') =
'on')``: an InitPlan, evaluated once per statement, whose value the per-row check only
reads (a boolean, an integer the planner can also use as an index condition). Measured on
200,000 tickets as the app role with staff settings, the deep page's ids (offset 99,975)
took 18.0 ms with the settings read per row, 10.7 ms this way, 10.6 ms as a superuser
(no policy at all). The policies say exactly what they said before; only when the
settings are read changes. This rewrites every policy of the schema that reads an
``atrium.*`` setting, as PostgreSQL stores it (``pg_policies``), so policies added by
later migrations in the old form are not missed; downgrade unwraps them.

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

_SETTING = r"current_setting\('(atrium\.[a-z_]+)'::text, true\)"
# (as PostgreSQL stores the expression, as it stores it wrapped): flags, ids, the rest.
_FORMS = (
    (re.compile(r"COALESCE\(" + _SETTING + r", ''::text\) = '([a-z]+)'::text"),
     r"(SELECT COALESCE(current_setting('\1'::text, true), ''::text) = '\2'::text)",
     re.compile(r"\( SELECT \(COALESCE\(" + _SETTING + r", ''::text\) = '([a-z]+)'::text\)\)"),
     r"COALESCE(current_setting('\1'::text, true), ''::text) = '\2'::text"),
    (re.compile(r"\(NULLIF\(" + _SETTING + r", ''::text\)\)::integer"),
     r"(SELECT (NULLIF(current_setting('\1'::text, true), ''::text))::integer)",
     re.compile(r"\( SELECT \(NULLIF\(" + _SETTING + r", ''::text\)\)::integer AS \"?nullif\"?\)"),
     r"(NULLIF(current_setting('\1'::text, true), ''::text))::integer"),
    (re.compile(r"(?<!COALESCE\()(?<!NULLIF\()(?<!SELECT )" + _SETTING),
     r"(SELECT current_setting('\1'::text, true))",
     re.compile(r"\( SELECT " + _SETTING + r" AS current_setting\)"),
     r"current_setting('\1'::text, true)"),
)

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
    for plain, wrapped, _, _ in _FORMS:
        expression = plain.sub(wrapped, expression)
    return expression


def _unwrap(expression: str) -> str:
    for _, _, stored, plain in _FORMS:
        expression = stored.sub(plain, expression)
    return expression


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
