"""PostgreSQL row-level security: the scope as transaction-local settings.

The policies created by the migrations read ``atrium.staff``, ``atrium.client_id`` and
``atrium.user_id`` and admit only the scope's rows, and nothing without settings. The
app must connect as a role that does not bypass RLS (the tables' owner is fine: the
policies are ``FORCE``d); a superuser bypasses them.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, scoped_session
from app.tenancy.scope import Scope

_SET_SCOPE = sa.text(
    "SELECT set_config('atrium.staff', :staff, true), set_config('atrium.client_id', :client_id, true), "
    "set_config('atrium.user_id', :user_id, true)"
)


def _settings(scope: Scope) -> dict:
    return {"staff": "on" if scope.is_staff else "off",
            "client_id": "" if scope.client_id is None else str(scope.client_id),
            "user_id": "" if scope.user_id is None else str(scope.user_id)}


def _is_postgres(bind) -> bool:
    return bind is not None and bind.dialect.name == "postgresql"


def apply_database_scope(session: Session, scope: Scope) -> None:
    """Make the current transaction carry ``scope`` for the RLS policies (PostgreSQL).

    Called before every tenant-table statement and every flush; costs one statement per
    transaction (or per change of scope). A transaction that never touches tenant rows
    through the session carries no settings and therefore sees no tenant row.
    """
    if isinstance(session, scoped_session):
        session = session()
    if not _is_postgres(session.get_bind()):
        return
    settings = _settings(scope)
    if session.in_transaction() and session.info.get("atrium_rls") == settings:
        return
    session.execute(_SET_SCOPE, settings, execution_options={"atrium_scope_lookup": True})
    session.info["atrium_rls"] = settings  # after execute: a new transaction clears it


def forget_database_scope(session: Session, transaction=None) -> None:
    """The settings end with the database transaction (``set_config(..., true)``). Also the
    session's ``after_transaction_end`` hook, hence its signature: it forgets them when
    the session's transaction ends, and when a savepoint ends (a rollback to it undoes
    settings made inside it; a release costs one more ``set_config``), but not when a
    flush's own span inside the transaction ends. Forgetting them only when the next
    transaction began on a connection was too late: ``Session.add()`` after a
    commit starts the next session transaction with no connection yet, so a flush found
    the old settings still noted and set none ("new row violates row-level security")."""
    if transaction is None or transaction.parent is None or transaction.nested:  # not a flush's own span
        session.info.pop("atrium_rls", None)
