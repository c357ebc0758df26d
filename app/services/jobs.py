"""The jobs core: queues, the job registry and the ONE ``enqueue`` every door uses (SPEC §7).

- Queues: ``high`` (a person clicked "now"), ``default``, ``sync``, ``reports``,
  ``maintenance``; ``RQ_QUEUE_PREFIX`` prefixes them where installs share a Redis.
- A job is a function registered with ``@job(name, queue=..., timeout=..., retries=...)``
  in a ``workers/<area>.py`` module; it takes keyword arguments that JSON can carry and
  returns a small JSON summary (shown on the jobs console). Bodies call services; they
  hold no rules of their own, and are idempotent (upserts by natural keys), so a retry or
  a second delivery changes nothing twice.
- ``enqueue(name, **kwargs)`` writes a ``JobRun`` (queued), records ``job.triggered``
  in the audit log when a person asked for it, and hands the job to RQ with its timeout
  and ``Retry`` back-off. Without ``REDIS_URL`` the job runs inline in the caller, through
  the same ``execute`` and with the same ``JobRun``, so every feature works without Redis.
- ``execute`` (what RQ runs, through ``workers.queues.run_job``, the worker's entry point
  that gives it an app) runs the body in its own app context and session, with the
  identity of whoever enqueued it (channel ``job``; the ``system`` user for schedules),
  and keeps the ``JobRun`` true: running, succeeded with its summary and duration, or
  failed with the error and traceback (``queued`` again while RQ still has retries).
  A body raising ``app.errors.PermanentError`` (bad credentials ...) fails at
  once: RQ's remaining retries are cancelled.
- Redis configured but unreachable: ``enqueue`` fails the ``JobRun`` with the cause and
  raises ``QueueUnavailable`` (a message for the person, 503), never a bare Redis error.
- The database, not Redis, is the record of queued work: ``requeue_lost_runs`` (the
  ``lost jobs`` schedule) hands every ``JobRun`` still ``queued`` whose RQ job is gone
  (Redis restarted empty, flushed, or the process died between commit and enqueue) to
  RQ again, once it is older than ``JOB_REQUEUE_GRACE_SECONDS``; ``reap_lost_runs``
  (the same schedule) keeps runs whose worker died in step with RQ.

Why not RQ's job callbacks (``on_success``, ``on_failure``, ``on_stopped``) for the
``JobRun`` bookkeeping: they exist only when RQ runs the job, and an inline run (no
``REDIS_URL``, ``flask jobs run``) has no RQ; they run after the body, outside its app
context, so each would open its own and find the run again; and ``on_failure`` cannot
tell a retried failure from the last one without re-reading RQ's retry state, which
``execute`` already knows. One ``execute`` keeps every run's record the same way, with
or without Redis. A worker killed mid-run (where ``on_stopped`` would fire, if the
worker lived to call it) is handled by ``reap_lost_runs``, which also catches the
deaths no callback sees (OOM kill, power loss).

What does not live here: RQ's entry point and the worker process's app
(``workers.queues``), the schedule (``workers.schedule``, which ``workers.cron``
registers), job bodies (``workers.<area>``), business rules (the other services). This module imports none of ``workers``: bodies
register themselves with ``@job`` when their module is imported (``load_jobs`` imports
them by name), and RQ is handed the entry point by its dotted path.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import importlib
import inspect
import json
import logging
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _, lazy_gettext as _l
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, get_current_job
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job as RqJob
from rq.job import JobStatus as RqStatus

from app import tenancy
from app.extensions import db
from app.models import JobRun, JobStatus
from app.services import audit, identity
from app.errors import AtriumError, InvalidInput, NotFound, PermanentError

QUEUES = ("high", "default", "sync", "reports", "maintenance")
# The door modules holding job bodies, imported by name (``load_jobs``).
AREAS = ("workers.monitoring", "workers.sync", "workers.tickets", "workers.maintenance", "workers.reports",
         "workers.billing")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    name: str
    func: Callable
    queue: str
    timeout: int  # seconds, enforced by the RQ worker
    retries: tuple[int, ...]  # back-off between attempts, seconds
    description: str


JOBS: dict[str, Job] = {}
# What RQ runs, by dotted path (imported by the worker; this service imports no door).
RQ_ENTRY_POINT = "workers.queues.run_job"

QUEUE_UNAVAILABLE_MESSAGE = _l("The job queue (Redis) is unreachable; try again shortly.")


class QueueUnavailable(AtriumError):
    """Redis did not take the job (``enqueue``): its JobRun is failed with the cause, and
    the doors show the message (a flash on the page; 503 from an API)."""

    status = 503


def job(name: str, *, queue: str = "default", timeout: int = 300, retries: tuple[int, ...] = (30, 120, 600)):
    """Register a job body under ``name`` (``area.what``)."""
    if queue not in QUEUES:
        raise ValueError(f"unknown queue {queue!r}")

    def register(func: Callable) -> Callable:
        JOBS[name] = Job(name, func, queue, timeout, tuple(retries), (func.__doc__ or "").strip().split("\n")[0])
        return func

    return register


def load_jobs() -> dict[str, Job]:
    """Import every job module (idempotent) and return the registry."""
    for module in AREAS:
        importlib.import_module(module)
    return JOBS


def get_job(name: str) -> Job:
    spec = load_jobs().get(name)
    if spec is None:
        raise NotFound(_("There is no job called %(name)s. Known jobs: %(known)s.", name=repr(name),
                         known=", ".join(sorted(JOBS)) or "none"))
    return spec


def check_arguments(spec: Job, kwargs: dict) -> None:
    """Refuse arguments the job does not take, before anything is queued."""
    try:
        inspect.signature(spec.func).bind(**kwargs)
    except TypeError as exc:
        raise InvalidInput(f"{spec.name}: {exc}") from None
    try:
        json.dumps(kwargs)
    except TypeError as exc:
        raise InvalidInput(f"{spec.name}: arguments must be plain values ({exc})") from None


# --------------------------------------------------------------------------- Redis


def redis_connection():
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    return Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)


def queue_name(name: str) -> str:
    return current_app.config.get("RQ_QUEUE_PREFIX", "") + name


def rq_queue(name: str, connection=None):
    return Queue(queue_name(name), connection=connection or redis_connection())


# --------------------------------------------------------------------------- identity


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextlib.contextmanager
def system_context(app, who):
    """A fresh app context (its own ``g`` and session) acting as ``who`` (an
    ``Identity``: channel ``job`` for jobs, ``webhook`` for Stripe's). It binds the
    system's tenancy scope explicitly (a job acts on the rows it was given, even inline
    inside a client's request); audit records ``who``. Jobs and the webhook use it."""
    with app.app_context(), tenancy.acting_as(tenancy.SYSTEM):
        identity.bind_job(who)
        yield


# --------------------------------------------------------------------------- enqueue


def enqueue(name: str, *, who=None, inline: bool = False, **kwargs):
    """Queue job ``name`` with ``kwargs``; returns the ``JobRun`` id. ``inline=True`` (or
    no ``REDIS_URL``) runs it now in the caller instead (``flask jobs run``); an inline
    run's failure is raised to the caller after its ``JobRun`` has recorded it.

    ``who``: an ``Identity`` to act as; default, whoever is acting now (the person at the
    door, or the ``system`` user from the CLI and schedules). The ``JobRun`` and the audit
    event are committed in the job's own session, so the caller's transaction is left
    alone (doors commit their own change first, then enqueue)."""
    spec = get_job(name)
    check_arguments(spec, kwargs)
    app = current_app._get_current_object()
    who = dataclasses.replace(identity.resolved(db.session, who or identity.current()), channel="job")
    person = who.true_user_id is not None and who.true_user_id != identity.system_user_id(db.session)
    with system_context(app, who):
        run = JobRun(job_name=name, arguments=kwargs or None, queue=spec.queue, status=JobStatus.QUEUED,
                     enqueued_at=_now(), triggered_by_id=who.true_user_id if person else None)
        db.session.add(run)
        db.session.flush()
        if person:
            audit.record(db.session, "job.triggered", resource_type="JobRun", resource_id=run.id,
                         details={"job": name, "arguments": kwargs, "queue": spec.queue})
        db.session.commit()
        run_id = run.id
    connection = None if inline else redis_connection()
    if connection is None:
        execute(run_id, name, kwargs, dataclasses.asdict(who), inline=True)
        return run_id
    try:
        queued = _push(connection, spec, run_id, kwargs, dataclasses.asdict(who))
    except RedisError as exc:
        log.warning("job %s (run %s) not queued, Redis unreachable: %s", name, run_id, exc)
        with system_context(app, who):
            db.session.execute(sa.update(JobRun).where(JobRun.id == run_id).values(
                status=JobStatus.FAILED, finished_at=_now(),
                error=f"Not queued: the job queue (Redis) was unreachable ({type(exc).__name__}: {exc})"[:2000])
                .execution_options(atrium_audit_skip=True))
            db.session.commit()
        raise QueueUnavailable(str(QUEUE_UNAVAILABLE_MESSAGE)) from exc
    with system_context(app, who):
        db.session.execute(sa.update(JobRun).where(JobRun.id == run_id).values(rq_job_id=queued.id)
                           .execution_options(atrium_audit_skip=True))
        db.session.commit()
    return run_id


def _push(connection, spec: Job, run_id: int, kwargs: dict, who: dict):
    """Hand ``JobRun`` ``run_id`` to RQ (its job id is derived from the run's, so a run is
    one RQ job however often it is pushed)."""
    return rq_queue(spec.queue, connection).enqueue(
        RQ_ENTRY_POINT, args=(run_id, spec.name, kwargs, who), job_id=queue_name(f"jobrun-{run_id}"),
        job_timeout=spec.timeout, retry=Retry(max=len(spec.retries), interval=list(spec.retries))
        if spec.retries else None, result_ttl=24 * 3600, failure_ttl=7 * 24 * 3600,
        description=f"{spec.name} {kwargs or ''}".strip())


# --------------------------------------------------------------------------- running


def _current_rq_job():
    try:
        return get_current_job()
    except Exception:  # noqa: BLE001 - no RQ job: inline
        return None


def _retries_left(permanent: bool) -> int:
    """RQ retries still to come for the running job; a permanent error cancels them (the
    worker reads ``retries_left`` of this same job object when it handles the failure)."""
    current = _current_rq_job()
    if current is None:
        return 0
    if permanent:
        current.retries_left = 0
    return current.retries_left or 0


def execute(run_id: int, name: str, kwargs: dict, who: dict, inline: bool = False):
    """Run job ``name`` for ``JobRun`` ``run_id`` (in the worker, under the app
    ``workers.queues.run_job`` gives it; inline, in the caller's).

    Raises what the body raised (RQ then retries or fails the job; an inline caller gets
    the error); the ``JobRun`` says what happened either way."""
    spec = get_job(name)
    app = current_app._get_current_object()
    acting = identity.Identity(**{**who, "channel": "job"})
    with system_context(app, acting):
        run = db.session.get(JobRun, run_id)
        if run is None:  # pruned or never committed: run it anyway, recorded afresh
            run = JobRun(job_name=name, arguments=kwargs or None, queue=spec.queue, enqueued_at=_now())
            db.session.add(run)
        if run.status == JobStatus.SUCCEEDED:
            return run.result  # delivered twice: it already ran
        run.status, run.started_at, run.finished_at, run.error = JobStatus.RUNNING, _now(), None, None
        run.attempts = (run.attempts or 0) + 1
        db.session.commit()
        started = time.perf_counter()
        try:
            result = spec.func(**kwargs)
            db.session.commit()
        except Exception as exc:
            db.session.rollback()
            final = _retries_left(isinstance(exc, PermanentError)) == 0 or inline
            run = db.session.get(JobRun, run_id) or run
            run.status = JobStatus.FAILED if final else JobStatus.QUEUED
            run.error = f"{type(exc).__name__}: {exc}"[:2000]
            run.traceback = traceback.format_exc()[-20000:]
            run.finished_at = _now()
            run.duration_ms = int((time.perf_counter() - started) * 1000)
            db.session.commit()
            log.warning("job %s (run %s) failed%s: %s", name, run_id, "" if final else ", will retry", exc)
            raise
        run = db.session.get(JobRun, run_id) or run
        run.status, run.finished_at = JobStatus.SUCCEEDED, _now()
        run.duration_ms = int((time.perf_counter() - started) * 1000)
        run.result = result if isinstance(result, (dict, list)) or result is None else {"result": str(result)}
        db.session.commit()
        return result


# --------------------------------------------------------------------------- console actions


def requeue(run_id: int) -> int:
    """Run a failed (or stuck) job again with the same arguments: a new ``JobRun``,
    enqueued as whoever asks; returns its id."""
    run = db.session.get(JobRun, run_id)
    if run is None:
        raise NotFound(_("There is no job run %(id)s.", id=run_id))
    if run.status not in (JobStatus.FAILED, JobStatus.RUNNING):
        raise InvalidInput(_("Job run %(id)s is %(status)s: only failed or stuck runs can be requeued.", id=run_id,
                             status=run.status))
    return enqueue(run.job_name, **(run.arguments or {}))


def cancel(run_id: int) -> None:
    """Take a queued job off its queue (it will not run); the ``JobRun`` says who did.
    With Redis unreachable nothing changes (``QueueUnavailable``): the job may still be
    on its queue and run once Redis is back, so the run must not be shown cancelled."""
    run = db.session.get(JobRun, run_id)
    if run is None:
        raise NotFound(_("There is no job run %(id)s.", id=run_id))
    if run.status != JobStatus.QUEUED:
        raise InvalidInput(_("Job run %(id)s is %(status)s: only queued jobs can be cancelled.", id=run_id,
                             status=run.status))
    connection = redis_connection()
    if connection is not None and run.rq_job_id:
        try:
            RqJob.fetch(run.rq_job_id, connection=connection).cancel()
        except (NoSuchJobError, InvalidJobOperation):
            pass  # already gone from Redis: the row is all that is left to close
        except RedisError as exc:
            log.warning("run %s not cancelled, Redis unreachable: %s", run_id, exc)
            raise QueueUnavailable(str(QUEUE_UNAVAILABLE_MESSAGE)) from exc
    who = identity.resolved(db.session)
    run.status, run.finished_at = JobStatus.FAILED, _now()
    run.error = f"Cancelled by user {who.true_user_id} before it ran."
    audit.record(db.session, "job.cancelled", resource_type="JobRun", resource_id=run.id,
                 details={"job": run.job_name, "arguments": run.arguments})
    db.session.commit()


def prune_runs(session, before: dt.datetime) -> int:
    """Delete finished ``JobRun`` rows older than ``before`` (retention); not committed."""
    return session.execute(sa.delete(JobRun).where(JobRun.finished_at < before)
                           .execution_options(atrium_audit_skip=True)).rowcount or 0


def reap_lost_runs(at: float | None = None) -> dict:
    """Runs whose worker died mid-job (killed, out of memory, machine lost).

    RQ keeps a started job in its queue's ``StartedJobRegistry`` under a heartbeat; once
    that expires (at ``at``, a Unix time, default now) the job is abandoned and RQ retries
    it if it has retries left, else moves it to the failed registry. This runs that
    clean-up for every queue, then makes each ``JobRun`` still marked running say what
    became of its job: queued again (retrying) or failed ("the worker running it
    stopped"). Job bodies are idempotent, so the retry writes no duplicate rows."""
    connection = redis_connection()
    if connection is None:
        return {"reaped": 0}
    for name in QUEUES:
        rq_queue(name, connection).started_job_registry.cleanup(timestamp=at)
    retried = failed = 0
    running = db.session.execute(sa.select(JobRun).where(JobRun.status == JobStatus.RUNNING,
                                                         JobRun.rq_job_id.is_not(None))).scalars().all()
    for run in running:
        try:
            status = RqJob.fetch(run.rq_job_id, connection=connection).get_status()
        except Exception:  # noqa: BLE001 - gone from Redis altogether
            status = None
        if status in (RqStatus.QUEUED, RqStatus.SCHEDULED, RqStatus.DEFERRED):
            run.status, run.error = JobStatus.QUEUED, "The worker running it stopped; RQ is retrying it."
            retried += 1
        elif status in (RqStatus.FAILED, RqStatus.STOPPED, RqStatus.CANCELED, None):
            run.status, run.finished_at = JobStatus.FAILED, _now()
            run.error = "The worker running it stopped before it finished (no retries left)."
            failed += 1
    db.session.commit()
    return {"retried": retried, "failed": failed}


def requeue_lost_runs(now: dt.datetime | None = None) -> dict:
    """Queued runs whose RQ job is gone from Redis (Redis restarted empty or was flushed;
    the enqueueing process died between its commit and RQ): pushed to RQ again.

    Only runs enqueued more than ``JOB_REQUEUE_GRACE_SECONDS`` before ``now`` are looked
    at, so a run whose ``enqueue`` is still on its way to Redis is not doubled. The run
    keeps its id and its RQ job id (``jobrun-<id>``), so pushing it twice queues one job;
    it runs as whoever triggered it (``triggered_by``) or the ``system`` user, and bodies
    are idempotent, so a run that did reach a worker in the meantime writes nothing
    twice. Returns ``{"requeued": n}``."""
    connection = redis_connection()
    if connection is None:
        return {"requeued": 0}
    grace = int(current_app.config.get("JOB_REQUEUE_GRACE_SECONDS") or 0)
    cutoff = (now or _now()) - dt.timedelta(seconds=grace)
    queued = db.session.execute(sa.select(JobRun).where(JobRun.status == JobStatus.QUEUED,
                                                        JobRun.enqueued_at <= cutoff)
                                .order_by(JobRun.id)).scalars().all()
    requeued = 0
    for run in queued:
        if run.rq_job_id and RqJob.exists(run.rq_job_id, connection):
            continue  # waiting, scheduled for a retry or running: RQ still has it
        spec = load_jobs().get(run.job_name)
        if spec is None:
            run.status, run.finished_at = JobStatus.FAILED, _now()
            run.error = f"Its queue entry was lost and this build has no job called {run.job_name!r}."
            continue
        who = identity.resolved(db.session, identity.Identity(
            actor_id=run.triggered_by_id, true_user_id=run.triggered_by_id, channel="job"))
        pushed = _push(connection, spec, run.id, run.arguments or {}, dataclasses.asdict(who))
        run.rq_job_id = pushed.id
        run.error = "Its queue entry was lost (Redis restarted or was emptied); queued again."
        requeued += 1
        log.warning("job %s (run %s) was gone from Redis: queued again", run.job_name, run.id)
    db.session.commit()
    return {"requeued": requeued}
