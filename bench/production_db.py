"""The database roles every benchmark runs Atrium as: production's (README "Running in
production"), never a superuser.

- ``atrium_bench_owner`` (NOSUPERUSER NOBYPASSRLS) owns the benchmark database; ``flask
  db upgrade`` runs as it (``DATABASE_OWNER_URL``) and grants the app role.
- ``atrium_bench_app`` (NOSUPERUSER NOBYPASSRLS): the server's and the CLI's
  ``DATABASE_URL``. Row-level security applies to it, as in production.
- ``atrium_staff`` (NOLOGIN; ``DATABASE_STAFF_ROLE``'s default): staff transactions of the
  app role switch to it (``SET LOCAL ROLE``), as README "Running in production" sets it
  up: the app role is a member that does not inherit it (NOINHERIT).
- ``atrium_bench_bypass`` (NOSUPERUSER BYPASSRLS, a member of the app role for its
  grants): only to measure what row-level security costs, the same requests with the
  policies skipped. Never the role a benchmark's headline figures are taken as.

``require_production_role(url)`` refuses a URL whose role is a superuser or bypasses RLS:
every benchmark calls it on the URL it runs Atrium with, so a figure cannot silently be
taken with the policies off again (issue 19: every earlier figure was, as ``postgres``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app.services.db_roles import staff_role_setup  # noqa: E402 - the repository's root, above

OWNER, APP, BYPASS, STAFF = "atrium_bench_owner", "atrium_bench_app", "atrium_bench_bypass", "atrium_staff"


class PrivilegedRole(RuntimeError):
    """The benchmark was about to measure Atrium as a role that skips row-level security."""


def role_url(server_url: str, database: str, role: str) -> str:
    """``server_url`` (any database, any user) pointed at ``database`` as ``role``."""
    return make_url(server_url).set(database=database, username=role, password=None).render_as_string(
        hide_password=False)


def ensure_roles(admin_url: str) -> None:
    """Create the roles if missing, as production sets them up (as the superuser of
    ``admin_url``)."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for role, flags in ((OWNER, "NOBYPASSRLS"), (APP, "NOBYPASSRLS"), (BYPASS, "BYPASSRLS")):
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER {flags}")
        conn.execute(f"GRANT {APP} TO {BYPASS}")  # the app's grants, nothing more
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (STAFF,)).fetchone() is not None
        for statement in staff_role_setup(APP, STAFF, exists):
            conn.execute(statement)


def create_database(admin_url: str, database: str) -> None:
    """A new database owned by the owner role (its ``public`` schema with it)."""
    ensure_roles(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}" OWNER {OWNER}')


def app_urls(server_url: str, database: str) -> dict:
    """``DATABASE_URL`` (the app role) and ``DATABASE_OWNER_URL`` for Atrium's processes."""
    return {"DATABASE_URL": role_url(server_url, database, APP),
            "DATABASE_OWNER_URL": role_url(server_url, database, OWNER)}


def bypass_url(server_url: str, database: str) -> str:
    return role_url(server_url, database, BYPASS)


def role_flags(url: str) -> dict:
    with psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)) as conn:
        row = conn.execute("SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
                           ).fetchone()
    return {"role": row[0], "superuser": row[1], "bypassrls": row[2]}


def require_production_role(url: str) -> dict:
    """The role of ``url`` if it is subject to row-level security; else ``PrivilegedRole``."""
    flags = role_flags(url)
    if flags["superuser"] or flags["bypassrls"]:
        raise PrivilegedRole(f"refusing to measure Atrium as {flags['role']!r} (superuser or BYPASSRLS skips "
                             "row-level security); production runs as a role without either")
    return flags
