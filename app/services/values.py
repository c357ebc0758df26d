"""Values as JSON keeps them (``plain``): what the audit trail stores, its exports show
and the GDPR export writes, read back identically from SQLite JSON and PostgreSQL JSONB.
(The backup writes its own, exact and reversible: ``services.backup._dump``.)"""

from __future__ import annotations

import datetime as dt
import decimal
import enum


def plain(value):
    """A JSON value that reads back identically from SQLite JSON and PostgreSQL JSONB."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, float)):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [plain(v) for v in value]
    return str(value)
