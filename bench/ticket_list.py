#!/usr/bin/env python3
"""Benchmark: the staff ticket list (``/ticketview/list/``) on PostgreSQL under gunicorn,
as production runs it: connected as a role subject to row-level security (never a
superuser: ``bench/production_db.py`` refuses one).

Targets (issue 19), medians of one run, every target measured interleaved:
- Atrium <= ``--max-peer-ratio`` (0.5) x the bare Flask-AppBuilder app and x the Django
  admin (``bench/peers/``) on page 1 (25 and 100 rows), status=open and status=resolved;
  the deep page <= ``--max-deep-ratio`` (0.2) x bare FAB;
- row-level security on vs bypassed (the same requests to a second gunicorn whose role
  has BYPASSRLS) <= ``--max-rls-ratio`` (1.10) on every case;
- at most ``--max-statements`` SQL statements per request whatever the page size;
- every target returns the same ids, in the same order, as the raw SQL.

Steps: create (or, with ``--keep-db``, reuse) a private database owned by the owner role,
build it with ``flask db upgrade`` (as the owner) / ``flask roles sync`` / ``flask seed
demo --scale N`` (as the app role; timed), start gunicorn twice with
``ATRIUM_SQL_COUNT_HEADER=1`` (the app role; the BYPASSRLS role) and the peers, sign in
everywhere, then repeat: every case once on every target in turn (round-robin), the
floors (``/health``, the list filtered to no row) and the raw SQL included, so drift
hits all alike. Prints a JSON summary, writes ``bench/results/ticket_list.json`` and
exits 1 if a target is missed (2 if the benchmark itself could not run). With
``--trace-sql`` (automatic when the statement target is missed) each case is also
replayed in-process and every statement is recorded with the code that issued it
(``bench/results/ticket_list_sql.txt``).

Run: ``make bench`` or ``.venv/bin/python bench/ticket_list.py [--keep-db] [--requests 50]``.
Only stdlib + psycopg (already a runtime dependency) are used by Atrium's side; the peers
need ``bench/requirements-peers.txt`` (``--no-peers`` skips them).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import re
import signal
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import production_db  # noqa: E402 - bench/ is not a package

from peers import run as peers_run  # noqa: E402 - the peers' apps need bench/requirements-peers.txt

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PROTECTED_DBS = {"postgres", "test", "template0", "template1"}
VIEW = "TicketView"
LIST_PATH = "/ticketview/list/"
USERNAME, PASSWORD = "admin", "atrium-demo"
TICKETS_PER_CLIENT_PER_SCALE, CLIENTS = 8, 4  # see app/services/demo.py

# The same page by hand: the ticket columns the list shows, client name and assignee
# username joined, newest first (FAB adds the primary key as a tie-breaker), plus the
# COUNT(*) FAB runs for the pager.
RAW_PAGE = """
SELECT t.id, c.name AS client_name, t.subject, t.priority, t.status, t.sla_state,
       t.first_response_due_at, u.username AS assignee_username, t.created_at
FROM tickets t
JOIN clients c ON c.id = t.client_id
LEFT JOIN ab_user u ON u.id = t.assignee_id
{where}
ORDER BY t.created_at DESC, t.id DESC
LIMIT %(limit)s OFFSET %(offset)s
"""
RAW_COUNT = "SELECT count(*) FROM tickets t {where}"


# --------------------------------------------------------------------------- helpers

def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


class BenchError(RuntimeError):
    """The benchmark could not run (not a missed target)."""


percentile, free_port = peers_run.percentile, peers_run.free_port  # one copy, shared with the peers


def app_env(urls: dict) -> dict:
    """Atrium's environment: ``urls`` gives ``DATABASE_URL`` (and ``DATABASE_OWNER_URL``)."""
    env = dict(os.environ)
    env.pop("DATABASE_OWNER_URL", None)
    env.update(**urls, ATRIUM_ENV="development", FLASK_APP="wsgi.py",
               SECRET_KEY=env.get("SECRET_KEY") or "atrium-bench-secret-key-not-for-production",
               ATRIUM_SQL_COUNT_HEADER="1", LOG_LEVEL=env.get("LOG_LEVEL") or "WARNING")
    return env


def Browser(host: str, port: int) -> peers_run.HttpSession:
    """The benchmark's HTTP client (the peers' too, so figures compare): cookie-keeping,
    one connection per request, like a browser talking to gunicorn's sync workers."""
    return peers_run.HttpSession(f"http://{host}:{port}")


# --------------------------------------------------------------------------- database

def prepare_database(args, db_url: str, admin_url: str, urls: dict) -> dict:
    """``db_url``: the superuser on the benchmark database (counts, VACUUM, the raw SQL);
    ``urls``: Atrium's roles, which build and seed it as production would."""
    expected = TICKETS_PER_CLIENT_PER_SCALE * CLIENTS * args.scale
    with psycopg.connect(admin_url, autocommit=True) as conn:
        owner = conn.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                             (args.db,)).fetchone()
    exists = owner is not None
    if exists and owner[0] != production_db.OWNER:
        log(f"database {args.db} is owned by {owner[0]}, not {production_db.OWNER}: rebuilding")
    elif exists and args.keep_db:
        tickets = _ticket_count(db_url)
        if tickets is not None and tickets >= expected:
            log(f"reusing database {args.db} ({tickets} tickets); bringing schema and roles up to date")
            production_db.ensure_roles(admin_url)  # roles set up as the current README says
            timings = {key: run_flask(key, cmd, urls) for key, cmd in
                       [("upgrade_s", ["db", "upgrade"]), ("roles_sync_s", ["roles", "sync"])]}
            return {"reused": True, "tickets": tickets, "seed": None, "update": timings,
                    "vacuum_analyze_s": vacuum_analyze(db_url)}
        log(f"database {args.db} exists but holds {tickets} tickets (< {expected}): rebuilding")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if exists:
            conn.execute(f'DROP DATABASE "{args.db}" WITH (FORCE)')
    production_db.create_database(admin_url, args.db)
    timings = {"scale": args.scale}
    for key, cmd in [("upgrade_s", ["db", "upgrade"]), ("roles_sync_s", ["roles", "sync"]),
                     ("seed_s", ["seed", "demo", "--password", PASSWORD, "--scale", str(args.scale)])]:
        timings[key] = run_flask(key, cmd, urls)
        if key == "seed_s" and timings[key] > 300:
            log(f"  WARNING: seeding took {timings[key]} s (> 5 min)")
    timings["vacuum_analyze_s"] = vacuum_analyze(db_url)
    return {"reused": False, "tickets": _ticket_count(db_url), "seed": timings}


def run_flask(key: str, cmd: list[str], urls: dict) -> float:
    """Run ``flask <cmd>`` against the benchmark database; seconds taken."""
    log(f"flask {' '.join(cmd)} ...")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "flask", *cmd], cwd=ROOT, env=app_env(urls),
                          capture_output=True, text=True)
    seconds = round(time.perf_counter() - started, 1)
    if proc.returncode != 0:
        raise BenchError(f"flask {' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    log(f"  done in {seconds} s")
    return seconds


def vacuum_analyze(db_url: str) -> float:
    """Bulk-loaded tables get statistics and a visibility map once, as autovacuum would
    eventually, so neither the app nor the raw SQL is measured against planner guesses
    (and COUNT(*) can use an index-only scan). Cheap when nothing changed."""
    started = time.perf_counter()
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return round(time.perf_counter() - started, 1)


def _ticket_count(db_url: str) -> int | None:
    try:
        with psycopg.connect(db_url) as conn:
            return conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    except psycopg.Error:
        return None


def drop_database(args, admin_url: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    log(f"dropped database {args.db}")


# --------------------------------------------------------------------------- server

def start_gunicorn(args, urls: dict, port: int, label: str = "app"):
    RESULTS.mkdir(parents=True, exist_ok=True)
    logfile = open(RESULTS / f"ticket_list_gunicorn_{label}.log", "w")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    cmd = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
    # --no-control-socket: gunicorns running side by side would share gunicorn's default one
    cmd += ["-w", str(args.workers), "-b", f"127.0.0.1:{port}", "--timeout", "300", "--no-control-socket", "wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=app_env(urls), stdout=logfile, stderr=subprocess.STDOUT,
                            start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gunicorn exited ({proc.returncode}); see {logfile.name}")
        try:
            status, _, _, _ = Browser("127.0.0.1", port).request("GET", "/health")
            if status == 200:
                return proc, logfile
        except OSError:
            pass
        time.sleep(0.2)
    stop_gunicorn(proc, logfile)
    raise BenchError("gunicorn did not answer /health within 60 s")


def stop_gunicorn(proc, logfile) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)  # the group of the gunicorn we started
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    logfile.close()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    if not match:
        raise BenchError("no csrf_token on the login form")
    return match.group(1)


def login(browser: peers_run.HttpSession) -> None:
    status, _, html, _ = browser.request("GET", "/login/")
    if status != 200:
        raise BenchError(f"GET /login/ returned {status}")
    status, headers, _, _ = browser.request(
        "POST", "/login/", {"csrf_token": csrf_from(html), "username": USERNAME, "password": PASSWORD})
    if status != 302 or "/login" in (headers.get("Location") or ""):
        raise BenchError(f"login as {USERNAME} failed (HTTP {status}, Location {headers.get('Location')})")


def status_filter_arg(html: str) -> str:
    """``_flt_<index>_status`` for "Equal to", read from the filters FAB renders."""
    try:
        return peers_run.status_filter_arg(html)
    except peers_run.PeerError as exc:
        raise BenchError(str(exc)) from None


def page_ids(html: str) -> list[int]:
    # The only integer column of the list is "#" (id).
    return [int(x) for x in re.findall(r"<td>\s*(\d+)\s*</td>", html)]


def record_count(html: str) -> int | str | None:
    """The exact count the page shows, or its "about N" estimate as that text (a list
    counts exactly up to ``LIST_EXACT_COUNT_LIMIT`` rows only)."""
    match = re.search(r"Record Count:</strong>\s*(about [\d,]+|\d+)", html)
    if not match:
        return None
    return match.group(1) if match.group(1).startswith("about") else int(match.group(1))


# --------------------------------------------------------------------------- cases

def build_cases(args, filter_arg: str) -> list[dict]:
    specs = [
        ("page1_size25", 1, 25, None),
        ("page1_size100", 1, 100, None),
        (f"page{args.deep_page}_size25", args.deep_page, 25, None),
        (f"status_{args.status}_page1_size25", 1, 25, args.status),
    ]
    if args.broad_status:
        specs.append((f"status_{args.broad_status}_page1_size25", 1, 25, args.broad_status))
    cases = []
    for name, page, size, status in specs:
        query = {f"page_{VIEW}": page - 1, f"psize_{VIEW}": size,  # FAB pages are 0-based
                 f"_oc_{VIEW}": "created_at", f"_od_{VIEW}": "desc"}
        if status:
            query[filter_arg] = status
        cases.append(dict(name=name, page=page, page_size=size, status=status,
                          url=f"{LIST_PATH}?{urllib.parse.urlencode(query)}"))
    return cases


class RawSQL:
    def __init__(self, db_url: str):
        self.conn = psycopg.connect(db_url, autocommit=True)

    def run(self, case: dict):
        where = "WHERE t.status = %(status)s" if case["status"] else ""
        params = {"status": case["status"], "limit": case["page_size"],
                  "offset": (case["page"] - 1) * case["page_size"]}
        started = time.perf_counter()
        with self.conn.cursor() as cur:
            cur.execute(RAW_COUNT.format(where=where), params)
            total = cur.fetchone()[0]
            cur.execute(RAW_PAGE.format(where=where), params)
            rows = cur.fetchall()
        return (time.perf_counter() - started) * 1000, total, rows

    def close(self):
        self.conn.close()


class AtriumTarget:
    """One of Atrium's gunicorns, signed in as ``admin``."""

    def __init__(self, name: str, browser: peers_run.HttpSession):
        self.name, self.browser = name, browser

    def fetch(self, case: dict) -> dict:
        status, headers, html, ms = self.browser.request("GET", case["url"])
        if status != 200:
            raise BenchError(f"{self.name} {case['name']}: HTTP {status} for {case['url']}")
        stmts = headers.get("X-SQL-Statements")
        if stmts is None:
            raise BenchError("no X-SQL-Statements header: is ATRIUM_SQL_COUNT_HEADER honoured?")
        floor = case.get("floor")
        return {"ms": ms, "statements": int(stmts), "server_ms": float(headers.get("X-Request-Duration-Ms") or "nan"),
                "ids": None if floor else page_ids(html), "count": None if floor == "health" else record_count(html)}


class RawTarget:
    """The same page by hand (psycopg, autocommit, the superuser: no policies)."""

    name = "raw_sql"

    def __init__(self, raw: RawSQL):
        self.raw = raw

    def fetch(self, case: dict) -> dict:
        ms, total, rows = self.raw.run(case)
        return {"ms": ms, "ids": [r[0] for r in rows], "count": total}


def floor_cases() -> list[dict]:
    """What a request costs apart from the rows, through the same client and gunicorn:
    ``health`` (no session, no database, no template) and ``empty_list`` (the list signed
    in, filtered to no row: the authenticated page itself)."""
    return [dict(name="floor_health", url="/health", floor="health"),
            dict(name="floor_empty_list", url=f"{LIST_PATH}?{urllib.parse.urlencode({'_flt_0_id': 0})}",
                 floor="empty_list")]


ORDER_SEED = 19


def measure_round_robin(targets: list, cases: list[dict], n: int, warmup: int) -> list[dict]:
    """``warmup`` + ``n`` rounds; each round runs every case once on every target
    (floors on Atrium's targets only), so drift (caches, autovacuum, CPU load) hits all
    alike, the targets in a new random order for every case of every round (seeded:
    ``ORDER_SEED``). In a fixed order the first target always came right after another
    server's request: the same Atrium app measured as two targets in fixed order came out
    1.10x apart on ``/health``, which touches no database. Per case and target: median,
    p95, the last page's ids and record count."""
    samples = {(c["name"], t.name): [] for c in cases for t in targets}
    last = {}
    order = random.Random(ORDER_SEED)
    for round_no in range(warmup + n):
        for case in cases:
            for target in order.sample(targets, len(targets)):
                if case.get("floor") and not isinstance(target, AtriumTarget):
                    continue
                got = target.fetch(case)
                if round_no >= warmup:
                    samples[(case["name"], target.name)].append(got)
                last[(case["name"], target.name)] = got
    results = []
    for case in cases:
        entry = {k: case.get(k) for k in ("name", "url", "page", "page_size", "status", "floor")}
        entry["targets"] = {}
        for target in targets:
            got = samples[(case["name"], target.name)]
            if not got:
                continue
            ms = [g["ms"] for g in got]
            summary = {"median_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2)}
            if "statements" in got[0]:
                stmts = [g["statements"] for g in got]
                summary["statements"] = {"min": min(stmts), "max": max(stmts)}
                summary["server_median_ms"] = round(statistics.median(g["server_ms"] for g in got), 2)
            final = last[(case["name"], target.name)]
            summary["ids"], summary["record_count"] = final.get("ids"), final.get("count")
            entry["targets"][target.name] = summary
        results.append(entry)
    return results


# --------------------------------------------------------------------------- SQL trace

def trace_sql(urls: dict, cases: list[dict]) -> dict:
    """Replay each case in-process (Flask test client, same app and database) and record
    every statement with the Flask-AppBuilder / app frames that issued it."""
    os.environ.update({k: v for k, v in app_env(urls).items() if k not in ("ATRIUM_SQL_COUNT_HEADER",)})
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa
    from app import create_app
    from app.extensions import db

    app = create_app()
    with app.app_context():
        engine = db.engine
    captured: list[tuple[str, str, float]] = []

    app_dir = str(ROOT / "app")

    def origin() -> str:
        # Walk frames directly (traceback.extract_stack reads source lines: too slow).
        names, frame = [], sys._getframe(2)
        while frame is not None and len(names) < 4:
            fname = frame.f_code.co_filename
            if "flask_appbuilder" in fname or fname.startswith(app_dir):
                short = fname.split("site-packages/")[-1].replace(str(ROOT) + "/", "")
                names.append(f"{short}:{frame.f_code.co_name}")
            frame = frame.f_back
        return " > ".join(reversed(names)) or "?"

    def before(conn, cursor, statement, parameters, context, executemany):
        conn.info["bench_started"] = time.perf_counter()

    def after(conn, cursor, statement, parameters, context, executemany):
        ms = (time.perf_counter() - conn.info.pop("bench_started", time.perf_counter())) * 1000
        captured.append((origin(), " ".join(statement.split()), ms))

    sa.event.listen(engine, "before_cursor_execute", before)
    sa.event.listen(engine, "after_cursor_execute", after)
    report = {}
    lines = []
    try:
        client = app.test_client()
        html = client.get("/login/").get_data(as_text=True)
        client.post("/login/", data={"csrf_token": csrf_from(html), "username": USERNAME,
                                     "password": PASSWORD})
        for case in cases:
            client.get(case["url"])  # warm caches as the timed runs do
            captured.clear()
            started = time.perf_counter()
            resp = client.get(case["url"])
            request_ms = (time.perf_counter() - started) * 1000
            if resp.status_code != 200:
                raise BenchError(f"trace: {case['name']} returned {resp.status_code}")
            groups, group_ms = Counter(), Counter()
            for o, _, ms in captured:
                groups[o] += 1
                group_ms[o] += ms
            sql_ms = sum(ms for _, _, ms in captured)
            report[case["name"]] = {
                "statements": len(captured), "request_ms": round(request_ms, 1),
                "sql_ms": round(sql_ms, 1), "python_and_template_ms": round(request_ms - sql_ms, 1),
                "by_origin": [{"count": c, "sql_ms": round(group_ms[o], 1), "origin": o}
                              for o, c in groups.most_common()]}
            lines.append(f"=== {case['name']}  {case['url']}  ({len(captured)} statements, "
                         f"{sql_ms:.1f} ms in SQL of {request_ms:.1f} ms in-process)")
            for i, (o, s, ms) in enumerate(captured, 1):
                lines.append(f"{i:3d}. {ms:7.2f} ms [{o}]\n     {s[:400]}")
    finally:
        sa.event.remove(engine, "before_cursor_execute", before)
        sa.event.remove(engine, "after_cursor_execute", after)
        with app.app_context():
            db.engine.dispose()
    (RESULTS / "ticket_list_sql.txt").write_text("\n".join(lines) + "\n")
    return report


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--scale", type=int, default=6250,
                   help="flask seed demo --scale (tickets = 32 x scale; 6250 gives 200,000)")
    p.add_argument("--requests", type=int, default=50, help="timed requests per case")
    p.add_argument("--warmup", type=int, default=5, help="untimed requests per case first")
    p.add_argument("--keep-db", action="store_true",
                   help="reuse the database if already seeded at this scale, and keep it afterwards")
    p.add_argument("--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"),
                   help="PostgreSQL server URL, without database name")
    p.add_argument("--db", default="atrium_bench", help="database to create (and drop)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    p.add_argument("--deep-page", type=int, default=4000, help="1-based page number of the deep case")
    p.add_argument("--status", default="open", help="status of the filtered case")
    p.add_argument("--broad-status", default="resolved",
                   help="also measure this (unselective) status filter; '' to skip")
    p.add_argument("--max-statements", type=int, default=5, help="target: SQL statements per request")
    p.add_argument("--max-rls-ratio", type=float, default=1.10,
                   help="target: median with row-level security / the same request bypassing it")
    p.add_argument("--max-peer-ratio", type=float, default=0.5,
                   help="target: Atrium median / each peer's (page 1, status filters)")
    p.add_argument("--max-deep-ratio", type=float, default=0.2, help="target: Atrium / bare FAB on the deep page")
    p.add_argument("--no-peers", action="store_true", help="skip the bare FAB and Django admin peers")
    p.add_argument("--trace-sql", action="store_true",
                   help="record every statement per case (automatic when the statement target is missed)")
    p.add_argument("--output", type=Path, default=RESULTS / "ticket_list.json")
    args = p.parse_args(argv)
    if args.db in PROTECTED_DBS:
        p.error(f"refusing to use database {args.db!r}")
    if args.requests < 1 or args.scale < 1:
        p.error("--requests and --scale must be >= 1")
    return args


def check_targets(args, results: list[dict]) -> list[str]:
    """The targets of the module docstring, as messages for what was missed."""
    failures = []
    peer_cases = {"page1_size25", "page1_size100", f"status_{args.status}_page1_size25",
                  f"status_{args.broad_status}_page1_size25"}
    for r in results:
        t = r["targets"]
        atrium = t["atrium"]
        if r["floor"]:
            continue
        if atrium["statements"]["max"] > args.max_statements:
            failures.append(f"{r['name']}: {atrium['statements']['max']} SQL statements per request "
                            f"(target <= {args.max_statements})")
        raw = t["raw_sql"]
        for name, got in t.items():
            shown = got["record_count"]
            if isinstance(shown, str):  # "about N": an estimate, within a factor of two of the truth
                estimate = int(shown.removeprefix("about ").replace(",", ""))
                r.setdefault("estimated_counts", {})[name] = shown
                shown = raw["record_count"] if raw["record_count"] / 2 <= estimate <= raw["record_count"] * 2 else shown
            if got["ids"] != raw["ids"] or shown not in (None, raw["record_count"]):
                failures.append(f"{r['name']}: {name}'s page differs from the raw SQL's (ids or record count)")
        bypassed = t.get("atrium_rls_bypassed")
        if bypassed:
            r["rls_ratio"] = round(atrium["median_ms"] / bypassed["median_ms"], 2)
            if r["rls_ratio"] > args.max_rls_ratio:
                failures.append(f"{r['name']}: row-level security costs {r['rls_ratio']}x the same request "
                                f"bypassing it (target <= {args.max_rls_ratio}x)")
        r["raw_ratio"] = round(atrium["median_ms"] / raw["median_ms"], 2)
        deep = r["name"].startswith(f"page{args.deep_page}_")
        for peer in ("fab_bare", "django_admin"):
            if peer not in t:
                continue
            ratio = r.setdefault("peer_ratios", {})[peer] = round(atrium["median_ms"] / t[peer]["median_ms"], 2)
            limit = args.max_deep_ratio if deep and peer == "fab_bare" else (
                args.max_peer_ratio if r["name"] in peer_cases else None)
            if limit is not None and ratio > limit:
                failures.append(f"{r['name']}: Atrium {atrium['median_ms']} ms is {ratio}x {peer}'s "
                                f"{t[peer]['median_ms']} ms (target <= {limit}x)")
    return failures


def main(argv=None) -> int:
    args = parse_args(argv)
    admin_url = f"{args.pg.rstrip('/')}/postgres"
    db_url = f"{args.pg.rstrip('/')}/{args.db}"  # the superuser: counts, VACUUM, the raw SQL
    urls = production_db.app_urls(args.pg, args.db)
    bypass = {"DATABASE_URL": production_db.bypass_url(args.pg, args.db)}
    RESULTS.mkdir(parents=True, exist_ok=True)
    servers, raw, peers = [], None, []
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        database = prepare_database(args, db_url, admin_url, urls)
        role = production_db.require_production_role(urls["DATABASE_URL"])
        targets = []
        for name, env in (("atrium", urls), ("atrium_rls_bypassed", bypass)):
            port = free_port()
            log(f"starting gunicorn ({args.workers} workers) on 127.0.0.1:{port} as {env['DATABASE_URL'].split('@')[0]}")
            servers.append(start_gunicorn(args, env, port, label=name))
            browser = Browser("127.0.0.1", port)
            login(browser)
            targets.append(AtriumTarget(name, browser))
        status, _, html, _ = targets[0].browser.request("GET", LIST_PATH)
        if status != 200:
            raise BenchError(f"GET {LIST_PATH} as {USERNAME} returned {status}")
        filter_arg = status_filter_arg(html)
        cases = floor_cases() + build_cases(args, filter_arg)
        raw = RawSQL(db_url)
        targets.append(RawTarget(raw))
        if not args.no_peers:
            peers = start_peers(args, db_url)
            targets.extend(peers)
        with raw.conn.cursor() as cur:
            pg_version = cur.execute("SHOW server_version").fetchone()[0]
        log(f"{len(cases)} cases x {len(targets)} targets, {args.warmup} warm-up + {args.requests} rounds ...")
        results = measure_round_robin(targets, cases, args.requests, args.warmup)
    except (BenchError, production_db.PrivilegedRole) as exc:
        log(f"ERROR: {exc}")
        for proc, logfile in servers:
            stop_gunicorn(proc, logfile)
        servers = []
        if not args.keep_db:
            drop_database(args, admin_url)
        return 2
    finally:
        if raw is not None:
            raw.close()
        for proc, logfile in servers:
            stop_gunicorn(proc, logfile)
        for peer in peers:
            peer.stop()
        if peers:  # Django's own tables, made as the superuser, would block the owner's next GRANT
            peers_run.drop_django_tables(db_url)

    failures = check_targets(args, results)
    for r in results:
        medians = ", ".join(f"{k} {v['median_ms']}" for k, v in r["targets"].items())
        log(f"{r['name']}: {medians} ms" + (f"; RLS x{r['rls_ratio']}" if "rls_ratio" in r else "")
            + (f"; vs peers {r['peer_ratios']}" if r.get("peer_ratios") else ""))
    summary = {
        "benchmark": "ticket_list",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "postgresql": pg_version,
                        "gunicorn_workers": args.workers, "cpus": os.cpu_count(),
                        "loadavg_before": load_before,
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                        "atrium_role": role,
                        "client": "http.client, one connection per request; raw SQL: psycopg, autocommit, superuser"},
        "database": {"name": args.db, **database},
        "settings": {"requests": args.requests, "warmup": args.warmup, "user": USERNAME,
                     "status_filter_arg": filter_arg, "order": f"round-robin: every case on every target per round, targets shuffled (seed {ORDER_SEED})"},
        "targets": {"max_sql_statements": args.max_statements, "max_rls_ratio": args.max_rls_ratio,
                    "max_peer_ratio": args.max_peer_ratio, "max_deep_ratio_to_fab": args.max_deep_ratio},
        "cases": results,
        "failures": failures,
        "ok": not failures,
    }
    statements_missed = any(not r["floor"] and r["targets"]["atrium"]["statements"]["max"] > args.max_statements
                            for r in results)
    if args.trace_sql or statements_missed:
        log("tracing the statements of each case in-process ...")
        try:
            summary["sql_trace"] = {"file": str((RESULTS / "ticket_list_sql.txt").relative_to(ROOT)),
                                    "cases": trace_sql(urls, [c for c in cases if not c.get("floor")])}
        except Exception as exc:  # noqa: BLE001 - the trace is diagnostic only
            summary["sql_trace"] = {"error": f"{exc.__class__.__name__}: {exc}"}

    if not args.keep_db:
        drop_database(args, admin_url)

    text = json.dumps(summary, indent=2, ensure_ascii=False)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(text)
    if failures:
        print("\nTARGETS MISSED:", file=sys.stderr)
        for f in failures:
            print(f"  - {f}", file=sys.stderr)
        return 1
    print(f"\nAll targets met ({len(results)} cases).", file=sys.stderr)
    return 0


class PeerTarget:
    """A peer of ``bench/peers`` (bare Flask-AppBuilder, Django admin) under gunicorn,
    signed in; it has no row-level security, so it runs as the superuser."""

    def __init__(self, name: str, proc, session):
        self.name, self.proc, self.session = name, proc, session

    def fetch(self, case: dict) -> dict:
        ids, ms = peers_run.fetch_ids(self.name, self.session, case)
        return {"ms": ms, "ids": ids, "count": None}

    def stop(self) -> None:
        peers_run.stop_peer(self.proc)


def start_peers(args, db_url: str) -> list:
    """The bare Flask-AppBuilder app and the Django admin (``bench/peers``), signed in."""
    started = []
    try:
        for name in peers_run.PEERS:
            log(f"starting peer {name} (gunicorn, {args.workers} workers)")
            proc, base_url = peers_run.start_peer(name, db_url, workers=args.workers, password=PASSWORD)
            started.append(PeerTarget(name, proc, None))
            started[-1].session = peers_run.login(name, base_url, password=PASSWORD)
    except peers_run.PeerError as exc:
        for peer in started:
            peer.stop()
        raise BenchError(str(exc)) from None
    return started


if __name__ == "__main__":
    sys.exit(main())
