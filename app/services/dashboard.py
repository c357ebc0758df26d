"""Figures for the staff home dashboard (SPEC §4): open tickets by SLA state, monitors
down, open incidents, domains and certificates expiring in 30 days, ad spend this month.
A handful of aggregate queries; no per-row work.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from app.models import (
    Domain, Incident, IncidentStatus, Monitor, MonitorState, SLAState, Ticket,
    TicketStatus,
)
from app.models.base import utcnow
from app.services import campaign_metrics

OPEN_TICKET_STATUSES = (TicketStatus.OPEN, TicketStatus.IN_PROGRESS, TicketStatus.WAITING_CLIENT)


def staff_summary(session, now: dt.datetime | None = None) -> dict:
    now = now or utcnow()
    horizon = now + dt.timedelta(days=30)
    month_start = now.date().replace(day=1)

    by_sla = dict(session.execute(
        sa.select(Ticket.sla_state, sa.func.count())
        .where(Ticket.status.in_(OPEN_TICKET_STATUSES))
        .group_by(Ticket.sla_state)
    ).all())
    monitors_down = session.execute(
        sa.select(sa.func.count()).select_from(Monitor)
        .where(Monitor.enabled.is_(True), Monitor.state == MonitorState.DOWN)
    ).scalar_one()
    open_incidents = session.execute(
        sa.select(sa.func.count()).select_from(Incident).where(Incident.status != IncidentStatus.RESOLVED)
    ).scalar_one()
    certs = session.execute(
        sa.select(Domain.name, Domain.ssl_expires_at).where(
            Domain.ssl_expires_at.is_not(None), Domain.ssl_expires_at <= horizon)
        .order_by(Domain.ssl_expires_at).limit(20)
    ).all()
    domains = session.execute(
        sa.select(Domain.name, Domain.renewal_date).where(
            Domain.renewal_date.is_not(None), Domain.renewal_date <= horizon.date())
        .order_by(Domain.renewal_date).limit(20)
    ).all()
    spend = campaign_metrics.totals(session, date_from=month_start)["cost"]
    return {
        "tickets_by_sla": {state.value: int(by_sla.get(state, 0)) for state in SLAState},
        "monitors_down": int(monitors_down),
        "open_incidents": int(open_incidents),
        "certificates_expiring": certs,
        "domains_expiring": domains,
        "ad_spend_this_month": spend,
        "month_start": month_start,
    }
