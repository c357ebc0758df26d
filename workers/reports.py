"""Report jobs (queue ``reports``, SPEC §7 "monthly reports"). The rules, the figures
and the Report row's lifecycle are ``app.services.reports``; these bodies only pick
what to render and say what happened.

- ``reports.generate``: one client's PDF for one month: ``client_id`` and ``month``
  ("YYYY-MM"; default: last month), or ``report_id`` (render that row's month again:
  the staff "Generate report" button). Idempotent: the same row and file are replaced.
  When done, the client's owners are emailed (once per report and month).
- ``reports.monthly`` (1st of the month, 06:00 UTC): queues the past month's report of
  every active client whose report is not done yet (``force=True``: every one),
  Enterprise first. Without Redis the fan-out renders them inline, one by one.

A request that can never succeed (no such client or report, a malformed or unfinished
month) fails at once (``PermanentError``) instead of being retried.
"""

from __future__ import annotations

from flask import current_app

from app import models as m
from app.extensions import db
from app.services import report_data, reports
from app.errors import InvalidInput, NotFound, PermanentError
from app.services.jobs import enqueue, job


@job("reports.generate", queue="reports", timeout=300, retries=(60, 300, 900))
def generate(client_id: int | None = None, month: str | None = None, report_id: int | None = None) -> dict:
    """Render one client's monthly PDF report (client_id + month "YYYY-MM", or report_id)."""
    try:
        if report_id is not None:
            if client_id is not None or month is not None:
                raise InvalidInput("Give report_id alone, or client_id with an optional month.")
            row = db.session.get(m.Report, int(report_id))
            if row is None:
                raise NotFound(f"There is no report with id {report_id}.")
            client_id, period = row.client_id, row.period
        elif client_id is None:
            raise InvalidInput("Give client_id (and month YYYY-MM) or report_id.")
        else:
            period = report_data.parse_month(month) if month is not None else report_data.last_complete_month()
        report = reports.generate(db.session, int(client_id), period, current_app.config)
    except (InvalidInput, NotFound) as exc:
        db.session.rollback()
        raise PermanentError(exc.message) from None
    return {"report_id": report.id, "client_id": report.client_id, "month": f"{report.period:%Y-%m}",
            "file": report.file_path}


@job("reports.monthly", queue="reports", timeout=600, retries=(60, 300))
def monthly(month: str | None = None, force: bool = False) -> dict:
    """Queue last month's report of every active client (Enterprise first)."""
    try:
        period = report_data.check_reportable(report_data.parse_month(month) if month else report_data.last_complete_month())
    except InvalidInput as exc:
        raise PermanentError(exc.message) from None
    due = reports.clients_due(db.session, period, force=bool(force))
    for client_id in due:  # the rows say "queued" until a worker takes them
        reports.request_report(db.session, client_id, period)
    db.session.commit()
    queued, failed_inline = [], {}
    for client_id in due:
        try:
            queued.append(enqueue("reports.generate", client_id=client_id, month=f"{period:%Y-%m}"))
        except Exception as exc:  # noqa: BLE001 - inline mode: that run's JobRun and Report say why
            failed_inline[str(client_id)] = f"{type(exc).__name__}: {exc}"[:300]
    summary = {"month": f"{period:%Y-%m}", "clients": len(due), "queued_runs": queued}
    if failed_inline:
        summary["failed"] = failed_inline
    return summary
