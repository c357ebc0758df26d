"""Benchmark: the staff ticket page (issue 20) as production runs it, next to the list.

On the ticket list's database (``atrium_bench``, 200,000 tickets; built as
``ticket_list.py`` builds it, reused when seeded), two tickets are added as the
superuser: one with 200 messages (every fifth an internal note) and 20 attachments, one
with 2 messages. Atrium runs under ``gunicorn -w 2`` as ``atrium_bench_app`` (refused if
it bypasses row-level security), signed in as ``admin``, with
``ATRIUM_SQL_COUNT_HEADER=1``. Each round requests, in a shuffled order, the big
ticket's page, the small one's, and the staff ticket list's page 1 (25 rows).

Targets: statements per ticket page at most 10, and as many for both tickets (they do not
grow with the thread; compared on the fewest seen, since a gunicorn worker's first
request also reads the permission set). Medians are reported next to the list's. Exit 1 when a target is
missed, 2 when it cannot run. JSON in ``bench/results/ticket_page.json``.

Run: ``.venv/bin/python bench/ticket_page.py [--requests 50]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
import production_db  # noqa: E402 - bench/ is not a package
import ticket_list as tl  # noqa: E402

MAX_STATEMENTS = 10


def add_tickets(db_url: str) -> tuple[int, int]:
    """The big and the small ticket (as the superuser: test data, not the thing measured)."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        client_id, owner_id = conn.execute(
            "SELECT c.id, m.user_id FROM clients c JOIN client_members m ON m.client_id = c.id "
            "WHERE c.slug = 'pro-co' AND m.role = 'owner'").fetchone()
        staff_id = conn.execute("SELECT id FROM ab_user WHERE username = 'operator'").fetchone()[0]
        ids = []
        for subject, messages, files in (("Bench: a long thread", 200, 20), ("Bench: a short thread", 2, 0)):
            now = dt.datetime.now(dt.UTC)
            ticket_id = conn.execute(
                "INSERT INTO tickets (client_id, subject, description, priority, status, sla_state, "
                "sla_paused_seconds, opened_by_id, sla_hours, first_response_due_at, created_at, updated_at) "
                "VALUES (%s, %s, 'Measured by bench/ticket_page.py.', 'medium', 'open', 'ok', 0, %s, 4, %s, %s, %s) "
                "RETURNING id", (client_id, subject, owner_id, now + dt.timedelta(hours=4), now, now)).fetchone()[0]
            message_ids = [conn.execute(
                "INSERT INTO ticket_messages (client_id, ticket_id, author_id, body, internal, created_at, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (client_id, ticket_id, staff_id if i % 2 else owner_id, f"Message {i}: " + "words " * 40,
                 i % 5 == 4, now + dt.timedelta(seconds=i), now + dt.timedelta(seconds=i))).fetchone()[0]
                for i in range(messages)]
            for i in range(files):
                file_id = conn.execute(
                    "INSERT INTO storage_files (client_id, file_name, stored_path, mime_type, size_bytes, sha256, "
                    "uploaded_by_id, tags, created_at, updated_at) VALUES (%s, %s, %s, 'text/plain', 10, %s, %s, "
                    "'[]', %s, %s) RETURNING id",
                    (client_id, f"log-{i}.txt", f"{client_id}/bench-{ticket_id}-{i}.txt", "0" * 64, owner_id, now,
                     now)).fetchone()[0]
                conn.execute("INSERT INTO ticket_message_attachments (message_id, file_id) VALUES (%s, %s)",
                             (message_ids[i * 10], file_id))
            ids.append(ticket_id)
        return ids[0], ids[1]


def remove_tickets(db_url: str, ids) -> None:
    """Leave the shared database as it was (the list benchmarks count its tickets)."""
    if not ids:
        return
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("DELETE FROM storage_files WHERE stored_path LIKE ANY(%s)",
                     ([f"%/bench-{i}-%" for i in ids],))
        conn.execute("DELETE FROM tickets WHERE id = ANY(%s)", (list(ids),))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432")
    p.add_argument("--db", default="atrium_bench")
    p.add_argument("--scale", type=int, default=6250)
    p.add_argument("--requests", type=int, default=50)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args(argv)
    args.keep_db, args.trace_sql = True, False
    admin_url, db_url = f"{args.pg}/postgres", f"{args.pg}/{args.db}"
    urls = production_db.app_urls(args.pg, args.db)
    server, added = None, ()
    try:
        tl.prepare_database(args, db_url, admin_url, urls)
        role = production_db.require_production_role(urls["DATABASE_URL"])
        big, small = added = add_tickets(db_url)
        port = tl.free_port()
        server = tl.start_gunicorn(args, urls, port, label="ticket_page")
        browser = tl.Browser("127.0.0.1", port)
        tl.login(browser)
        cases = [dict(name="ticket_page_200_messages_20_files", url=f"/ticketview/show/{big}", floor="page"),
                 dict(name="ticket_page_2_messages", url=f"/ticketview/show/{small}", floor="page"),
                 dict(name="ticket_list_page1_size25", url=tl.LIST_PATH + "?psize_TicketView=25", floor="page")]
        tl.log(f"3 cases, {args.warmup} warm-up + {args.requests} rounds ...")
        results = tl.measure_round_robin([tl.AtriumTarget("atrium", browser)], cases, args.requests, args.warmup)
    except (tl.BenchError, production_db.PrivilegedRole) as exc:
        tl.log(f"ERROR: {exc}")
        return 2
    finally:
        if server is not None:
            tl.stop_gunicorn(*server)
        remove_tickets(db_url, added)
    figures = {r["name"]: {k: r["targets"]["atrium"][k] for k in ("median_ms", "p95_ms", "statements")}
               for r in results}
    pages = [figures["ticket_page_200_messages_20_files"]["statements"], figures["ticket_page_2_messages"]["statements"]]
    failures = []
    if max(s["max"] for s in pages) > MAX_STATEMENTS:
        failures.append(f"a ticket page made {max(s['max'] for s in pages)} statements (target <= {MAX_STATEMENTS})")
    # (min: a gunicorn worker's first request also reads the permission set, once per process)
    if pages[0]["min"] != pages[1]["min"]:
        failures.append(f"statements grow with the thread: {pages[0]} with 200 messages, {pages[1]} with 2")
    summary = {"benchmark": "ticket_page", "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "role": role, "loadavg": [round(x, 2) for x in os.getloadavg()], "requests": args.requests,
               "figures": figures, "failures": failures, "ok": not failures}
    tl.RESULTS.mkdir(parents=True, exist_ok=True)
    (tl.RESULTS / "ticket_page.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
