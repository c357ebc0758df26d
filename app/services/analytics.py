"""The agency's figures per day (SPEC §7 "daily analytics"): one ``DailyAnalytics`` row
per date, computed from the day's rows and upserted by date (a re-run replaces it).

- clients and MRR by tier: active clients; MRR is the plan's list price (Enterprise is
  custom-priced and counts 0 until billing records a price);
- tickets opened and resolved that day; SLA compliance: of the tickets whose first
  response fell due that day, the share answered in time (``None`` when none fell due);
- incidents started that day, and the downtime of incidents resolved that day;
- ad spend and revenue of that day (``services.campaign_metrics``).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import sqlalchemy as sa

from app.models import Client, ClientStatus, DailyAnalytics, Incident, Ticket, Tier
from app.services import campaign_metrics, tiers


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def compute_day(session, day: dt.date) -> DailyAnalytics:
    start, end = _day_bounds(day)
    counts = dict(session.execute(sa.select(Client.tier, sa.func.count()).where(
        Client.status == ClientStatus.ACTIVE).group_by(Client.tier)).all())
    clients_by_tier = {tier.value: int(counts.get(tier, 0)) for tier in Tier}
    mrr_by_tier = {tier.value: str((tiers.PLANS[tier].price_brl or Decimal(0)) * clients_by_tier[tier.value])
                   for tier in Tier}
    opened = session.execute(sa.select(sa.func.count()).select_from(Ticket).where(
        Ticket.created_at >= start, Ticket.created_at < end)).scalar_one()
    resolved = session.execute(sa.select(sa.func.count()).select_from(Ticket).where(
        Ticket.resolved_at >= start, Ticket.resolved_at < end)).scalar_one()
    due, in_time = session.execute(sa.select(
        sa.func.count(), sa.func.count().filter(Ticket.first_response_at <= Ticket.first_response_due_at)
    ).where(Ticket.first_response_due_at >= start, Ticket.first_response_due_at < end)).one()
    incidents = session.execute(sa.select(sa.func.count()).select_from(Incident).where(
        Incident.started_at >= start, Incident.started_at < end)).scalar_one()
    downtime = session.execute(sa.select(sa.func.coalesce(sa.func.sum(Incident.downtime_minutes), 0)).where(
        Incident.resolved_at >= start, Incident.resolved_at < end)).scalar_one()
    ads = campaign_metrics.totals(session, date_from=day, date_to=day)

    row = session.execute(sa.select(DailyAnalytics).where(DailyAnalytics.date == day)).scalar_one_or_none()
    if row is None:
        row = DailyAnalytics(date=day)
        session.add(row)
    row.clients_by_tier = clients_by_tier
    row.mrr_by_tier = mrr_by_tier
    row.mrr_total = sum((Decimal(v) for v in mrr_by_tier.values()), Decimal(0))
    row.tickets_opened, row.tickets_resolved = int(opened), int(resolved)
    row.sla_compliance_pct = (Decimal(in_time * 100) / Decimal(due)).quantize(Decimal("0.01")) if due else None
    row.incidents, row.downtime_minutes = int(incidents), int(downtime)
    row.ad_spend, row.ad_revenue = ads["cost"], ads["revenue"]
    return row
