"""Ticket jobs: the SLA watch (every 5 minutes, SPEC §7). The rules are
``services.tickets``; this module only runs them and reports what changed."""

from __future__ import annotations

from app.extensions import db
from app.services import tickets
from app.services.jobs import job


@job("tickets.sla_watch", queue="default", timeout=120, retries=(30, 120))
def sla_watch() -> dict:
    """Mark open tickets at_risk / breached by their first-response SLA."""
    changed = tickets.watch_sla(db.session)
    db.session.commit()
    return {"changed": len(changed), "at_risk": sum(t.sla_state == "at_risk" for t in changed),
            "breached": sum(t.sla_state == "breached" for t in changed)}
