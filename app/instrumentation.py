"""Opt-in measurement for benchmarks: with ``SQL_COUNT_HEADER`` on, every response
carries ``X-SQL-Statements`` (statements the request executed) and
``X-Request-Duration-Ms``. Off by default; nothing here changes behaviour.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import g, has_request_context


def init_app(app, db) -> None:
    if not app.config.get("SQL_COUNT_HEADER"):
        return

    with app.app_context():
        engine = db.engine

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        if has_request_context():
            g.sql_statements = g.get("sql_statements", 0) + 1

    @app.before_request
    def _start():
        g.sql_statements = 0
        g.request_started = time.perf_counter()

    @app.after_request
    def _stamp(response):
        response.headers["X-SQL-Statements"] = str(g.get("sql_statements", 0))
        started = g.get("request_started")
        if started is not None:
            response.headers["X-Request-Duration-Ms"] = f"{(time.perf_counter() - started) * 1000:.2f}"
        return response
