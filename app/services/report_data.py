"""What a monthly client report is made of (``services.reports``): its periods (a
month, parsed, labelled, reportable or not) and its data classes (``ReportData`` with
its KPIs, days, sites, incidents, campaigns, expiring items, grades, traffic rows,
insights and branding), which ``app.reports.pdf`` lays out."""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal

from flask_babel import gettext as _

from app import i18n
from app.models.base import utcnow
from app.errors import InvalidInput

log = logging.getLogger(__name__)

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
        raise InvalidInput(_("The month must be written YYYY-MM (e.g. 2026-10), not %(text)r.", text=text),
                           field="month")
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
        raise InvalidInput(_("A report period is a month: give its first day."), field="period")
    latest = last_complete_month(now)
    if period > latest:
        raise InvalidInput(_("%(month)s is not over yet: reports cover whole months. The latest month you can "
                             "report on is %(latest)s.", month=month_label(period), latest=latest.strftime("%Y-%m")),
                           field="month")
    return period


def month_label(period: dt.date) -> str:
    """``October 2026`` / ``outubro 2026``: the month in the language in effect."""
    return i18n.month(period)


def month_bounds(period: dt.date) -> tuple[dt.datetime, dt.datetime]:
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
