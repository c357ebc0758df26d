"""Measuring aids (only installed when PEER_SQL_COUNT_HEADER=1 or PEER_SQL_LOG=1).

``X-SQL-Statements``: statements the request ran through Django's cursors.
``X-SQL-Health-Checks``: 1 when the request reused a persistent connection, which
Django then pings with ``SELECT 1`` on its raw psycopg cursor (CONN_HEALTH_CHECKS; not
seen by execute wrappers) before its first statement.
"""

import logging
import os
import sys
import time

from django.db import connection

logger = logging.getLogger("peer_tickets.sql")
if os.environ.get("PEER_SQL_LOG") == "1":
    _handler = logging.StreamHandler(sys.stderr)
    _handler.setFormatter(logging.Formatter("[django_admin sql] %(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


class SQLCountMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self.log = os.environ.get("PEER_SQL_LOG") == "1"

    def __call__(self, request):
        statements = []
        health_check = int(connection.connection is not None and connection.health_check_enabled
                           and not connection.health_check_done)

        def wrapper(execute, sql, params, many, context):
            statements.append(sql)
            if self.log:
                logger.info("%s %s | %s", request.path, " ".join(sql.split()), params)
            return execute(sql, params, many, context)

        started = time.perf_counter()
        with connection.execute_wrapper(wrapper):
            response = self.get_response(request)
            if hasattr(response, "render") and callable(response.render) and not response.is_rendered:
                response.render()  # template responses render (and query) here, inside the wrapper
        response["X-SQL-Statements"] = str(len(statements))
        response["X-SQL-Health-Checks"] = str(health_check)
        response["X-Request-Duration-Ms"] = f"{(time.perf_counter() - started) * 1000:.2f}"
        return response
