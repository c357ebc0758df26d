"""Incident rules: status and resolution time kept consistent, downtime minutes
derived from start and resolution (see ``apply_derived``), and the incidents an uptime
monitor opens and resolves by itself (``open_from_monitor``, ``resolve_from_monitor``;
when to call them is decided in ``services.monitoring``).
"""

from __future__ import annotations

import math

import sqlalchemy as sa

from app.models import Incident, IncidentSource, IncidentStatus, IncidentUpdate, Severity
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


# --------------------------------------------------------------------------- from monitors

def open_monitor_incident(session, monitor):
    """The monitor's unresolved incident (source ``monitor``), or None."""
    return session.execute(
        sa.select(Incident).where(Incident.monitor_id == monitor.id, Incident.source == IncidentSource.MONITOR,
                                  Incident.status != IncidentStatus.RESOLVED)
        .order_by(Incident.started_at.desc()).limit(1)).scalar_one_or_none()


def open_from_monitor(session, monitor, *, started_at, failures: int, error: str | None, now, author_id=None):
    """Open the incident of a monitor that failed ``failures`` times in a row.

    It starts at the first failed check of the streak (``started_at``), so downtime counts
    the whole outage, and its timeline begins with an ``investigating`` update."""
    reason = error or "check failed"
    incident = Incident(
        client_id=monitor.client_id, project_id=monitor.project_id, monitor_id=monitor.id,
        title=f"{monitor.url} is down"[:200],
        description=f"The uptime check failed {failures} times in a row. Last error: {reason}.",
        severity=Severity.HIGH, status=IncidentStatus.INVESTIGATING, started_at=started_at,
        source=IncidentSource.MONITOR)
    session.add(incident)
    session.add(IncidentUpdate(incident=incident, client_id=monitor.client_id, status=IncidentStatus.INVESTIGATING,
                               author_id=author_id, at=now,
                               message=f"Automatic check: {monitor.url} failed {failures} times in a row "
                                       f"({reason}). We are investigating."))
    return incident


def resolve_from_monitor(session, incident, *, recovered_at, successes: int, now, author_id=None):
    """Resolve a monitor's incident at ``recovered_at`` (its first successful check again);
    downtime minutes follow from start and resolution (``apply_derived``)."""
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = max(recovered_at, incident.started_at)
    apply_derived(incident, status_changed=True, now=now)
    minutes = incident.downtime_minutes
    session.add(IncidentUpdate(incident=incident, client_id=incident.client_id, status=IncidentStatus.RESOLVED,
                               author_id=author_id, at=now,
                               message=f"Automatic check: the site answers again ({successes} successful checks "
                                       f"in a row). Downtime: {minutes} minute{'s' if minutes != 1 else ''}."))
    if not incident.resolution_notes:
        incident.resolution_notes = "Resolved automatically: the uptime monitor recovered."
    return incident
