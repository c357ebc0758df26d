"""What every CSV export shares (SPEC §6): one cell format (secrets masked by field
name, times as ISO 8601 UTC, formulas neutralised), a streamed writer, and the audit
event each export records before its first row is sent."""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import enum
import io
import json

from sqlalchemy.orm import Session

from app.services.audit import record
from app.services.secrets import MASK, is_secret
from app.services.values import plain


# The audit log's CSV columns (``AuditEventView.export_columns``): the list's, plus who
# and from where, the per-field changes and the hash.
CSV_COLUMNS = ("seq", "occurred_at", "action", "resource_type", "resource_id", "client_id", "actor_id",
               "true_user_id", "impersonation_session_id", "channel", "ip", "request_id", "changes", "details",
               "redacted", "hash")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value):
    """Text a spreadsheet would run as a formula is prefixed with an apostrophe."""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
        return "'" + value
    return value


def csv_cell(field: str, value) -> str:
    """One value of an export as CSV text, the same way for every export (SPEC §6):
    secrets masked by field name (as in the audit trail), times as ISO 8601 UTC to the
    second, dates ISO, yes/no, JSON documents, numbers as they are, and any text that a
    spreadsheet would run as a formula (= + - @, tab, CR) prefixed with an apostrophe."""
    if value is None:
        return ""
    if is_secret(field):
        return MASK
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, (dict, list)):
        value = json.dumps(plain(value), sort_keys=True, ensure_ascii=False)
    return _spreadsheet_safe(str(value))


def csv_stream(header, rows, batch: int = 500):
    """CSV text in chunks of ``batch`` rows: the header, then each row of ``rows`` (an
    iterable of already converted cells, see ``csv_cell``), without holding them all."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_spreadsheet_safe(str(h)) for h in header])
    pending = 0
    for row in rows:
        writer.writerow(row)
        pending += 1
        if pending >= batch:
            yield out.getvalue()
            out.seek(0)
            out.truncate()
            pending = 0
    yield out.getvalue()


def record_export(session: Session, resource_type: str, *, rows: int, action: str = "export",
                  client_id: int | None = None, details: dict | None = None, commit: bool = True) -> None:
    """The audit event of an export (SPEC §6): what was exported and how many rows, by
    whom (the identity of the request, the true user while viewing as someone)."""
    record(session, action, commit=commit, resource_type=resource_type, client_id=client_id,
           details={"rows": rows, **(details or {})})
