"""Opt-in measurement for benchmarks: with ``SQL_COUNT_HEADER`` on, every response
carries ``X-SQL-Statements`` (statements the request executed) and
``X-Request-Duration-Ms``. Off by default; nothing here changes behaviour.

Both cover the whole Flask request, measured around ``app.wsgi_app`` up to the moment
the response starts: request context and session loading, every ``before_request`` /
``after_request`` hook (whatever order they were registered in), the view, the template
and saving the session. Only the teardown (returning the database connection) and the
WSGI server itself fall outside.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from flask import has_request_context, request

_COUNT = "atrium.sql_statements"


def init_app(app, db) -> None:
    if not app.config.get("SQL_COUNT_HEADER"):
        return

    with app.app_context():
        engine = db.engine

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        if has_request_context():  # per request, even when tests share one app context
            environ = request.environ
            environ[_COUNT] = environ.get(_COUNT, 0) + 1

    inner = app.wsgi_app

    def timed_wsgi_app(environ, start_response):
        started = time.perf_counter()

        def stamped_start_response(status, headers, exc_info=None):
            headers.append(("X-SQL-Statements", str(environ.get(_COUNT, 0))))
            headers.append(("X-Request-Duration-Ms", f"{(time.perf_counter() - started) * 1000:.2f}"))
            return start_response(status, headers, exc_info)

        return inner(environ, stamped_start_response)

    app.wsgi_app = timed_wsgi_app
