"""Monthly client reports through their doors: ``flask reports generate``, the staff
"Generate report" buttons and add form, the portal and staff downloads, and the
``reports.monthly`` fan-out on a real RQ worker. The PDF is read back with pypdf and
its figures are compared with aggregates the test computes itself in SQL."""

import datetime as dt
import re
import struct
import zlib
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

import pypdf
import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import csrf_token, login, run_cli, work_off
from app.services.jobs import enqueue

pytestmark = pytest.mark.both_backends

CENT = Decimal("0.01")


@pytest.fixture
def report_app(app, tmp_path):
    app.config.update(REPORT_DIR=str(tmp_path / "reports"), UPLOAD_DIR=str(tmp_path / "uploads"))
    return app


def _last_month(today=None) -> dt.date:
    today = today or dt.datetime.now(dt.UTC).date()
    return (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def _next(period: dt.date) -> dt.date:
    return (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def _at(day: dt.date, hour=0, minute=0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def _client(slug) -> m.Client:
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _generate(app, slug, month) -> Path:
    result = run_cli(app, "reports", "generate", "--client", slug, "--month", f"{month:%Y-%m}")
    assert result.exit_code == 0, result.output
    path = Path(re.search(r": (/\S+\.pdf) \(JobRun \d+\)", result.output).group(1))
    assert path.is_file()
    return path


def _text(path) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(path).pages)


def _card(text: str, label: str) -> str:
    """The value printed right under a KPI card's label."""
    lines = text.splitlines()
    return lines[lines.index(label) + 1]


def _fill_colors(path) -> set[str]:
    """Every fill colour (``rg``) the pages paint, as #rrggbb."""
    found = set()

    def visit(operator, operands, *_):
        if operator == b"rg" and len(operands) == 3:
            found.add("#" + "".join(f"{round(float(v) * 255):02x}" for v in operands))

    for page in pypdf.PdfReader(path).pages:
        page.extract_text(visitor_operand_before=visit)
    return found


def _png(width: int, height: int, rgb: tuple) -> bytes:
    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _count(value: Decimal) -> str:
    return f"{value:,.0f}" if value == value.to_integral_value() else f"{value:,.2f}"


def _known_month(slug: str, period: dt.date) -> dict:
    """Replace the client's incidents with three in ``period`` (two on one site) and add
    two tickets due in it, one answered late: rules that must fire, on any seed day."""
    client = _client(slug)
    for incident in db.session.execute(sa.select(m.Incident).filter_by(client_id=client.id)).scalars():
        db.session.delete(incident)
    projects = db.session.execute(sa.select(m.Project).filter_by(client_id=client.id).order_by(m.Project.name)
                                  ).scalars().all()
    twice, once = projects[0], projects[1]
    for project, day, minutes in ((twice, 3, 47), (twice, 17, 95), (once, 9, 12)):
        start = _at(period + dt.timedelta(days=day), 14, 5)
        db.session.add(m.Incident(project=project, title=f"{project.name} unreachable", severity="high",
                                  status="resolved", started_at=start, resolved_at=start + dt.timedelta(minutes=minutes),
                                  source="manual"))
    owner = db.session.execute(sa.select(m.User).filter_by(username=f"{slug}-owner")).scalar_one()
    for day, answered_after in ((5, 6), (6, 1)):
        opened = _at(period + dt.timedelta(days=day), 10)
        db.session.execute(sa.insert(m.Ticket.__table__).values(
            client_id=client.id, subject="Report test ticket", description="Seeded by the report test.",
            priority="high", status="resolved", sla_hours=4, first_response_due_at=opened + dt.timedelta(hours=4),
            first_response_at=opened + dt.timedelta(hours=answered_after), resolved_at=opened + dt.timedelta(days=1),
            sla_state="breached" if answered_after > 4 else "ok", sla_paused_seconds=0, opened_by_id=owner.id,
            created_at=opened, updated_at=opened))
    db.session.commit()
    return {"twice": twice.name}


def _expected(client_id: int, period: dt.date) -> dict:
    """The month's figures, aggregated here in SQL over the tables."""
    start, end = _at(period), _at(_next(period))
    last = _next(period) - dt.timedelta(days=1)
    cm, inc, tk, mon = (t.__table__ for t in (m.CampaignMetric, m.Incident, m.Ticket, m.Monitor))
    cost, revenue, conversions = db.session.execute(sa.select(
        sa.func.sum(cm.c.cost), sa.func.sum(cm.c.revenue), sa.func.sum(cm.c.conversions)).where(
        cm.c.client_id == client_id, cm.c.date >= period, cm.c.date <= last)).one()
    incidents, downtime = db.session.execute(sa.select(sa.func.count(), sa.func.sum(inc.c.downtime_minutes)).where(
        inc.c.client_id == client_id, inc.c.started_at >= start, inc.c.started_at < end)).one()
    sites = db.session.execute(sa.select(sa.func.count(sa.distinct(mon.c.project_id))).where(
        mon.c.client_id == client_id)).scalar_one()
    opened = db.session.execute(sa.select(sa.func.count()).where(
        tk.c.client_id == client_id, tk.c.created_at >= start, tk.c.created_at < end)).scalar_one()
    resolved = db.session.execute(sa.select(sa.func.count()).where(
        tk.c.client_id == client_id, tk.c.resolved_at >= start, tk.c.resolved_at < end)).scalar_one()
    due, in_time = db.session.execute(sa.select(
        sa.func.count(), sa.func.sum(sa.case((tk.c.first_response_at <= tk.c.first_response_due_at, 1), else_=0))
    ).where(tk.c.client_id == client_id, tk.c.first_response_due_at >= start, tk.c.first_response_due_at < end)).one()
    cost, revenue, conversions = Decimal(cost), Decimal(revenue), Decimal(conversions)
    month_minutes = Decimal((end - start).total_seconds() / 60)
    roas = (revenue / cost).quantize(Decimal("0.0001"), ROUND_HALF_UP).quantize(CENT, ROUND_HALF_UP)
    return {
        "Ad spend": f"R$ {cost:,.2f}",
        "Conversions": _count(conversions),
        "Cost per conversion (CPA)": f"R$ {(cost / conversions).quantize(CENT, ROUND_HALF_UP):,.2f}",
        "Return on ad spend (ROAS)": f"{roas}x",
        "Uptime": f"{(100 * (1 - Decimal(downtime) / (sites * month_minutes))).quantize(CENT, ROUND_DOWN)}%",
        "Incidents": str(incidents),
        "Downtime (min)": f"{downtime:,}",
        "Tickets opened": str(opened),
        "Tickets resolved": str(resolved),
        "First-response SLA": f"{(Decimal(in_time * 100) / due).quantize(Decimal('0.1'), ROUND_HALF_UP)}%",
        "SLA breaches": str(due - in_time),
    }


def test_pro_report_figures_match_the_database_and_regenerating_replaces_it(report_app):
    period = _last_month()
    known = _known_month("pro-co", period)
    pro = _client("pro-co")
    runs_before = db.session.execute(sa.select(sa.func.count()).select_from(m.JobRun)).scalar_one()

    path = _generate(report_app, "pro-co", period)
    text = _text(path)
    expected = _expected(pro.id, period)
    assert expected["Incidents"] == "3" and expected["Downtime (min)"] == "154"  # the data the test wrote
    shown = {label: _card(text, label) for label in expected}
    assert shown == expected
    assert f"Pro Co\n{period:%B %Y}" in text and "Prepared by Atrium" in text
    # Insights: the rules the month's data triggers, in words a client reads.
    assert "\nInsights\n" in text
    assert f"{known['twice']} had 2 incidents this month" in text
    assert "1 ticket missed the 4-hour first-response SLA" in text

    db.session.expire_all()
    [report] = db.session.execute(sa.select(m.Report).filter_by(client_id=pro.id, period=period)).scalars().all()
    assert report.status == "done" and report.error is None and report.generated_at is not None
    assert Path(report_app.config["REPORT_DIR"], report.file_path) == path
    [run] = db.session.execute(sa.select(m.JobRun).filter_by(job_name="reports.generate")).scalars().all()
    assert run.status == "succeeded" and run.result["report_id"] == report.id
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.JobRun)).scalar_one() == runs_before + 1

    # Idempotent: the same row and file, replaced.
    first_generated = report.generated_at
    assert _generate(report_app, "pro-co", period) == path
    db.session.expire_all()
    [again] = db.session.execute(sa.select(m.Report).filter_by(client_id=pro.id, period=period)).scalars().all()
    assert again.id == report.id and again.generated_at > first_generated
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_enterprise_report_is_white_label_with_logo_and_colour(report_app):
    period = _last_month()
    enterprise = _client("enterprise-co")
    logo = Path(report_app.config["UPLOAD_DIR"], str(enterprise.id), "logo.png")
    logo.parent.mkdir(parents=True)
    logo.write_bytes(_png(120, 40, (200, 30, 60)))
    enterprise.brand_logo_path = f"{enterprise.id}/logo.png"
    enterprise.brand_primary_color = "#0b5394"
    db.session.commit()

    path = _generate(report_app, "enterprise-co", period)
    reader = pypdf.PdfReader(path)
    text = _text(path)
    assert "Enterprise Co" in text and "\nInsights\n" in text
    assert "atrium" not in text.lower()
    assert not any("atrium" in str(value).lower() for value in (reader.metadata or {}).values())
    assert len(reader.pages[0].images) == 1  # the client's logo on the cover
    assert "#0b5394" in _fill_colors(path)

    pro = _generate(report_app, "pro-co", period)  # other plans: the agency's branding
    assert "Prepared by Atrium" in _text(pro) and not pypdf.PdfReader(pro).pages[0].images
    assert "#0b5394" not in _fill_colors(pro)


def test_free_report_has_no_insights_section(report_app):
    period = _last_month()
    text = _text(_generate(report_app, "free-co", period))
    assert "Free Co" in text and "Insights" not in text
    assert _card(text, "First-response SLA") == "n/a"
    assert "no first-response SLA on the Free plan" in text  # the support section says why


def test_portal_downloads_only_the_clients_own_reports(report_app, client):
    period = _last_month()
    _generate(report_app, "pro-co", period)
    pro_report = db.session.execute(sa.select(m.Report).filter_by(client_id=_client("pro-co").id, period=period)
                                    ).scalar_one()
    # Each request of a real server starts with an empty session; the tests share one
    # with the requests, so nothing the test loaded may be served from it.
    db.session.expunge_all()
    login(client, "free-co-owner")
    assert client.get(f"/portal/reports/download/{pro_report.id}").status_code == 404
    assert client.get("/portal/reports/download/999999").status_code == 404
    assert client.get(f"/reportview/download/{pro_report.id}").status_code in (302, 403)  # no staff door
    client.get("/logout/")

    login(client, "pro-co-viewer")
    response = client.get(f"/portal/reports/download/{pro_report.id}")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF") and f"pro-co-report-{period:%Y-%m}.pdf" in \
        response.headers["Content-Disposition"]
    client.get("/logout/")

    login(client, "developer")  # Report read: staff download
    response = client.get(f"/reportview/download/{pro_report.id}")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    assert client.get("/reportview/download/999999").status_code == 404


def test_a_report_without_its_pdf_is_not_found_with_a_reason_at_both_doors(report_app, client):
    # the demo seed queues last month's report of every client; nothing rendered it here
    queued = db.session.execute(sa.select(m.Report).filter_by(client_id=_client("basic-co").id)).scalars().first()
    assert queued.status == m.ReportStatus.QUEUED
    report_id, period = queued.id, queued.period
    db.session.expunge_all()
    login(client, "basic-co-owner")
    response = client.get(f"/portal/reports/download/{report_id}")
    assert response.status_code == 404
    assert f"The report for {period:%Y-%m} has no PDF yet (status: queued)." in response.get_data(as_text=True)
    client.get("/logout/")
    login(client, "developer")
    response = client.get(f"/reportview/download/{report_id}")
    assert response.status_code == 404 and "has no PDF yet" in response.get_data(as_text=True)


@pytest.mark.parametrize("args, message", [
    (["--client", "nobody-co", "--month", "2026-01"], "There is no client with the slug 'nobody-co'"),
    (["--client", "pro-co", "--month", "2026-13"], "The month must be written YYYY-MM"),
    (["--client", "pro-co", "--month", "10-2026"], "The month must be written YYYY-MM"),
    (["--client", "pro-co", "--month", "2999-01"], "January 2999 is not over yet"),
    (["--client", "pro-co", "--month", f"{dt.datetime.now(dt.UTC):%Y-%m}"], "is not over yet"),
])
def test_cli_refuses_bad_input_and_writes_nothing(report_app, args, message):
    def counts():
        return [db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
                for model in (m.Report, m.JobRun)]

    before = counts()
    result = run_cli(report_app, "reports", "generate", *args)
    assert result.exit_code != 0 and message in result.output
    assert counts() == before and not Path(report_app.config["REPORT_DIR"]).exists()


def test_staff_generate_buttons_and_add_form(report_app, client):
    period = _last_month()
    pro = _client("pro-co")
    login(client, "developer")  # Report read only: no button, and the POST is refused
    page = client.get(f"/clientview/show/{pro.id}").get_data(as_text=True)
    assert "/jobs/now/client_report/" not in page
    token = csrf_token(client, "/resetmypassword/form")
    assert client.post(f"/jobs/now/client_report/{pro.id}", data={"csrf_token": token}).status_code == 403
    client.get("/logout/")

    login(client, "operator")
    page = client.get(f"/clientview/show/{pro.id}").get_data(as_text=True)
    assert "Generate last month&#39;s report" in page
    token = re.search(rf'jobs/now/client_report/{pro.id}".*?name="csrf_token" value="([^"]+)"', page, re.S).group(1)
    assert client.post(f"/jobs/now/client_report/{pro.id}", data={"csrf_token": token}).status_code == 302
    db.session.expire_all()
    report = db.session.execute(sa.select(m.Report).filter_by(client_id=pro.id, period=period)).scalar_one()
    assert report.status == "done" and report.file_path
    listing = client.get("/reportview/list/").get_data(as_text=True)
    assert f"/reportview/download/{report.id}" in listing and f"/jobs/now/report/{report.id}" in listing
    assert client.get(f"/reportview/download/{report.id}").data.startswith(b"%PDF")

    # Adding a report for a month renders it; a month that is not over is refused, nothing added.
    earlier = (period - dt.timedelta(days=1)).replace(day=1)
    form = "/reportview/add"
    response = client.post(form, data={"client": pro.id, "period": f"{earlier:%Y-%m}-15",
                                        "csrf_token": csrf_token(client, form)})
    assert response.status_code == 302
    db.session.expire_all()
    added = db.session.execute(sa.select(m.Report).filter_by(client_id=pro.id, period=earlier)).scalar_one()
    assert added.status == "done"
    future = _next(dt.datetime.now(dt.UTC).date())
    before = db.session.execute(sa.select(sa.func.count()).select_from(m.Report)).scalar_one()
    response = client.post(form, data={"client": pro.id, "period": f"{future:%Y-%m-%d}",
                                       "csrf_token": csrf_token(client, form)})
    assert response.status_code == 422 and "is not over yet" in response.get_data(as_text=True)
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Report)).scalar_one() == before


def test_monthly_job_on_a_real_worker_renders_every_active_client_and_emails_owners(rq_app, tmp_path):
    rq_app.config.update(REPORT_DIR=str(tmp_path / "reports"))
    period = _last_month()
    enqueue("reports.monthly")
    assert work_off(rq_app)
    db.session.expire_all()
    reports = db.session.execute(sa.select(m.Report).where(m.Report.period == period)).scalars().all()
    assert len(reports) == 4 and {r.status for r in reports} == {"done"}
    assert all(Path(tmp_path / "reports" / r.file_path).is_file() for r in reports)
    runs = db.session.execute(sa.select(m.JobRun).filter_by(job_name="reports.generate")).scalars().all()
    assert len(runs) == 4 and all(r.status == "succeeded" and r.rq_job_id for r in runs)
    [email] = db.session.execute(sa.select(m.OutboxEmail).filter_by(to_address="owner@pro-co.example",
                                                                    kind="report_ready")).scalars().all()
    assert email.subject == f"[Atrium] Your {period:%B %Y} report is ready" and email.status == "queued"
    [white_label] = db.session.execute(sa.select(m.OutboxEmail).filter_by(
        to_address="owner@enterprise-co.example", kind="report_ready")).scalars().all()
    assert "Atrium" not in white_label.subject + white_label.body

    # Run again (a retry, a second cron): nothing left to do, nobody told twice.
    enqueue("reports.monthly")
    assert work_off(rq_app)
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.JobRun).filter_by(
        job_name="reports.generate")).scalar_one() == 4
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.OutboxEmail).filter_by(
        kind="report_ready")).scalar_one() == 4
