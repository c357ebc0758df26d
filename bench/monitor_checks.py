"""Uptime checks at scale: 1,000 monitors checked by one worker vs a sequential checker.

Target (issue 5): 1,000 monitors against loopback servers, 10 % of them slower than
their timeout and 10 % failing, checked by one worker in at most 15 s of wall time and
at least 20x faster than plain sequential requests measured in the same run.

What it does:

1. Starts the loopback HTTP server (``tests/support/loopback.py``) in a child process,
   so the server's CPU is not the checker's.
2. Creates a private database (PostgreSQL ``atrium_bench_monitors`` by default, owned by
   the benchmark's owner role, ``bench/production_db.py``; or a temporary SQLite file with
   ``--sqlite``, a smoke test only: no roles, no row-level security). Atrium connects as
   the app role ``atrium_bench_app``, as in production (it refuses a superuser or BYPASSRLS
   role: exit 2); ``flask db upgrade`` runs as the owner. ``flask roles sync``, then,
   acting as the system (``tenancy.outside_requests(tenancy.SYSTEM)``), one Enterprise
   client with one project and ``--monitors`` monitors (timeout 1 s): 80 % answer
   ``/ok``, 10 % ``/slow/1.5`` (answers after 1.5 s: a timeout), 10 % ``/status/503``.
3. ``--repeats`` (default 3) repetitions, each one measurement of the system under test
   and one of the baseline, interleaved (worker first, then sequential first, in turn) so
   drift in the machine's load weighs on both; the monitors' state is reset between
   repetitions so each does the same work. The figures are the medians.
   Timed, the system under test: ``enqueue("monitoring.uptime_dispatch")`` on Redis (a
   private queue prefix) and one RQ ``SimpleWorker`` in burst mode until every queue is
   empty: the dispatch job, then its ``monitoring.uptime_check`` batches
   (``MONITOR_BATCH_SIZE``, default 1000, ``MONITOR_CONCURRENCY`` in flight), each result
   written (``MonitorCheck`` rows, counters, state, incidents). Without Redis the same
   jobs run inline. The time includes the database work.
   Timed, the baseline: the same URLs requested one after another with a plain
   ``httpx.Client`` and the same 1 s timeout (no database work at all).
4. Checks the outcome of every repetition is right (one check per monitor; 80 % ok; the
   slow ones failed with a timeout, the 503s with the status) and prints a JSON summary
   (also written to ``bench/results/monitor_checks.json``; ``wall_s``, ``sequential_s``
   and ``ratio`` are medians, ``repetitions`` lists each); exits 1 when a target is
   missed or an outcome is wrong, 2 when it cannot run. The database is dropped.

    .venv/bin/python bench/monitor_checks.py [--monitors 1000] [--repeats 3] [--sqlite] [--pg URL] [--redis URL]

``--pg`` is a superuser's server URL: it only creates and drops the database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "bench"))
import production_db  # noqa: E402 - bench/ is not a package

WALL_TARGET_S = 15.0
RATIO_TARGET = 20.0
TIMEOUT_S = 1
SLOW_S = 1.5


def start_server():
    proc = subprocess.Popen([sys.executable, "-m", "tests.support.loopback", "--port", "0"], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline().strip()
    if not line.startswith("PORT "):
        proc.kill()
        raise SystemExit(f"loopback server did not start: {line!r}")
    return proc, int(line.split()[1])


def url_for(i: int, port: int) -> tuple[str, str]:
    """(url, kind) of monitor ``i``: 10 % slow, 10 % failing, the rest fine."""
    base = f"http://127.0.0.1:{port}"
    if i % 10 == 0:
        return f"{base}/slow/{SLOW_S}", "slow"
    if i % 10 == 1:
        return f"{base}/status/503", "failing"
    return f"{base}/ok", "ok"


def psycopg_url(url: str) -> str:
    """``url`` in the driver form Atrium's engine uses (create_app overrides skip config's)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def database_url(args) -> tuple[dict, str | None, callable]:
    """Atrium's database settings (create_app overrides), the URL of the role Atrium runs
    as (None on SQLite) and the cleanup. PostgreSQL: a new database owned by the owner
    role; Atrium connects as the app role, migrations as the owner (``bench/production_db.py``)."""
    if args.sqlite:
        path = Path(tempfile.mkdtemp(prefix="atrium-bench-")) / "monitors.db"
        return {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"}, None, lambda: path.unlink(missing_ok=True)
    import psycopg

    admin_url = f"{args.pg}/postgres"

    def drop():
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')

    drop()
    production_db.create_database(admin_url, args.db)
    urls = production_db.app_urls(args.pg, args.db)
    return {"SQLALCHEMY_DATABASE_URI": psycopg_url(urls["DATABASE_URL"]),
            "DATABASE_OWNER_URL": psycopg_url(urls["DATABASE_OWNER_URL"])}, urls["DATABASE_URL"], drop


def redis_url(args) -> str | None:
    if args.no_redis:
        return None
    import redis

    try:
        redis.Redis.from_url(args.redis, socket_connect_timeout=1).ping()
        return args.redis
    except redis.RedisError as exc:
        print(f"Redis unreachable at {args.redis} ({exc}): jobs run inline", file=sys.stderr)
        return None


def sequential(urls: list[str]) -> tuple[float, int]:
    """Plain sequential requests: one ``httpx.Client``, one URL after another."""
    import httpx

    ok = 0
    started = time.perf_counter()
    with httpx.Client(timeout=TIMEOUT_S, follow_redirects=True, trust_env=False) as client:
        for url in urls:
            try:
                ok += client.get(url).status_code == 200
            except httpx.HTTPError:
                pass
    return time.perf_counter() - started, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--monitors", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3,
                        help="repetitions, each one worker run and one sequential run, interleaved")
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="atrium_bench_monitors")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--no-redis", action="store_true", help="run the jobs inline (no RQ worker)")
    args = parser.parse_args()
    if args.db in ("postgres", "test", "template0", "template1"):
        parser.error("refusing to use a shared database")
    if args.repeats < 1:
        parser.error("--repeats must be 1 or more")

    import sqlalchemy as sa

    from app import create_app, tenancy
    from app.extensions import db
    from app.models import Client, Monitor, MonitorCheck, Project, Tier
    from tests.conftest import run_cli
    from workers.monitoring import DEFAULT_BATCH_SIZE

    server, port = start_server()
    database, atrium_url, cleanup = database_url(args)
    try:
        # The role Atrium runs as: never one that skips row-level security.
        role = production_db.require_production_role(atrium_url) if atrium_url else None
    except production_db.PrivilegedRole as exc:
        print(exc, file=sys.stderr)
        server.terminate()
        server.wait(5)
        cleanup()
        return 2
    redis = redis_url(args)
    prefix = f"atrium-bench-{uuid.uuid4().hex[:8]}-"
    app = create_app("development", {**database, "REDIS_URL": redis, "RQ_QUEUE_PREFIX": prefix})
    load_before = [round(x, 2) for x in os.getloadavg()]
    repetitions = []
    try:
        # The CLI commands bind the system scope themselves; the rest acts as the system
        # too (a script, outside any request). Jobs bind it on their own.
        with app.app_context(), tenancy.outside_requests(tenancy.SYSTEM):
            for cli_args in (("db", "upgrade"), ("roles", "sync")):
                result = run_cli(app, *cli_args)
                if result.exit_code != 0:
                    print(result.output, file=sys.stderr)
                    return 2
            # A fresh session: the commands' one keeps their transaction's RLS settings in
            # ``session.info``, and a transaction begun by ``add()`` would skip setting them.
            db.session.remove()
            client = Client(name="Bench Co", slug="bench-co", tier=Tier.ENTERPRISE, status="active",
                            contact_email="ops@bench-co.example", timezone="UTC")
            project = Project(client=client, name="Bench site")
            db.session.add_all([client, project])
            db.session.flush()
            kinds = []
            rows = []
            for i in range(args.monitors):
                monitor_url, kind = url_for(i, port)
                kinds.append(kind)
                rows.append({"client_id": client.id, "project_id": project.id, "url": monitor_url, "method": "GET",
                             "expected_status": 200, "timeout_seconds": TIMEOUT_S, "enabled": True,
                             "consecutive_failures": 0, "consecutive_successes": 0, "state": "unknown"})
            db.session.execute(sa.insert(Monitor), rows)
            db.session.commit()
            urls = list(db.session.execute(sa.select(Monitor.url).order_by(Monitor.id)).scalars())

            from app.models import JobRun
            from app.services.jobs import enqueue, load_jobs

            load_jobs()

            def run_worker() -> dict:
                """One timed run of the system under test and its outcome."""
                # The same starting state every time: every monitor due, no streak.
                db.session.execute(sa.update(Monitor).values(last_checked_at=None, consecutive_failures=0,
                                                            consecutive_successes=0, state="unknown"))
                db.session.commit()
                first_check = db.session.execute(sa.select(sa.func.coalesce(sa.func.max(MonitorCheck.id), 0))
                                                 ).scalar_one()
                first_run = db.session.execute(sa.select(sa.func.coalesce(sa.func.max(JobRun.id), 0))).scalar_one()
                db.session.remove()
                started = time.perf_counter()
                enqueue("monitoring.uptime_dispatch")
                if redis:
                    from rq import SimpleWorker

                    from app.services.jobs import QUEUES, redis_connection, rq_queue

                    connection = redis_connection()
                    worker = SimpleWorker([rq_queue(name, connection) for name in QUEUES], connection=connection)
                    worker.work(burst=True)
                wall = time.perf_counter() - started

                db.session.expire_all()
                checks = db.session.execute(sa.select(MonitorCheck.ok, MonitorCheck.error)
                                            .where(MonitorCheck.id > first_check)).all()
                runs = db.session.execute(sa.select(JobRun.job_name, JobRun.status, JobRun.duration_ms, JobRun.result)
                                          .where(JobRun.id > first_run).order_by(JobRun.id)).all()
                db.session.remove()
                return {
                    "wall": wall, "checks": len(checks), "ok": sum(1 for ok, _ in checks if ok),
                    "timeouts": sum(1 for ok, error in checks if not ok and error and error.startswith("timed out")),
                    "status_failures": sum(1 for ok, error in checks
                                           if not ok and error == "expected status 200, got 503"),
                    "job_runs": [{"job": name, "status": status, "ms": ms,
                                  **{k: (result or {}).get(k) for k in ("network_ms", "apply_ms")
                                     if k in (result or {})}}
                                 for name, status, ms, result in runs],
                }

            # Interleaved: each repetition measures the worker and the sequential baseline
            # once, which goes first alternating, so drift in the load weighs on both.
            for rep in range(args.repeats):
                order = ("worker", "sequential") if rep % 2 == 0 else ("sequential", "worker")
                entry = {"order": list(order)}
                for what in order:
                    if what == "worker":
                        entry.update(run_worker())
                    else:
                        entry["sequential"], entry["sequential_ok"] = sequential(urls)
                repetitions.append(entry)
                print(f"repetition {rep + 1}/{args.repeats}: worker {entry['wall']:.2f} s, "
                      f"sequential {entry['sequential']:.2f} s", file=sys.stderr)
            if redis:
                from app.services.jobs import redis_connection

                connection = redis_connection()
                for key in connection.scan_iter(f"rq:*{prefix}*"):
                    connection.delete(key)
                ours = [name for name in connection.smembers("rq:queues") if prefix.encode() in name]
                if ours:  # RQ's registry of queues names ours too
                    connection.srem("rq:queues", *ours)
            db.session.remove()
            db.engine.dispose()
    finally:
        server.terminate()
        server.wait(5)
        cleanup()

    expected = {"ok": kinds.count("ok"), "slow": kinds.count("slow"), "failing": kinds.count("failing")}

    def correct_one(r: dict) -> bool:
        return (r["checks"] == args.monitors and r["ok"] == expected["ok"] and r["timeouts"] == expected["slow"]
                and r["status_failures"] == expected["failing"] and r["sequential_ok"] == expected["ok"])

    correct = all(correct_one(r) for r in repetitions)
    wall = statistics.median(r["wall"] for r in repetitions)
    seq_time = statistics.median(r["sequential"] for r in repetitions)
    ratio = seq_time / wall if wall else 0.0
    last = repetitions[-1]
    summary = {
        "monitors": args.monitors, "timeout_s": TIMEOUT_S, "slow_answer_s": SLOW_S, "expected": expected,
        "database": "sqlite" if args.sqlite else "postgresql", "worker": "rq SimpleWorker" if redis else "inline",
        "atrium_role": role,
        "batch_size": app.config.get("MONITOR_BATCH_SIZE") or DEFAULT_BATCH_SIZE,
        "concurrency": app.config.get("MONITOR_CONCURRENCY"),
        # Medians over the repetitions (one repetition: its figures).
        "wall_s": round(wall, 3), "sequential_s": round(seq_time, 3), "ratio": round(ratio, 1),
        "repeats": args.repeats,
        "order": "interleaved: each repetition one worker run and one sequential run, which goes first alternating",
        "repetitions": [{"order": r["order"], "wall_s": round(r["wall"], 3), "sequential_s": round(r["sequential"], 3),
                         "ratio": round(r["sequential"] / r["wall"], 1) if r["wall"] else 0.0,
                         "checks_recorded": r["checks"], "ok": r["ok"], "timeouts": r["timeouts"],
                         "status_failures": r["status_failures"], "sequential_ok": r["sequential_ok"],
                         "correct": correct_one(r)} for r in repetitions],
        # The last repetition's outcome (every repetition's is under "repetitions").
        "checks_recorded": last["checks"], "ok": last["ok"], "timeouts": last["timeouts"],
        "status_failures": last["status_failures"], "sequential_ok": last["sequential_ok"],
        "job_runs": [run for r in repetitions for run in r["job_runs"]],
        "targets": {"wall_s_max": WALL_TARGET_S, "ratio_min": RATIO_TARGET},
        "correct": correct,
        "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    summary["passed"] = bool(correct and wall <= WALL_TARGET_S and ratio >= RATIO_TARGET)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "monitor_checks.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
