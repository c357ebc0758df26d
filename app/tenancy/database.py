"""PostgreSQL row-level security: the scope as transaction-local settings and role.

The policies created by the migrations read ``atrium.staff``, ``atrium.client_id`` and
``atrium.user_id`` and admit only the scope's rows, and nothing without settings. The
app must connect as a role that does not bypass RLS (the tables' owner is fine: the
policies are ``FORCE``d); a superuser bypasses them.

**The staff role** (``DATABASE_STAFF_ROLE``, default ``atrium_staff``; README "Running
in production"). A staff (or system) transaction also switches to that role for its own
duration (``set_config('role', ..., true)``, i.e. ``SET LOCAL ROLE``, in the same
statement as the settings). ``flask db upgrade`` gives the role the app role's
privileges and, beside every policy that admits all rows to a staff transaction, a twin
``TO`` the role whose condition is ``true`` (``app.services.db_roles``). PostgreSQL
folds ``true OR ...`` when it plans, so a staff query carries no per-row check at all,
where the settings alone leave ``$staff OR client_id = $client`` on every row it reads.
Fail closed: a client transaction, or one that forgot to switch, runs as the login role,
which the twins do not name, so only the settings' policies apply. The login role must
be a member that does *not* inherit the staff role (``NOINHERIT``), or the twins would
apply to every transaction it runs: a connection whose role inherits it is refused
(``StaffRoleInherited``). A login role that is not a member (or no such role) simply
never switches; a superuser or BYPASSRLS role never switches either (the policies do not
apply to it anyway). Plans cached by the server are keyed on the role, so a prepared
statement planned for staff is re-planned for a client.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session, scoped_session
from app.tenancy.scope import Scope

_SET_SCOPE = sa.text(
    "SELECT set_config('atrium.staff', :staff, true), set_config('atrium.client_id', :client_id, true), "
    "set_config('atrium.user_id', :user_id, true), set_config('role', :role, true)"
)
_STAFF_ROLE = "atrium_staff_role"  # key in a connection's ``info``: the role its staff transactions switch to

# (privileged: superuser or BYPASSRLS, may switch to the staff role, inherits it)
_ROLE_FACTS = ("SELECT r.rolsuper OR r.rolbypassrls, coalesce(pg_has_role(r.oid, s.oid, 'MEMBER'), false), "
               "coalesce(pg_has_role(r.oid, s.oid, 'USAGE'), false) "
               "FROM pg_roles r LEFT JOIN pg_roles s ON s.rolname = %s WHERE r.rolname = current_user")


class StaffRoleInherited(RuntimeError):
    """The login role inherits the staff role: every transaction would see every row."""


def watch_connections(engine, staff_role: str | None) -> None:
    """Note on each new PostgreSQL connection whether its staff transactions switch to
    ``staff_role`` (one query per connection, not per request)."""
    if engine.dialect.name != "postgresql" or not staff_role:
        return

    @sa.event.listens_for(engine, "connect")
    def _note_staff_role(dbapi_connection, record):
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(_ROLE_FACTS, (staff_role,))
            privileged, member, inherits = cursor.fetchone()
        finally:
            cursor.close()
            dbapi_connection.rollback()
        if inherits and not privileged:
            raise StaffRoleInherited(
                f"the database login role inherits {staff_role!r}, whose policies admit every row: "
                f"`ALTER ROLE <login role> NOINHERIT` (README, Running in production)")
        record.info[_STAFF_ROLE] = staff_role if member and not privileged else None


def _settings(scope: Scope, staff_role: str | None) -> dict:
    return {"staff": "on" if scope.is_staff else "off",
            "client_id": "" if scope.client_id is None else str(scope.client_id),
            "user_id": "" if scope.user_id is None else str(scope.user_id),
            "role": staff_role if scope.is_staff and staff_role else "none"}


def _is_postgres(bind) -> bool:
    return bind is not None and bind.dialect.name == "postgresql"


def apply_database_scope(session: Session, scope: Scope) -> None:
    """Make the current transaction carry ``scope`` for the RLS policies (PostgreSQL):
    its settings and, for staff, the staff role (``'none'``, the login role, otherwise).

    Called before every tenant-table statement and every flush; costs one statement per
    transaction (or per change of scope). A transaction that never touches tenant rows
    through the session carries no settings and therefore sees no tenant row.
    """
    if isinstance(session, scoped_session):
        session = session()
    if not _is_postgres(session.get_bind()):
        return
    settings = _settings(scope, session.connection().info.get(_STAFF_ROLE))
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
