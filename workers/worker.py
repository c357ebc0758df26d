"""The RQ worker class of the Procfile (``rq worker -w workers.worker.AtriumWorker``).

RQ forks a work-horse per job. Building the Flask app (config, FAB, views) takes
seconds, so the worker builds it once, before it forks anything; each horse inherits
it and only drops the database connections it inherited (``workers.queues._app``).
"""

from __future__ import annotations

from rq import Worker

from workers import queues


class AtriumWorker(Worker):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        queues._app()
