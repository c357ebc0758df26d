"""Test harness: a real SQLite and a real PostgreSQL, one app per backend per process.

**Apps.** Building an app costs about a second (werkzeug compiles ~480 URL rules, Jinja
compiles the templates on first use), so each test process builds one app per backend
and reuses it (``app``): before each test the database behind its URL is replaced by a
fresh copy of the seeded template, its configuration is restored to the snapshot taken
when it was built (tests may change it freely), and what the process cached of the old
database is forgotten (``AtriumSecurityManager.forget_database_state``). Tests that
change the app's wiring (add views or URL rules) or need settings read only when an app
is built take ``own_app`` or build one with ``make_app``/``seeded_app``.

**Databases.** One template per backend, built through the real doors (``flask db
upgrade``, ``flask roles sync``, ``flask seed demo``) and cached between runs, keyed on a
hash of everything that builds it: ``migrations/``, every ``.py`` file of ``app/`` (views
define the permissions ``roles sync`` grants), ``config.py`` and the seed password
(``template_key``). SQLite: a file in ``$ATRIUM_TEST_CACHE`` (default: the temp dir's
``atrium-test-cache``), copied per test. PostgreSQL: a database ``atrium_tpl_<key>``;
the shared app's database is made from it once per process and put back to its rows
before each test (``PgWorkingDatabase``); databases of a test's own are ``CREATE
DATABASE ... TEMPLATE``. Builds take a lock (a file lock; a PostgreSQL advisory lock), so
parallel workers build it once.

**Backends.** A module runs on one backend, PostgreSQL (SQLite where PostgreSQL is
unreachable and not required), unless it is marked ``both_backends`` (tenancy, audit,
backup/GDPR, reports, query budget, schema, sessions, forms with dates, anything with SQL
of its own). ``postgres_only`` tests are generated for PostgreSQL alone, so nothing is
built for a backend that would skip. PostgreSQL is reached through ``TEST_PG_URL`` (an
admin URL; default ``postgresql://postgres@127.0.0.1:5432/postgres``); unreachable, its
tests skip with a printed reason, unless ``ATRIUM_REQUIRE_POSTGRES=1`` (CI), where that
is an error.

**Passwords.** The test configuration hashes with one round of PBKDF2
(``FAB_PASSWORD_HASH_METHOD``), the template too, and ``login()`` signs in without the
form (``sign_in``: the server-side session row and the cookie, as the form makes them).
Tests about signing in use ``login_with_form`` and the ``real_password_hash`` fixture
(production's scrypt, checked by the real form).

**Parallel.** Under pytest-xdist each worker is a process of its own: its own apps,
databases, upload and checkpoint directories; Redis keys carry a per-test prefix.
"""

from __future__ import annotations

import fcntl
import gc
import functools
import hashlib
import os
import re
import shutil
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import create_app, tenancy
from app.extensions import db

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "test-password-1"
PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("ATRIUM_REQUIRE_POSTGRES") == "1"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
RUN_ID = f"{uuid.uuid4().hex[:8]}_{WORKER}"
CACHE_DIR = Path(os.environ.get("ATRIUM_TEST_CACHE") or Path(tempfile.gettempdir()) / "atrium-test-cache")
TEMPLATE_MAX_AGE = 6 * 3600  # templates of other code older than this are removed when a new one is built
# The seed's data is relative to when it ran (SLA due times, this month's tickets, last
# checks): a template built longer ago than this, or in another month, is built again.
TEMPLATE_FRESH_FOR = 3600


def _template_is_fresh(built_at: float | None) -> bool:
    if built_at is None:
        return False
    now = time.time()
    same_month = time.strftime("%Y%m", time.gmtime(built_at)) == time.strftime("%Y%m", time.gmtime(now))
    return same_month and now - built_at < TEMPLATE_FRESH_FOR


def _pg_admin(dbname: str | None = None):
    import psycopg
    from sqlalchemy.engine import make_url

    url = PG_ADMIN_URL if dbname is None else make_url(PG_ADMIN_URL).set(database=dbname).render_as_string(
        hide_password=False)
    return psycopg.connect(url, autocommit=True, connect_timeout=3)


# Two roles, as in production (README "Running in production"): the owner role owns each
# test database and its schema and runs migrations (``DATABASE_OWNER_URL``), the app
# connects as the app role, which owns nothing and holds only the grants ``flask db
# upgrade`` gives it. Neither is a superuser, so the row-level security policies apply
# (they are FORCEd for the tables' owner too).
PG_APP_ROLE = "atrium_app"
PG_OWNER_ROLE = "atrium_owner"
PG_STAFF_ROLE = "atrium_staff"  # staff transactions switch to it (DATABASE_STAFF_ROLE's default)
# Test connections don't wait for the WAL to reach the disk at each commit (a crash of the
# test server loses nothing anyone needs); everything else is as in production.
PG_TEST_OPTIONS = "-csynchronous_commit=off"


def _pg_url(dbname: str, role: str = PG_APP_ROLE) -> str:
    from sqlalchemy.engine import make_url

    return (make_url(PG_ADMIN_URL).set(database=dbname, username=role)
            .update_query_dict({"options": PG_TEST_OPTIONS}).render_as_string(hide_password=False))


def pg_owner_url(url: str) -> str:
    """The owner role's URL of the database of the app role's ``url``."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(username=PG_OWNER_ROLE).render_as_string(hide_password=False)


def _db_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database


def _ensure_app_role(conn) -> None:
    for role in (PG_APP_ROLE, PG_OWNER_ROLE):
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            try:
                conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS")
            except Exception:  # noqa: BLE001 - another test process created it at the same moment
                pass
    from app.services.db_roles import staff_role_setup

    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (PG_STAFF_ROLE,)).fetchone() is not None
    for statement in staff_role_setup(PG_APP_ROLE, PG_STAFF_ROLE, exists):
        try:
            conn.execute(statement)
        except Exception:  # noqa: BLE001 - another test process did it at the same moment
            pass


_pg_problem: str | None = None


def pg_available() -> bool:
    global _pg_problem
    if _pg_problem is None:
        try:
            with _pg_admin() as conn:
                conn.execute("SELECT 1")
            _pg_problem = ""
        except Exception as exc:  # noqa: BLE001
            _pg_problem = f"PostgreSQL unreachable at {PG_ADMIN_URL}: {exc.__class__.__name__}: {exc}"
    return _pg_problem == ""


def primary_backend() -> str:
    """The backend of modules whose dialect cannot matter."""
    return "postgresql" if REQUIRE_PG or pg_available() else "sqlite"


CHECKPOINT_ROOT = Path(tempfile.gettempdir()) / f"atrium-test-checkpoints-{RUN_ID}"
UPLOAD_ROOT = Path(tempfile.gettempdir()) / f"atrium-test-uploads-{RUN_ID}"


def _checkpoint_dir() -> str:
    """A directory of its own for one app's audit checkpoints (removed after the run)."""
    CHECKPOINT_ROOT.mkdir(exist_ok=True)
    return tempfile.mkdtemp(dir=CHECKPOINT_ROOT)


# The environment the run started with. What the harness builds for every test (the
# templates, each process's shared app) is built in it, not in whatever variables the
# test that happens to come first has set (``monkeypatch.setenv``): a template seeded
# under a test's AUDIT_HMAC_KEY would carry a chain no other test's key verifies.
_RUN_ENVIRON = dict(os.environ)


@contextmanager
def _run_environment():
    during = dict(os.environ)
    os.environ.clear()
    os.environ.update(_RUN_ENVIRON)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(during)


def make_app(database_url: str, **overrides):
    config = {"SQLALCHEMY_DATABASE_URI": database_url, "WTF_CSRF_ENABLED": True,
              "SERVER_NAME": None, "UPLOAD_DIR": overrides.pop("UPLOAD_DIR", str(UPLOAD_ROOT)),
              # Each app its own checkpoint directory: checkpoints are of one database's chain.
              "AUDIT_CHECKPOINT_DIR": overrides.pop("AUDIT_CHECKPOINT_DIR", None) or _checkpoint_dir()}
    if database_url.startswith("postgresql"):
        config["DATABASE_OWNER_URL"] = pg_owner_url(database_url)
    config.update(overrides)
    application = create_app("test", config)
    # Tests keep an app context open around requests, so Flask reuses it and its ``g``
    # for every request; in production each request gets a fresh ``g``. Start each
    # request with the per-request values dropped, as production would.
    application.before_request_funcs.setdefault(None, []).insert(0, _fresh_request_globals)
    return application


_PER_REQUEST_GLOBALS = ("_login_user", "user", "atrium_identity", "atrium_impersonation", "atrium_request_id",
                        "atrium_scope", "_atrium_permissions", "csrf_token", "atrium_user_session",
                        "atrium_session_refused", "_flask_babel")


def _fresh_request_globals():
    from flask import g

    for name in _PER_REQUEST_GLOBALS:
        g.pop(name, None)


def run_cli(app, *args):
    runner = CliRunner()
    return runner.invoke(args=list(args), cli=app.cli, catch_exceptions=False, obj=_script_info(app))


def _script_info(app):
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: app)


def build_database(app, prepared=None) -> None:
    """Migrate, sync roles and seed through the CLI, as an operator would; ``prepared()``
    is called between roles and seed, the database closed (to copy it as it is then)."""
    with app.app_context():
        for args in (("db", "upgrade"), ("roles", "sync"), ("seed", "demo", "--password", PASSWORD, "--client-language", "none")):
            if args[0] == "seed" and prepared is not None:
                db.session.remove()
                db.engine.dispose()
                prepared()
            result = run_cli(app, *args)
            assert result.exit_code == 0, result.output
        db.session.remove()
        db.engine.dispose()


@functools.cache
def template_key() -> str:
    """A hash of everything that builds the template database, taken once per process (a
    file saved while the run builds its template must not split it across two keys)."""
    digest = hashlib.sha256(PASSWORD.encode())
    files = [ROOT / "config.py", *sorted((ROOT / "migrations").rglob("*.py")),
             *sorted((ROOT / "migrations").glob("*.mako")), *sorted((ROOT / "app").rglob("*.py"))]
    for path in files:
        digest.update(str(path.relative_to(ROOT)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


@contextmanager
def _file_lock(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _release_leaked_connections(conn, name: str) -> None:
    """Connections still open on ``name`` were left checked out by a test (a session or
    connection nobody closed): collect them now, while their database still exists, so
    their pool returns them quietly (a garbage-collected connection to a dropped database
    logs a traceback from inside whatever code the collector interrupted)."""
    if conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
                    (name,)).fetchone()[0]:
        gc.collect()


def _drop_database(name: str) -> None:
    with _pg_admin() as conn:
        _release_leaked_connections(conn, name)
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _built_at(comment: str | None) -> float | None:
    """When a PostgreSQL template was built (its comment says)."""
    found = re.search(r"^atrium test template, built (\d+)$", comment or "")
    return float(found.group(1)) if found else None


class PgWorkingDatabase:
    """One database per process for the shared app, put back to the template's rows
    before each test. The template's rows are copied once into a schema of the harness's
    own (``SEED_SCHEMA``, which the app's roles cannot read); before each test the other
    connections are ended, each table's (row count, newest ``xmin``) is compared with what
    it was after the last put-back (an insert or an update brings a newer ``xmin``, a
    delete alone a smaller count), and the tables that changed are emptied and refilled
    from the copy, every sequence set back, in one transaction with triggers off
    (``session_replication_role = replica``, as a superuser). Median 12 ms, against
    0.3 s and 0.15 CPU-s of the server for a ``CREATE DATABASE ... TEMPLATE`` and the
    ``DROP DATABASE`` of the used copy (each drop forces a checkpoint).

    Rows are all a test may change in place: a test that changes the schema (DDL, grants,
    a trigger switched off and on, a setting of the database) writes to the catalogs,
    which ``_read_fingerprint`` reads, and the database is then dropped and made again from
    the template (``tests/integration/test_harness.py`` checks both ways)."""

    SEED_SCHEMA = "atrium_test_seed"
    # The catalogs a schema change writes to (a row added, dropped or rewritten).
    CATALOGS = ("pg_class", "pg_attribute", "pg_attrdef", "pg_constraint", "pg_index", "pg_trigger", "pg_policy",
                "pg_proc", "pg_namespace", "pg_type", "pg_sequence", "pg_rewrite", "pg_default_acl",
                "pg_extension", "pg_enum")

    def __init__(self, template: str):
        self.template = template
        self.name = f"atrium_w_{RUN_ID}"
        self._conn = None  # the harness's own connection to it (superuser)
        self._fingerprint = None
        self._tables: list[str] = []
        self._sequences_back = ""  # one statement setting every sequence back
        self._rows_sql = ""  # reads each table's (row count, newest xmin)
        self._rows: dict = {}  # that, as the template's rows were put back

    def _create(self) -> None:
        self._disconnect()
        with _pg_admin() as conn:
            _release_leaked_connections(conn, self.name)
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            _create_from_template(conn, self.name, self.template)
        conn = self._conn = _pg_admin(self.name)
        seed = self.SEED_SCHEMA
        self._tables = [row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
        with conn.transaction():
            conn.execute(f'CREATE SCHEMA "{seed}"')
            conn.execute(f'REVOKE ALL ON SCHEMA "{seed}" FROM PUBLIC')
            for table in self._tables:
                conn.execute(f'CREATE TABLE "{seed}"."{table}" AS TABLE public."{table}"')
        sequences = []
        for (name,) in conn.execute("SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'").fetchall():
            last_value, is_called = conn.execute(f'SELECT last_value, is_called FROM public."{name}"').fetchone()
            sequences.append(f"setval('public.\"{name}\"', {int(last_value)}, {bool(is_called)})")
        self._sequences_back = "SELECT " + ", ".join(sequences)
        # Each table's rows and newest writer: an insert or update brings a newer xmin, a
        # delete alone a smaller count, so a table whose pair is unchanged holds its rows.
        self._rows_sql = " UNION ALL ".join(
            f"SELECT '{table}', count(*), max(xmin::text::bigint) FROM public.\"{table}\"" for table in self._tables)
        self._rows = self._read_rows()
        self._fingerprint = self._read_fingerprint()

    def _read_fingerprint(self) -> str:
        """How many rows each catalog has, and the newest transaction that wrote one."""
        parts = " UNION ALL ".join(f"SELECT '{catalog}', count(*), max(xmin::text::bigint) FROM {catalog}"
                                   for catalog in self.CATALOGS)
        parts += (" UNION ALL SELECT 'pg_db_role_setting', count(*), max(xmin::text::bigint) FROM "
                  "pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database "
                  "WHERE datname = current_database())")
        return repr(self._conn.execute(parts).fetchall())

    def _read_rows(self) -> dict:
        return {table: (count, newest) for table, count, newest in self._conn.execute(self._rows_sql)}

    def replace(self) -> None:
        if self._conn is None:
            self._create()
            return
        conn = self._conn
        _release_leaked_connections(conn, self.name)
        others = "FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()"
        conn.execute(f"SELECT pg_terminate_backend(pid) {others}", (self.name,))
        for _ in range(500):  # until they have left (a commit under way lands first)
            if not conn.execute(f"SELECT count(*) {others}", (self.name,)).fetchone()[0]:
                break
            time.sleep(0.01)
        if self._read_fingerprint() != self._fingerprint:
            self._create()
            return
        rows = self._read_rows()
        changed = [table for table in self._tables if rows[table] != self._rows[table]]
        seed = self.SEED_SCHEMA
        with conn.transaction():
            # One round trip: triggers off (a superuser's transaction), the changed tables
            # emptied and refilled, every sequence set back.
            conn.execute("; ".join([
                "SET LOCAL session_replication_role = replica",
                "SET LOCAL synchronous_commit = off",  # as the app's test connections
                "SET LOCAL lock_timeout = '20s'",  # a terminated backend still leaving
                *(f'DELETE FROM public."{table}"; INSERT INTO public."{table}" SELECT * FROM "{seed}"."{table}"'
                  for table in changed),
                self._sequences_back]))
        if changed:
            self._rows = self._read_rows()

    def _disconnect(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._disconnect()
        _drop_database(self.name)


def _retry(action, attempts: int = 20):
    """``action``, again while PostgreSQL says another session is using the database (a
    terminated backend takes a moment to leave)."""
    import psycopg

    for attempt in range(attempts):
        try:
            return action()
        except psycopg.errors.ObjectInUse:
            if attempt == attempts - 1:
                raise
            time.sleep(0.05)


def _create_from_template(conn, name: str, template: str) -> None:
    _retry(lambda: conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}" OWNER {PG_OWNER_ROLE}'))


class Backend:
    """Databases of one kind: the cached seeded template, fresh copies of it, and the
    process's shared app over a database that is replaced before each test."""

    def __init__(self, kind: str, tmp_root: Path):
        self.kind = kind
        self.tmp_root = tmp_root
        self._template: str | None = None  # SQLite: the file's path; PostgreSQL: the database's name
        self._made: list[str] = []
        self._shared = None
        self._shared_config: dict | None = None
        self._working: PgWorkingDatabase | None = None

    # ---------------------------------------------------------------- the template
    def template(self) -> str:
        if self._template is None:
            self._template = self._sqlite_template() if self.kind == "sqlite" else self._pg_template()
            shutil.copytree(self.seed_files(), UPLOAD_ROOT, dirs_exist_ok=True)  # for apps of their own
        return self._template

    def seed_files(self) -> Path:
        """The files the seed stored (its ``UPLOAD_DIR``), kept beside the template."""
        return CACHE_DIR / f"uploads-{self.kind}-{template_key()}"

    def _build(self, url: str, prepared) -> None:
        """Build the template at ``url``, its seed's files into ``seed_files()``;
        ``prepared()`` copies it before the seed (``bare_template``)."""
        files = self.seed_files()
        building = files.with_name(f"{files.name}.{RUN_ID}.building")
        shutil.rmtree(building, ignore_errors=True)
        shutil.rmtree(files, ignore_errors=True)
        with _run_environment():
            build_database(make_app(url, UPLOAD_DIR=str(building)), prepared)
        building.mkdir(parents=True, exist_ok=True)
        building.rename(files)

    def bare_template(self) -> str:
        """The template as it was before the seed: migrated and roles synced, no data
        (what an operator prepares before a restore)."""
        self.template()
        if self.kind == "sqlite":
            return str(CACHE_DIR / f"template-{template_key()}-bare.db")
        return f"atrium_tpl_{template_key()}_bare"

    def _sqlite_template(self) -> str:
        path = CACHE_DIR / f"template-{template_key()}.db"
        bare = path.with_name(f"{path.stem}-bare.db")
        with _file_lock(CACHE_DIR / "template.lock"):
            built_at = path.stat().st_mtime if path.exists() else None
            if not _template_is_fresh(built_at) or not self.seed_files().exists() or not bare.exists():
                building = path.with_name(f"{path.stem}.{RUN_ID}.building")
                building.unlink(missing_ok=True)
                self._build(f"sqlite:///{building}", lambda: shutil.copyfile(building, bare))
                building.rename(path)
                self._remove_old_cache(keep=template_key())
        return str(path)

    @staticmethod
    def _remove_old_cache(keep: str) -> None:
        for old in (*CACHE_DIR.glob("template-*.db"), *CACHE_DIR.glob("uploads-*")):
            if keep not in old.name and time.time() - old.stat().st_mtime > TEMPLATE_MAX_AGE:
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() else old.unlink(missing_ok=True)

    def _pg_template(self) -> str:
        name = f"atrium_tpl_{template_key()}"
        with _pg_admin() as conn:
            _ensure_app_role(conn)
            conn.execute("SELECT pg_advisory_lock(hashtext('atrium test template'))")
            try:
                found = conn.execute("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                     "WHERE datname = %s", (name,)).fetchone()
                bare = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (f"{name}_bare",)).fetchone()
                if (not _template_is_fresh(_built_at(found[0] if found else None)) or not bare
                        or not self.seed_files().exists()):
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}_bare"')
                    building = f"atrium_b_{RUN_ID}"
                    conn.execute(f'DROP DATABASE IF EXISTS "{building}"')
                    conn.execute(f'CREATE DATABASE "{building}" OWNER {PG_OWNER_ROLE}')

                    def prepared():
                        _release_leaked_connections(conn, building)
                        _create_from_template(conn, f"{name}_bare", building)

                    self._build(_pg_url(building), prepared)
                    _release_leaked_connections(conn, building)
                    conn.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
                    for each in (name, f"{name}_bare"):
                        conn.execute(f"COMMENT ON DATABASE \"{each}\" IS 'atrium test template, built {int(time.time())}'")
                    self._drop_old_templates(conn, keep=name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(hashtext('atrium test template'))")
        return name

    @staticmethod
    def _drop_old_templates(conn, keep: str) -> None:
        rows = conn.execute("SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database "
                            "WHERE datname LIKE 'atrium\\_tpl\\_%%'").fetchall()
        for name, comment in rows:
            built = _built_at(comment)
            if name != keep and built and time.time() - built > TEMPLATE_MAX_AGE:
                try:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                except Exception:  # noqa: BLE001 - in use by another run: left for a later one
                    pass

    # ---------------------------------------------------------------- databases of their own
    def new_database(self, seeded: bool = True, *, prepared: bool = False) -> str:
        """A database of its own: a copy of the seeded template, of the bare one
        (``prepared``: migrated and roles synced, no data), or empty."""
        tag = uuid.uuid4().hex[:10]
        source = self.bare_template() if prepared else self.template() if seeded else None
        if self.kind == "sqlite":
            path = self.tmp_root / f"{tag}.db"
            if source:
                shutil.copyfile(source, path)
            return f"sqlite:///{path}"
        name = f"atrium_t_{RUN_ID}_{tag}"
        with _pg_admin() as conn:
            _ensure_app_role(conn)
            if source:
                _create_from_template(conn, name, source)
            else:
                conn.execute(f'CREATE DATABASE "{name}" OWNER {PG_OWNER_ROLE}')
        self._made.append(name)
        return _pg_url(name)

    def drop(self, url: str) -> None:
        if self.kind == "postgresql":
            name = _db_name(url)
            _drop_database(name)
            if name in self._made:
                self._made.remove(name)

    # ---------------------------------------------------------------- the shared app
    def shared_app(self):
        """The process's app of this backend, over a fresh copy of the template, with
        the configuration it was built with."""
        uploads = self.tmp_root / "shared-uploads"
        if self._shared is None:
            if self.kind == "sqlite":
                url = f"sqlite:///{self.tmp_root / 'shared.db'}"
            else:
                self._working = PgWorkingDatabase(self.template())
                url = _pg_url(self._working.name)
            with _run_environment():
                self._shared = make_app(url, UPLOAD_DIR=str(uploads))
            self._shared_config = dict(self._shared.config)
        application = self._shared
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        if self._working is not None:
            self._working.replace()
        else:
            shutil.copyfile(self.template(), self.tmp_root / "shared.db")
        shutil.rmtree(uploads, ignore_errors=True)
        shutil.copytree(self.seed_files(), uploads)
        application.config.clear()
        application.config.update(self._shared_config, AUDIT_CHECKPOINT_DIR=_checkpoint_dir())
        with application.app_context():
            application.appbuilder.sm.forget_database_state()
        return application

    def close(self) -> None:
        if self._shared is not None:
            with self._shared.app_context():
                db.session.remove()
                db.engine.dispose()
        if self._working is not None:
            self._working.close()
        for name in list(self._made):
            self.drop(_pg_url(name))


@pytest.fixture(scope="session")
def backends(tmp_path_factory):
    made = {}

    def get(kind):
        if kind not in made:
            made[kind] = Backend(kind, tmp_path_factory.mktemp(kind))
        return made[kind]

    yield get
    for backend in made.values():
        backend.close()
    shutil.rmtree(CHECKPOINT_ROOT, ignore_errors=True)
    shutil.rmtree(UPLOAD_ROOT, ignore_errors=True)


def backend_or_skip(kind: str, backends) -> Backend:
    """The backend of ``kind``; PostgreSQL unreachable: skipped, or failed under CI."""
    if kind == "postgresql" and not pg_available():
        if REQUIRE_PG:
            pytest.fail(f"ATRIUM_REQUIRE_POSTGRES=1 but {_pg_problem}")
        pytest.skip(f"PostgreSQL tests skipped: {_pg_problem}")
    return backends(kind)


def backend_kinds(node) -> list[str]:
    """The backends a test runs on (see the module docstring)."""
    if node.get_closest_marker("postgres_only"):
        return ["postgresql"]
    if node.get_closest_marker("one_backend"):
        return [primary_backend()]
    if node.get_closest_marker("both_backends"):
        return ["sqlite", "postgresql"]
    return [primary_backend()]


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        metafunc.parametrize("backend", backend_kinds(metafunc.definition), indirect=True)


def pytest_collection_finish(session):
    """Under pytest-xdist the first two workers build the two templates at once, when the
    collected tests need both and the cache has neither (a cold build takes 15-20 s;
    otherwise the second worker waits for the first one's, then builds its own)."""
    kinds = {getattr(item, "callspec", None) and item.callspec.params.get("backend") for item in session.items}
    wanted = {"gw0": "postgresql", "gw1": "sqlite"}.get(WORKER)
    if wanted in kinds and {"sqlite", "postgresql"} <= kinds and (wanted == "sqlite" or pg_available()):
        Backend(wanted, Path(tempfile.gettempdir())).template()


@pytest.fixture(autouse=True)
def system_scope_outside_requests():
    """Test code outside a request acts as the system, as a CLI command or a job binds it
    (``app.tenancy``: unbound is refused); a request made through the test client still
    acts as its own signed-in user. ``test_tenancy_binding`` unbinds it to show the refusal."""
    with tenancy.outside_requests(tenancy.SYSTEM):
        yield


@pytest.fixture
def backend(request, backends):
    return backend_or_skip(request.param, backends)


@contextmanager
def seeded_app(backend: Backend, **overrides):
    """An app of its own over a fresh copy of the seeded template, its app context open."""
    url = backend.new_database(seeded=True)
    application = make_app(url, **overrides)
    try:
        with application.app_context():
            yield application
            db.session.remove()
            db.engine.dispose()
    finally:
        backend.drop(url)


@pytest.fixture
def app(backend):
    """The process's app of this backend over a fresh copy of the seeded database."""
    application = backend.shared_app()
    with application.app_context():
        yield application
        db.session.remove()


@pytest.fixture
def own_app(backend):
    """An app built for this test alone (for tests that add views or URL rules)."""
    with seeded_app(backend) as application:
        yield application


@pytest.fixture
def prepared_database(backend):
    """A database migrated and roles synced through the CLI, with no data (a copy)."""
    url = backend.new_database(prepared=True)
    yield url
    backend.drop(url)


@pytest.fixture
def empty_database(backend):
    url = backend.new_database(seeded=False)
    yield url
    backend.drop(url)


@pytest.fixture
def client(app):
    return app.test_client()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, path: str) -> str:
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html) or re.search(r'value="([^"]+)"[^>]*name="csrf_token"', html)
    assert match, f"no CSRF token on {path}"
    return match.group(1)


def login_with_form(client, username: str, password: str = PASSWORD):
    """Sign in through the sign-in form, as a person does (the password checked)."""
    token = csrf_token(client, "/login/")
    response = client.post("/login/", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, f"login of {username} failed"
    return response


def sign_in(client, username: str) -> None:
    """Sign ``username`` in without the form: the server-side session row and the
    cookie that names it, made by the same code the form's success runs (Flask-Login's
    ``login_user`` and its ``user_logged_in`` signal); no password check, no
    ``login.success`` event."""
    from flask import session
    from flask_login import login_user

    application = client.application
    with application.test_request_context("/login/"):
        _fresh_request_globals()  # as any request starts (the app context may be the test's)
        user = application.appbuilder.sm.find_user(username=username)
        assert user is not None and user.is_active, f"no active user {username}"
        login_user(user, remember=False)
        values = dict(session)
    with client.session_transaction() as cookie:
        cookie.clear()
        cookie.update(values)


def login(client, username: str, password: str | None = None):
    """Sign in: with a ``password``, through the form; without, by ``sign_in``."""
    if password is not None:
        return login_with_form(client, username, password)
    sign_in(client, username)
    return None


@pytest.fixture
def as_user(client):
    def _as(username):
        login(client, username)
        return client

    return _as


_REAL_HASHES: dict[str, str] = {}


def use_real_password_hash(application) -> None:
    """Production's password hash (scrypt) for every user of ``application``'s database
    (all seeded with ``PASSWORD``) and for passwords set from now on. Call inside its
    app context."""
    import sqlalchemy as sa
    from werkzeug.security import generate_password_hash

    if PASSWORD not in _REAL_HASHES:
        _REAL_HASHES[PASSWORD] = generate_password_hash(PASSWORD, method="scrypt")
    application.config["FAB_PASSWORD_HASH_METHOD"] = "scrypt"
    application.config["AUTH_DB_FAKE_PASSWORD_HASH_CHECK"] = _REAL_HASHES[PASSWORD]
    users = application.appbuilder.sm.user_model.__table__
    db.session.execute(sa.update(users).where(users.c.password.like("pbkdf2:sha256:1$%"))
                       .values(password=_REAL_HASHES[PASSWORD]))
    db.session.commit()


@pytest.fixture
def real_password_hash(app):
    """``app`` with production's password hash (``use_real_password_hash``)."""
    use_real_password_hash(app)
    return app


# --------------------------------------------------------------------------- Redis / RQ

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


@pytest.fixture
def production_environment(monkeypatch):
    """Every variable production requires, set to acceptable values (a test takes one
    away or spoils it); the database and Redis named are never reached by ``load_config``."""
    values = {"SECRET_KEY": "a-production-secret-of-more-than-32-chars",
              "DATABASE_URL": "postgresql://atrium_app@db.invalid/atrium",
              "REDIS_URL": REDIS_TEST_URL,
              "AUDIT_HMAC_KEY": "an-audit-hmac-key-of-more-than-32-chars",
              "AUDIT_SIGNING_KEY": "c" * 43 + "="}  # base64 of 32 bytes
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


def redis_or_skip():
    """The test Redis (``TEST_REDIS_URL``); skipped when unreachable, failed in CI."""
    import redis

    try:
        connection = redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1)
        connection.ping()
        return connection
    except redis.RedisError as exc:
        if REQUIRE_PG:
            pytest.fail(f"Redis unreachable at {REDIS_TEST_URL} in CI: {exc}")
        pytest.skip(f"Redis unreachable at {REDIS_TEST_URL}: {exc}")


@pytest.fixture
def rq_app(app):
    """``app`` with real RQ queues on the test Redis, under a prefix of this test's own
    (several suites may share the Redis); the queues are emptied afterwards."""
    connection = redis_or_skip()
    prefix = f"atrium-test-{uuid.uuid4().hex[:8]}-"
    app.config.update(REDIS_URL=REDIS_TEST_URL, RQ_QUEUE_PREFIX=prefix)
    yield app
    for key in connection.scan_iter(f"rq:*{prefix}*"):
        connection.delete(key)
    app.config.update(REDIS_URL=None, RQ_QUEUE_PREFIX="")


def work_off(app, queues=None):
    """Run every queued job with a real RQ worker (``SimpleWorker``, burst mode) in this
    process and app context; returns whether all succeeded."""
    from rq import SimpleWorker

    from app.services.jobs import QUEUES, redis_connection, rq_queue

    connection = redis_connection()
    worker = SimpleWorker([rq_queue(name, connection) for name in (queues or QUEUES)], connection=connection)
    return worker.work(burst=True, with_scheduler=True)
