"""What a client user's dashboard shows (SPEC §4), computed in a fixed handful of queries.

Every query runs under the caller's tenancy (``app.tenancy.guard``): no function here
filters by client itself, so none can forget to. Figures: projects with progress and
upcoming milestones; uptime this month (share of successful checks) and this month's
incidents; tickets opened this month against the plan's limit, and open tickets;
storage used against the limit; the last 30 days of campaign figures with KPIs and a
daily series for the charts; domains and certificates expiring within 30 days.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from app import models as m
from app.models.base import utcnow
from app.models import kpis
from app.services import tiers

OPEN_STATUSES = ("open", "in_progress", "waiting_client")
CHART_DAYS = 30


def client_dashboard(session, client_id: int, now: dt.datetime | None = None) -> dict:
    now = now or utcnow()
    month_start = tiers.month_start(now)
    today = now.date()
    horizon = now + dt.timedelta(days=30)

    # Usage figures use the tier service's own definitions (``tiers.usage``), folded
    # into this page's statements.
    client, storage = session.execute(
        sa.select(m.Client, tiers.storage_used(m.Client.id)).where(m.Client.id == client_id)).one()

    # Projects with their pending milestones, in one statement.
    rows = session.execute(
        sa.select(m.Project.id, m.Project.name, m.Project.status, m.Project.completion_percent,
                  m.Project.estimated_delivery, m.Milestone.title, m.Milestone.due_date)
        .outerjoin(m.Milestone, sa.and_(m.Milestone.project_id == m.Project.id, m.Milestone.completed_at.is_(None)))
        .order_by(m.Project.name)).all()
    projects = list({row.id: {"id": row.id, "name": row.name, "status": row.status,
                              "completion_percent": row.completion_percent,
                              "estimated_delivery": row.estimated_delivery} for row in rows}.values())
    milestones = sorted(((row.title, row.due_date, row.name) for row in rows if row.title is not None),
                        key=lambda item: (item[1] is None, item[1] or dt.date.max))[:8]

    checks, ok_checks = session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(sa.case((m.MonitorCheck.ok, 1), else_=0)), 0))
        .where(m.MonitorCheck.checked_at >= month_start)).one()
    incidents = session.execute(
        sa.select(m.Incident.id, m.Incident.title, m.Incident.severity, m.Incident.status, m.Incident.started_at,
                  m.Incident.downtime_minutes)
        .where(sa.or_(m.Incident.started_at >= month_start, m.Incident.status != m.IncidentStatus.RESOLVED))
        .order_by(m.Incident.started_at.desc()).limit(10)).all()

    opened_this_month, open_tickets = session.execute(sa.select(
        sa.func.count().filter(tiers.opened_this_month(now)),
        sa.func.count().filter(m.Ticket.status.in_(OPEN_STATUSES)))).one()

    first_day = today - dt.timedelta(days=CHART_DAYS - 1)
    daily = session.execute(
        sa.select(m.CampaignMetric.date, sa.func.sum(m.CampaignMetric.impressions),
                  sa.func.sum(m.CampaignMetric.clicks), sa.func.sum(m.CampaignMetric.conversions),
                  sa.func.sum(m.CampaignMetric.cost), sa.func.sum(m.CampaignMetric.revenue))
        .where(m.CampaignMetric.date >= first_day, m.CampaignMetric.date <= today)
        .group_by(m.CampaignMetric.date).order_by(m.CampaignMetric.date)).all()

    expiring = session.execute(
        sa.select(m.Domain.name, m.Domain.ssl_expires_at, m.Domain.renewal_date)
        .where(sa.or_(m.Domain.ssl_expires_at <= horizon, m.Domain.renewal_date <= horizon.date()))
        .order_by(m.Domain.name)).all()

    return {
        "client": client,
        "plan": tiers.plan_for(client).label,
        "projects": projects,
        "milestones": milestones,
        "uptime_percent": None if not checks else round(Decimal(ok_checks) * 100 / checks, 2),
        "checks_this_month": int(checks),
        "incidents": incidents,
        "tickets": {"used": int(opened_this_month), "limit": tiers.limit_for(client, "tickets_per_month"),
                    "open": int(open_tickets)},
        "storage": {"used": int(storage), "limit": tiers.limit_for(client, "storage_bytes"),
                    "used_text": tiers.human_bytes(int(storage)),
                    "limit_text": None if tiers.limit_for(client, "storage_bytes") is None
                    else tiers.human_bytes(tiers.limit_for(client, "storage_bytes"))},
        "campaigns": _campaign_figures(daily, first_day, today),
        "expiring": [{"name": name, "certificate": ssl if ssl is not None and ssl <= horizon else None,
                      "renewal": renew if renew is not None and renew <= horizon.date() else None}
                     for name, ssl, renew in expiring],
        "month_start": month_start,
    }


def _campaign_figures(daily, first_day: dt.date, last_day: dt.date) -> dict:
    by_day = {row[0]: row[1:] for row in daily}
    series = {"labels": [], "cost": [], "revenue": [], "clicks": [], "conversions": []}
    impressions = clicks = 0
    conversions = cost = revenue = Decimal(0)
    day = first_day
    while day <= last_day:
        imp, clk, conv, cst, rev = by_day.get(day, (0, 0, 0, 0, 0))
        imp, clk = int(imp or 0), int(clk or 0)
        conv, cst, rev = Decimal(conv or 0), Decimal(cst or 0), Decimal(rev or 0)
        impressions, clicks, conversions, cost, revenue = (impressions + imp, clicks + clk, conversions + conv,
                                                           cost + cst, revenue + rev)
        series["labels"].append(day.isoformat())
        series["cost"].append(float(cst))
        series["revenue"].append(float(rev))
        series["clicks"].append(clk)
        series["conversions"].append(float(conv))
        day += dt.timedelta(days=1)
    return {
        "has_data": bool(daily),
        "impressions": impressions, "clicks": clicks, "conversions": conversions,
        "cost": cost.quantize(kpis.CENT), "revenue": revenue.quantize(kpis.CENT),
        "ctr": kpis.ctr(clicks, impressions), "cpc": kpis.cpc(cost, clicks),
        "cpa": kpis.cpa(cost, conversions), "roas": kpis.roas(revenue, cost),
        "series": series,
    }
