"""Monthly client reports (SPEC §3 Report, §2 tiers, §7 "monthly reports").

What lives here:

- ``gather(session, client, period)``: every figure of one client's month, read from the
  database as aggregates, returned as plain data (``ReportData``; money as ``Decimal``,
  ratios ``None`` instead of a division by zero). KPIs come with last month's value and
  the change; campaign KPIs are ``models.kpis`` (sums: ``services.campaign_metrics``), grades
  ``services.performance``, downtime ``services.incidents``.
- ``insights(data)``: the automated insights of Pro and Enterprise reports, one
  documented rule each (below).
- The ``Report`` row's lifecycle (``request_report`` → queued, ``generate`` → running →
  done/failed with the error), the PDF file under ``REPORT_DIR`` (the row keeps the
  path relative to it), and the "your report is ready" email to the client's owners.

What does not: drawing (``app.reports.pdf`` only draws what ``gather`` returns), doors
(CLI, views, jobs call the functions here).

Definitions (months are calendar months in UTC, like the tickets-per-month limit):

- **Uptime %**: 100 × (1 − downtime / monitored time). Monitored time is the month's
  minutes × the client's sites (projects with an uptime monitor, or with an incident in
  the month); downtime is each site's incidents clipped to the month (an incident still
  open counts until the month's end or now), overlapping incidents of one site counted
  once. Rounded down to 2 decimals, so downtime never shows as 100.00 %. Incidents, not
  raw checks: checks are pruned after ``MONITOR_CHECK_RETENTION_DAYS`` (30), so the
  first day of a 31-day month is gone when the report runs on the 1st.
- **Incidents**: incidents started in the month. **Downtime (min)**: each incident's
  time within the month in whole minutes, rounded up (``incidents.downtime_minutes``).
- **Tickets opened / resolved**: created / resolved in the month. **First-response SLA
  %**: of the tickets whose first response fell due in the month, the share answered by
  then (one decimal); plans without an SLA (Free) have none. An SLA breach is such a
  ticket answered late or not at all.
- **Ad spend, conversions, CPA, ROAS**: sums of the daily campaign metrics dated in the
  month; CPA = spend / conversions, ROAS = revenue / spend.
- **Change**: against the previous month: relative (%) for amounts and counts,
  percentage points for percentages; ``None`` when last month had nothing to compare.
- **Domains and certificates**: registrations and certificates expiring up to 60 days
  after the month's end (or already expired), as known when the report is generated.
- **Performance**: the latest measurement per project taken before the month's end.

Insight rules (Pro and Enterprise; Free and Basic reports have no insights section;
Enterprise's "priority" insights: its reports are queued first by the monthly run):

1. ``roas_drop`` — ROAS fell more than 20 % against last month (both months with spend).
2. ``sla_breach`` — at least one ticket due in the month got its first response late or
   not at all (plans with an SLA).
3. ``repeated_incidents`` — a site had 2 or more incidents start in the month.
4. ``budget_pacing`` — a campaign spent more in the month than its daily budget × the
   days it ran in the month.
5. ``certificate_expiring`` — a TLS certificate expires within 14 days of the month's
   end, or has expired.
6. ``uptime_below_target`` — uptime below 99.9 %.
Insights are ordered by severity (high first), then by rule.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from pathlib import Path

import sqlalchemy as sa

from app import models as m
from app.models.kpis import CENT, as_decimal, cpa, roas
from app.models.base import utcnow
from app.services import campaign_metrics, performance, tiers
from app.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)

MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
               "October", "November", "December")
EXPIRY_HORIZON_DAYS = 60
CERTIFICATE_WARNING_DAYS = 14
ROAS_DROP = Decimal("0.20")
REPEATED_INCIDENTS = 2
UPTIME_TARGET = Decimal("99.9")
_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")
ZERO = Decimal(0)
SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


# --------------------------------------------------------------------------- periods

def parse_month(text) -> dt.date:
    """``"2026-10"`` → ``date(2026, 10, 1)``; anything else: ``InvalidInput``."""
    match = _MONTH_RE.match(str(text or "").strip())
    if not match or not 1 <= int(match.group(2)) <= 12 or int(match.group(1)) < 2000:
        raise InvalidInput(f"The month must be written YYYY-MM (e.g. 2026-10), not {text!r}.", field="month")
    return dt.date(int(match.group(1)), int(match.group(2)), 1)


def next_month(period: dt.date) -> dt.date:
    return (period.replace(day=28) + dt.timedelta(days=4)).replace(day=1)


def previous_month(period: dt.date) -> dt.date:
    return (period.replace(day=1) - dt.timedelta(days=1)).replace(day=1)


def last_complete_month(now: dt.datetime | None = None) -> dt.date:
    return previous_month((now or utcnow()).date())


def check_reportable(period: dt.date, now: dt.datetime | None = None) -> dt.date:
    """A report covers a whole month that is over: the current or a future month is refused."""
    if period.day != 1:
        raise InvalidInput("A report period is a month: give its first day.", field="period")
    latest = last_complete_month(now)
    if period > latest:
        raise InvalidInput(f"{month_label(period)} is not over yet: reports cover whole months. The latest "
                           f"month you can report on is {latest:%Y-%m}.", field="month")
    return period


def month_label(period: dt.date) -> str:
    return f"{MONTH_NAMES[period.month - 1]} {period.year}"


def _bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
    start = dt.datetime.combine(period, dt.time(), tzinfo=dt.UTC)
    return start, dt.datetime.combine(next_month(period), dt.time(), tzinfo=dt.UTC)


# --------------------------------------------------------------------------- the data

@dataclass(frozen=True)
class Kpi:
    """One KPI card: this month, last month, the change and whether it is good news."""

    key: str
    label: str
    kind: str  # money, count, minutes, percent, ratio
    value: Decimal | int | None
    previous: Decimal | int | None
    change: Decimal | None  # relative % (money, count, minutes, ratio) or points (percent)
    change_unit: str  # "%" or "pp"
    good: bool | None  # the change is good news (None: no change to judge)
    note: str | None = None  # shown instead of a value that does not apply ("No SLA on Free")


@dataclass(frozen=True)
class Day:
    date: dt.date
    spend: Decimal
    revenue: Decimal
    conversions: Decimal
    roas: Decimal | None
    downtime_minutes: int
    incidents: int
    tickets_opened: int
    tickets_resolved: int


@dataclass(frozen=True)
class Site:
    """A monitored project and its outages within the month (timeline rows)."""

    project_id: int
    name: str
    downtime_minutes: int
    uptime_percent: Decimal
    outages: tuple  # ((start, end), ...) clipped to the month, UTC


@dataclass(frozen=True)
class IncidentRow:
    project: str
    title: str
    severity: str
    status: str
    started_at: dt.datetime
    resolved_at: dt.datetime | None
    downtime_minutes: int  # within the month


@dataclass(frozen=True)
class CampaignRow:
    name: str
    platform: str
    status: str
    impressions: int
    clicks: int
    spend: Decimal
    revenue: Decimal
    conversions: Decimal
    cpa: Decimal | None
    roas: Decimal | None
    budget_for_month: Decimal | None  # daily budget × days run in the month
    pacing_percent: Decimal | None  # spend / budget_for_month × 100


@dataclass(frozen=True)
class ExpiringItem:
    domain: str
    what: str  # "certificate" or "registration"
    expires_on: dt.date
    days_left: int  # from the generation date; negative: expired
    auto_renew: bool | None


@dataclass(frozen=True)
class GradeRow:
    project: str
    measured_at: dt.datetime
    grade: str
    score: Decimal
    lcp_s: Decimal | None
    inp_ms: int | None
    cls: Decimal | None
    performance: int
    accessibility: int
    best_practices: int
    seo: int


@dataclass(frozen=True)
class TrafficRow:
    project: str
    days: int
    bandwidth_gb: Decimal
    requests: int
    requests_2xx: int
    requests_4xx: int
    requests_5xx: int
    error_percent: Decimal | None  # 5xx share
    peak_rps: int | None


@dataclass(frozen=True)
class Insight:
    rule: str
    severity: str  # high, medium, low
    title: str
    detail: str


@dataclass(frozen=True)
class Branding:
    white_label: bool
    name: str  # who the report is "by": the agency, or the client itself (white label)
    primary_color: str  # #rrggbb
    logo_path: str | None  # absolute path of the logo image, or None


@dataclass
class ReportData:
    client_id: int
    client_name: str
    client_slug: str
    tier: str
    plan_label: str
    period: dt.date
    period_label: str
    previous_label: str
    first_day: dt.date
    last_day: dt.date
    generated_at: dt.datetime
    branding: Branding
    sla_hours: int | None
    ads_included: bool  # the plan syncs ad platforms (Free does not)
    kpis: dict[str, Kpi]
    days: list[Day]
    sites: list[Site]
    incidents: list[IncidentRow]
    campaigns: list[CampaignRow]
    expiring: list[ExpiringItem]
    expiry_horizon: dt.date
    grades: list[GradeRow]
    traffic: list[TrafficRow]
    traffic_total: TrafficRow | None
    insights: list[Insight] | None = field(default=None)  # None: the plan has no insights


AGENCY_COLOR = "#1f3a5f"


# --------------------------------------------------------------------------- gathering

def _relative_change(current, previous) -> Decimal | None:
    if current is None or previous is None:
        return None
    previous = as_decimal(previous)
    if previous == 0:
        return None
    return ((as_decimal(current) - previous) * 100 / previous).quantize(Decimal("0.1"), ROUND_HALF_UP)


def _kpi(key, label, kind, value, previous, higher_is_better: bool | None, note=None) -> Kpi:
    if kind == "percent":
        change = None if value is None or previous is None else (as_decimal(value) - as_decimal(previous)).quantize(
            Decimal("0.01"), ROUND_HALF_UP)
        unit = "pp"
    else:
        change, unit = _relative_change(value, previous), "%"
    good = None
    if change is not None and change != 0 and higher_is_better is not None:
        good = (change > 0) == higher_is_better
    elif change is None and previous is not None and as_decimal(previous) == 0 and value and higher_is_better is not None:
        good = higher_is_better  # up from nothing
    return Kpi(key, label, kind, value, previous, change, unit, good, note)


def _utc_day(session, column):
    """SQL: the UTC calendar day of a timestamp column, on PostgreSQL and SQLite."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(sa.func.timezone("UTC", column), sa.Date)
    return sa.func.date(column)


def _as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def _clip(started, resolved, start, end, now) -> tuple[dt.datetime, dt.datetime] | None:
    """The part of an outage within [start, end); an open one lasts until ``now``."""
    stop = resolved or now
    lo, hi = max(started, start), min(stop, end)
    return (lo, hi) if hi > lo else None


def _merged_seconds(intervals) -> float:
    total, current = 0.0, None
    for lo, hi in sorted(intervals):
        if current is None or lo > current[1]:
            if current is not None:
                total += (current[1] - current[0]).total_seconds()
            current = [lo, hi]
        else:
            current[1] = max(current[1], hi)
    if current is not None:
        total += (current[1] - current[0]).total_seconds()
    return total


def _minutes(seconds: float) -> int:
    return max(0, math.ceil(seconds / 60)) if seconds > 0 else 0


def _uptime(down_seconds: float, sites: int, start, end) -> Decimal | None:
    if sites == 0:
        return None
    monitored = Decimal((end - start).total_seconds() * sites)
    share = Decimal(str(down_seconds)) / monitored
    return max(ZERO, (100 * (1 - share))).quantize(Decimal("0.01"), ROUND_DOWN)


def branding_for(client, config) -> Branding:
    """Enterprise reports are white-label (the client's logo and colour, no agency name);
    every other plan carries the agency's branding."""
    plan = tiers.plan_for(client)
    if not plan.white_label:
        return Branding(False, config.get("APP_NAME") or "Atrium", config.get("REPORT_AGENCY_COLOR") or AGENCY_COLOR,
                        None)
    logo = None
    if client.brand_logo_path:
        from app.services import storage

        try:
            path = storage.path_of(client.brand_logo_path, config["UPLOAD_DIR"])
            logo = str(path) if path.is_file() else None
        except InvalidInput:
            logo = None
        if logo is None:
            log.warning("client %s: brand logo %r is missing; the report shows the name instead",
                        client.id, client.brand_logo_path)
    color = client.brand_primary_color if re.match(r"^#[0-9a-fA-F]{6}$", client.brand_primary_color or "") \
        else AGENCY_COLOR
    return Branding(True, client.name, color, logo)


def gather(session, client, period: dt.date, config=None, now: dt.datetime | None = None) -> ReportData:
    """Every figure of ``client``'s report for the month starting ``period``."""
    config = config or {"UPLOAD_DIR": "", "APP_NAME": "Atrium"}
    now = now or utcnow()
    start, end = _bounds(period)
    prev_period = previous_month(period)
    prev_start, _ = _bounds(prev_period)
    first_day, last_day = period, next_month(period) - dt.timedelta(days=1)
    prev_last = period - dt.timedelta(days=1)
    cid = client.id
    plan = tiers.plan_for(client)

    # Advertising: month and previous month totals, daily series, per campaign.
    ads = campaign_metrics.totals(session, client_id=cid, date_from=first_day, date_to=last_day)
    ads_prev = campaign_metrics.totals(session, client_id=cid, date_from=prev_period, date_to=prev_last)
    cm = m.CampaignMetric
    daily_ads = {row[0]: row[1:] for row in session.execute(
        sa.select(cm.date, sa.func.sum(cm.cost), sa.func.sum(cm.revenue), sa.func.sum(cm.conversions))
        .where(cm.client_id == cid, cm.date >= first_day, cm.date <= last_day).group_by(cm.date))}
    campaigns = _campaign_rows(session, cid, first_day, last_day)

    # Reliability: sites, incidents of this and last month.
    sites, incident_rows, down, counts = _reliability(session, cid, start, end, prev_start, now)

    # Support.
    t = m.Ticket
    in_month = lambda col, lo, hi: sa.and_(col >= lo, col < hi)  # noqa: E731
    answered = t.first_response_at <= t.first_response_due_at
    tk = session.execute(sa.select(
        sa.func.count().filter(in_month(t.created_at, start, end)),
        sa.func.count().filter(in_month(t.resolved_at, start, end)),
        sa.func.count().filter(in_month(t.first_response_due_at, start, end)),
        sa.func.count().filter(sa.and_(in_month(t.first_response_due_at, start, end), answered)),
        sa.func.count().filter(in_month(t.created_at, prev_start, start)),
        sa.func.count().filter(in_month(t.resolved_at, prev_start, start)),
        sa.func.count().filter(in_month(t.first_response_due_at, prev_start, start)),
        sa.func.count().filter(sa.and_(in_month(t.first_response_due_at, prev_start, start), answered)),
    ).where(t.client_id == cid, sa.or_(t.created_at >= prev_start, t.resolved_at >= prev_start,
                                       t.first_response_due_at >= prev_start))).one()
    opened, resolved, due, in_time, p_opened, p_resolved, p_due, p_in_time = (int(x or 0) for x in tk)
    opened_by_day = _count_by_day(session, t.created_at, t.client_id == cid, start, end)
    resolved_by_day = _count_by_day(session, t.resolved_at, t.client_id == cid, start, end)
    sla = _share(in_time, due)
    sla_prev = _share(p_in_time, p_due)

    # Days of the month (every day present, zeros where nothing happened).
    days = []
    day = first_day
    while day <= last_day:
        spend, revenue, conversions = (as_decimal(x) for x in daily_ads.get(day, (0, 0, 0)))
        days.append(Day(day, spend.quantize(CENT), revenue.quantize(CENT),
                        conversions, roas(revenue, spend), counts["downtime_by_day"].get(day, 0),
                        counts["incidents_by_day"].get(day, 0), opened_by_day.get(day, 0),
                        resolved_by_day.get(day, 0)))
        day += dt.timedelta(days=1)

    no_sla = None if plan.first_response_sla_hours else f"No first-response SLA on the {plan.label} plan"
    kpis = {k.key: k for k in (
        _kpi("uptime", "Uptime", "percent", down["uptime"], down["uptime_prev"], True,
             None if down["uptime"] is not None else "No monitored sites"),
        _kpi("incidents", "Incidents", "count", counts["incidents"], counts["incidents_prev"], False),
        _kpi("downtime", "Downtime (min)", "minutes", down["minutes"], down["minutes_prev"], False),
        _kpi("tickets_opened", "Tickets opened", "count", opened, p_opened, None),
        _kpi("tickets_resolved", "Tickets resolved", "count", resolved, p_resolved, True),
        _kpi("sla", "First-response SLA", "percent", sla if not no_sla else None,
             sla_prev if not no_sla else None, True, no_sla or (None if sla is not None else "No ticket fell due")),
        _kpi("spend", "Ad spend", "money", ads["cost"], ads_prev["cost"], None),
        _kpi("conversions", "Conversions", "count", ads["conversions"], ads_prev["conversions"], True),
        _kpi("cpa", "Cost per conversion (CPA)", "money", ads["cpa"], ads_prev["cpa"], False,
             None if ads["cpa"] is not None else "No conversions"),
        _kpi("roas", "Return on ad spend (ROAS)", "ratio", ads["roas"], ads_prev["roas"], True,
             None if ads["roas"] is not None else "No ad spend"),
    )}
    # The rules of insights read these two as well.
    kpis["breaches"] = _kpi("breaches", "SLA breaches", "count", (due - in_time) if not no_sla else 0,
                            (p_due - p_in_time) if not no_sla else 0, False)
    kpis["sites"] = Kpi("sites", "Sites monitored", "count", len(sites), None, None, "%", None)
    kpis["revenue"] = _kpi("revenue", "Ad revenue", "money", ads["revenue"], ads_prev["revenue"], True)

    horizon = last_day + dt.timedelta(days=EXPIRY_HORIZON_DAYS)
    traffic, traffic_total = _traffic(session, cid, first_day, last_day)
    data = ReportData(
        client_id=cid, client_name=client.name, client_slug=client.slug, tier=str(client.tier),
        plan_label=plan.label, period=period, period_label=month_label(period),
        previous_label=month_label(prev_period), first_day=first_day, last_day=last_day, generated_at=now,
        branding=branding_for(client, config), sla_hours=plan.first_response_sla_hours,
        ads_included=bool(plan.ad_platforms), kpis=kpis, days=days,
        sites=sites, incidents=incident_rows, campaigns=campaigns,
        expiring=_expiring(session, cid, horizon, now), expiry_horizon=horizon,
        grades=_grades(session, cid, end), traffic=traffic, traffic_total=traffic_total)
    if plan.insights:
        data.insights = insights(data)
    return data


def _share(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), ROUND_HALF_UP) if whole else None


def _count_by_day(session, column, tenant, start, end) -> dict[dt.date, int]:
    day = _utc_day(session, column)
    return {_as_date(d): int(n) for d, n in session.execute(
        sa.select(day, sa.func.count()).where(tenant, column >= start, column < end).group_by(day))}


def _campaign_rows(session, cid, first_day, last_day) -> list[CampaignRow]:
    cm, c = m.CampaignMetric, m.Campaign
    spend = sa.func.sum(cm.cost)
    rows = session.execute(
        sa.select(c.name, c.platform, c.status, c.budget_daily, c.start_date, c.end_date,
                  sa.func.sum(cm.impressions), sa.func.sum(cm.clicks), spend, sa.func.sum(cm.revenue),
                  sa.func.sum(cm.conversions))
        .join(c, c.id == cm.campaign_id)
        .where(cm.client_id == cid, cm.date >= first_day, cm.date <= last_day)
        .group_by(c.id, c.name, c.platform, c.status, c.budget_daily, c.start_date, c.end_date)
        .order_by(spend.desc(), c.name)).all()
    result = []
    for name, platform, status, daily, started, ended, imp, clk, cost, rev, conv in rows:
        cost, rev, conv = as_decimal(cost).quantize(CENT), as_decimal(rev).quantize(CENT), as_decimal(conv)
        budget = pacing = None
        if daily:
            lo, hi = max(first_day, started or first_day), min(last_day, ended or last_day)
            ran = max(0, (hi - lo).days + 1)
            budget = (as_decimal(daily) * ran).quantize(CENT)
            pacing = (cost * 100 / budget).quantize(Decimal("0.1"), ROUND_HALF_UP) if budget else None
        result.append(CampaignRow(name, str(platform), str(status), int(imp or 0), int(clk or 0), cost, rev, conv,
                                  cpa(cost, conv), roas(rev, cost), budget, pacing))
    return result


def _reliability(session, cid, start, end, prev_start, now):
    from app.services import incidents as incident_rules

    i, p, mon = m.Incident, m.Project, m.Monitor
    rows = session.execute(
        sa.select(i.project_id, p.name, i.title, i.severity, i.status, i.started_at, i.resolved_at)
        .join(p, p.id == i.project_id)
        .where(i.client_id == cid, i.started_at < end, sa.or_(i.resolved_at.is_(None), i.resolved_at >= prev_start))
        .order_by(i.started_at)).all()
    monitored = dict(session.execute(
        sa.select(p.id, p.name).where(p.client_id == cid, sa.exists().where(mon.project_id == p.id))).all())
    site_names = dict(monitored)
    for row in rows:
        if row.started_at < end and (row.resolved_at or now) > start:
            site_names.setdefault(row.project_id, row.name)
    prev_sites = set(monitored) | {r.project_id for r in rows if r.started_at < start
                                   and (r.resolved_at or now) > prev_start}

    current, previous = {}, {}
    incident_rows, by_day_minutes, by_day_count, per_project = [], {}, {}, {}
    minutes_total = minutes_prev = 0
    incidents_prev = 0
    for row in rows:
        this = _clip(row.started_at, row.resolved_at, start, end, now)
        before = _clip(row.started_at, row.resolved_at, prev_start, start, now)
        if before is not None:
            previous.setdefault(row.project_id, []).append(before)
            minutes_prev += incident_rules.downtime_minutes(*before)
        if prev_start <= row.started_at < start:
            incidents_prev += 1
        if this is not None:
            current.setdefault(row.project_id, []).append(this)
            minutes = incident_rules.downtime_minutes(*this)
            minutes_total += minutes
            # Downtime per day of the timeline chart: split at midnight (UTC).
            lo, hi = this
            while lo < hi:
                midnight = dt.datetime.combine(lo.date() + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
                piece = min(hi, midnight)
                by_day_minutes[lo.date()] = by_day_minutes.get(lo.date(), 0) + (piece - lo).total_seconds() / 60
                lo = piece
            if row.started_at >= start:
                by_day_count[row.started_at.date()] = by_day_count.get(row.started_at.date(), 0) + 1
                per_project[row.project_id] = per_project.get(row.project_id, 0) + 1
            incident_rows.append(IncidentRow(row.name, row.title, str(row.severity), str(row.status),
                                             row.started_at, row.resolved_at, minutes))
    sites = []
    for project_id, name in sorted(site_names.items(), key=lambda item: item[1]):
        seconds = _merged_seconds(current.get(project_id, []))
        sites.append(Site(project_id, name, _minutes(seconds), _uptime(seconds, 1, start, end),
                          tuple(sorted(current.get(project_id, [])))))
    down_now = sum(_merged_seconds(v) for v in current.values())
    down_before = sum(_merged_seconds(v) for k, v in previous.items())
    down = {"uptime": _uptime(down_now, len(site_names), start, end),
            "uptime_prev": _uptime(down_before, len(prev_sites), prev_start, start),
            "minutes": minutes_total, "minutes_prev": minutes_prev}
    counts = {"incidents": sum(per_project.values()), "incidents_prev": incidents_prev,
              "downtime_by_day": {d: math.ceil(v) for d, v in by_day_minutes.items()},
              "incidents_by_day": by_day_count}
    return sites, incident_rows, down, counts


def _expiring(session, cid, horizon: dt.date, now) -> list[ExpiringItem]:
    d = m.Domain
    horizon_at = dt.datetime.combine(horizon + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    rows = session.execute(
        sa.select(d.name, d.ssl_expires_at, d.renewal_date, d.auto_renew)
        .where(d.client_id == cid, sa.or_(d.ssl_expires_at < horizon_at, d.renewal_date <= horizon))).all()
    today = now.date()
    items = []
    for name, ssl_at, renewal, auto_renew in rows:
        if ssl_at is not None and ssl_at < horizon_at:
            items.append(ExpiringItem(name, "certificate", ssl_at.date(), (ssl_at.date() - today).days, None))
        if renewal is not None and renewal <= horizon:
            items.append(ExpiringItem(name, "registration", renewal, (renewal - today).days, bool(auto_renew)))
    return sorted(items, key=lambda item: (item.expires_on, item.domain, item.what))


def _grades(session, cid, end) -> list[GradeRow]:
    pm, p = m.PerformanceMetric, m.Project
    latest = (sa.select(pm.project_id, sa.func.max(pm.measured_at).label("at"))
              .where(pm.client_id == cid, pm.measured_at < end).group_by(pm.project_id).subquery())
    rows = session.execute(
        sa.select(p.name, pm).join(latest, sa.and_(latest.c.project_id == pm.project_id, latest.c.at == pm.measured_at))
        .join(p, p.id == pm.project_id).order_by(p.name, pm.id)).all()
    seen, result = set(), []
    for name, metric in rows:
        if metric.project_id in seen:
            continue
        seen.add(metric.project_id)
        result.append(GradeRow(
            name, metric.measured_at, str(performance.grade_metric(metric)),
            performance.score(metric.lighthouse_performance, metric.lighthouse_accessibility,
                              metric.lighthouse_best_practices, metric.lighthouse_seo).quantize(Decimal("0.1")),
            metric.lcp_s, metric.inp_ms, metric.cls, metric.lighthouse_performance,
            metric.lighthouse_accessibility, metric.lighthouse_best_practices, metric.lighthouse_seo))
    return result


def _traffic(session, cid, first_day, last_day) -> tuple[list[TrafficRow], TrafficRow | None]:
    n, p = m.NetworkUsage, m.Project
    rows = session.execute(
        sa.select(p.name, sa.func.count(), sa.func.sum(n.bandwidth_gb), sa.func.sum(n.requests_total),
                  sa.func.sum(n.requests_2xx), sa.func.sum(n.requests_4xx), sa.func.sum(n.requests_5xx),
                  sa.func.max(n.peak_rps))
        .join(p, p.id == n.project_id)
        .where(n.client_id == cid, n.date >= first_day, n.date <= last_day)
        .group_by(p.id, p.name).order_by(p.name)).all()

    def row(name, days, gb, total, ok, e4, e5, peak):
        total, e5 = int(total or 0), int(e5 or 0)
        return TrafficRow(name, int(days or 0), as_decimal(gb).quantize(Decimal("0.001")), total, int(ok or 0),
                          int(e4 or 0), e5, (Decimal(e5) * 100 / total).quantize(Decimal("0.01")) if total else None,
                          None if peak is None else int(peak))

    result = [row(*r) for r in rows]
    if not result:
        return [], None
    peaks = [r.peak_rps for r in result if r.peak_rps is not None]
    total = row("All sites", max(r.days for r in result), sum(r.bandwidth_gb for r in result),
                sum(r.requests for r in result), sum(r.requests_2xx for r in result),
                sum(r.requests_4xx for r in result), sum(r.requests_5xx for r in result), max(peaks) if peaks else None)
    return result, total


# --------------------------------------------------------------------------- insights

def _money(value: Decimal) -> str:
    return f"R$ {value:,.2f}"


def insights(data: ReportData) -> list[Insight]:
    """The rules of the module docstring, applied to gathered figures (no queries)."""
    found = []
    k = data.kpis
    roas, roas_prev = k["roas"].value, k["roas"].previous
    if roas is not None and roas_prev and roas < roas_prev * (1 - ROAS_DROP):
        drop = ((roas_prev - roas) * 100 / roas_prev).quantize(Decimal("1"), ROUND_HALF_UP)
        found.append(Insight("roas_drop", "high", f"Return on ad spend fell {drop}% against {data.previous_label}",
                             f"ROAS went from {roas_prev:.2f}x to {roas:.2f}x. Review the campaigns with the lowest "
                             f"ROAS below and move budget to the ones that convert."))
    breaches = k["breaches"].value or 0
    if data.sla_hours and breaches:
        found.append(Insight("sla_breach", "high",
                             f"{breaches} ticket{'s' if breaches != 1 else ''} missed the {data.sla_hours}-hour "
                             f"first-response SLA",
                             f"First-response compliance was {k['sla'].value}% in {data.period_label}. Your account "
                             f"manager will review what delayed the replies."))
    per_site = {}
    for row in data.incidents:
        if row.started_at.date() >= data.first_day:
            per_site[row.project] = per_site.get(row.project, 0) + 1
    for site, count in sorted(per_site.items()):
        if count >= REPEATED_INCIDENTS:
            minutes = sum(r.downtime_minutes for r in data.incidents if r.project == site)
            found.append(Insight("repeated_incidents", "high", f"{site} had {count} incidents this month",
                                 f"{minutes} minutes of downtime in total. Repeated outages on one site point to a "
                                 f"common cause worth a root-cause review."))
    for row in data.campaigns:
        if row.pacing_percent is not None and row.pacing_percent > 100:
            found.append(Insight("budget_pacing", "medium", f"{row.name} spent above its budget",
                                 f"{_money(row.spend)} against a budget of {_money(row.budget_for_month)} for the days "
                                 f"it ran ({row.pacing_percent:,}% of budget). Check the platform's daily budget and "
                                 f"bid settings."))
    cutoff = data.last_day + dt.timedelta(days=CERTIFICATE_WARNING_DAYS)
    for item in data.expiring:
        if item.what == "certificate" and item.expires_on <= cutoff:
            expired = item.days_left < 0
            found.append(Insight("certificate_expiring", "high",
                                 f"The TLS certificate of {item.domain} {'has expired' if expired else 'expires soon'}",
                                 f"It {'expired' if expired else 'expires'} on {item.expires_on:%d %b %Y}. Visitors see "
                                 f"a security warning once it lapses; we will renew it before then."))
    uptime = k["uptime"].value
    if uptime is not None and uptime < UPTIME_TARGET:
        found.append(Insight("uptime_below_target", "medium", f"Uptime was {uptime}%, below the {UPTIME_TARGET}% target",
                             f"{k['downtime'].value} minutes of downtime across {len(data.sites)} "
                             f"site{'s' if len(data.sites) != 1 else ''}."))
    order = ["roas_drop", "sla_breach", "repeated_incidents", "certificate_expiring", "uptime_below_target",
             "budget_pacing"]
    return sorted(found, key=lambda i: (SEVERITY_ORDER[i.severity], order.index(i.rule)))


# --------------------------------------------------------------------------- the Report row

def client_by_slug(session, slug: str) -> m.Client:
    client = session.execute(sa.select(m.Client).where(m.Client.slug == (slug or "").strip())).scalar_one_or_none()
    if client is None:
        raise NotFound(f"There is no client with the slug {slug!r}.", field="client")
    return client


def request_report(session, client_id: int, period: dt.date) -> m.Report:
    """The client's Report row for ``period``, queued for generation (created when new).
    Not committed. A done report stays downloadable until its new file replaces it."""
    report = session.execute(sa.select(m.Report).where(m.Report.client_id == client_id, m.Report.period == period)
                             ).scalar_one_or_none()
    if report is None:
        report = m.Report(client_id=client_id, period=period)
        session.add(report)
    report.status, report.error = m.ReportStatus.QUEUED, None
    return report


def _report_dir(config) -> Path:
    return Path(config.get("REPORT_DIR") or "instance/reports")


def _stored(relative: str | None, config) -> Path | None:
    """``REPORT_DIR / relative`` when that file exists and stays under ``REPORT_DIR``."""
    if not relative:
        return None
    root = _report_dir(config).resolve()
    path = (root / relative).resolve()
    if root not in path.parents:
        return None
    return path if path.is_file() else None


def file_of(report, config) -> Path | None:
    """The PDF of a report on disk (under ``REPORT_DIR``), or None when there is none."""
    return _stored(report.file_path, config)


def pdf_to_send(session, report, config) -> tuple[Path, str]:
    """The report's PDF on disk and the file name to download it as, for every door
    (staff console, portal); ``NotFound`` saying why when there is none to send."""
    path = file_of(report, config) if report.status == m.ReportStatus.DONE else None
    if path is None:
        raise NotFound(f"The report for {report.period:%Y-%m} has no PDF yet (status: {report.status}).")
    return path, download_name(session, report)


def download_name(session, report) -> str:
    """``pro-co-report-2026-10.pdf``: the client's name, never the agency's (white label)."""
    slug = session.execute(sa.select(m.Client.slug).where(m.Client.id == report.client_id)).scalar_one_or_none()
    return f"{slug or 'client'}-report-{report.period:%Y-%m}.pdf"


def _relative_path(client, period: dt.date) -> str:
    return f"{client.id}/{client.slug}-{period:%Y-%m}.pdf"


def generate(session, client_id: int, period: dt.date, config, now: dt.datetime | None = None) -> m.Report:
    """Render the client's report for ``period`` and keep the row true: running, then done
    (file, generated at) or failed (error; raised again). Idempotent: the same row and
    file are replaced. Commits."""
    from app.reports import pdf

    client = session.get(m.Client, client_id)
    if client is None:
        raise NotFound(f"There is no client with id {client_id}.", field="client")
    check_reportable(period, now)
    report = request_report(session, client.id, period)
    report.status = m.ReportStatus.RUNNING
    session.commit()
    report_id, old_path = report.id, report.file_path
    try:
        data = gather(session, client, period, config, now)
        relative = _relative_path(client, period)
        target = _report_dir(config) / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=".render-", suffix=".pdf")
        try:
            with os.fdopen(handle, "wb") as out:
                pdf.render(data, out)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        report = session.get(m.Report, report_id)
        report.status, report.file_path, report.error = m.ReportStatus.DONE, relative, None
        report.generated_at = data.generated_at
        _notify_ready(session, client, report, data)
        session.commit()
    except Exception as exc:
        session.rollback()
        report = session.get(m.Report, report_id)
        report.status, report.error = m.ReportStatus.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
        session.commit()
        raise
    if old_path and old_path != relative:  # the client's slug changed: the old file goes
        old = _stored(old_path, config)
        if old is not None:
            old.unlink(missing_ok=True)
    return report


def _notify_ready(session, client, report, data: ReportData) -> int:
    from app.services import notifications

    # White label: the email names no agency either.
    prefix = "" if data.branding.white_label else f"[{data.branding.name}] "
    return notifications.notify(
        session, kind="report_ready", recipients=notifications.client_owners(session, client.id),
        subject=f"{prefix}Your {data.period_label} report is ready",
        body=(f"Hello,\n\nThe monthly report of {client.name} for {data.period_label} is ready. "
              f"Download it from the Reports page of your portal.\n"),
        client_id=client.id, dedupe_key=f"report:{report.id}:{report.period:%Y-%m}")


def clients_due(session, period: dt.date, force: bool = False) -> list[int]:
    """Active clients whose report for ``period`` is not done yet (all of them with
    ``force``), Enterprise first (their insights are "priority"), then by name."""
    rank = sa.case({m.Tier.ENTERPRISE.value: 0, m.Tier.PRO.value: 1, m.Tier.BASIC.value: 2}, value=m.Client.tier,
                   else_=3)
    query = sa.select(m.Client.id).where(m.Client.status == m.ClientStatus.ACTIVE).order_by(rank, m.Client.name)
    if not force:
        done = sa.select(m.Report.client_id).where(m.Report.period == period, m.Report.status == m.ReportStatus.DONE)
        query = query.where(m.Client.id.not_in(done))
    return list(session.execute(query).scalars())
