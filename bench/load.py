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

``--ticket-list-vs-fab`` (issue 19): the staff ticket list page alone, against the bare
Flask-AppBuilder peer (``bench/peers/``) in the same harness. On one seeded database
(default ``atrium_bench``, 200,000 tickets, the one ``ticket_list.py --keep-db`` leaves;
an existing database is always reused and never dropped or rebuilt), Atrium under
gunicorn as the production role and ``fab_bare`` under gunicorn as the superuser (it has
no row-level security), both with ``--workers``, both up for the whole run. Rounds
alternate Atrium, FAB, Atrium, FAB (``--rounds`` each, ``--seconds`` each): every round,
``--sessions`` sessions each sign in as ``admin`` with their own cookies and load the page
once (untimed), then all start together and request page 1 of the list (25 rows, newest
first: ``?page_TicketView=0&psize_TicketView=25&_oc_TicketView=created_at&_od_TicketView=desc``,
the same query on both) in a loop. An answer other than 200, or a page whose ids are
missing or differ from the raw SQL's, is an error. requests/s counts good answers only.
Target: Atrium's requests/s (median of its rounds) >= ``--min-ratio`` (2.0) x FAB's, and
0 errors; exit 1 when missed. JSON in ``bench/results/load_ticket_list_vs_fab.json``.

Run: ``.venv/bin/python bench/load.py [--sessions 50] [--seconds 60] [--workers 2] [--keep-db]``
or ``.venv/bin/python bench/load.py --ticket-list-vs-fab [--seconds 60] [--rounds 2]``.
The load generator shares the machine with the server (threads, stdlib HTTP client).
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import statistics
import sys
import threading
import time
import os
from collections import Counter, defaultdict

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parent))

import production_db  # noqa: E402 - bench/ is not a package
from peers import run as peers_run  # noqa: E402 - the bare FAB peer (stdlib + psycopg here)
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

# --ticket-list-vs-fab: page 1 of the staff ticket list, 25 rows, newest first. Atrium's
# list and the peer's have the same view name (TicketView), so the same query string.
LIST_CASE = {"name": "page1_size25", "page": 1, "page_size": 25, "status": None}
LIST_LABEL = "/ticketview/list/"
TARGETS = ("atrium", "fab_bare")


def sign_in(port: int, username: str) -> Browser:
    browser = Browser("127.0.0.1", port)
    _, _, html, _ = browser.request("GET", "/login/")
    status, headers, _, _ = browser.request("POST", "/login/", {"csrf_token": csrf_from(html),
                                                                 "username": username, "password": PASSWORD})
    if status != 302 or "/login" in (headers.get("Location") or ""):
        raise BenchError(f"login as {username} failed (HTTP {status})")
    return browser


# --------------------------------------------------------------------------- the load machinery

def run_sessions(clients: list, seconds: float, check=None, sign_in_first: bool = False):
    """Run one session per ``clients`` entry ``(name, connect, pages)`` in its own thread:
    ``connect()`` signs in and returns a cookie-keeping client (its own cookies), ``pages``
    is a list of ``(label, path)`` requested in a loop, one at a time, until ``seconds``
    have passed (the request under way finishes). An answer other than 200, a failed
    connection, or ``check(html)`` returning a message is an error.

    Without ``sign_in_first`` the clock starts before the threads do: sign-ins fall inside
    the window (as the mixed run always measured). With it, every session signs in and
    requests its first page once (untimed: each worker's first render, the sessions'
    cookies), then all start together and the clock starts then.

    Returns ``(samples, errors, good, elapsed)``: ms per label for every answer, errors
    by kind, answers that were not errors, seconds from the start to the last session's end."""
    samples: dict[str, list[float]] = defaultdict(list)
    errors: Counter = Counter()
    good = [0]
    lock = threading.Lock()
    window: dict[str, float] = {}

    def open_window():
        window["started"] = time.monotonic()
        window["stop_at"] = window["started"] + seconds

    barrier = threading.Barrier(len(clients), action=open_window) if sign_in_first else None
    if barrier is None:
        open_window()

    def session(name, connect, pages):
        browser = None
        try:
            browser = connect()
            if barrier is not None:
                label, path = pages[0]
                status, _, html, _ = browser.request("GET", path)  # warm-up, untimed
                problem = f"HTTP {status}" if status != 200 else (check(html) if check else None)
                if problem:
                    with lock:
                        errors[f"warm-up {label}: {problem}"] += 1
        except Exception as exc:  # noqa: BLE001 - counted, the run goes on
            with lock:
                errors[f"login {name}: {exc}"] += 1
            browser = None
        if barrier is not None:
            try:
                barrier.wait(timeout=600)
            except threading.BrokenBarrierError:
                with lock:
                    errors["start: broken barrier"] += 1
                return
        if browser is None:
            return
        for label, path in itertools.cycle(pages):
            if time.monotonic() >= window["stop_at"]:
                return
            try:
                status, _, html, ms = browser.request("GET", path)
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors[f"{label}: {type(exc).__name__}"] += 1
                continue
            problem = f"HTTP {status}" if status != 200 else (check(html) if check else None)
            with lock:
                samples[label].append(ms)
                if problem:
                    errors[f"{label}: {problem}"] += 1
                else:
                    good[0] += 1

    threads = [threading.Thread(target=session, args=client, daemon=True) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - window.get("started", time.monotonic())
    return samples, errors, good[0], elapsed


def any_ticket_id(db_url: str) -> int:
    import psycopg

    with psycopg.connect(db_url) as conn:
        return conn.execute("SELECT min(id) FROM tickets").fetchone()[0]


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --------------------------------------------------------------------------- --ticket-list-vs-fab

def database_state(admin_url: str, db_url: str, name: str) -> tuple[str | None, int | None]:
    """``(owner, tickets)`` of database ``name``; ``(None, None)`` when it does not exist."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                           (name,)).fetchone()
    if row is None:
        return None, None
    try:
        with psycopg.connect(db_url) as conn:
            return row[0], conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    except psycopg.Error:
        return row[0], None


def ids_check(expected: list[int]):
    def check(html: str) -> str | None:
        ids = peers_run.page_ids("fab_bare", html)  # Atrium's list has FAB's table markup
        if not ids:
            return "page without ids"
        if ids != expected:
            return "ids differ from the raw SQL's"
        return None
    return check


def ticket_list_vs_fab(args) -> int:
    """Atrium's staff ticket list alone vs the bare FAB peer's, alternating rounds."""
    db_url = args.pg.rsplit("/", 1)[0] + "/" + args.db  # the superuser: bookkeeping, the peer
    urls = production_db.app_urls(args.pg, args.db)  # Atrium's roles
    expected_tickets = 32 * args.scale  # ticket_list: 8 per client per scale, 4 clients
    load_before = loadavg()
    owner, tickets = database_state(args.pg, db_url, args.db)
    existed = owner is not None
    if existed and (owner != production_db.OWNER or tickets is None or tickets < expected_tickets):
        log(f"cannot run: database {args.db} exists (owner {owner}, {tickets} tickets; needs "
            f"{production_db.OWNER} and >= {expected_tickets}); this mode never rebuilds an existing "
            "database: choose another --db or a smaller --scale")
        return 2
    keep_db, args.keep_db = args.keep_db, True  # prepare_database: an existing one is reused
    drop_after = not existed and not keep_db
    atrium = peer = None
    rounds: list[dict] = []
    try:
        try:
            prepared = prepare_database(args, db_url, args.pg, urls)
            role = production_db.require_production_role(urls["DATABASE_URL"])
            peer_role = peers_run.check_role(db_url)
            path = peers_run.case_path("fab_bare", None, LIST_CASE)
            expected = peers_run.raw_ids(db_url, LIST_CASE)
            check = ids_check(expected)
            port = free_port()
            log(f"starting Atrium: gunicorn ({args.workers} workers) on 127.0.0.1:{port} as {role['role']}")
            atrium = start_gunicorn(args, urls, port, label="load_vs_fab")
            log(f"starting the bare FAB peer: gunicorn ({args.workers} workers) as {peer_role['role']}")
            peer, peer_url = peers_run.start_peer(
                "fab_bare", db_url, workers=args.workers, password=PASSWORD,
                log_path=RESULTS / "load_vs_fab_fab_bare_gunicorn.log")
            connect = {"atrium": lambda: sign_in(port, "admin"),
                       "fab_bare": lambda: peers_run.login("fab_bare", peer_url, password=PASSWORD)}
            for target in TARGETS:  # one page each, untimed: same ids as the raw SQL
                status, _, html, _ = connect[target]().request("GET", path)
                problem = f"HTTP {status}" if status != 200 else check(html)
                if problem:
                    raise BenchError(f"{target} {path}: {problem}")
        except (BenchError, production_db.PrivilegedRole, peers_run.PeerError) as exc:
            log(f"cannot run: {exc}")
            return 2
        order = [t for _ in range(args.rounds) for t in TARGETS]
        for number, target in enumerate(order, 1):
            before = loadavg()
            log(f"round {number}/{len(order)}: {target}, {args.sessions} sessions, {args.seconds} s ...")
            clients = [(f"admin #{i}", connect[target], [(LIST_LABEL, path)]) for i in range(args.sessions)]
            samples, errors, good, elapsed = run_sessions(clients, args.seconds, check=check, sign_in_first=True)
            ms = samples.get(LIST_LABEL, [])
            entry = {"round": number, "target": target, "seconds": round(elapsed, 1), "requests": len(ms),
                     "good": good, "requests_per_s": round(good / elapsed, 1) if elapsed else 0.0,
                     "p50_ms": round(percentile(ms, 50), 1) if ms else None,
                     "p95_ms": round(percentile(ms, 95), 1) if ms else None,
                     "p99_ms": round(percentile(ms, 99), 1) if ms else None,
                     "errors": sum(errors.values()), "errors_by_kind": dict(errors),
                     "loadavg_before": before, "loadavg_after": loadavg()}
            rounds.append(entry)
            log(f"  {entry['requests_per_s']} requests/s, p50 {entry['p50_ms']} ms, p95 {entry['p95_ms']} ms, "
                f"{entry['errors']} errors")
    finally:
        if atrium is not None:
            stop_gunicorn(*atrium)
        if peer is not None:
            peers_run.stop_peer(peer)
        if drop_after:
            drop_database(args, args.pg)

    per_target = {}
    for target in TARGETS:
        mine = [r for r in rounds if r["target"] == target]
        per_target[target] = {
            "requests_per_s_median": round(statistics.median(r["requests_per_s"] for r in mine), 1),
            "requests_per_s_rounds": [r["requests_per_s"] for r in mine],
            "p50_ms_rounds": [r["p50_ms"] for r in mine], "p95_ms_rounds": [r["p95_ms"] for r in mine],
            "errors": sum(r["errors"] for r in mine)}
    fab_rps = per_target["fab_bare"]["requests_per_s_median"]
    ratio = round(per_target["atrium"]["requests_per_s_median"] / fab_rps, 2) if fab_rps else None
    failures = []
    if ratio is None or ratio < args.min_ratio:
        failures.append(f"Atrium's requests/s is {ratio}x bare FAB's (target >= {args.min_ratio}x)")
    for target in TARGETS:
        if per_target[target]["errors"]:
            failures.append(f"{target}: {per_target[target]['errors']} errors (target 0)")
    result = {
        "benchmark": "load --ticket-list-vs-fab", "page": path, "sessions": args.sessions,
        "seconds_per_round": args.seconds, "rounds_per_target": args.rounds, "gunicorn_workers": args.workers,
        "user": "admin (one sign-in per session per round)", "database": {"name": args.db, **prepared},
        "atrium_role": role, "fab_bare_role": peer_role, "expected_ids": expected,
        "rounds": rounds, "targets": per_target, "ratio_atrium_over_fab_requests_per_s": ratio,
        "min_ratio": args.min_ratio, "failures": failures, "ok": not failures,
        "loadavg_before": load_before, "loadavg_after": loadavg(), "cpus": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load_ticket_list_vs_fab.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    for r in rounds:
        log(f"round {r['round']} {r['target']:8s} {r['requests_per_s']:7.1f} req/s  p50 {r['p50_ms']} ms  "
            f"p95 {r['p95_ms']} ms  errors {r['errors']}")
    log(f"ratio Atrium / FAB (medians of rounds): {ratio} (target >= {args.min_ratio})")
    for f in failures:
        log(f"MISSED: {f}")
    return 1 if failures else 0


# --------------------------------------------------------------------------- main

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--db", default=None,
                        help="database (default atrium_bench_load; atrium_bench with --ticket-list-vs-fab)")
    parser.add_argument("--scale", type=int, default=None,
                        help="flask seed demo --scale (ticket volume; default 20; 6250, 200,000 tickets, "
                             "with --ticket-list-vs-fab)")
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60, help="the run's length (per round with "
                        "--ticket-list-vs-fab)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--keep-db", action="store_true", help="reuse the database if it exists")
    parser.add_argument("--ticket-list-vs-fab", action="store_true",
                        help="the staff ticket list alone, Atrium vs the bare FAB peer, alternating rounds")
    parser.add_argument("--rounds", type=int, default=2, help="--ticket-list-vs-fab: rounds per target")
    parser.add_argument("--min-ratio", type=float, default=2.0,
                        help="--ticket-list-vs-fab target: Atrium's requests/s over FAB's (medians)")
    args = parser.parse_args(argv)
    vs_fab = args.ticket_list_vs_fab
    args.db = args.db or ("atrium_bench" if vs_fab else "atrium_bench_load")
    args.scale = args.scale or (6250 if vs_fab else 20)
    args.requests, args.trace_sql = 0, False  # prepare_database's other knobs
    if args.db in ("postgres", "test", "template0", "template1"):
        parser.error("refusing to use a shared database")
    if args.sessions < 1 or args.rounds < 1 or args.seconds <= 0:
        parser.error("--sessions, --rounds and --seconds must be positive")
    if vs_fab:
        return ticket_list_vs_fab(args)
    db_url = args.pg.rsplit("/", 1)[0] + "/" + args.db  # the superuser: bookkeeping only
    urls = production_db.app_urls(args.pg, args.db)  # Atrium's roles
    load_before = loadavg()
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
    clients = []
    for i in range(args.sessions):
        username, pages = USERS[i % len(USERS)]
        clients.append((username, lambda username=username: sign_in(port, username),
                        [(template, template.format(ticket=ticket_id)) for template in pages]))
    try:
        samples, errors, _, elapsed = run_sessions(clients, args.seconds)
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
        "loadavg_before": load_before, "loadavg_after": loadavg(),
        "cpus": os.cpu_count(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
