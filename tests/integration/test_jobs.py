"""Jobs through their doors: ``flask jobs run`` (inline), ``enqueue`` without Redis
(inline, same JobRun), and a real RQ worker on the real Redis. Each job's writes are
audited with the identity of whoever enqueued it (channel ``job``)."""

import datetime as dt

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.services import identity
from tests.conftest import run_cli, work_off
from app.services.jobs import enqueue, job


@job("test.project_roundtrip", queue="high", timeout=30, retries=())
def project_roundtrip(client_slug: str) -> dict:
    """Create, rename and delete a project of ``client_slug`` (the door test's job)."""
    client = db.session.execute(sa.select(m.Client).filter_by(slug=client_slug)).scalar_one()
    project = m.Project(client=client, name="Job-made project")
    db.session.add(project)
    db.session.commit()
    project.name = "Job-renamed project"
    db.session.commit()
    project_id = project.id
    db.session.delete(project)
    db.session.commit()
    return {"project": project_id}


@job("test.always_fails", queue="default", timeout=30, retries=(1,))
def always_fails() -> dict:
    """Fail every time (retries and failure bookkeeping)."""
    raise RuntimeError("the platform said no")


@job("test.bad_credentials", queue="sync", timeout=30, retries=(1, 1, 1))
def bad_credentials() -> dict:
    """Fail in a way no retry can fix."""
    from app.errors import PermanentError

    raise PermanentError("Google Ads refused the credentials (401): check GOOGLE_ADS_ACCESS_TOKEN")


def _user(username):
    return db.session.execute(sa.select(m.User).filter_by(username=username)).scalar_one()


def _runs(name):
    db.session.expire_all()
    return list(db.session.execute(sa.select(m.JobRun).filter_by(job_name=name).order_by(m.JobRun.id)).scalars())


def _project_events():
    db.session.expire_all()
    return list(db.session.execute(sa.select(m.AuditEvent).where(m.AuditEvent.resource_type == "Project")
                                   .where(m.AuditEvent.channel == "job").order_by(m.AuditEvent.seq)).scalars())


def _as_operator_request(app):
    """A request of ``operator`` (the identity ``enqueue`` picks up at a web door)."""
    from flask import g

    ctx = app.test_request_context("/clientview/list/")
    ctx.push()
    g.user = _user("operator")
    identity.bind_request()
    return ctx


def test_cli_runs_a_job_inline_and_records_it(app):
    # A ticket with an SLA (a Free plan's has none, so nothing to breach), picked the same way each run.
    ticket = db.session.execute(sa.select(m.Ticket).where(m.Ticket.first_response_at.is_(None),
                                                          m.Ticket.status == "open", m.Ticket.sla_hours.is_not(None))
                                .order_by(m.Ticket.id).limit(1)).scalar_one()
    # The due time passes while nobody touches the ticket (no flush recomputes its state).
    db.session.execute(sa.update(m.Ticket).where(m.Ticket.id == ticket.id).values(
        first_response_due_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5), sla_state="ok"))
    db.session.commit()
    result = run_cli(app, "jobs", "run", "tickets.sla_watch")
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output
    [run] = _runs("tickets.sla_watch")
    assert run.status == "succeeded" and run.attempts == 1 and run.result["breached"] >= 1
    assert run.triggered_by_id is None  # the CLI acts as the system user, not a person
    db.session.expire_all()
    assert db.session.get(m.Ticket, ticket.id).sla_state == "breached"
    event = db.session.execute(sa.select(m.AuditEvent).where(
        m.AuditEvent.resource_type == "Ticket", m.AuditEvent.resource_id == str(ticket.id),
        m.AuditEvent.channel == "job")).scalar_one()
    assert event.changes["sla_state"] == ["ok", "breached"]
    assert event.actor_id == identity.system_user_id(db.session)
    emails = db.session.execute(sa.select(m.OutboxEmail).filter_by(kind="sla_breached")).scalars().all()
    mine = [e for e in emails if f"Ticket #{ticket.id}" in e.subject]  # (other seeded tickets may be due by now)
    assert mine and all(e.status == "queued" for e in mine)
    # a second run at the same moment changes nothing (idempotent)
    assert run_cli(app, "jobs", "run", "tickets.sla_watch").exit_code == 0
    assert _runs("tickets.sla_watch")[-1].result["changed"] == 0
    assert len(db.session.execute(sa.select(m.OutboxEmail).filter_by(kind="sla_breached")).all()) == len(emails)


@pytest.mark.parametrize("args, message", [
    (("jobs", "run", "no.such_job"), "There is no job called 'no.such_job'"),
    (("jobs", "run", "tickets.sla_watch", "--arg", "colour=blue"), "unexpected keyword argument 'colour'"),
    (("jobs", "run", "tickets.sla_watch", "--arg", "oops"), "expected KEY=VALUE"),
])
def test_cli_refuses_bad_jobs_and_arguments(app, args, message):
    result = run_cli(app, *args)
    assert result.exit_code != 0 and message in result.output
    assert _runs("tickets.sla_watch") == [] and _runs("no.such_job") == []


def test_without_redis_a_person_runs_the_job_inline_with_their_identity(app):
    operator = _user("operator")
    ctx = _as_operator_request(app)
    try:
        run_id = enqueue("test.project_roundtrip", client_slug="pro-co")
    finally:
        ctx.pop()
    run = db.session.get(m.JobRun, run_id)
    assert run.status == "succeeded" and run.triggered_by_id == operator.id and run.rq_job_id is None
    events = _project_events()
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert events[1].changes["name"] == ["Job-made project", "Job-renamed project"]
    assert {(e.actor_id, e.true_user_id) for e in events} == {(operator.id, operator.id)}
    triggered = db.session.execute(sa.select(m.AuditEvent).filter_by(action="job.triggered")).scalar_one()
    assert triggered.actor_id == operator.id and triggered.details["job"] == "test.project_roundtrip"


def test_a_real_worker_runs_the_job_as_whoever_enqueued_it(rq_app):
    """While impersonating: actor = the client user, true user = the operator."""
    operator, owner = _user("operator"), _user("pro-co-owner")
    who = identity.Identity(actor_id=owner.id, true_user_id=operator.id, impersonation_session_id=None,
                            channel="web", request_id="req-123")
    run_id = enqueue("test.project_roundtrip", who=who, client_slug="pro-co")
    assert db.session.get(m.JobRun, run_id).status == "queued"  # nothing ran yet: it is on the queue
    assert work_off(rq_app)
    run = _runs("test.project_roundtrip")[-1]
    assert run.status == "succeeded" and run.rq_job_id.endswith(f"jobrun-{run_id}") and run.duration_ms >= 0
    events = _project_events()
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert {(e.actor_id, e.true_user_id, e.request_id) for e in events} == {(owner.id, operator.id, "req-123")}


def test_a_failing_job_is_retried_then_visibly_failed(rq_app):
    import time

    run_id = enqueue("test.always_fails")
    work_off(rq_app)  # first attempt fails; RQ schedules the retry a second later
    run = _runs("test.always_fails")[-1]
    assert run.status == "queued" and run.attempts == 1 and "the platform said no" in run.error
    time.sleep(1.2)
    work_off(rq_app)
    run = _runs("test.always_fails")[-1]
    assert run.id == run_id and run.status == "failed" and run.attempts == 2
    assert "RuntimeError: the platform said no" in run.error and "Traceback" in run.traceback


def test_a_permanent_error_fails_at_once_without_retries(rq_app):
    import time

    enqueue("test.bad_credentials")
    work_off(rq_app)
    time.sleep(1.2)
    work_off(rq_app)  # nothing was scheduled for a retry
    run = _runs("test.bad_credentials")[-1]
    assert run.status == "failed" and run.attempts == 1
    assert "refused the credentials (401)" in run.error
