"""Maintenance jobs and the schedule: the outbox sent over SMTP to a server the test
runs on loopback (aiosmtpd), daily analytics, cleanup, ``flask jobs list``, and two
cron ticks for the same slot enqueueing the job once (real RQ worker, real Redis)."""

import datetime as dt

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.services import notifications
from tests.conftest import run_cli, work_off

pytestmark = pytest.mark.both_backends


class _Inbox:
    """An SMTP server on loopback that keeps what it receives; refuses one address."""

    REFUSED = "nobody@refused.example"

    def __init__(self):
        self.messages = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address == self.REFUSED:
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos[:], envelope.content.decode("utf8", "replace")))
        return "250 Message accepted"


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_server(app):
    from aiosmtpd.controller import Controller

    inbox = _Inbox()
    port = _free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=port,
                      SMTP_STARTTLS=False, SMTP_USERNAME=None, MAIL_FROM="Atrium <atrium@agency.example>")
    yield inbox
    controller.stop()


def _queue(to, key):
    notifications.queue_email(db.session, kind="test", to=to, subject=f"Hello {key}", body="Body text",
                              dedupe_key=key)


def _outbox():
    db.session.expire_all()
    return {e.dedupe_key: e for e in db.session.execute(sa.select(m.OutboxEmail)).scalars()}


def test_outbox_is_sent_over_smtp_and_a_refused_address_fails_alone(app, smtp_server):
    _queue("owner@pro-co.example", "a")
    _queue(_Inbox.REFUSED, "b")
    _queue("owner@pro-co.example", "a")  # same key: queued once
    db.session.commit()
    result = run_cli(app, "jobs", "run", "maintenance.send_outbox")
    assert result.exit_code == 0, result.output
    outbox = _outbox()
    assert outbox["a"].status == "sent" and outbox["a"].sent_at is not None
    assert outbox["b"].status == "failed" and "550" in outbox["b"].last_error
    assert len(smtp_server.messages) == 1
    recipients, content = smtp_server.messages[0]
    assert recipients == ["owner@pro-co.example"] and "Subject: Hello a" in content
    assert run_cli(app, "jobs", "run", "maintenance.send_outbox").exit_code == 0
    assert len(smtp_server.messages) == 1  # nothing sent twice


def test_outbox_waits_while_the_smtp_server_is_down(app):
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=_free_port(), SMTP_STARTTLS=False)  # nobody listens
    _queue("owner@pro-co.example", "c")
    db.session.commit()
    result = run_cli(app, "jobs", "run", "maintenance.send_outbox")
    assert result.exit_code != 0 and "unavailable" in result.output
    assert _outbox()["c"].status == "queued"  # it goes out when the server is back
    run = db.session.execute(sa.select(m.JobRun).filter_by(job_name="maintenance.send_outbox")).scalar_one()
    assert run.status == "failed" and "MailUnavailable" in run.error


def test_daily_analytics_row_is_computed_and_replaced(app):
    day = dt.date.today() - dt.timedelta(days=1)
    db.session.execute(sa.delete(m.DailyAnalytics))  # the demo seed computed the past 90 days
    db.session.commit()
    assert run_cli(app, "jobs", "run", "maintenance.daily_analytics", "--arg", f"date={day.isoformat()}"
                   ).exit_code == 0
    assert run_cli(app, "jobs", "run", "maintenance.daily_analytics", "--arg", f"date={day.isoformat()}"
                   ).exit_code == 0
    rows = db.session.execute(sa.select(m.DailyAnalytics)).scalars().all()
    assert len(rows) == 1 and rows[0].date == day
    active = db.session.execute(sa.select(sa.func.count()).select_from(m.Client).where(
        m.Client.status == "active")).scalar_one()
    assert sum(rows[0].clients_by_tier.values()) == active
    assert rows[0].mrr_total == sum(int(float(v)) for v in rows[0].mrr_by_tier.values())
    bad = run_cli(app, "jobs", "run", "maintenance.daily_analytics", "--arg", "date=yesterday")
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output


def test_cleanup_ends_expired_view_as_sessions_and_prunes_old_runs(app):
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    db.session.add(m.JobRun(job_name="old.job", queue="default", status="succeeded", enqueued_at=past,
                            finished_at=past))
    operator = db.session.execute(sa.select(m.User).filter_by(username="operator")).scalar_one()
    owner = db.session.execute(sa.select(m.User).filter_by(username="pro-co-owner")).scalar_one()
    db.session.add(m.ImpersonationSession(staff_user_id=operator.id, target_user_id=owner.id,
                                          reason="left open in a closed tab", started_at=past,
                                          expires_at=past + dt.timedelta(minutes=30)))
    db.session.commit()
    assert run_cli(app, "jobs", "run", "maintenance.cleanup").exit_code == 0
    db.session.expire_all()
    assert db.session.execute(sa.select(m.JobRun).filter_by(job_name="old.job")).first() is None
    session_row = db.session.execute(sa.select(m.ImpersonationSession).filter_by(
        reason="left open in a closed tab")).scalar_one()
    assert session_row.ended_at is not None and session_row.end_reason == "expired"
    assert db.session.execute(sa.select(m.AuditEvent).filter_by(
        action="impersonation.end", impersonation_session_id=session_row.id)).scalar_one()


def test_jobs_list_prints_the_schedule(app):
    result = run_cli(app, "jobs", "list")
    assert result.exit_code == 0
    for name in ("uptime dispatch", "SLA watch", "campaign sync", "TLS check", "daily analytics", "cleanup"):
        assert name in result.output
    assert "cron 0 4 * * * (UTC)" in result.output  # campaign sync, daily at 04:00 UTC


def test_two_cron_ticks_for_one_slot_enqueue_the_job_once(rq_app):
    """What two cron processes do at the same minute: each enqueues a tick; the job runs once."""
    from workers.cron import fire
    from app.services.jobs import rq_queue

    high = rq_queue("high")
    for _ in range(2):
        high.enqueue(fire, kwargs={"schedule": "SLA watch"})
    assert work_off(rq_app)
    runs = db.session.execute(sa.select(m.JobRun).filter_by(job_name="tickets.sla_watch")).scalars().all()
    assert len(runs) == 1 and runs[0].status == "succeeded" and runs[0].triggered_by_id is None


def test_ticket_replies_notify_the_other_side_and_internal_notes_nobody(app, client):
    """A client's reply goes to the assignee; a staff reply to whoever opened the ticket."""
    from tests.conftest import csrf_token, login

    ticket = db.session.execute(sa.select(m.Ticket).join(m.Client).where(
        m.Client.slug == "pro-co", m.Ticket.status.in_(["open", "in_progress", "waiting_client"]),
        m.Ticket.assignee_id.is_not(None)).limit(1)).scalar_one()
    assignee_email, opener_email = ticket.assignee.email, ticket.opened_by.email
    assert db.session.execute(sa.select(m.OutboxEmail)).first() is None  # the demo seed told nobody
    login(client, "pro-co-owner")
    page = f"/portal/tickets/show/{ticket.id}"
    response = client.post(f"/portal/tickets/reply/{ticket.id}",
                           data={"csrf_token": csrf_token(client, page), "body": "Still broken on mobile."})
    assert response.status_code == 302
    db.session.expire_all()
    [to_staff] = db.session.execute(sa.select(m.OutboxEmail).filter_by(kind="ticket_reply")).scalars().all()
    assert to_staff.to_address == assignee_email and "Still broken on mobile." in to_staff.body
    assert f"#{ticket.id}" in to_staff.subject
    db.session.add(m.TicketMessage(ticket_id=ticket.id, client_id=ticket.client_id, author=ticket.assignee,
                                   body="Internal: check the CDN logs", internal=True))
    db.session.add(m.TicketMessage(ticket_id=ticket.id, client_id=ticket.client_id, author=ticket.assignee,
                                   body="Fixed, please check again"))
    db.session.commit()
    emails = db.session.execute(sa.select(m.OutboxEmail).filter_by(kind="ticket_reply")
                                .order_by(m.OutboxEmail.id)).scalars().all()
    assert [(e.to_address, "Fixed" in e.body) for e in emails] == [(assignee_email, False), (opener_email, True)]
