#!/usr/bin/env python3
"""Benchmark: monthly PDF reports (issue 6). Targets: the median time to produce one
report (pro-co, last month) at most 2 s, and 100 clients' reports on one worker process
with memory flat across them.

What it does:

1. Creates a private PostgreSQL database (``atrium_bench_reports`` by default; it refuses
   ``postgres``, ``test`` and the templates) owned by the benchmark's owner role
   (``bench/production_db.py``). Atrium connects as the app role ``atrium_bench_app``, as
   in production (it refuses a superuser or BYPASSRLS role: exit 2); ``flask db upgrade``
   runs as the owner; then ``flask roles sync``, ``flask seed demo`` (the four demo
   clients, 90 days of campaign metrics ...). Everything the script itself does acts as
   the system (``tenancy.outside_requests(tenancy.SYSTEM)``); jobs bind it themselves.
2. One report, timed ``--runs`` times (default 7): ``flask reports generate``'s path,
   i.e. ``enqueue("reports.generate", inline=True)``: JobRun, Report row running → done,
   every aggregate of ``services.report_gathering.gather``, the PDF drawn and written, the owners'
   email queued. The same report is also timed in its two halves (gather, draw) to say
   where the time goes.
3. Adds 100 clients with a month of data each by direct inserts (tiers in turn pro,
   enterprise, basic, free; 3 sites with monitors and incidents, 2 campaigns with daily
   metrics over two months except on Free, tickets, network usage, performance metrics,
   domains and certificates expiring, an owner).
4. Timed: ``enqueue("reports.monthly", force=True)`` on Redis (a private queue prefix)
   and ONE RQ ``SimpleWorker`` in this process, in burst mode, until the queues are
   empty: the fan-out and one ``reports.generate`` per active client (104). The worker
   reads this process's RSS (``/proc/self/status``) after every report; the series after
   each 10 and the peak (``VmHWM``) are printed. Without Redis (``--no-redis``) the same
   jobs run inline, one after another, in this process.
5. Checks every Report is done with its file, prints a JSON summary (also
   ``bench/results/report_render.json``) and exits 1 when a target is missed. "Flat"
   means the RSS after the last report is at most ``--flat-mb`` (default 16) MB above
   the RSS after the first 10.

Run: ``.venv/bin/python bench/report_render.py [--runs 7] [--clients 100] [--pg URL]
[--redis URL] [--no-redis] [--keep-db]``. ``--pg`` is a superuser's server URL: it only
creates and drops the database.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import production_db  # noqa: E402 - bench/ is not a package
from monitor_checks import psycopg_url, redis_url  # noqa: E402  (the benches' shared helpers)

MEDIAN_TARGET_S = 2.0


def rss_kb(field: str = "VmRSS") -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def database_url(args) -> dict:
    """A new database owned by the owner role; Atrium's roles' URLs (``DATABASE_URL``: the
    app role, ``DATABASE_OWNER_URL``: the owner, as ``bench/production_db.py`` says)."""
    drop_database(args)
    production_db.create_database(f"{args.pg}/postgres", args.db)
    return production_db.app_urls(args.pg, args.db)


def drop_database(args) -> None:
    import psycopg

    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')


def add_clients(session, count: int, period: dt.date) -> None:
    """``count`` clients with a month of data each (and the month before, for the
    change figures), by direct inserts; derived fields computed by the services."""
    import sqlalchemy as sa

    from app import models as m
    from app.services import incidents, performance

    rng = random.Random("atrium-bench-reports")
    now = dt.datetime.now(dt.UTC)
    prev = (period - dt.timedelta(days=1)).replace(day=1)
    last = (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
    tiers = ["pro", "enterprise", "basic", "free"]
    stamp = {"created_at": now, "updated_at": now}
    t = {name: model.__table__ for name, model in (
        ("client", m.Client), ("user", m.User), ("member", m.ClientMember), ("project", m.Project),
        ("monitor", m.Monitor), ("incident", m.Incident), ("campaign", m.Campaign), ("metric", m.CampaignMetric),
        ("ticket", m.Ticket), ("usage", m.NetworkUsage), ("perf", m.PerformanceMetric), ("domain", m.Domain))}

    def insert(table, rows):
        return session.execute(sa.insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
                               ).scalars().all()

    clients = insert(t["client"], [dict(name=f"Bench Client {i:03d}", slug=f"bench-{i:03d}", tier=tiers[i % 4],
                                        status="active", contact_email=f"ops@bench-{i:03d}.example",
                                        timezone="America/Sao_Paulo",
                                        brand_primary_color="#7b2d8b" if tiers[i % 4] == "enterprise" else None,
                                        **stamp) for i in range(count)])
    users = insert(t["user"], [dict(first_name="Bench", last_name=f"Owner {i}", username=f"bench-{i:03d}-owner",
                                    email=f"owner@bench-{i:03d}.example", active=True, created_on=now,
                                    changed_on=now, login_count=0, fail_login_count=0) for i in range(count)])
    session.execute(sa.insert(t["member"]), [dict(client_id=c, user_id=u, role="owner", **stamp)
                                             for c, u in zip(clients, users)])
    projects = insert(t["project"], [dict(client_id=c, name=name, status="live", completion_percent=100,
                                          budget_total=0, budget_used=0, **stamp)
                                     for c in clients for name in ("Website", "Store", "App")])
    project_client = {p: clients[i // 3] for i, p in enumerate(projects)}
    session.execute(sa.insert(t["monitor"]), [dict(client_id=project_client[p], project_id=p,
                                                   url=f"https://site-{p}.example/health", method="GET",
                                                   expected_status=200, timeout_seconds=10, enabled=True,
                                                   consecutive_failures=0, consecutive_successes=3, state="up",
                                                   **stamp) for p in projects])
    incident_rows = []
    for p in projects:
        for month, n in ((period, rng.randint(0, 2)), (prev, rng.randint(0, 1))):
            for _ in range(n):
                start = dt.datetime.combine(month + dt.timedelta(days=rng.randint(0, 26)),
                                            dt.time(rng.randint(0, 23), rng.randint(0, 59)), tzinfo=dt.UTC)
                end = start + dt.timedelta(minutes=rng.randint(3, 180))
                incident_rows.append(dict(client_id=project_client[p], project_id=p, title="Site unreachable",
                                          severity="high", status="resolved", started_at=start, resolved_at=end,
                                          downtime_minutes=incidents.downtime_minutes(start, end), source="monitor",
                                          **stamp))
    session.execute(sa.insert(t["incident"]), incident_rows)
    campaigns, campaign_client = [], {}
    for i, c in enumerate(clients):
        if tiers[i % 4] == "free":
            continue
        ids = insert(t["campaign"], [dict(client_id=c, name=f"Bench {i:03d} {kind}", platform=platform,
                                          external_id=f"bench-{i:03d}-{platform}", status="active",
                                          budget_daily=Decimal(rng.choice([300, 900, 1500])),
                                          start_date=prev - dt.timedelta(days=30), **stamp)
                                     for kind, platform in (("Search", "google_ads"), ("Awareness", "meta_ads"))])
        campaigns += ids
        campaign_client.update({cid: c for cid in ids})
    metrics, day = [], prev
    while day <= last:
        for cid in campaigns:
            clicks = rng.randint(100, 900)
            cost = (Decimal(clicks) * Decimal(str(round(rng.uniform(0.6, 3.2), 2)))).quantize(Decimal("0.01"))
            metrics.append(dict(client_id=campaign_client[cid], campaign_id=cid, date=day,
                                impressions=clicks * rng.randint(20, 60), clicks=clicks,
                                conversions=Decimal(rng.randint(0, 40)), cost=cost,
                                revenue=(cost * Decimal(str(round(rng.uniform(0.8, 5.5), 2)))).quantize(Decimal("0.01")),
                                **stamp))
        day += dt.timedelta(days=1)
    for start in range(0, len(metrics), 5000):
        session.execute(sa.insert(t["metric"]), metrics[start:start + 5000])
    tickets = []
    for i, c in enumerate(clients):
        sla = {"free": None, "basic": 24, "pro": 4, "enterprise": 1}[tiers[i % 4]]
        for n in range(15):
            opened = dt.datetime.combine(rng.choice([prev, period]) + dt.timedelta(days=rng.randint(0, 27)),
                                         dt.time(rng.randint(8, 18)), tzinfo=dt.UTC)
            due = opened + dt.timedelta(hours=sla) if sla else None
            answered = opened + dt.timedelta(minutes=rng.randint(10, int((sla or 24) * 60 * 1.3)))
            tickets.append(dict(client_id=c, subject=f"Bench ticket {n}", description="Benchmark data.",
                                priority="medium", status="resolved", sla_hours=sla, first_response_due_at=due,
                                first_response_at=answered, resolved_at=answered + dt.timedelta(hours=5),
                                sla_state="breached" if due and answered > due else "ok", sla_paused_seconds=0,
                                opened_by_id=users[i], created_at=opened, updated_at=opened))
    session.execute(sa.insert(t["ticket"]), tickets)
    usage, day = [], period
    while day <= last:
        for p in projects:
            total = rng.randint(2000, 60000)
            e4, e5 = total // 40, total // 300
            usage.append(dict(client_id=project_client[p], project_id=p, date=day,
                              bandwidth_gb=Decimal(str(round(total * 0.0004, 3))), requests_total=total,
                              requests_2xx=total - e4 - e5, requests_4xx=e4, requests_5xx=e5,
                              peak_rps=rng.randint(5, 120), **stamp))
        day += dt.timedelta(days=1)
    session.execute(sa.insert(t["usage"]), usage)
    perf = []
    for p in projects:
        for week in range(2):
            scores = [rng.randint(55, 99), rng.randint(75, 100), rng.randint(70, 100), rng.randint(80, 100)]
            lcp, inp, cls = Decimal(str(round(rng.uniform(1.2, 4.5), 2))), rng.randint(80, 450), \
                Decimal(str(round(rng.uniform(0.01, 0.3), 3)))
            perf.append(dict(client_id=project_client[p], project_id=p,
                             measured_at=dt.datetime.combine(last - dt.timedelta(days=7 * week), dt.time(3),
                                                             tzinfo=dt.UTC),
                             lcp_s=lcp, inp_ms=inp, cls=cls, lighthouse_performance=scores[0],
                             lighthouse_accessibility=scores[1], lighthouse_best_practices=scores[2],
                             lighthouse_seo=scores[3], grade=str(performance.grade(*scores, lcp, inp, cls)), **stamp))
    session.execute(sa.insert(t["perf"]), perf)
    session.execute(sa.insert(t["domain"]), [dict(
        client_id=c, name=f"bench-{i:03d}{suffix}.com.br", status="active", nameservers=[], dns_records=[],
        ssl_status="active", ssl_expires_at=now + dt.timedelta(days=rng.choice([10, 40, 200])),
        renewal_date=(now + dt.timedelta(days=rng.choice([20, 90, 300]))).date(), auto_renew=True, **stamp)
        for i, c in enumerate(clients) for suffix in ("", "-shop")])
    session.commit()


class SamplingWorker:
    """Builds an RQ ``SimpleWorker`` that notes this process's RSS after every job."""

    @staticmethod
    def make(queues, connection, samples: list):
        from rq import SimpleWorker

        class Worker(SimpleWorker):
            def execute_job(self, job, queue):
                super().execute_job(job, queue)
                if (job.description or "").startswith("reports.generate"):
                    samples.append(rss_kb())

        return Worker(queues, connection=connection)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="atrium_bench_reports")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/15")
    parser.add_argument("--no-redis", action="store_true", help="run the jobs inline (no RQ worker)")
    parser.add_argument("--flat-mb", type=float, default=16.0)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    if args.db in ("postgres", "test", "template0", "template1"):
        parser.error("refusing to use a shared database")
    if args.runs < 5:
        parser.error("--runs must be 5 or more")

    import sqlalchemy as sa

    from app import create_app, tenancy
    from app import models as m
    from app.extensions import db
    from app.reports import pdf
    from app.services import report_data, report_gathering
    from tests.conftest import run_cli
    from app.services.jobs import enqueue, load_jobs

    urls = database_url(args)
    try:
        role = production_db.require_production_role(urls["DATABASE_URL"])
    except production_db.PrivilegedRole as exc:
        print(exc, file=sys.stderr)
        drop_database(args)
        return 2
    redis = redis_url(args)
    prefix = f"atrium-bench-{uuid.uuid4().hex[:8]}-"
    out_dir = Path(tempfile.mkdtemp(prefix="atrium-bench-reports-"))
    app = create_app("development", {"SQLALCHEMY_DATABASE_URI": psycopg_url(urls["DATABASE_URL"]),
                                     "DATABASE_OWNER_URL": psycopg_url(urls["DATABASE_OWNER_URL"]),
                                     "REDIS_URL": redis, "RQ_QUEUE_PREFIX": prefix,
                                     "REPORT_DIR": str(out_dir / "reports"), "UPLOAD_DIR": str(out_dir / "uploads")})
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        # The CLI commands and the jobs bind the system scope themselves; the script's own
        # work (the halves timed alone, the inserted clients, the checks) acts as the system.
        with app.app_context(), tenancy.outside_requests(tenancy.SYSTEM):
            for cli_args in (("db", "upgrade"), ("roles", "sync"), ("seed", "demo", "--password", "bench-pass-1")):
                result = run_cli(app, *cli_args)
                if result.exit_code != 0:
                    print(result.output, file=sys.stderr)
                    return 2
            # A fresh session: the commands' one keeps their transaction's RLS settings in
            # ``session.info``, and a transaction begun by ``add()`` would skip setting them.
            db.session.remove()
            load_jobs()
            period = report_data.last_complete_month()
            pro = db.session.execute(sa.select(m.Client).filter_by(slug="pro-co")).scalar_one()

            # 1. One report, end to end as `flask reports generate` runs it.
            single, gather_s, draw_s, size = [], [], [], 0
            for _ in range(args.runs):
                started = time.perf_counter()
                enqueue("reports.generate", inline=True, client_id=pro.id, month=f"{period:%Y-%m}")
                single.append(time.perf_counter() - started)
                db.session.expire_all()
                started = time.perf_counter()
                data = report_gathering.gather(db.session, db.session.get(m.Client, pro.id), period, app.config)
                gather_s.append(time.perf_counter() - started)
                db.session.rollback()
                started = time.perf_counter()
                target = out_dir / "draw.pdf"
                with open(target, "wb") as out:
                    pdf.render(data, out)
                draw_s.append(time.perf_counter() - started)
                size = target.stat().st_size
            rows_gathered = {"campaigns": len(data.campaigns), "sites": len(data.sites), "days": len(data.days),
                             "incidents": len(data.incidents)}

            # 2. 100 clients on one worker.
            started = time.perf_counter()
            add_clients(db.session, args.clients, period)
            data_s = time.perf_counter() - started
            db.session.remove()
            samples: list[int] = []
            rss_start = rss_kb()
            started = time.perf_counter()
            enqueue("reports.monthly", force=True, month=f"{period:%Y-%m}")
            if redis:
                from app.services.jobs import QUEUES, redis_connection, rq_queue

                connection = redis_connection()
                worker = SamplingWorker.make([rq_queue(name, connection) for name in QUEUES], connection, samples)
                worker.work(burst=True)
            wall = time.perf_counter() - started
            if redis:
                for key in connection.scan_iter(f"rq:*{prefix}*"):
                    connection.delete(key)
                ours = [name for name in connection.smembers("rq:queues") if prefix.encode() in name]
                if ours:  # RQ's registry of queues names ours too
                    connection.srem("rq:queues", *ours)
            db.session.expire_all()
            rows = db.session.execute(sa.select(m.Report.status, m.Report.file_path)
                                      .where(m.Report.period == period)).all()
            clients = db.session.execute(sa.select(sa.func.count()).select_from(m.Client)
                                         .where(m.Client.status == "active")).scalar_one()
            done = sum(1 for status, path in rows if status == "done" and path
                       and (out_dir / "reports" / path).is_file())
            peak = rss_kb("VmHWM")
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep_db:
            drop_database(args)

    series = [round(samples[i - 1] / 1024, 1) for i in range(10, len(samples) + 1, 10)]
    if samples and len(samples) % 10:
        series.append(round(samples[-1] / 1024, 1))
    growth = (samples[-1] - samples[9]) / 1024 if len(samples) >= 10 else None
    median = statistics.median(single)
    summary = {
        "database": "postgresql", "worker": "rq SimpleWorker (one process)" if redis else "inline",
        "single_report": {"client": "pro-co", "month": f"{period:%Y-%m}", "runs": args.runs,
                          "median_s": round(median, 3), "min_s": round(min(single), 3), "max_s": round(max(single), 3),
                          "gather_median_s": round(statistics.median(gather_s), 3),
                          "draw_median_s": round(statistics.median(draw_s), 3), "pdf_bytes": size,
                          # What gather saw as the app role (row-level security on): an empty
                          # report would be fast and wrong.
                          "rows_gathered": rows_gathered},
        "batch": {"clients_added": args.clients, "data_insert_s": round(data_s, 1), "active_clients": clients,
                  "reports_done": done, "wall_s": round(wall, 1),
                  "per_report_s": round(wall / max(1, len(samples) or done), 3),
                  "rss_start_mb": round(rss_start / 1024, 1), "rss_after_each_10_mb": series,
                  "rss_growth_10_to_last_mb": None if growth is None else round(growth, 1),
                  "peak_rss_mb": round(peak / 1024, 1)},
        "targets": {"median_s_max": MEDIAN_TARGET_S, "rss_growth_mb_max": args.flat_mb},
        "atrium_role": role,
        "order": "per run: the whole report, then gather alone, then draw alone",
        "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    flat = growth is not None and growth <= args.flat_mb if redis else True
    summary["passed"] = bool(median <= MEDIAN_TARGET_S and done == clients and flat
                             and rows_gathered["campaigns"] and rows_gathered["sites"])
    results = ROOT / "bench" / "results"
    results.mkdir(parents=True, exist_ok=True)
    (results / "report_render.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
