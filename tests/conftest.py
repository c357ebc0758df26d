"""Test harness: every test runs against SQLite and against a real PostgreSQL.

Databases: one template per backend is built once per run through the real doors
(``flask db upgrade``, ``flask roles sync``, ``flask seed demo``); each test gets a
fresh copy (a file copy on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL), so
tests commit freely and never see each other's writes.

PostgreSQL is reached through ``TEST_PG_URL`` (an admin URL; default
``postgresql://postgres@127.0.0.1:5432/postgres``). When it is unreachable the
PostgreSQL half is skipped with a printed reason, unless ``ATRIUM_REQUIRE_POSTGRES=1``
(CI), where that is an error.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
from click.testing import CliRunner

from app import create_app
from app.extensions import db

PASSWORD = "test-password-1"
PG_ADMIN_URL = os.environ.get("TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REQUIRE_PG = os.environ.get("ATRIUM_REQUIRE_POSTGRES") == "1"
RUN_ID = uuid.uuid4().hex[:8]


def _pg_admin():
    import psycopg

    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)


# Two roles, as in production (README "Running in production"): the owner role owns each
# test database and its schema and runs migrations (``DATABASE_OWNER_URL``), the app
# connects as the app role, which owns nothing and holds only the grants ``flask db
# upgrade`` gives it. Neither is a superuser, so the row-level security policies apply
# (they are FORCEd for the tables' owner too).
PG_APP_ROLE = "atrium_app"
PG_OWNER_ROLE = "atrium_owner"


def _pg_url(dbname: str, role: str = PG_APP_ROLE) -> str:
    from sqlalchemy.engine import make_url

    return make_url(PG_ADMIN_URL).set(database=dbname, username=role).render_as_string(hide_password=False)


def pg_owner_url(url: str) -> str:
    """The owner role's URL of the database of the app role's ``url``."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(username=PG_OWNER_ROLE).render_as_string(hide_password=False)


def _ensure_app_role(conn) -> None:
    for role in (PG_APP_ROLE, PG_OWNER_ROLE):
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if not exists:
            try:
                conn.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOBYPASSRLS")
            except Exception:  # noqa: BLE001 - another test run created it at the same moment
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


CHECKPOINT_ROOT = Path(tempfile.gettempdir()) / f"atrium-test-checkpoints-{RUN_ID}"


def _checkpoint_dir() -> str:
    """A directory of its own for one app's audit checkpoints (removed after the run)."""
    CHECKPOINT_ROOT.mkdir(exist_ok=True)
    return tempfile.mkdtemp(dir=CHECKPOINT_ROOT)


def make_app(database_url: str, **overrides):
    config = {"SQLALCHEMY_DATABASE_URI": database_url, "WTF_CSRF_ENABLED": True,
              "SERVER_NAME": None, "UPLOAD_DIR": overrides.pop("UPLOAD_DIR", "/tmp/atrium-test-uploads"),
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
                        "atrium_session_refused")


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


def build_database(app) -> None:
    """Migrate, sync roles and seed through the CLI, as an operator would."""
    with app.app_context():
        for args in (("db", "upgrade"), ("roles", "sync"), ("seed", "demo", "--password", PASSWORD)):
            result = run_cli(app, *args)
            assert result.exit_code == 0, result.output
        db.session.remove()
        db.engine.dispose()


class Backend:
    """Creates per-test databases of one kind from a seeded template."""

    def __init__(self, kind: str, tmp_root: Path):
        self.kind = kind
        self.tmp_root = tmp_root
        self.template_url: str | None = None
        self._made: list[str] = []

    def _ensure_template(self):
        if self.template_url is not None:
            return
        if self.kind == "sqlite":
            path = self.tmp_root / "template.db"
            path.unlink(missing_ok=True)
            url = f"sqlite:///{path}"
        else:
            name = f"atrium_tpl_{RUN_ID}"
            with _pg_admin() as conn:
                _ensure_app_role(conn)
                conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
                conn.execute(f'CREATE DATABASE "{name}" OWNER {PG_OWNER_ROLE}')
            if name not in self._made:
                self._made.append(name)
            url = _pg_url(name)
        build_database(make_app(url))
        self.template_url = url

    def new_database(self, seeded: bool = True) -> str:
        if seeded:
            self._ensure_template()
        tag = uuid.uuid4().hex[:10]
        if self.kind == "sqlite":
            path = self.tmp_root / f"{tag}.db"
            if seeded:
                shutil.copyfile(self.tmp_root / "template.db", path)
            return f"sqlite:///{path}"
        name = f"atrium_t_{RUN_ID}_{tag}"
        with _pg_admin() as conn:
            _ensure_app_role(conn)
            if seeded:
                conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "atrium_tpl_{RUN_ID}" OWNER {PG_OWNER_ROLE}')
            else:
                conn.execute(f'CREATE DATABASE "{name}" OWNER {PG_OWNER_ROLE}')
        self._made.append(name)
        return _pg_url(name)

    def drop(self, url: str) -> None:
        if self.kind == "postgresql":
            name = url.rsplit("/", 1)[1]
            with _pg_admin() as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if name in self._made:
                self._made.remove(name)

    def drop_all(self):
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
        if backend.kind == "postgresql":
            backend.drop_all()
    shutil.rmtree(CHECKPOINT_ROOT, ignore_errors=True)


def backend_or_skip(kind: str, backends) -> Backend:
    """The backend of ``kind``; PostgreSQL unreachable: skipped, or failed under CI."""
    if kind == "postgresql" and not pg_available():
        if REQUIRE_PG:
            pytest.fail(f"ATRIUM_REQUIRE_POSTGRES=1 but {_pg_problem}")
        pytest.skip(f"PostgreSQL tests skipped: {_pg_problem}")
    return backends(kind)


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request, backends):
    return backend_or_skip(request.param, backends)


@contextmanager
def seeded_app(backend: Backend, **overrides):
    """An app over a fresh copy of the seeded template, its app context open."""
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
    with seeded_app(backend) as application:
        yield application


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


def login(client, username: str, password: str = PASSWORD):
    token = csrf_token(client, "/login/")
    response = client.post("/login/", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, f"login of {username} failed"
    return response


@pytest.fixture
def as_user(client):
    def _as(username):
        login(client, username)
        return client

    return _as


# --------------------------------------------------------------------------- Redis / RQ

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


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

    from workers.queues import QUEUES, redis_connection, rq_queue

    connection = redis_connection()
    worker = SimpleWorker([rq_queue(name, connection) for name in (queues or QUEUES)], connection=connection)
    return worker.work(burst=True, with_scheduler=True)
