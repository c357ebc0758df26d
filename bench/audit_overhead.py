"""Audit capture overhead: 1,000 ticket updates through the service layer, audit on vs off.

Target (issue 4): median time per update with audit on is at most 1.3x the same work
with audit off, measured in the same run on PostgreSQL.

What it does: creates a private database (``atrium_bench_audit``) owned by the benchmark's
owner role (``bench/production_db.py``), migrates as that owner, then connects Atrium as the
app role ``atrium_bench_app`` (row-level security applies, as in production; it refuses a
superuser or BYPASSRLS role, exit 2), syncs roles and seeds ``--scale 32`` (1,024
tickets), then, acting as the system (``tenancy.outside_requests(tenancy.SYSTEM)``),
makes ``--rounds`` x ``--per-round`` pairs of updates, one with audit capture on and one
with it off (``services.audit.disabled()``), interleaved, alternating which goes first,
one commit per update (priority and status changed through the session, so the SLA rules
of ``services.lifecycle`` and the tenancy guard run as in production). It prints a JSON
summary (median/p95 ms per update for both, the ratio, statements per update, the role,
the load average) and exits 1 when the ratio is over the target. Finally ``flask audit
verify`` must pass. The database is dropped at the end unless ``--keep-db``.

    .venv/bin/python bench/audit_overhead.py [--pg postgresql://postgres@127.0.0.1:5432] [--keep-db]

``--pg`` is a superuser's server URL: it only creates and drops the database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(1, str(Path(__file__).resolve().parent))
import production_db  # noqa: E402 - bench/ is not a package

TARGET = 1.3


def psycopg_url(url: str) -> str:
    """``url`` in the driver form Atrium's engine uses (create_app overrides skip config's)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql+psycopg").render_as_string(hide_password=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    parser.add_argument("--db", default="atrium_bench_audit")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--per-round", type=int, default=100)
    parser.add_argument("--keep-db", action="store_true", help="reuse the database if it exists")
    args = parser.parse_args()
    if args.db in ("postgres", "test", "template0", "template1"):
        parser.error("refusing to use a shared database")

    import psycopg
    import sqlalchemy as sa

    admin_url = f"{args.pg}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        owner = admin.execute("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                              (args.db,)).fetchone()
    # A kept database is reused only if the owner role owns it (built as production is).
    exists = owner is not None and owner[0] == production_db.OWNER
    if not exists or not args.keep_db:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
        production_db.create_database(admin_url, args.db)
    urls = production_db.app_urls(args.pg, args.db)
    try:
        try:
            role = production_db.require_production_role(urls["DATABASE_URL"])
        except production_db.PrivilegedRole as exc:
            print(exc, file=sys.stderr)
            return 2

        from app import create_app, tenancy
        from app.extensions import db
        from app.models import Ticket
        from app.services import audit
        from tests.conftest import PASSWORD, run_cli

        app = create_app("development", {"SQLALCHEMY_DATABASE_URI": psycopg_url(urls["DATABASE_URL"]),
                                         "DATABASE_OWNER_URL": psycopg_url(urls["DATABASE_OWNER_URL"])})
        load_before = [round(x, 2) for x in os.getloadavg()]
        # The CLI commands bind the system scope themselves; the updates below act as the
        # system too (a script, outside any request).
        with app.app_context(), tenancy.outside_requests(tenancy.SYSTEM):
            if not exists or not args.keep_db:
                for cli_args in (("db", "upgrade"), ("roles", "sync"),
                                 ("seed", "demo", "--password", PASSWORD, "--scale", "32")):
                    result = run_cli(app, *cli_args)
                    if result.exit_code != 0:
                        print(result.output, file=sys.stderr)
                        return 2
            ids = list(db.session.execute(sa.select(Ticket.id).order_by(Ticket.id)).scalars())
            needed = args.rounds * args.per_round * 2
            if len(ids) < args.per_round * 2:
                print(f"need at least {args.per_round * 2} tickets, have {len(ids)}", file=sys.stderr)
                return 2
            statements = {"n": 0}
            sa.event.listen(db.engine, "before_cursor_execute", lambda *a, **k: statements.__setitem__("n", statements["n"] + 1))
            priorities = ("low", "medium", "high", "urgent")
            timings = {"on": [], "off": []}
            counted = {"on": 0, "off": 0}
            cursor = 0

            def update_one(mode: str):
                nonlocal cursor
                pk = ids[cursor % len(ids)]
                cursor += 1
                start_n = statements["n"]
                start = time.perf_counter()
                ticket = db.session.get(Ticket, pk)
                ticket.priority = priorities[(priorities.index(ticket.priority) + 1) % 4]
                ticket.status = "in_progress" if ticket.status != "in_progress" else "open"
                db.session.commit()
                timings[mode].append((time.perf_counter() - start) * 1000)
                counted[mode] += statements["n"] - start_n

            def update_pair(first: str):
                for mode in (first, "off" if first == "on" else "on"):
                    if mode == "off":
                        with audit.disabled():
                            update_one(mode)
                    else:
                        update_one(mode)

            for i in range(2 * args.per_round):  # warm-up, untimed
                update_pair("on" if i % 2 == 0 else "off")
            timings = {"on": [], "off": []}
            counted = {"on": 0, "off": 0}
            # Updates alternate on/off one by one (and which goes first), so a change in the
            # machine's load during the run weighs on both sides alike.
            for i in range(args.rounds * args.per_round):
                update_pair("on" if i % 2 == 0 else "off")
            verify = run_cli(app, "audit", "verify")
            db.session.remove()
            db.engine.dispose()
    finally:
        if not args.keep_db:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')

    def summary(values):
        values = sorted(values)
        return {"median_ms": round(statistics.median(values), 3),
                "p95_ms": round(values[int(len(values) * 0.95) - 1], 3), "n": len(values)}

    on, off = summary(timings["on"]), summary(timings["off"])
    ratio = round(on["median_ms"] / off["median_ms"], 3)
    result = {
        "updates_per_mode": on["n"], "audit_on": on, "audit_off": off, "ratio_median": ratio, "target": TARGET,
        "statements_per_update": {m: round(counted[m] / max(1, len(timings[m])), 2) for m in counted},
        "audit_verify": verify.output.strip(), "met": ratio <= TARGET and verify.exit_code == 0,
        "planned_updates": needed, "atrium_role": role,
        "order": "interleaved: one update with audit on, one with it off, which goes first alternating",
        "loadavg_before": load_before, "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))
    out = Path(__file__).resolve().parent / "results"
    out.mkdir(exist_ok=True)
    (out / "audit_overhead.json").write_text(json.dumps(result, indent=2))
    return 0 if result["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
