#!/usr/bin/env python3
"""Benchmark peers of Atrium's staff ticket list (issue 19), on the same PostgreSQL tables.

Two peers read an already seeded Atrium database:

- ``fab_bare``: a bare Flask-AppBuilder ``ModelView`` over ``tickets``
  (bench/peers/fab_bare/app.py);
- ``django_admin``: a Django 5.2 admin changelist over unmanaged models
  (bench/peers/django_admin/), persistent connections with health checks.

Each runs under ``gunicorn -w 2`` on a free loopback port, signed in, and is asked for
the same pages as Atrium's own benchmark (bench/ticket_list.py): newest first
(``created_at DESC, id DESC``), 25 or 100 a page, filtered by status, and a deep page
(offset 99,975, or the last page of a smaller table). Requests go round-robin between
the peers (the order rotates each round) so drift hits both alike. Per case and peer:
median / p95 / min / max of the client-side wall time (ms), the statements the request
ran (``X-SQL-Statements``), and the ids on the page (every response's), checked against the raw SQL
``SELECT id FROM tickets [WHERE status = ...] ORDER BY created_at DESC, id DESC
LIMIT/OFFSET``.

Usage (from the repository root, after ``.venv/bin/pip install -r bench/requirements-peers.txt``):

    .venv/bin/python bench/peers/run.py --db-url postgresql://postgres@127.0.0.1:5432/atrium_bench

The peers have no row-level security of their own, so they must connect as a role that
bypasses Atrium's FORCEd RLS policies: the PostgreSQL superuser of ``--db-url`` (or any
role with BYPASSRLS). Prints JSON and writes ``bench/results/peers.json``. Exit status 0
when every page of every peer matched the raw SQL, 1 when one did not, 2 when the run
could not be made.

Importable pieces, for bench/ticket_list.py to put Atrium in the same loop:
``start_peer(name, db_url) -> (proc, base_url)``, ``stop_peer(proc)``,
``login(name, base_url, password=...) -> HttpSession``,
``fetch_ids(name, session, case) -> (ids, ms)``, ``build_cases(total_tickets)``,
``raw_ids(db_url, case)``, ``HttpSession`` (the HTTP client, usable for Atrium too).
Only the standard library and psycopg are used here.
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
from http.cookies import SimpleCookie
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parents[2]
PEERS_DIR = ROOT / "bench" / "peers"
RESULTS = ROOT / "bench" / "results"
PEERS = ("fab_bare", "django_admin")
DEFAULT_PASSWORD = "atrium-demo"  # Atrium's development demo password (README, app/cli.py)
FAB_USERNAME = "admin"  # Atrium's demo admin (role Admin), an ab_user row
DJANGO_USERNAME = "benchadmin"  # Django superuser made by manage.py peer_setup (auth_user)

FAB_VIEW = "TicketView"
FAB_LIST_PATH = "/ticketview/list/"
DJANGO_LIST_PATH = "/admin/peer_tickets/ticket/"

RAW_IDS = ("SELECT id FROM tickets {where} ORDER BY created_at DESC, id DESC "
           "LIMIT %(limit)s OFFSET %(offset)s")


def log(msg: str) -> None:
    print(f"[peers] {msg}", file=sys.stderr, flush=True)


class PeerError(RuntimeError):
    """A peer could not be started, signed in or read."""


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (as bench/ticket_list.py)."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --------------------------------------------------------------------------- HTTP client

class HttpSession:
    """A cookie-keeping HTTP client, one connection per request (as a browser talking to
    gunicorn's sync workers, which close every connection; the same client as
    bench/ticket_list.py's ``Browser``, so figures compare). ``last`` holds the status and
    the measuring headers of the last response."""

    def __init__(self, base_url: str):
        parts = urllib.parse.urlsplit(base_url)
        self.base_url = base_url.rstrip("/")
        self.host, self.port = parts.hostname, parts.port or 80
        self.cookies: dict[str, str] = {}
        self.last: dict = {}
        self.info: dict = {}  # per-peer facts learnt once (e.g. FAB's filter argument)

    def request(self, method: str, path: str, form: dict | None = None,
                headers: dict | None = None) -> tuple[int, http.client.HTTPMessage, str, float]:
        hdrs = {"User-Agent": "atrium-bench-peers", **(headers or {})}
        if self.cookies:
            hdrs["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        started = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=300)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        elapsed_ms = (time.perf_counter() - started) * 1000
        for raw in resp.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie()
            jar.load(raw)
            for name, morsel in jar.items():
                if morsel.value in ("", '""') or morsel["max-age"] == "0":
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value
        self.last = {"status": resp.status, "ms": elapsed_ms,
                     "sql_statements": _int_or_none(resp.headers.get("X-SQL-Statements")),
                     "sql_health_checks": _int_or_none(resp.headers.get("X-SQL-Health-Checks")),
                     "server_ms": _float_or_none(resp.headers.get("X-Request-Duration-Ms"))}
        return resp.status, resp.headers, data.decode("utf-8", "replace"), elapsed_ms


def _int_or_none(value):
    return int(value) if value not in (None, "") else None


def _float_or_none(value):
    return float(value) if value not in (None, "") else None


# --------------------------------------------------------------------------- peers

def _gunicorn() -> list[str]:
    exe = Path(sys.executable).parent / "gunicorn"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "gunicorn"]


def peer_env(db_url: str, sql_count_header: bool = True, sql_log: bool = False) -> dict:
    env = dict(os.environ)
    for key in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "FLASK_APP"):  # nothing of Atrium's
        env.pop(key, None)
    env["PEER_DATABASE_URL"] = db_url
    env["PEER_SQL_COUNT_HEADER"] = "1" if sql_count_header else "0"
    env["PEER_SQL_LOG"] = "1" if sql_log else "0"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def setup_django(db_url: str, password: str = DEFAULT_PASSWORD) -> None:
    """Django's own tables (``migrate``) and the ``benchadmin`` superuser; idempotent."""
    proc = subprocess.run([sys.executable, "manage.py", "peer_setup", "--password", password],
                          cwd=PEERS_DIR / "django_admin", env=peer_env(db_url, False),
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PeerError(f"django_admin: manage.py peer_setup failed:\n{proc.stdout[-2000:]}\n"
                        f"{proc.stderr[-4000:]}")


def start_peer(name: str, db_url: str, *, workers: int = 2, port: int | None = None,
               password: str = DEFAULT_PASSWORD, log_path: Path | None = None,
               sql_count_header: bool = True, sql_log: bool = False, extra_env: dict | None = None):
    """Start peer ``name`` under ``gunicorn -w workers`` on 127.0.0.1; wait for /health.

    ``db_url``: the Atrium database, as a role that bypasses row-level security (the
    superuser). For django_admin, runs ``manage.py peer_setup`` first (Django's tables,
    superuser ``benchadmin`` with ``password``). Returns ``(proc, base_url)``; gunicorn's
    output goes to ``log_path`` (default ``bench/results/peers_<name>_gunicorn.log``).
    ``extra_env``: more environment for the peer (e.g. ``{"PEER_FAB_JOINED": "1"}``).
    Stop it with ``stop_peer(proc)``."""
    if name not in PEERS:
        raise ValueError(f"unknown peer {name!r} (one of {PEERS})")
    if name == "django_admin":
        setup_django(db_url, password)
    port = port or free_port()
    RESULTS.mkdir(parents=True, exist_ok=True)
    log_path = log_path or RESULTS / f"peers_{name}_gunicorn.log"
    logfile = open(log_path, "w")  # noqa: SIM115 (open while the peer runs; stop_peer closes it)
    if name == "fab_bare":
        # --chdir bench/peers: the module is fab_bare.app (never Atrium's own ``app`` package)
        chdir, target = PEERS_DIR, "fab_bare.app:app"
    else:
        chdir, target = PEERS_DIR / "django_admin", "peer_site.wsgi:application"
    # --no-control-socket: gunicorn 27's control socket defaults to one path per user
    # (~/.gunicorn/gunicorn.ctl), which concurrent gunicorns (Atrium's, the other peer's)
    # would take from each other.
    cmd = _gunicorn() + ["-w", str(workers), "-b", f"127.0.0.1:{port}", "--timeout", "300",
                         "--no-control-socket", "--chdir", str(chdir), target]
    env = {**peer_env(db_url, sql_count_header, sql_log), **(extra_env or {})}
    proc = subprocess.Popen(cmd, cwd=chdir, env=env,
                            stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True)
    proc.peer_logfile = logfile  # closed by stop_peer
    proc.peer_log_path = log_path
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stop_peer(proc)
            raise PeerError(f"{name}: gunicorn exited ({proc.returncode}); see {log_path}")
        try:
            status, _, _, _ = HttpSession(base_url).request("GET", "/health")
            if status == 200:
                return proc, base_url
        except OSError:
            pass
        time.sleep(0.2)
    stop_peer(proc)
    raise PeerError(f"{name}: gunicorn did not answer /health within 60 s; see {log_path}")


def stop_peer(proc) -> None:
    """Stop the gunicorn started by ``start_peer`` (its own process group only)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    logfile = getattr(proc, "peer_logfile", None)
    if logfile is not None and not logfile.closed:
        logfile.close()


def _form_value(html: str, field: str) -> str:
    for tag in re.findall(r"<input[^>]*>", html):
        if re.search(rf'name="{re.escape(field)}"', tag):
            match = re.search(r'value="([^"]*)"', tag)
            if match:
                return match.group(1)
    raise PeerError(f"no {field} on the login form")


def login(name: str, base_url: str, username: str | None = None,
          password: str = DEFAULT_PASSWORD) -> HttpSession:
    """Sign in through the peer's HTML login form (CSRF token included)."""
    session = HttpSession(base_url)
    if name == "fab_bare":
        username = username or FAB_USERNAME
        status, _, html, _ = session.request("GET", "/login/")
        if status != 200:
            raise PeerError(f"fab_bare: GET /login/ returned {status}")
        status, headers, _, _ = session.request("POST", "/login/", {
            "csrf_token": _form_value(html, "csrf_token"), "username": username, "password": password})
        location = headers.get("Location") or ""
        if status != 302 or "/login" in location:
            raise PeerError(f"fab_bare: login as {username} failed (HTTP {status}, Location {location})")
        fab_status_filter_arg(session)  # learnt now, outside any timed loop
    elif name == "django_admin":
        username = username or DJANGO_USERNAME
        status, _, html, _ = session.request("GET", "/admin/login/?next=/admin/")
        if status != 200:
            raise PeerError(f"django_admin: GET /admin/login/ returned {status}")
        status, headers, _, _ = session.request("POST", "/admin/login/?next=/admin/", {
            "csrfmiddlewaretoken": _form_value(html, "csrfmiddlewaretoken"),
            "username": username, "password": password, "next": "/admin/"})
        location = headers.get("Location") or ""
        if status != 302 or "/login" in location:
            raise PeerError(f"django_admin: login as {username} failed (HTTP {status}, Location {location})")
    else:
        raise ValueError(f"unknown peer {name!r}")
    session.info["peer"] = name
    return session


# --------------------------------------------------------------------------- cases

def build_cases(total_tickets: int, deep_page: int = 4000, status: str = "open",
                broad_status: str | None = "resolved") -> list[dict]:
    """The cases of bench/ticket_list.py (same names). ``page`` is 1-based. The deep case
    is page ``deep_page`` of 25 (offset 99,975) or the last page of a smaller table."""
    last_page = max(1, math.ceil(total_tickets / 25))
    deep = min(deep_page, last_page)
    specs = [("page1_size25", 1, 25, None), ("page1_size100", 1, 100, None),
             (f"page{deep}_size25", deep, 25, None),
             (f"status_{status}_page1_size25", 1, 25, status)]
    if broad_status:
        specs.append((f"status_{broad_status}_page1_size25", 1, 25, broad_status))
    return [{"name": n, "page": p, "page_size": s, "status": st} for n, p, s, st in specs]


def fab_status_filter_arg(session: HttpSession) -> str:
    """``_flt_<index of "Equal to">_status``, read from the filters FAB renders (the
    index depends on the column type: 0 for Atrium's enum-as-text columns)."""
    if "filter_arg" in session.info:
        return session.info["filter_arg"]
    status, _, html, _ = session.request("GET", FAB_LIST_PATH)
    if status != 200:
        raise PeerError(f"fab_bare: GET {FAB_LIST_PATH} returned {status}")
    session.info["filter_arg"] = status_filter_arg(html)
    return session.info["filter_arg"]


def status_filter_arg(html: str) -> str:
    """``_flt_<index of "Equal to">_status`` from a Flask-AppBuilder list page's filters
    (Atrium's list and the bare FAB peer's render them alike)."""
    marker = html.find("'#filter_form',")
    if marker < 0:
        raise PeerError("no AdminFilters block on the list page")
    decoder, pos, objs = json.JSONDecoder(), marker + len("'#filter_form',"), []
    for _ in range(3):
        while html[pos] in " \t\r\n,":
            pos += 1
        obj, pos = decoder.raw_decode(html, pos)
        objs.append(obj)
    ops = objs[2].get("status")
    if not ops or "Equal to" not in ops:
        raise PeerError(f"status filter not offered (operations: {ops})")
    return f"_flt_{ops.index('Equal to')}_status"


def case_path(name: str, session: HttpSession, case: dict) -> str:
    if name == "fab_bare":
        query = {f"page_{FAB_VIEW}": case["page"] - 1, f"psize_{FAB_VIEW}": case["page_size"],  # 0-based
                 f"_oc_{FAB_VIEW}": "created_at", f"_od_{FAB_VIEW}": "desc"}
        if case.get("status"):
            query[fab_status_filter_arg(session)] = case["status"]
        return f"{FAB_LIST_PATH}?{urllib.parse.urlencode(query)}"
    if name == "django_admin":
        # Django's page number ``p`` is 1-based; ``psize`` is the peer's own argument
        # (peer_tickets/admin.py); ordering is the admin's (-created_at, -id).
        query = {"p": case["page"], "psize": case["page_size"]}
        if case.get("status"):
            query["status__exact"] = case["status"]
        return f"{DJANGO_LIST_PATH}?{urllib.parse.urlencode(query)}"
    raise ValueError(f"unknown peer {name!r}")


_FAB_ROW = re.compile(r"<tr\b.*?</tr>", re.DOTALL)
_FAB_ID = re.compile(r"<td>\s*(\d+)\s*</td>")
_DJANGO_ID = re.compile(r'<t[hd] class="field-id">(?:<a [^>]*>)?\s*(\d+)\s*(?:</a>)?</t[hd]>')


def page_ids(name: str, html: str) -> list[int]:
    """The ids on a rendered list page, in order."""
    if name == "fab_bare":
        # Per row, the first cell holding only digits: the "#" column (the row's actions
        # cell comes before it and holds markup).
        ids = []
        for row in _FAB_ROW.findall(html):
            match = _FAB_ID.search(row)
            if match:
                ids.append(int(match.group(1)))
        return ids
    if name == "django_admin":
        return [int(x) for x in _DJANGO_ID.findall(html)]
    raise ValueError(f"unknown peer {name!r}")


def fetch_ids(name: str, session: HttpSession, case: dict) -> tuple[list[int], float]:
    """GET the case's page from peer ``name``; ``(ids on the page, client-side ms)``.
    ``session.last`` then holds the statements the request ran (``sql_statements``)."""
    path = case_path(name, session, case)
    status, headers, html, ms = session.request("GET", path)
    if status != 200:
        raise PeerError(f"{name}: {case['name']}: HTTP {status} for {path} "
                        f"(Location {headers.get('Location')})")
    ids = page_ids(name, html)
    if not ids and "0 tickets" not in html and "No records found" not in html:
        raise PeerError(f"{name}: {case['name']}: no ids found on {path}")
    return ids, ms


def raw_ids(db_url: str, case: dict, conn=None) -> list[int]:
    """The page's ids by hand: ``SELECT id FROM tickets [WHERE status = ...] ORDER BY
    created_at DESC, id DESC LIMIT/OFFSET``."""
    where = "WHERE status = %(status)s" if case.get("status") else ""
    params = {"status": case.get("status"), "limit": case["page_size"],
              "offset": (case["page"] - 1) * case["page_size"]}
    own = conn is None
    conn = conn or psycopg.connect(db_url, autocommit=True)
    try:
        return [r[0] for r in conn.execute(RAW_IDS.format(where=where), params).fetchall()]
    finally:
        if own:
            conn.close()


DJANGO_TABLES = ("django_admin_log", "auth_user_user_permissions", "auth_user_groups",
                 "auth_group_permissions", "auth_permission", "auth_group", "auth_user",
                 "django_session", "django_content_type", "django_migrations")


def drop_django_tables(db_url: str) -> None:
    """Remove what ``peer_setup`` made (Django's own tables); Atrium's are untouched."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS " + ", ".join(DJANGO_TABLES) + " CASCADE")


def ticket_count(db_url: str) -> int:
    with psycopg.connect(db_url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM tickets").fetchone()[0]


def check_role(db_url: str) -> dict:
    """The role the peers connect as must see every ticket despite Atrium's RLS."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        role, superuser, bypass = conn.execute(
            "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
        ).fetchone()
    if not (superuser or bypass):
        raise PeerError(f"role {role} neither is a superuser nor has BYPASSRLS: under Atrium's "
                        "row-level security the peers would see no ticket")
    return {"role": role, "superuser": superuser, "bypassrls": bypass}


# --------------------------------------------------------------------------- measuring

def measure(sessions: dict[str, HttpSession], cases: list[dict], requests: int, warmup: int,
            db_url: str) -> dict:
    """Round-robin: for each case, ``warmup`` untimed then ``requests`` timed rounds, each
    round one request per peer (the starting peer rotates)."""
    names = list(sessions)
    results = {name: {} for name in names}
    with psycopg.connect(db_url, autocommit=True) as conn:
        for case in cases:
            expected = raw_ids(db_url, case, conn)
            timings = {n: [] for n in names}
            statements = {n: [] for n in names}
            server = {n: [] for n in names}
            health = {n: [] for n in names}
            ids, mismatches = {}, dict.fromkeys(names, 0)
            for i in range(warmup + requests):
                order = names[i % len(names):] + names[:i % len(names)]
                for name in order:
                    got, ms = fetch_ids(name, sessions[name], case)
                    ids[name] = got
                    mismatches[name] += got != expected
                    if i >= warmup:
                        last = sessions[name].last
                        timings[name].append(ms)
                        if last.get("sql_statements") is not None:
                            statements[name].append(last["sql_statements"])
                        if last.get("server_ms") is not None:
                            server[name].append(last["server_ms"])
                        if last.get("sql_health_checks") is not None:
                            health[name].append(last["sql_health_checks"])
            for name in names:
                t = timings[name]
                entry = {
                    "page": case["page"], "page_size": case["page_size"], "status_filter": case["status"],
                    "path": case_path(name, sessions[name], case),
                    "ms": {"median": round(statistics.median(t), 2), "p95": round(percentile(t, 95), 2),
                           "min": round(min(t), 2), "max": round(max(t), 2)},
                    "rows_on_page": len(ids[name]), "ids": ids[name],
                    "matches_raw_sql": ids[name] == expected and not mismatches[name],
                    "responses_differing_from_raw_sql": mismatches[name],
                }
                if server[name]:
                    entry["ms"]["server_median"] = round(statistics.median(server[name]), 2)
                if statements[name]:
                    entry["sql_statements"] = {"min": min(statements[name]), "max": max(statements[name]),
                                               "median": statistics.median(statements[name])}
                if health[name]:
                    entry["sql_health_checks"] = {"min": min(health[name]), "max": max(health[name])}
                results[name][case["name"]] = entry
            log(f"{case['name']}: " + ", ".join(
                f"{n} {results[n][case['name']]['ms']['median']} ms"
                f"{'' if results[n][case['name']]['matches_raw_sql'] else ' (IDS DIFFER)'}" for n in names))
            results.setdefault("_raw_sql_ids", {})[case["name"]] = expected
    return results


def trace_sql(db_url: str, cases: list[dict], password: str, peers=PEERS,
              extra_env: dict | None = None, output: Path | None = None) -> dict:
    """Start each peer once more with ``PEER_SQL_LOG=1``, request each case once (after one
    untimed request) and keep the statements it logged (``output``, by default
    bench/results/peers_sql.txt)."""
    report, lines = {}, []
    for name in peers:
        log_path = RESULTS / f"peers_{name}_sql.log"
        proc, base_url = start_peer(name, db_url, password=password, log_path=log_path, sql_log=True,
                                    extra_env=extra_env)
        try:
            session = login(name, base_url, password=password)
            report[name] = {}
            for case in cases:
                fetch_ids(name, session, case)  # warm (FAB: also learns its filter argument)
                proc.peer_logfile.flush()
                before = log_path.stat().st_size
                fetch_ids(name, session, case)
                time.sleep(0.2)  # let the worker's stderr reach the file
                with open(log_path, encoding="utf-8", errors="replace") as fh:
                    fh.seek(before)
                    chunk = fh.read()
                marker = f"[{name} sql] "
                stmts = [line.split(marker, 1)[1] for line in chunk.splitlines() if marker in line]
                report[name][case["name"]] = {"statements": len(stmts),
                                              "health_checks": session.last.get("sql_health_checks") or 0}
                lines.append(f"=== {name} {case['name']} {case_path(name, session, case)} "
                             f"({len(stmts)} statements"
                             f"{', + 1 health check SELECT 1' if session.last.get('sql_health_checks') else ''})")
                lines += [f"{i:3d}. {s[:3000]}" for i, s in enumerate(stmts, 1)]
        finally:
            stop_peer(proc)
    (output or RESULTS / "peers_sql.txt").write_text("\n".join(lines) + "\n")
    return report


# --------------------------------------------------------------------------- main

def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--db-url", default=os.environ.get("PEER_DATABASE_URL"),
                   help="seeded Atrium database, as a role bypassing RLS (e.g. the superuser)")
    p.add_argument("--password", default=DEFAULT_PASSWORD,
                   help="Atrium's admin password (also set for Django's benchadmin)")
    p.add_argument("--requests", type=int, default=50, help="timed rounds per case")
    p.add_argument("--warmup", type=int, default=5, help="untimed rounds per case first")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers per peer")
    p.add_argument("--deep-page", type=int, default=4000, help="1-based page number of the deep case")
    p.add_argument("--status", default="open", help="status of the selective filtered case")
    p.add_argument("--broad-status", default="resolved", help="status of the broad filtered case ('' to skip)")
    p.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers to run")
    p.add_argument("--trace-sql", action="store_true",
                   help="afterwards, record each case's statements per peer (<output>_sql.txt)")
    p.add_argument("--fab-joined", action="store_true",
                   help="fab_bare with client/assignee declared lazy='joined' (as Atrium's models) "
                        "instead of FAB's default lazy loads")
    p.add_argument("--drop-django-tables", action="store_true",
                   help="at the end, drop Django's own tables (auth_*, django_*) from the database")
    p.add_argument("--output", type=Path, default=RESULTS / "peers.json")
    args = p.parse_args(argv)
    if not args.db_url:
        p.error("--db-url is required (or PEER_DATABASE_URL)")
    if args.requests < 1 or args.warmup < 0:
        p.error("--requests must be >= 1 and --warmup >= 0")
    args.peers = [n.strip() for n in args.peers.split(",") if n.strip()]
    unknown = set(args.peers) - set(PEERS)
    if unknown:
        p.error(f"unknown peers {sorted(unknown)} (known: {PEERS})")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    RESULTS.mkdir(parents=True, exist_ok=True)
    procs = {}
    extra_env = {"PEER_FAB_JOINED": "1"} if args.fab_joined else {}
    load_before = [round(x, 2) for x in os.getloadavg()]
    try:
        role = check_role(args.db_url)
        total = ticket_count(args.db_url)
        if total == 0:
            raise PeerError("the database has no tickets: seed it first (flask seed demo --scale N)")
        cases = build_cases(total, args.deep_page, args.status, args.broad_status or None)
        sessions, base_urls = {}, {}
        for name in args.peers:
            log(f"starting {name} (gunicorn -w {args.workers})")
            procs[name], base_urls[name] = start_peer(name, args.db_url, workers=args.workers,
                                                      password=args.password, extra_env=extra_env)
            sessions[name] = login(name, base_urls[name], password=args.password)
        measured = measure(sessions, cases, args.requests, args.warmup, args.db_url)
        for name in list(procs):
            stop_peer(procs.pop(name))
        raw = measured.pop("_raw_sql_ids")
        sql_trace = (trace_sql(args.db_url, cases, args.password, args.peers, extra_env,
                               args.output.with_name(args.output.stem + "_sql.txt"))
                     if args.trace_sql else None)
    except (PeerError, psycopg.Error, OSError) as exc:
        log(f"ERROR: {exc}")
        return 2
    finally:
        for proc in procs.values():
            stop_peer(proc)
        if args.drop_django_tables and "django_admin" in args.peers:
            try:
                drop_django_tables(args.db_url)
            except psycopg.Error as exc:
                log(f"could not drop Django's tables: {exc}")

    all_match = all(c["matches_raw_sql"] for per in measured.values() for c in per.values())
    summary = {
        "benchmark": "peers_ticket_list",
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "database": {"tickets": total, "connect_as": role,
                     "url": re.sub(r"//[^@/]*@", "//***@", args.db_url)},
        "settings": {"requests": args.requests, "warmup": args.warmup, "workers": args.workers,
                     "order": "created_at DESC, id DESC", "peers": args.peers,
                     "fab_relationships": "joined" if args.fab_joined else "select (FAB default)"},
        "environment": {"python": platform.python_version(), "cpus": os.cpu_count(),
                        "loadavg_before": load_before,
                        "loadavg_after": [round(x, 2) for x in os.getloadavg()]},
        "cases": [{k: c[k] for k in ("name", "page", "page_size", "status")} for c in cases],
        "peers": measured,
        "raw_sql_ids": raw,
        "all_pages_match_raw_sql": all_match,
    }
    if sql_trace is not None:
        summary["sql_trace"] = sql_trace
    text = json.dumps(summary, indent=2)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    print(text)
    log(f"wrote {args.output}")
    return 0 if all_match else 1


if __name__ == "__main__":
    sys.exit(main())
