"""Row estimates under the row-level-security policies (PostgreSQL).

A large list shows "about N" (``app.views.interface``): N is the planner's estimate for
the list's own statement, in its transaction, so under the same policies. Staff pass
every policy, but the planner cannot know that (the settings are read when the
statement runs) and guesses that a policy keeps a fraction of the rows, about a quarter
(200,000 tickets estimated at 51,000). For staff that fraction is taken back out: the
table's rows (``reltuples``) when nothing is filtered, else the estimate x ``reltuples``
/ the estimate for the whole table under the same policy. The two table figures are kept
per process for ``TABLE_FIGURES_SECONDS``: statistics change slowly and the result reads
"about" anyway.
"""

from __future__ import annotations

import time

import sqlalchemy as sa

from app.tenancy.binding import current_scope

TABLE_FIGURES_SECONDS = 600
# (database, table) -> (valid until, reltuples, whole-table estimate under the policies)
_TABLE_FIGURES: dict = {}


def plan_rows(session, query) -> float:
    """The planner's row estimate for an ORM ``query`` (``EXPLAIN``), in the session's
    transaction: under its RLS settings."""
    compiled = query.statement.compile(dialect=session.get_bind().dialect)
    plan = session.connection().exec_driver_sql("EXPLAIN (FORMAT JSON) " + str(compiled),
                                                compiled.params).scalar()
    return float(plan[0]["Plan"]["Plan Rows"])


def _table_figures(session, model, load: bool = True) -> tuple[float, float] | None:
    key = (str(session.get_bind().url), model.__table__.name)
    found = _TABLE_FIGURES.get(key)
    if found is None or found[0] < time.monotonic():
        if not load:
            return None
        table_rows = session.execute(
            sa.text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)"),
            {"table": model.__table__.name}).scalar() or 0
        pk = getattr(model, sa.inspect(model).primary_key[0].key)
        found = _TABLE_FIGURES[key] = (time.monotonic() + TABLE_FIGURES_SECONDS, float(table_rows),
                                       plan_rows(session, session.query(pk)))
    return found[1], found[2]


def known_table_rows(session, model) -> float | None:
    """For staff, the table's rows as already read by ``estimated_rows`` (``None`` when
    nothing is kept, or for anyone else): never a statement of its own."""
    if not current_scope().is_staff:
        return None
    known = _table_figures(session, model, load=False)
    return known[0] if known is not None else None


def estimated_rows(session, query, model, *, filtered: bool) -> float:
    """The rows ``query`` (of ``model``; ``filtered``: with conditions of its own) would
    return, as estimated for the acting scope (see the module docstring)."""
    if not current_scope().is_staff:
        return plan_rows(session, query)
    table_rows, whole = _table_figures(session, model)
    if not filtered and table_rows > 0:
        return table_rows
    estimate = plan_rows(session, query)
    return estimate * table_rows / whole if table_rows > 0 and whole > 0 else estimate


def forget() -> None:
    """Drop the kept table figures (a database replaced under a running process)."""
    _TABLE_FIGURES.clear()
