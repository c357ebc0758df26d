"""A monthly client report's figures, read from the database
(``gather`` -> ``report_data.ReportData``), and the insights drawn from them
(``insights``). Reads only; the Report row, its file and its mail are
``services.reports``'. Its words (KPI names, notes, insights) and figures are written in
the language in effect: ``services.reports`` gathers inside ``force_locale``."""

from __future__ import annotations

import datetime as dt
import logging
import math
import re
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

import sqlalchemy as sa
from flask_babel import gettext as _
from flask_babel import ngettext

from app import models as m
from app.i18n import date, money, number, percent
from app.errors import InvalidInput
from app.models.base import utcnow
from app.models.kpis import CENT, as_decimal, cpa, roas
from app.services import campaign_metrics, performance, storage, tiers
from app.services import incidents as incident_rules
from app.services.report_data import (
    AGENCY_COLOR,
    CERTIFICATE_WARNING_DAYS,
    EXPIRY_HORIZON_DAYS,
    REPEATED_INCIDENTS,
    ROAS_DROP,
    SEVERITY_ORDER,
    UPTIME_TARGET,
    ZERO,
    Branding,
    CampaignRow,
    Day,
    ExpiringItem,
    GradeRow,
    IncidentRow,
    Insight,
    Kpi,
    ReportData,
    Site,
    TrafficRow,
    month_bounds,
    month_label,
    next_month,
    previous_month,
)

log = logging.getLogger(__name__)

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
    start, end = month_bounds(period)
    prev_period = previous_month(period)
    prev_start = month_bounds(prev_period)[0]
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

    no_sla = None if plan.first_response_sla_hours else _("No first-response SLA on the %(plan)s plan",
                                                          plan=plan.label)
    kpis = {k.key: k for k in (
        _kpi("uptime", _("Uptime"), "percent", down["uptime"], down["uptime_prev"], True,
             None if down["uptime"] is not None else _("No monitored sites")),
        _kpi("incidents", _("Incidents"), "count", counts["incidents"], counts["incidents_prev"], False),
        _kpi("downtime", _("Downtime (min)"), "minutes", down["minutes"], down["minutes_prev"], False),
        _kpi("tickets_opened", _("Tickets opened"), "count", opened, p_opened, None),
        _kpi("tickets_resolved", _("Tickets resolved"), "count", resolved, p_resolved, True),
        _kpi("sla", _("First-response SLA"), "percent", sla if not no_sla else None,
             sla_prev if not no_sla else None, True, no_sla or (None if sla is not None else _("No ticket fell due"))),
        _kpi("spend", _("Ad spend"), "money", ads["cost"], ads_prev["cost"], None),
        _kpi("conversions", _("Conversions"), "count", ads["conversions"], ads_prev["conversions"], True),
        _kpi("cpa", _("Cost per conversion (CPA)"), "money", ads["cpa"], ads_prev["cpa"], False,
             None if ads["cpa"] is not None else _("No conversions")),
        _kpi("roas", _("Return on ad spend (ROAS)"), "ratio", ads["roas"], ads_prev["roas"], True,
             None if ads["roas"] is not None else _("No ad spend")),
    )}
    # The rules of insights read these two as well.
    kpis["breaches"] = _kpi("breaches", _("SLA breaches"), "count", (due - in_time) if not no_sla else 0,
                            (p_due - p_in_time) if not no_sla else 0, False)
    kpis["sites"] = Kpi("sites", _("Sites monitored"), "count", len(sites), None, None, "%", None)
    kpis["revenue"] = _kpi("revenue", _("Ad revenue"), "money", ads["revenue"], ads_prev["revenue"], True)

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
    total = row(_("All sites"), max(r.days for r in result), sum(r.bandwidth_gb for r in result),
                sum(r.requests for r in result), sum(r.requests_2xx for r in result),
                sum(r.requests_4xx for r in result), sum(r.requests_5xx for r in result), max(peaks) if peaks else None)
    return result, total


# --------------------------------------------------------------------------- insights

def _places(value: Decimal) -> int:
    """The decimals ``value`` was rounded to (a percentage keeps its own precision)."""
    return max(0, -Decimal(value).as_tuple().exponent)


def _times(value: Decimal) -> str:
    return f"{number(value, 2)}x"


def insights(data: ReportData) -> list[Insight]:
    """The rules of the module docstring, applied to gathered figures (no queries)."""
    found = []
    k = data.kpis
    roas, roas_prev = k["roas"].value, k["roas"].previous
    if roas is not None and roas_prev and roas < roas_prev * (1 - ROAS_DROP):
        drop = ((roas_prev - roas) * 100 / roas_prev).quantize(Decimal("1"), ROUND_HALF_UP)
        found.append(Insight("roas_drop", "high",
                             _("Return on ad spend fell %(drop)s against %(month)s", drop=percent(drop, 0),
                               month=data.previous_label),
                             _("ROAS went from %(before)s to %(after)s. Review the campaigns with the lowest ROAS "
                               "below and move budget to the ones that convert.", before=_times(roas_prev),
                               after=_times(roas))))
    breaches = k["breaches"].value or 0
    if data.sla_hours and breaches:
        sla = k["sla"].value
        found.append(Insight("sla_breach", "high",
                             ngettext("%(num)d ticket missed the %(hours)d-hour first-response SLA",
                                      "%(num)d tickets missed the %(hours)d-hour first-response SLA", breaches,
                                      hours=data.sla_hours),
                             _("First-response compliance was %(percent)s in %(month)s. Your account manager will "
                               "review what delayed the replies.",
                               percent=percent(sla, _places(sla)) if sla is not None else "—",
                               month=data.period_label)))
    per_site = {}
    for row in data.incidents:
        if row.started_at.date() >= data.first_day:
            per_site[row.project] = per_site.get(row.project, 0) + 1
    for site, count in sorted(per_site.items()):
        if count >= REPEATED_INCIDENTS:
            minutes = sum(r.downtime_minutes for r in data.incidents if r.project == site)
            found.append(Insight("repeated_incidents", "high",
                                 ngettext("%(site)s had %(num)d incident this month",
                                          "%(site)s had %(num)d incidents this month", count, site=site),
                                 ngettext("%(minutes)s minute of downtime in total. Repeated outages on one site "
                                          "point to a common cause worth a root-cause review.",
                                          "%(minutes)s minutes of downtime in total. Repeated outages on one site "
                                          "point to a common cause worth a root-cause review.", minutes,
                                          minutes=number(minutes))))
    for row in data.campaigns:
        if row.pacing_percent is not None and row.pacing_percent > 100:
            found.append(Insight("budget_pacing", "medium", _("%(campaign)s spent above its budget", campaign=row.name),
                                 _("%(spend)s against a budget of %(budget)s for the days it ran (%(percent)s of "
                                   "budget). Check the platform's daily budget and bid settings.",
                                   spend=money(row.spend), budget=money(row.budget_for_month),
                                   percent=percent(row.pacing_percent, _places(row.pacing_percent)))))
    cutoff = data.last_day + dt.timedelta(days=CERTIFICATE_WARNING_DAYS)
    for item in data.expiring:
        if item.what == "certificate" and item.expires_on <= cutoff:
            on = date(item.expires_on)
            if item.days_left < 0:
                title = _("The TLS certificate of %(domain)s has expired", domain=item.domain)
                detail = _("It expired on %(date)s. Visitors see a security warning once it lapses; we will renew "
                           "it before then.", date=on)
            else:
                title = _("The TLS certificate of %(domain)s expires soon", domain=item.domain)
                detail = _("It expires on %(date)s. Visitors see a security warning once it lapses; we will renew "
                           "it before then.", date=on)
            found.append(Insight("certificate_expiring", "high", title, detail))
    uptime = k["uptime"].value
    if uptime is not None and uptime < UPTIME_TARGET:
        found.append(Insight("uptime_below_target", "medium",
                             _("Uptime was %(uptime)s, below the %(target)s target",
                               uptime=percent(uptime, _places(uptime)),
                               target=percent(UPTIME_TARGET, _places(UPTIME_TARGET))),
                             ngettext("%(minutes)s minutes of downtime across %(num)d site.",
                                      "%(minutes)s minutes of downtime across %(num)d sites.", len(data.sites),
                                      minutes=number(k["downtime"].value))))
    order = ["roas_drop", "sla_breach", "repeated_incidents", "certificate_expiring", "uptime_below_target",
             "budget_pacing"]
    return sorted(found, key=lambda i: (SEVERITY_ORDER[i.severity], order.index(i.rule)))
