"""Redis connection and queue names; one ``enqueue`` for every door.

Without ``REDIS_URL`` jobs run inline in the caller, so every feature works on a laptop
with no Redis. (Job bodies, retries and JobRun records arrive with the workers issue.)
"""

from __future__ import annotations

from flask import current_app

QUEUES = ("high", "default", "sync", "reports", "maintenance")


def redis_connection():
    from redis import Redis

    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2)


def queue_depths() -> dict[str, int]:
    from rq import Queue

    conn = redis_connection()
    if conn is None:
        return {}
    conn.ping()
    return {name: Queue(name, connection=conn).count for name in QUEUES}
