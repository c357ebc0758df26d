#!/usr/bin/env python3
"""Load test (issue 7): gunicorn with 2 sync workers on loopback, PostgreSQL behind it,
50 concurrent signed-in sessions for 60 s over a mix of staff and portal pages.

Sessions are spread over the demo users: staff (admin, operator, developer) walk the
dashboard, lists and a ticket page; client users (owners and viewers of the four demo
clients) walk the portal dashboard and their lists. Each session signs in through the
HTML form first (not timed), then requests its pages in a loop, one at a time, like a
person clicking quickly. Every answer other than 200 (or a failed connection) is an error.

As production runs it: the database is owned by ``atrium_bench_owner`` (``flask db
upgrade`` runs as it) and gunicorn, ``flask roles sync`` and ``flask seed demo`` connect
as ``atrium_bench_app``, a role subject to row-level security (``bench/production_db.py``;
the database is built by ``ticket_list.prepare_database``). It refuses to measure Atrium
as a superuser or BYPASSRLS role (exit 2). There is no baseline to interleave: the figures
are the server's own under load.

Prints and writes ``bench/results/load.json``: requests, requests/s, latency p50/p95/p99
overall and per page, errors by kind. Exit 1 if any request failed, 2 if the benchmark
could not run.

Run: ``.venv/bin/python bench/load.py [--sessions 50] [--seconds 60] [--workers 2] [--keep-db]``.
The load generator shares the machine with the server (threads, stdlib HTTP client).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import threading
import time
import os
from collections import Counter, defaultdict

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))

import production_db  # noqa: E402 - bench/ is not a package
from ticket_list import (  # noqa: E402  (the bench helpers: server, browser, database)
    RESULTS, BenchError, Browser, csrf_from, drop_database, free_port, log, percentile, prepare_database,
    start_gunicorn, stop_gunicorn,
)

PASSWORD = "atrium-demo"
STAFF_PAGES = ["/dashboard/", "/ticketview/list/", "/clientview/list/", "/projectview/list/",
               "/incidentview/list/", "/campaignview/list/", "/domainview/list/", "/ticketview/show/{ticket}"]
DEVELOPER_PAGES = ["/dashboard/", "/ticketview/list/", "/projectview/list/", "/monitorview/list/",
                   "/incidentview/list/", "/domainview/list/"]
PORTAL_PAGES = ["/portal/", "/portal/tickets/list/", "/portal/projects/list/", "/portal/campaigns/list/",
                "/portal/incidents/list/", "/portal/domains/list/", "/portal/reports/list/"]
CLIENTS = ("free-co", "basic-co", "pro-co", "enterprise-co")
USERS = ([("admin", STAFF_PAGES), ("operator", STAFF_PAGES), ("developer", DEVELOPER_PAGES)]
         + [(f"{slug}-{kind}", PORTAL_PAGES) for slug in CLIENTS for kind in ("owner", "viewer")])


def sign_in(port: int, username: str) -> Browser:
    browser = Browser("127.0.0.1", port)
    _, _, html, _ = browser.request("GET", "/login/")
    status, headers, _, _ = browser.request("POST", "/login/", {"csrf_token": csrf_from(html),
                                                                 "username": username, "password": PASSWORD})
    if status != 302 or "/login" in (headers.get("Location") or ""):
        raise BenchError(f"login as {username} failed (HTTP {status})")
    return browser


def session_loop(port, username, pages, ticket_id, stop_at, samples, errors, lock):
    try:
        browser = sign_in(port, username)
    except Exception as exc:  # noqa: BLE001 - counted, the run goes on
        with lock:
            errors[f"login {username}: {exc}"] += 1
        return
    for template in itertools.cycle(pages):
        if time.monotonic() >= stop_at:
            return
        path = template.format(ticket=ticket_id)
        try:
            status, _, _, ms = browser.request("GET", path)
        except OSError as exc:
            with lock:
                errors[f"{template}: {type(exc).__name__}"] += 1
            continue
        with lock:
            samples[template].append(ms)
            if status != 200:
                errors[f"{template}: HTTP {status}"] += 1


def any_ticket_id(db_url: str) -> int:
    import psycopg

    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT min(id) FROM tickets").fetchone()[0]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db", default="atrium_bench_load")
    parser.add_argument("--scale", type=int, default=20, help="flask seed demo --scale (ticket volume)")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true", help="reuse the database if it exists")
    args = parser.parse_args(argv)
    args.requests, args.trace_sql = 0, False  # prepare_database's other knobs
    if args.db in ("postgres", "test", "template0", "template1"):
        parser.error("refusing to use a shared database")
    db_url = args.pg.rsplit("/", 1)[0] + "/" + args.db  # the superuser: bookkeeping only
    urls = production_db.app_urls(args.pg, args.db)  # Atrium's roles
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        prepared = prepare_database(args, db_url, args.pg, urls)
        role = production_db.require_production_role(urls["DATABASE_URL"])
        ticket_id = any_ticket_id(db_url)
        port = free_port()
        proc, logfile = start_gunicorn(args, urls, port, label="load")
    except (BenchError, production_db.PrivilegedRole) as exc:
        log(f"cannot run: {exc}")
        if not args.keep_db:
            drop_database(args, args.pg)
        return 2
    samples: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    lock = threading.Lock()
    try:
        started = time.monotonic()
        stop_at = started + args.seconds
        threads = [threading.Thread(target=session_loop, daemon=True,
                                    args=(port, *USERS[i % len(USERS)], ticket_id, stop_at, samples, errors, lock))
                   for i in range(args.sessions)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
    finally:
        stop_gunicorn(proc, logfile)
    everything = [ms for values in samples.values() for ms in values]
    if not args.keep_db:
        drop_database(args, args.pg)
    if not everything:
        log(f"no request completed; errors: {dict(errors)}")
        return 2
    result = {
        "sessions": args.sessions, "seconds": round(elapsed, 1), "gunicorn_workers": args.workers,
        "database": prepared, "requests": len(everything), "requests_per_s": round(len(everything) / elapsed, 1),
        "p50_ms": round(percentile(everything, 50), 1), "p95_ms": round(percentile(everything, 95), 1),
        "p99_ms": round(percentile(everything, 99), 1), "errors": sum(errors.values()),
        "errors_by_kind": dict(errors),
        "pages": {page: {"requests": len(v), "p50_ms": round(percentile(v, 50), 1),
                         "p95_ms": round(percentile(v, 95), 1)} for page, v in sorted(samples.items())},
        "atrium_role": role, "scale": args.scale,
        "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
