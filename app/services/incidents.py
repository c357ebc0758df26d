"""Incident rules: downtime minutes derived from start and resolution, and the
resolution time stamped when an incident is marked resolved.
"""

from __future__ import annotations

import math

from app.models import IncidentStatus
from app.models.base import utcnow


def downtime_minutes(started_at, resolved_at) -> int | None:
    """Whole minutes between start and resolution, rounded up; None while open."""
    if started_at is None or resolved_at is None:
        return None
    seconds = (resolved_at - started_at).total_seconds()
    return max(0, math.ceil(seconds / 60))


def apply_derived(incident, now=None) -> None:
    if incident.status == IncidentStatus.RESOLVED and incident.resolved_at is None:
        incident.resolved_at = now or utcnow()
    if incident.status != IncidentStatus.RESOLVED and incident.resolved_at is not None and incident.status:
        # Re-opened: it is no longer resolved.
        incident.resolved_at = None
    incident.downtime_minutes = downtime_minutes(incident.started_at, incident.resolved_at)
