"""Monthly client reports (SPEC §3 Report, §2 tiers, §7 "monthly reports").

What lives where: periods and data classes in ``services.report_data``; ``gather`` and
``insights`` in ``services.report_gathering``; the ``Report`` row, its file and its mail
here.

- ``gather(session, client, period)``: every figure of one client's month, read from the
  database as aggregates, returned as plain data (``ReportData``; money as ``Decimal``,
  ratios ``None`` instead of a division by zero). KPIs come with last month's value and
  the change; campaign KPIs are ``models.kpis`` (sums: ``services.campaign_metrics``), grades
  ``services.performance``, downtime ``services.incidents``.
- ``insights(data)``: the automated insights of Pro and Enterprise reports, one
  documented rule each (below).
- The ``Report`` row's lifecycle (``request_report`` → queued, ``generate`` → running →
  done/failed with the error), the PDF file under ``REPORT_DIR`` (the row keeps the
  path relative to it), and the "your report is ready" email to the client's owners.
- Language: the PDF is written in the client's language (``Client.language``, else
  English: ``report_language``), its figures gathered and drawn inside
  ``flask_babel.force_locale``; each owner's e-mail is in that owner's own language
  (``notifications``).

What does not: drawing (``app.reports.pdf`` only draws what ``gather`` returns), doors
(CLI, views, jobs call the functions here).

Definitions (months are calendar months in UTC, like the tickets-per-month limit):

- **Uptime %**: 100 × (1 − downtime / monitored time). Monitored time is the month's
  minutes × the client's sites (projects with an uptime monitor, or with an incident in
  the month); downtime is each site's incidents clipped to the month (an incident still
  open counts until the month's end or now), overlapping incidents of one site counted
  once. Rounded down to 2 decimals, so downtime never shows as 100.00 %. Incidents, not
  raw checks: checks are pruned after ``MONITOR_CHECK_RETENTION_DAYS`` (30), so the
  first day of a 31-day month is gone when the report runs on the 1st.
- **Incidents**: incidents started in the month. **Downtime (min)**: each incident's
  time within the month in whole minutes, rounded up (``incidents.downtime_minutes``).
- **Tickets opened / resolved**: created / resolved in the month. **First-response SLA
  %**: of the tickets whose first response fell due in the month, the share answered by
  then (one decimal); plans without an SLA (Free) have none. An SLA breach is such a
  ticket answered late or not at all.
- **Ad spend, conversions, CPA, ROAS**: sums of the daily campaign metrics dated in the
  month; CPA = spend / conversions, ROAS = revenue / spend.
- **Change**: against the previous month: relative (%) for amounts and counts,
  percentage points for percentages; ``None`` when last month had nothing to compare.
- **Domains and certificates**: registrations and certificates expiring up to 60 days
  after the month's end (or already expired), as known when the report is generated.
- **Performance**: the latest measurement per project taken before the month's end.

Insight rules (Pro and Enterprise; Free and Basic reports have no insights section;
Enterprise's "priority" insights: its reports are queued first by the monthly run):

1. ``roas_drop`` — ROAS fell more than 20 % against last month (both months with spend).
2. ``sla_breach`` — at least one ticket due in the month got its first response late or
   not at all (plans with an SLA).
3. ``repeated_incidents`` — a site had 2 or more incidents start in the month.
4. ``budget_pacing`` — a campaign spent more in the month than its daily budget × the
   days it ran in the month.
5. ``certificate_expiring`` — a TLS certificate expires within 14 days of the month's
   end, or has expired.
6. ``uptime_below_target`` — uptime below 99.9 %.
Insights are ordered by severity (high first), then by rule.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import tempfile
from pathlib import Path

import sqlalchemy as sa
from flask_babel import force_locale
from flask_babel import gettext as _

from app import models as m
from app.errors import NotFound
from app.i18n import DEFAULT_LANGUAGE, known_language, month
from app.services import notifications
from app.services.report_data import ReportData, check_reportable
from app.services.report_gathering import gather

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- the Report row

def client_by_slug(session, slug: str) -> m.Client:
    client = session.execute(sa.select(m.Client).where(m.Client.slug == (slug or "").strip())).scalar_one_or_none()
    if client is None:
        raise NotFound(_("There is no client with the slug %(slug)r.", slug=slug), field="client")
    return client


def request_report(session, client_id: int, period: dt.date) -> m.Report:
    """The client's Report row for ``period``, queued for generation (created when new).
    Not committed. A done report stays downloadable until its new file replaces it."""
    report = session.execute(sa.select(m.Report).where(m.Report.client_id == client_id, m.Report.period == period)
                             ).scalar_one_or_none()
    if report is None:
        report = m.Report(client_id=client_id, period=period)
        session.add(report)
    report.status, report.error = m.ReportStatus.QUEUED, None
    return report


def _report_dir(config) -> Path:
    return Path(config.get("REPORT_DIR") or "instance/reports")


def _stored(relative: str | None, config) -> Path | None:
    """``REPORT_DIR / relative`` when that file exists and stays under ``REPORT_DIR``."""
    if not relative:
        return None
    root = _report_dir(config).resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        return None
    return path if path.is_file() else None


def file_of(report, config) -> Path | None:
    """The PDF of a report on disk (under ``REPORT_DIR``), or None when there is none."""
    return _stored(report.file_path, config)


def pdf_to_send(session, report, config) -> tuple[Path, str]:
    """The report's PDF on disk and the file name to download it as, for every door
    (staff console, portal); ``NotFound`` saying why when there is none to send."""
    path = file_of(report, config) if report.status == m.ReportStatus.DONE else None
    if path is None:
        raise NotFound(_("The report for %(month)s has no PDF yet (status: %(status)s).",
                         month=report.period.strftime("%Y-%m"), status=_status_word(report.status)))
    return path, download_name(session, report)


def _status_word(status) -> str:
    words = {m.ReportStatus.QUEUED: _("queued"), m.ReportStatus.RUNNING: _("running"), m.ReportStatus.DONE: _("done"),
             m.ReportStatus.FAILED: _("failed")}
    return words.get(status, str(status))


def report_language(client) -> str:
    """The language a client's PDF report is written in: the client's, else English."""
    return known_language(client.language) or DEFAULT_LANGUAGE


def download_name(session, report) -> str:
    """``pro-co-report-2026-10.pdf``: the client's name, never the agency's (white label)."""
    slug = session.execute(sa.select(m.Client.slug).where(m.Client.id == report.client_id)).scalar_one_or_none()
    return f"{slug or 'client'}-report-{report.period:%Y-%m}.pdf"


def _relative_path(client, period: dt.date) -> str:
    return f"{client.id}/{client.slug}-{period:%Y-%m}.pdf"


def generate(session, client_id: int, period: dt.date, config, now: dt.datetime | None = None) -> m.Report:
    """Render the client's report for ``period`` and keep the row true: running, then done
    (file, generated at) or failed (error; raised again). Idempotent: the same row and
    file are replaced. Commits."""
    from app.reports import pdf  # reportlab loads only in the processes that render a PDF

    client = session.get(m.Client, client_id)
    if client is None:
        raise NotFound(_("There is no client with id %(id)s.", id=client_id), field="client")
    check_reportable(period, now)
    report = request_report(session, client.id, period)
    report.status = m.ReportStatus.RUNNING
    session.commit()
    report_id, old_path = report.id, report.file_path
    try:
        language = report_language(client)
        with force_locale(language):  # KPI names and insights in the client's language
            data = gather(session, client, period, config, now)
        relative = _relative_path(client, period)
        target = _report_dir(config) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".render-", suffix=".pdf")
        try:
            with os.fdopen(handle, "wb") as out, force_locale(language):
                pdf.render(data, out)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        report = session.get(m.Report, report_id)
        report.status, report.file_path, report.error = m.ReportStatus.DONE, relative, None
        report.generated_at = data.generated_at
        _notify_ready(session, client, report, data)
        session.commit()
    except Exception as exc:
        session.rollback()
        report = session.get(m.Report, report_id)
        report.status, report.error = m.ReportStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        session.commit()
        raise
    if old_path and old_path != relative:  # the client's slug changed: the old file goes
        old = _stored(old_path, config)
        if old is not None:
            old.unlink(missing_ok=True)
    return report


def _notify_ready(session, client, report, data: ReportData) -> int:
    # White label: the email names no agency either.
    agency, period, name = data.branding.name, report.period, client.name

    def subject():
        if data.branding.white_label:
            return _("Your %(month)s report is ready", month=month(period))
        return _("[%(agency)s] Your %(month)s report is ready", agency=agency, month=month(period))

    return notifications.notify(
        session, kind="report_ready", recipients=notifications.client_owners(session, client.id),
        subject=subject,
        body=lambda: _("Hello,\n\nThe monthly report of %(client)s for %(month)s is ready. "
                       "Download it from the Reports page of your portal.\n", client=name, month=month(period)),
        client_id=client.id, dedupe_key=f"report:{report.id}:{report.period:%Y-%m}")


def clients_due(session, period: dt.date, force: bool = False) -> list[int]:
    """Active clients whose report for ``period`` is not done yet (all of them with
    ``force``), Enterprise first (their insights are "priority"), then by name."""
    rank = sa.case({m.Tier.ENTERPRISE.value: 0, m.Tier.PRO.value: 1, m.Tier.BASIC.value: 2}, value=m.Client.tier,
                   else_=3)
    query = sa.select(m.Client.id).where(m.Client.status == m.ClientStatus.ACTIVE).order_by(rank, m.Client.name)
    if not force:
        done = sa.select(m.Report.client_id).where(m.Report.period == period, m.Report.status == m.ReportStatus.DONE)
        query = query.where(m.Client.id.not_in(done))
    return list(session.execute(query).scalars())
