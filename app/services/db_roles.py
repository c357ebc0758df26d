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
    if not _ROLE.match(role):
        raise RuntimeError(f"DATABASE_APP_ROLE {role!r} is not a plain role name")
    if connection.execute(sa.text("SELECT current_user")).scalar_one() == role:
        return  # one role does everything: nothing to grant
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
    owns = connection.execute(sa.text(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = :r"), {"r": role}).scalar_one()
    if owns:
        log.warning("the app role %s still owns %s objects: it can change their row-level security and "
                    "triggers; as a superuser run `REASSIGN OWNED BY %s TO <owner>` (README)", role, owns, role)


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
