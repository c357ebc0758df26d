"""The RQ worker class of the Procfile (``rq worker -w workers.worker.AtriumWorker``).

RQ forks a work-horse per job. Building the Flask app (config, FAB, views) takes
seconds, so the worker builds it once, before it forks anything; each horse inherits
it and only drops the database connections it inherited (``workers.queues.process_app``).

Building the app also starts Sentry when ``SENTRY_DSN`` is set (``app.observability``),
here in the parent, before any fork: the RQ integration then reports each failing job
from its work-horse, tagged with the identity the job ran as, and flushes before the
horse exits. Log lines of jobs use the same format and fields as the web's.
"""

from __future__ import annotations

from rq import Worker

from workers import queues


class AtriumWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        queues.process_app()
