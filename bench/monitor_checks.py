"""Uptime checks at scale: 1,000 monitors checked by one worker vs a sequential checker.

Target (issue 5): 1,000 monitors against loopback servers, 10 % of them slower than
their timeout and 10 % failing, checked by one worker in at most 15 s of wall time and
at least 20x faster than plain sequential requests measured in the same run.

What it does:

1. Starts the loopback HTTP server (``tests/support/loopback.py``) in a child process,
   so the server's CPU is not the checker's.
2. Creates a private database (PostgreSQL ``atrium_bench_monitors`` by default, or a
   temporary SQLite file with ``--sqlite``), ``flask db upgrade`` + ``flask roles sync``,
   one Enterprise client with one project and ``--monitors`` monitors (timeout 1 s):
   80 % answer ``/ok``, 10 % ``/slow/1.5`` (answers after 1.5 s: a timeout), 10 %
   ``/status/503``.
3. Timed, the system under test: ``enqueue("monitoring.uptime_dispatch")`` on Redis (a
   private queue prefix) and one RQ ``SimpleWorker`` in burst mode until every queue is
   empty: the dispatch job, then its ``monitoring.uptime_check`` batches
   (``MONITOR_BATCH_SIZE``, default 1000, ``MONITOR_CONCURRENCY`` in flight), each result
   written (``MonitorCheck`` rows, counters, state, incidents). Without Redis the same
   jobs run inline. The time includes the database work.
4. Timed, the baseline: the same URLs requested one after another with a plain
   ``httpx.Client`` and the same 1 s timeout (no database work at all).
5. Checks the outcome is right (one check per monitor; 80 % ok; the slow ones failed with
   a timeout, the 503s with the status) and prints a JSON summary (also written to
   ``bench/results/monitor_checks.json``); exits 1 when a target is missed.

    .venv/bin/python bench/monitor_checks.py [--monitors 1000] [--sqlite] [--pg URL] [--redis URL]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

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


def database_url(args) -> tuple[str, callable]:
    if args.sqlite:
        path = Path(tempfile.mkdtemp(prefix="atrium-bench-")) / "monitors.db"
        return f"sqlite:///{path}", lambda: path.unlink(missing_ok=True)
    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{args.db}"')
    return f"{args.pg.replace('postgresql://', 'postgresql+psycopg://')}/{args.db}", lambda: None


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
    parser.add_argument("--sqlite", action="store_true", help="a temporary SQLite file instead of PostgreSQL")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="atrium_bench_monitors")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--no-redis", action="store_true", help="run the jobs inline (no RQ worker)")
    args = parser.parse_args()
    if args.db in ("postgres", "test", "template0", "template1"):
        parser.error("refusing to use a shared database")

    import sqlalchemy as sa

    from app import create_app
    from app.extensions import db
    from app.models import Client, Monitor, MonitorCheck, Project, Tier
    from tests.conftest import run_cli
    from workers.monitoring import DEFAULT_BATCH_SIZE

    server, port = start_server()
    url, cleanup = database_url(args)
    redis = redis_url(args)
    prefix = f"atrium-bench-{uuid.uuid4().hex[:8]}-"
    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": url, "REDIS_URL": redis, "RQ_QUEUE_PREFIX": prefix})
    try:
        with app.app_context():
            for cli_args in (("db", "upgrade"), ("roles", "sync")):
                result = run_cli(app, *cli_args)
                if result.exit_code != 0:
                    print(result.output, file=sys.stderr)
                    return 2
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

            from app.services.jobs import enqueue, load_jobs

            load_jobs()
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
            checks = db.session.execute(sa.select(MonitorCheck.ok, MonitorCheck.error)).all()
            timeouts = sum(1 for ok, error in checks if not ok and error and error.startswith("timed out"))
            status_failures = sum(1 for ok, error in checks if not ok and error == "expected status 200, got 503")
            ok_count = sum(1 for ok, _ in checks if ok)
            from app.models import JobRun

            runs = db.session.execute(sa.select(JobRun.job_name, JobRun.status, JobRun.duration_ms, JobRun.result)
                                      .order_by(JobRun.id)).all()
            if redis:
                for key in redis_connection().scan_iter(f"rq:*{prefix}*"):
                    redis_connection().delete(key)
            db.session.remove()
            db.engine.dispose()

        seq_time, seq_ok = sequential(urls)
    finally:
        server.terminate()
        server.wait(5)
        cleanup()

    expected = {"ok": kinds.count("ok"), "slow": kinds.count("slow"), "failing": kinds.count("failing")}
    correct = (len(checks) == args.monitors and ok_count == expected["ok"] and timeouts == expected["slow"]
               and status_failures == expected["failing"] and seq_ok == expected["ok"])
    ratio = seq_time / wall if wall else 0.0
    summary = {
        "monitors": args.monitors, "timeout_s": TIMEOUT_S, "slow_answer_s": SLOW_S, "expected": expected,
        "database": "sqlite" if args.sqlite else "postgresql", "worker": "rq SimpleWorker" if redis else "inline",
        "batch_size": app.config.get("MONITOR_BATCH_SIZE") or DEFAULT_BATCH_SIZE,
        "concurrency": app.config.get("MONITOR_CONCURRENCY"),
        "wall_s": round(wall, 3), "sequential_s": round(seq_time, 3), "ratio": round(ratio, 1),
        "checks_recorded": len(checks), "ok": ok_count, "timeouts": timeouts, "status_failures": status_failures,
        "sequential_ok": seq_ok,
        "job_runs": [{"job": name, "status": status, "ms": ms,
                      **{k: (result or {}).get(k) for k in ("network_ms", "apply_ms") if k in (result or {})}}
                     for name, status, ms, result in runs],
        "targets": {"wall_s_max": WALL_TARGET_S, "ratio_min": RATIO_TARGET},
        "correct": correct,
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
