"""Incident rules: status and resolution time kept consistent, downtime minutes
derived from start and resolution (see ``apply_derived``).
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


def apply_derived(incident, status_changed: bool = False, now=None) -> None:
    """Keep status, resolution time and downtime consistent.

    - Marked ``resolved`` without a time: resolved now.
    - Given a resolution time while not resolved: it is resolved (status follows).
    - Moved out of ``resolved`` (re-opened): the resolution time is cleared.
    """
    if incident.status == IncidentStatus.RESOLVED and incident.resolved_at is None:
        incident.resolved_at = now or utcnow()
    elif incident.status != IncidentStatus.RESOLVED and incident.resolved_at is not None:
        if status_changed:
            incident.resolved_at = None
        else:
            incident.status = IncidentStatus.RESOLVED
    incident.downtime_minutes = downtime_minutes(incident.started_at, incident.resolved_at)
