"""The monthly report's PDF as a download, for the staff and portal report views (each
finds the report its own way: staff any, a client user only their own)."""

from __future__ import annotations

from flask import abort, current_app, send_file

from app.errors import NotFound
from app.extensions import db
from app.services import reports


def report_pdf(report, hint: str):
    """``report``'s PDF (``services.reports.pdf_to_send``); a report without one is a 404
    whose message ends with ``hint`` (what this person can do about it)."""
    try:
        path, name = reports.pdf_to_send(db.session, report, current_app.config)
    except NotFound as exc:
        abort(404, description=f"{exc.message} {hint}")
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=name)
