"""RQ's entry point into Atrium: ``run_job``, what a worker runs for every job (the jobs
core, ``app.services.jobs``, hands it to RQ by this dotted path), and the worker
process's app it runs under. Everything else about jobs (queues, the registry,
``enqueue``, ``JobRun`` bookkeeping) is the service's."""

from __future__ import annotations

import os

from flask import current_app, has_app_context

from app import create_app
from app.extensions import db
from app.services import jobs


def run_job(run_id: int, name: str, kwargs: dict, who: dict, inline: bool = False):
    """Run job ``name`` for ``JobRun`` ``run_id`` under the process's app (RQ calls it)."""
    with process_app().app_context():
        return jobs.execute(run_id, name, kwargs, who, inline=inline)


def process_app():
    """The Flask app for a job: the caller's (inline, tests) or one per worker process,
    built once (``workers.worker`` builds it before forking); a forked work-horse drops
    the pooled database connections it inherited and opens its own."""
    global _process_app, _process_pid
    if has_app_context():
        return current_app._get_current_object()
    if _process_app is None:
        _process_app, _process_pid = create_app(), os.getpid()
    elif _process_pid != os.getpid():
        with _process_app.app_context():
            db.engine.dispose(close=False)
        _process_pid = os.getpid()
    return _process_app


_process_app = None
_process_pid = None
