"""Migrations from an empty database, model/migration drift, the seed and the CLI."""

import re
import subprocess
import sys

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db
from config import BASE_DIR
from tests.conftest import PASSWORD, make_app, run_cli

import pytest
pytestmark = pytest.mark.both_backends

COUNTED = ["ab_user", "clients", "client_members", "projects", "milestones", "infrastructure", "domains",
           "tickets", "ticket_messages", "campaigns", "campaign_metrics", "monitors", "monitor_checks",
           "incidents", "incident_updates", "network_usage", "performance_metrics", "storage_folders",
           "storage_files", "reports", "billing_events", "ab_role",
           "ab_permission_view", "ab_permission_view_role"]


def _counts():
    return {t: db.session.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in COUNTED}


def test_upgrade_from_empty_matches_the_models(empty_database):
    app = make_app(empty_database)
    with app.app_context():
        result = run_cli(app, "db", "upgrade")
        assert result.exit_code == 0, result.output
        with db.engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
        assert diff == [], f"models and migrations drifted apart: {diff}"
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"clients", "tickets", "audit_events", "job_runs", "daily_analytics", "ab_user"} <= tables
        db.engine.dispose()


def test_seed_twice_leaves_the_same_row_counts(app):
    first = _counts()
    assert first["clients"] == 4 and first["tickets"] >= 32 and first["campaign_metrics"] == 6 * 90
    result = run_cli(app, "seed", "demo", "--password", PASSWORD)
    assert result.exit_code == 0, result.output
    assert "none (all demo clients already existed)" in result.output
    run_cli(app, "roles", "sync")
    assert _counts() == first


def test_seed_demo_builds_every_area_per_client(app):
    rows = db.session.execute(sa.text(
        "SELECT c.slug, c.tier, (SELECT count(*) FROM projects p WHERE p.client_id = c.id),"
        " (SELECT count(*) FROM domains d WHERE d.client_id = c.id),"
        " (SELECT count(*) FROM campaigns k WHERE k.client_id = c.id),"
        " (SELECT count(*) FROM ticket_messages m WHERE m.client_id = c.id AND m.internal)"
        " FROM clients c ORDER BY c.id")).all()
    assert [r[0] for r in rows] == ["free-co", "basic-co", "pro-co", "enterprise-co"]
    for slug, tier, projects, domains, campaigns, internal in rows:
        assert projects >= 1 and domains >= 1 and internal >= 1, slug
    assert rows[0][4] == 0  # the free plan syncs no ad platform
    users = set(db.session.execute(sa.text("SELECT username FROM ab_user")).scalars())
    for slug in ("free-co", "basic-co", "pro-co", "enterprise-co"):
        assert {f"{slug}-owner", f"{slug}-viewer"} <= users


def test_seed_refuses_a_short_password(app):
    result = run_cli(app, "seed", "demo", "--password", "short")
    assert result.exit_code != 0 and "at least 8 characters" in result.output


def _flask(args, env_extra):
    import os

    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEY", "DATABASE_URL", "DATABASE_OWNER_URL", "AUDIT_HMAC_KEY", "AUDIT_SIGNING_KEY")}
    env.update({"FLASK_APP": "wsgi.py", **env_extra})
    return subprocess.run([sys.executable, "-m", "flask", *args], cwd=BASE_DIR, env=env,
                          capture_output=True, text=True, timeout=60)


def test_production_refuses_the_default_secret_key():
    proc = _flask(["roles", "sync"], {"ATRIUM_ENV": "production", "DATABASE_URL": "sqlite://"})
    assert proc.returncode != 0
    assert "SECRET_KEY" in proc.stderr


def test_production_seed_requires_a_password(tmp_path, production_environment):
    url = f"sqlite:///{tmp_path / 'prod.db'}"
    env = {**production_environment, "ATRIUM_ENV": "production", "DATABASE_URL": url,
           "AUDIT_CHECKPOINT_DIR": str(tmp_path / "checkpoints")}
    assert _flask(["db", "upgrade"], env).returncode == 0
    proc = _flask(["seed", "demo"], env)
    assert proc.returncode != 0 and "--password is required in production" in proc.stderr


def test_health_endpoints(client):
    assert client.get("/health").get_json() == {"status": "ok"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200
    assert ready.get_json()["checks"]["database"] == "ok"


def test_ready_names_redis_when_it_is_unreachable(app):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    response = app.test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.get_json()["degraded"] == ["redis"]


def test_ready_reports_queue_depths_with_a_real_redis(app):
    import os

    import pytest
    import redis

    url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis unreachable at {url}: {exc}")
    app.config["REDIS_URL"] = url
    body = app.test_client().get("/health/ready").get_json()
    assert body["checks"]["redis"] == "ok"
    assert set(body["checks"]["queues"]) == {"high", "default", "sync", "reports", "maintenance"}


def test_roles_sync_says_what_it_changed_in_one_line(app):
    first = run_cli(app, "roles", "sync")
    assert first.exit_code == 0 and first.output.count("\n") == 1, first.output
    assert re.fullmatch(r"Roles synced: 0 grants added, 0 removed, \d+ kept \(4 roles, \d+ permissions\)\.\n",
                        first.output), first.output
    detailed = run_cli(app, "roles", "sync", "--verbose")
    assert "Operator: " in detailed.output and detailed.output.rstrip().endswith("permissions).")


def test_the_favicon_is_served_and_no_page_loads_googles_charts(client):
    from tests.conftest import login

    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    login(client, "admin")
    assert client.get("/userstatschartview/chart/").status_code == 404
    assert "User's Statistics" not in client.get("/ticketview/list/").get_data(as_text=True)
