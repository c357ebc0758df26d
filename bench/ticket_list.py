#!/usr/bin/env python3
"""Benchmark: the staff ticket list (``/ticketview/list/``) on PostgreSQL under gunicorn.

Requirement measured: with >= 200,000 tickets, the list (page 1, a deep page, filtered by
status, newest first) issues at most ``--max-statements`` SQL statements per request
whatever the page size, and its median latency is at most ``--max-ratio`` times the
median of the raw SQL for the same page (psycopg, same run, same repetitions).

Steps: create (or, with ``--keep-db``, reuse) a private database, build it with
``flask db upgrade`` / ``flask roles sync`` / ``flask seed demo --scale N`` (timed), start
gunicorn with ``ATRIUM_SQL_COUNT_HEADER=1``, log in as ``admin`` through the HTML form,
then for each case alternate one HTTP request and one raw-SQL execution. Prints a JSON
summary, writes it to ``bench/results/ticket_list.json`` and exits 1 if a target is
missed (2 if the benchmark itself could not run). With ``--trace-sql`` (automatic when
the statement target is missed) each case is also replayed in-process and every
statement is recorded with the code that issued it (``bench/results/ticket_list_sql.txt``).

Run: ``make bench`` or ``.venv/bin/python bench/ticket_list.py [--keep-db] [--requests 50]``.
Only stdlib + psycopg (already a runtime dependency) are used.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import math
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from collections import Counter
from http.cookies import SimpleCookie
from pathlib import Path

import psycopg

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


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(db_url: str) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=db_url, ATRIUM_ENV="development", FLASK_APP="wsgi.py",
               SECRET_KEY=env.get("SECRET_KEY") or "atrium-bench-secret-key-not-for-production",
               ATRIUM_SQL_COUNT_HEADER="1", LOG_LEVEL=env.get("LOG_LEVEL") or "WARNING")
    return env


class Browser:
    """A minimal cookie-keeping HTTP client (one connection per request, like a browser
    talking to gunicorn's sync workers, which close every connection)."""

    def __init__(self, host: str, port: int):
        self.host, self.port, self.cookies = host, port, {}

    def request(self, method: str, path: str, form: dict | None = None):
        headers = {"User-Agent": "atrium-bench"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        elapsed_ms = (time.perf_counter() - started) * 1000
        for raw in resp.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel.value == "" or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        return resp.status, resp.headers, data.decode("utf-8", "replace"), elapsed_ms


# --------------------------------------------------------------------------- database

def prepare_database(args, db_url: str, admin_url: str) -> dict:
    expected = TICKETS_PER_CLIENT_PER_SCALE * CLIENTS * args.scale
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (args.db,)).fetchone()
    if exists and args.keep_db:
        tickets = _ticket_count(db_url)
        if tickets is not None and tickets >= expected:
            log(f"reusing database {args.db} ({tickets} tickets); bringing schema and roles up to date")
            timings = {key: run_flask(key, cmd, db_url) for key, cmd in
                       [("upgrade_s", ["db", "upgrade"]), ("roles_sync_s", ["roles", "sync"])]}
            return {"reused": True, "tickets": tickets, "seed": None, "update": timings,
                    "vacuum_analyze_s": vacuum_analyze(db_url)}
        log(f"database {args.db} exists but holds {tickets} tickets (< {expected}): rebuilding")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if exists:
            conn.execute(f'DROP DATABASE "{args.db}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{args.db}"')
    timings = {"scale": args.scale}
    for key, cmd in [("upgrade_s", ["db", "upgrade"]), ("roles_sync_s", ["roles", "sync"]),
                     ("seed_s", ["seed", "demo", "--password", PASSWORD, "--scale", str(args.scale)])]:
        timings[key] = run_flask(key, cmd, db_url)
        if key == "seed_s" and timings[key] > 300:
            log(f"  WARNING: seeding took {timings[key]} s (> 5 min)")
    timings["vacuum_analyze_s"] = vacuum_analyze(db_url)
    return {"reused": False, "tickets": _ticket_count(db_url), "seed": timings}


def run_flask(key: str, cmd: list[str], db_url: str) -> float:
    """Run ``flask <cmd>`` against the benchmark database; seconds taken."""
    log(f"flask {' '.join(cmd)} ...")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "flask", *cmd], cwd=ROOT, env=app_env(db_url),
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

def start_gunicorn(args, db_url: str, port: int):
    RESULTS.mkdir(parents=True, exist_ok=True)
    logfile = open(RESULTS / "ticket_list_gunicorn.log", "w")
    gunicorn = Path(sys.executable).parent / "gunicorn"
    cmd = [str(gunicorn)] if gunicorn.exists() else [sys.executable, "-m", "gunicorn"]
    cmd += ["-w", str(args.workers), "-b", f"127.0.0.1:{port}", "--timeout", "300", "wsgi:app"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=app_env(db_url), stdout=logfile, stderr=subprocess.STDOUT,
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


def login(browser: Browser) -> None:
    status, _, html, _ = browser.request("GET", "/login/")
    if status != 200:
        raise BenchError(f"GET /login/ returned {status}")
    status, headers, _, _ = browser.request(
        "POST", "/login/", {"csrf_token": csrf_from(html), "username": USERNAME, "password": PASSWORD})
    if status != 302 or "/login" in (headers.get("Location") or ""):
        raise BenchError(f"login as {USERNAME} failed (HTTP {status}, Location {headers.get('Location')})")


def status_filter_arg(html: str) -> str:
    """``_flt_<index>_status`` for "Equal to", read from the filters FAB renders."""
    marker = html.find("'#filter_form',")
    if marker < 0:
        raise BenchError("no AdminFilters block on the list page")
    decoder, pos, objs = json.JSONDecoder(), marker + len("'#filter_form',"), []
    for _ in range(3):
        while html[pos] in " \t\r\n,":
            pos += 1
        obj, pos = decoder.raw_decode(html, pos)
        objs.append(obj)
    ops = objs[2].get("status")
    if not ops or "Equal to" not in ops:
        raise BenchError(f"status filter not offered (operations: {ops})")
    return f"_flt_{ops.index('Equal to')}_status"


def page_ids(html: str) -> list[int]:
    # The only integer column of the list is "#" (id).
    return [int(x) for x in re.findall(r"<td>\s*(\d+)\s*</td>", html)]


def record_count(html: str) -> int | None:
    match = re.search(r"Record Count:</strong>\s*(\d+)", html)
    return int(match.group(1)) if match else None


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


def measure(browser: Browser, raw: RawSQL, case: dict, n: int, warmup: int) -> dict:
    def app_once():
        status, headers, html, ms = browser.request("GET", case["url"])
        if status != 200:
            raise BenchError(f"{case['name']}: HTTP {status} for {case['url']}")
        stmts = headers.get("X-SQL-Statements")
        if stmts is None:
            raise BenchError("no X-SQL-Statements header: is ATRIUM_SQL_COUNT_HEADER honoured?")
        return ms, int(stmts), float(headers.get("X-Request-Duration-Ms") or "nan"), html

    for _ in range(warmup):
        app_once()
        raw.run(case)
    app_ms, server_ms, stmts, raw_ms = [], [], [], []
    html = total = rows = None
    for _ in range(n):  # alternate so drift (caches, autovacuum, CPU) hits both alike
        ms, count, srv, html = app_once()
        app_ms.append(ms), stmts.append(count), server_ms.append(srv)
        ms, total, rows = raw.run(case)
        raw_ms.append(ms)

    ids = page_ids(html)
    raw_ids = [r[0] for r in rows]
    app_median, raw_median = statistics.median(app_ms), statistics.median(raw_ms)
    return {
        "name": case["name"], "url": case["url"], "page": case["page"], "page_size": case["page_size"],
        "status_filter": case["status"], "rows_on_page": len(ids), "record_count": record_count(html),
        "raw_record_count": total, "page_matches_raw_sql": ids == raw_ids,
        "app_ms": {"median": round(app_median, 2), "p95": round(percentile(app_ms, 95), 2),
                   "min": round(min(app_ms), 2), "max": round(max(app_ms), 2),
                   "server_median": round(statistics.median(server_ms), 2)},
        "sql_statements": {"min": min(stmts), "max": max(stmts), "median": statistics.median(stmts)},
        "raw_sql_ms": {"median": round(raw_median, 3), "p95": round(percentile(raw_ms, 95), 3)},
        "ratio_median_app_to_raw": round(app_median / raw_median, 1),
    }


def measure_floors(browser: Browser, n: int, warmup: int) -> dict:
    """What a request costs apart from the rows, through the same client and gunicorn:

    - ``health``: ``GET /health`` (no session, no database, no template), the smallest
      request this server answers;
    - ``empty_list``: the ticket list, signed in, filtered to no row (``id = 0``): the
      authenticated Flask-AppBuilder page itself (user, grants, layout, filters, pager).

    A case whose target (``max-ratio`` x its raw SQL) is below ``empty_list`` is out of
    reach of any change to the list's query: it would need the page around the rows to
    cost less than it costs with no rows."""
    url = f"{LIST_PATH}?{urllib.parse.urlencode({'_flt_0_id': 0})}"
    floors = {}
    for name, path, who in (("health", "/health", Browser(browser.host, browser.port)),
                            ("empty_list", url, browser)):
        timings = []
        for i in range(warmup + n):
            status, _, html, ms = who.request("GET", path)
            if status != 200:
                raise BenchError(f"GET {path} returned {status}")
            if i >= warmup:
                timings.append(ms)
        if name == "empty_list" and record_count(html) not in (0, None):
            raise BenchError(f"{path} lists {record_count(html)} tickets, expected none")
        floors[name] = {"path": path, "median_ms": round(statistics.median(timings), 2),
                        "p95_ms": round(percentile(timings, 95), 2)}
    return floors


# --------------------------------------------------------------------------- SQL trace

def trace_sql(db_url: str, cases: list[dict]) -> dict:
    """Replay each case in-process (Flask test client, same app and database) and record
    every statement with the Flask-AppBuilder / app frames that issued it."""
    os.environ.update({k: v for k, v in app_env(db_url).items() if k not in ("ATRIUM_SQL_COUNT_HEADER",)})
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
    p.add_argument("--max-ratio", type=float, default=3.0, help="target: app median / raw SQL median")
    p.add_argument("--trace-sql", action="store_true",
                   help="record every statement per case (automatic when the statement target is missed)")
    p.add_argument("--output", type=Path, default=RESULTS / "ticket_list.json")
    args = p.parse_args(argv)
    if args.db in PROTECTED_DBS:
        p.error(f"refusing to use database {args.db!r}")
    if args.requests < 1 or args.scale < 1:
        p.error("--requests and --scale must be >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    admin_url = f"{args.pg.rstrip('/')}/postgres"
    db_url = f"{args.pg.rstrip('/')}/{args.db}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    proc = logfile = raw = None
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        database = prepare_database(args, db_url, admin_url)
        port = free_port()
        log(f"starting gunicorn ({args.workers} workers) on 127.0.0.1:{port}")
        proc, logfile = start_gunicorn(args, db_url, port)
        browser = Browser("127.0.0.1", port)
        login(browser)
        status, _, html, _ = browser.request("GET", LIST_PATH)
        if status != 200:
            raise BenchError(f"GET {LIST_PATH} as {USERNAME} returned {status}")
        filter_arg = status_filter_arg(html)
        cases = build_cases(args, filter_arg)
        raw = RawSQL(db_url)
        with raw.conn.cursor() as cur:
            pg_version = cur.execute("SHOW server_version").fetchone()[0]
        floors = measure_floors(browser, args.requests, args.warmup)
        log("floors: " + ", ".join(f"{k} {v['median_ms']} ms" for k, v in floors.items()))
        results = []
        for case in cases:
            log(f"{case['name']}: {args.warmup} warm-up + {args.requests} requests ...")
            results.append(measure(browser, raw, case, args.requests, args.warmup))
            r = results[-1]
            log(f"  app median {r['app_ms']['median']} ms, raw {r['raw_sql_ms']['median']} ms, "
                f"x{r['ratio_median_app_to_raw']}, statements {r['sql_statements']['min']}-"
                f"{r['sql_statements']['max']}")
    except BenchError as exc:
        log(f"ERROR: {exc}")
        if not args.keep_db:
            stop_gunicorn(proc, logfile) if proc is not None else None
            proc = None
            drop_database(args, admin_url)
        return 2
    finally:
        if raw is not None:
            raw.close()
        if proc is not None:
            stop_gunicorn(proc, logfile)

    failures = []
    for r in results:
        if r["sql_statements"]["max"] > args.max_statements:
            failures.append(f"{r['name']}: {r['sql_statements']['max']} SQL statements per request "
                            f"(target <= {args.max_statements})")
        target_ms = args.max_ratio * r["raw_sql_ms"]["median"]
        r["target_ms"] = round(target_ms, 2)
        r["target_below_empty_page"] = target_ms < floors["empty_list"]["median_ms"]
        if r["ratio_median_app_to_raw"] > args.max_ratio:
            failures.append(f"{r['name']}: median {r['app_ms']['median']} ms is "
                            f"{r['ratio_median_app_to_raw']}x the raw SQL's {r['raw_sql_ms']['median']} ms "
                            f"(target <= {args.max_ratio}x = {target_ms:.2f} ms"
                            + (f"; below the {floors['empty_list']['median_ms']} ms of the same page listing no row)"
                               if r["target_below_empty_page"] else ")"))
        if not r["page_matches_raw_sql"] or r["record_count"] != r["raw_record_count"]:
            failures.append(f"{r['name']}: the page differs from the raw SQL's (ids or record count)")

    summary = {
        "benchmark": "ticket_list",
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "environment": {"python": platform.python_version(), "postgresql": pg_version,
                        "gunicorn_workers": args.workers, "cpus": os.cpu_count(),
                        "loadavg_before": load_before,
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
                        "client": "http.client, one connection per request; raw SQL: psycopg, autocommit"},
        "database": {"name": args.db, **database},
        "settings": {"requests": args.requests, "warmup": args.warmup, "user": USERNAME,
                     "status_filter_arg": filter_arg},
        "targets": {"max_sql_statements": args.max_statements, "max_ratio_to_raw_sql": args.max_ratio},
        "floors": floors,
        "cases": results,
        "failures": failures,
        "ok": not failures,
    }
    statements_missed = any(r["sql_statements"]["max"] > args.max_statements for r in results)
    if args.trace_sql or statements_missed:
        log("tracing the statements of each case in-process ...")
        try:
            summary["sql_trace"] = {"file": str((RESULTS / "ticket_list_sql.txt").relative_to(ROOT)),
                                    "cases": trace_sql(db_url, cases)}
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


if __name__ == "__main__":
    sys.exit(main())
