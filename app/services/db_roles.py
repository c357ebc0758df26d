"""PostgreSQL's two roles (README "Running in production").

- The **owner** role (``DATABASE_OWNER_URL``) owns the schema: it runs ``flask db
  upgrade`` and the maintenance commands that may delete or rewrite audit events
  (``flask audit prune``, ``flask audit rekey``, ``flask gdpr erase``).
- The **app** role (``DATABASE_URL``; ``DATABASE_APP_ROLE`` when the grants should go to
  another role) owns nothing. After every ``flask db upgrade`` run as the owner,
  ``grant_app_role`` gives it read/write on the tables and sequences (and by default
  privileges on tables made later), but on ``audit_events`` only SELECT and INSERT, on
  ``audit_chain_head`` and ``alembic_version`` only SELECT. So it cannot change
  row-level security or triggers (owner only), cannot UPDATE, DELETE or TRUNCATE an
  event whatever ``atrium.audit_prune`` / ``atrium.audit_redaction`` say, and appends
  only through the chain (the insert trigger checks each row against the head and moves
  it, as the owner).

Without ``DATABASE_OWNER_URL`` one role does everything (development, SQLite).
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager

import sqlalchemy as sa
from flask import current_app

log = logging.getLogger(__name__)

READ_ONLY = ("audit_chain_head", "alembic_version")
APPEND_ONLY = ("audit_events",)
_ROLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def app_role(config) -> str | None:
    """The role the grants go to: ``DATABASE_APP_ROLE``, else ``DATABASE_URL``'s user when
    an owner URL is set."""
    if config.get("DATABASE_APP_ROLE"):
        return config["DATABASE_APP_ROLE"]
    if not config.get("DATABASE_OWNER_URL"):
        return None
    return sa.engine.make_url(config["SQLALCHEMY_DATABASE_URI"]).username


def grant_app_role(connection, role: str | None) -> None:
    """The app role's privileges, exactly (idempotent; run as the owner, PostgreSQL only)."""
    if not role or connection.dialect.name != "postgresql":
        return
    if connection.execute(sa.text("SELECT current_user")).scalar_one() == _plain(role):
        return  # one role does everything: nothing to grant
    _grant(connection, role)
    owns = connection.execute(sa.text(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = :r"), {"r": role}).scalar_one()
    if owns:
        log.warning("the app role %s still owns %s objects: it can change their row-level security and "
                    "triggers; as a superuser run `REASSIGN OWNED BY %s TO <owner>` (README)", role, owns, role)


def grant_staff_role(connection, role: str | None) -> None:
    """The staff role (``DATABASE_STAFF_ROLE``, ``app.tenancy.database``): the app role's
    privileges, and a twin ``TO`` it whose condition is ``true`` of every policy that admits
    all rows to a staff transaction. Twins of policies no longer so are dropped. Nothing
    when the role does not exist (a superuser creates it: README). Idempotent; run as the
    owner after every ``flask db upgrade``."""
    if not role or connection.dialect.name != "postgresql":
        return
    if connection.execute(sa.text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": _plain(role)}).first() is None:
        log.info("no database role %s: staff transactions keep the per-row check of the settings", role)
        return
    _grant(connection, role)
    policies = connection.execute(sa.text(
        "SELECT tablename, policyname, cmd, roles::text[], qual, with_check FROM pg_policies "
        "WHERE schemaname = current_schema() ORDER BY 1, 2")).all()
    wanted = {(table, f"{name}{TWIN_SUFFIX}"): (cmd, qual is not None, check is not None)
              for table, name, cmd, roles, qual, check in policies
              if roles == ["public"] and all(admits_staff(e) for e in (qual, check) if e is not None)}
    present = {(table, name) for table, name, _, roles, _, _ in policies if roles == [role]}
    for table, name in sorted(present - wanted.keys()):
        connection.execute(sa.text(f'DROP POLICY "{name}" ON "{table}"'))
    for (table, name), (cmd, using, check) in sorted(wanted.items()):
        if (table, name) not in present:
            connection.execute(sa.text(
                f'CREATE POLICY "{name}" ON "{table}" AS PERMISSIVE FOR {cmd} TO "{role}"'
                + (" USING (true)" if using else "") + (" WITH CHECK (true)" if check else "")))


def staff_role_setup(app_role: str, staff_role: str, exists: bool) -> list[str]:
    """What a superuser runs once so that ``app_role``'s staff transactions may switch to
    ``staff_role`` (README "Running in production"): the role, NOLOGIN; membership for the
    app role; and the app role NOINHERIT, so that the staff policies apply only after it
    switches (its privileges are granted to it directly)."""
    app_role, staff_role = _plain(app_role), _plain(staff_role)
    return [*([] if exists else [f'CREATE ROLE "{staff_role}" NOLOGIN NOSUPERUSER NOBYPASSRLS']),
            f'GRANT "{staff_role}" TO "{app_role}"', f'ALTER ROLE "{app_role}" NOINHERIT']


TWIN_SUFFIX = "_staff_role"
_STAFF_FLAG = "COALESCE(current_setting('atrium.staff'::text, true), ''::text) = 'on'::text"


def admits_staff(expression: str) -> bool:
    """Whether a policy expression, as PostgreSQL stores it, is true whenever
    ``atrium.staff`` is on: it is the staff flag, or an OR with the flag as one operand
    (read or not through a scalar subquery). Anything else, an AND above all, is not."""
    for operand in _top_level(_bare(expression), " OR "):
        operand = _bare(operand)
        if operand.startswith("SELECT "):
            operand = _bare(operand[len("SELECT "):])
        if operand == _STAFF_FLAG:
            return True
    return False


def _top_level(expression: str, separator: str) -> list[str]:
    """``expression`` split at ``separator`` outside parentheses and quoted literals."""
    parts, depth, start, i, quoted = [], 0, 0, 0, False
    while i < len(expression):
        char = expression[i]
        if char == "'":
            quoted = not quoted  # '' inside a literal closes and reopens it: same result
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
        elif not quoted and depth == 0 and expression.startswith(separator, i):
            parts.append(expression[start:i])
            i = start = i + len(separator)
            continue
        i += 1
    return [*parts, expression[start:]]


def _bare(expression: str) -> str:
    """``expression`` without parentheses that enclose all of it."""
    expression = expression.strip()
    while expression.startswith("(") and _closing(expression) == len(expression) - 1:
        expression = expression[1:-1].strip()
    return expression


def _closing(expression: str) -> int:
    """The index of the parenthesis that closes ``expression[0]``'s (-1: none)."""
    depth, quoted = 0, False
    for i, char in enumerate(expression):
        if char == "'":
            quoted = not quoted
        elif not quoted and char in "()":
            depth += 1 if char == "(" else -1
            if depth == 0:
                return i
    return -1


def _plain(role: str) -> str:
    if not _ROLE.match(role):
        raise RuntimeError(f"database role {role!r} is not a plain role name")
    return role


def _grant(connection, role: str) -> None:
    """SELECT/INSERT/UPDATE/DELETE on the tables and their sequences (and by default on
    later ones), but only SELECT and INSERT on the append-only, SELECT on the read-only."""
    role = _plain(role)
    statements = [
        f'GRANT USAGE ON SCHEMA public TO "{role}"',
        f'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO "{role}"',
        f'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO "{role}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO "{role}"',
        f'ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO "{role}"',
    ]
    for table in (*READ_ONLY, *APPEND_ONLY):
        if connection.execute(sa.text("SELECT to_regclass(:t)"), {"t": f"public.{table}"}).scalar() is None:
            continue
        statements.append(f'REVOKE ALL ON TABLE {table} FROM "{role}"')
        kept = "SELECT, INSERT" if table in APPEND_ONLY else "SELECT"
        statements.append(f'GRANT {kept} ON TABLE {table} TO "{role}"')
    for statement in statements:
        connection.execute(sa.text(statement))


@contextmanager
def as_owner(db):
    """Run the block's ``db.session`` work as the owner role (``DATABASE_OWNER_URL``); no
    owner URL: as the one role there is. Yields whether the owner URL was used."""
    url = current_app.config.get("DATABASE_OWNER_URL")
    if not url:
        yield False
        return
    engines = db.engines
    previous = engines[None]
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    db.session.remove()
    engines[None] = engine
    try:
        yield True
    finally:
        db.session.remove()
        engines[None] = previous
        engine.dispose()
