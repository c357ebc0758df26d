"""The agency's business dashboard (staff, resource ``Analytics``): figures of a range
of days read from the ``DailyAnalytics`` rows that ``services.analytics.compute_day``
writes (the 03:00 UTC job, the demo seed, and the dashboard's "Recompute").

What lives here: reading a range a person asked for (``parse_range``: presets of 30,
90 and 365 days or a custom from-to; bad dates, a start after the end, a day not over
yet and spans over ``MAX_RANGE_DAYS`` are ``InvalidInput`` with a message for them),
the per-day series the charts draw (a day without a row is ``None``: a gap, never a
silent zero), the range totals, the days with no row, and recomputing those days
(``recompute_missing``: at most ``RECOMPUTE_MAX_DAYS`` per call, newest first, recorded
as one ``analytics.recompute`` audit event besides the rows' own events).

Range totals, as the page explains them:
- tickets opened/resolved, incidents, downtime minutes, ad spend and revenue: sums of
  the days that have a row;
- SLA compliance: the mean of the daily percentages over the days that had a first
  response due (a day with none has no percentage and does not count). The daily rows
  do not keep how many responses fell due, so the mean is per day, not per ticket;
- MRR and active clients: the latest day of the range that has a row (a stock, not a
  flow: summing it over days would mean nothing). ROAS: revenue / spend.

Not here: how a day's figures are computed (``services.analytics``), HTML, Chart.js.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Mapping

import sqlalchemy as sa
from flask_babel import gettext as _

from app import i18n
from app.models import DailyAnalytics, Satisfaction, Ticket, Tier
from app.models.base import utcnow
from app.services import analytics, audit
from app.errors import InvalidInput

PRESETS = (30, 90, 365)
DEFAULT_PRESET = 30
MAX_RANGE_DAYS = 3 * 365 + 1  # three years, a leap day included
RECOMPUTE_MAX_DAYS = 366  # per click: bounded work for one web request
TIERS = tuple(t.value for t in Tier)
TIER_LABELS = {t: t.capitalize() for t in TIERS}
CENT = Decimal("0.01")


@dataclass(frozen=True)
class DateRange:
    start: dt.date
    end: dt.date
    preset: int | None = None  # 30 / 90 / 365, or None for a custom range

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[dt.date]:
        return [self.start + dt.timedelta(days=i) for i in range(self.days)]


def last_complete_day(today: dt.date | None = None) -> dt.date:
    """The most recent day whose figures can exist: yesterday (UTC)."""
    return (today or utcnow().date()) - dt.timedelta(days=1)


def last_days(days: int, today: dt.date | None = None) -> DateRange:
    """The ``days`` complete days up to yesterday."""
    end = last_complete_day(today)
    return DateRange(end - dt.timedelta(days=days - 1), end, days if days in PRESETS else None)


def _date(text: str, label: str) -> dt.date:
    value = (text or "").strip()
    try:
        if len(value) != 10:
            raise ValueError
        return dt.date.fromisoformat(value)
    except ValueError:
        shown = value if len(value) <= 40 else value[:40] + "…"
        if label == "end":
            message = _("The end date “%(text)s” is not a date: use YYYY-MM-DD, e.g. 2025-03-31.", text=shown)
        else:
            message = _("The start date “%(text)s” is not a date: use YYYY-MM-DD, e.g. 2025-03-31.", text=shown)
        raise InvalidInput(message, field=label) from None


def parse_range(args: Mapping, today: dt.date | None = None) -> DateRange:
    """The range asked for by ``args`` (a request's query or form): ``from`` and ``to``
    (YYYY-MM-DD, both inclusive) for a custom range, else ``range`` = 30, 90 or 365
    (default 30). Raises ``InvalidInput`` with a message for the person."""
    end_limit = last_complete_day(today)
    start_text, end_text = (args.get("from") or "").strip(), (args.get("to") or "").strip()
    if start_text or end_text:
        if not (start_text and end_text):
            raise InvalidInput(_("Enter both a start (from) and an end (to) date for a custom range."))
        start, end = _date(start_text, "start"), _date(end_text, "end")
        if start > end:
            raise InvalidInput(_("The start date (%(start)s) is after the end date (%(end)s): swap them.",
                                 start=i18n.date(start), end=i18n.date(end)))
        if end > end_limit:
            raise InvalidInput(_("The end date (%(end)s) is not over yet: a day's figures are computed after it "
                                 "ends (UTC). Choose %(last)s or earlier.", end=i18n.date(end),
                                 last=i18n.date(end_limit)))
        span = (end - start).days + 1
        if span > MAX_RANGE_DAYS:
            raise InvalidInput(_("A range may span at most 3 years (%(most)s days); %(start)s to %(end)s spans "
                                 "%(span)s days.", most=i18n.number(MAX_RANGE_DAYS), start=i18n.date(start),
                                 end=i18n.date(end), span=i18n.number(span)))
        return DateRange(start, end)
    preset = (args.get("range") or str(DEFAULT_PRESET)).strip()
    if preset not in {str(p) for p in PRESETS}:
        raise InvalidInput(_("Choose the last 30, 90 or 365 days, or enter a start and an end date."))
    return last_days(int(preset), today)


def typed_dates(args: Mapping) -> tuple[str, str]:
    """The from/to a person typed, to put back in the form: each one only if it is a
    date (the message names a bad one; a date input cannot hold it)."""
    def valid(text):
        try:
            return _date(text, "").isoformat()
        except InvalidInput:
            return ""
    return valid(args.get("from") or ""), valid(args.get("to") or "")


# --------------------------------------------------------------------------- reading


def _rows(session, period: DateRange) -> list[DailyAnalytics]:
    return list(session.execute(
        sa.select(DailyAnalytics).where(DailyAnalytics.date.between(period.start, period.end))
        .order_by(DailyAnalytics.date)).scalars())


def missing_days(session, period: DateRange) -> list[dt.date]:
    """Days of ``period`` without a ``DailyAnalytics`` row, oldest first."""
    have = set(session.execute(sa.select(DailyAnalytics.date).where(
        DailyAnalytics.date.between(period.start, period.end))).scalars())
    return [day for day in period.dates() if day not in have]


def _money(value) -> Decimal:
    return Decimal(str(value if value is not None else 0)).quantize(CENT)


def _number(value):
    """A JSON number for the charts (display only; totals stay Decimal)."""
    return None if value is None else float(value)


def figures(session, period: DateRange) -> dict:
    """Everything the dashboard shows for ``period``: series per day (``None`` where a
    day has no row), range totals, the latest day's clients and MRR by tier, and the
    missing days."""
    rows = _rows(session, period)
    by_date = {row.date: row for row in rows}
    dates = period.dates()

    def series(read):
        return [_number(read(by_date[d])) if d in by_date else None for d in dates]

    def tier_value(mapping, tier):
        return (mapping or {}).get(tier, 0)

    sla_days = [row.sla_compliance_pct for row in rows if row.sla_compliance_pct is not None]
    spend = sum((_money(r.ad_spend) for r in rows), Decimal(0))
    revenue = sum((_money(r.ad_revenue) for r in rows), Decimal(0))
    latest = rows[-1] if rows else None
    missing = [d for d in dates if d not in by_date]
    totals = {
        "days_with_figures": len(rows),
        "tickets_opened": sum(r.tickets_opened for r in rows),
        "tickets_resolved": sum(r.tickets_resolved for r in rows),
        "sla_compliance_pct": (sum(sla_days, Decimal(0)) / len(sla_days)).quantize(CENT, ROUND_HALF_UP)
        if sla_days else None,
        "sla_days": len(sla_days),
        "incidents": sum(r.incidents for r in rows),
        "downtime_minutes": sum(r.downtime_minutes for r in rows),
        "ad_spend": spend,
        "ad_revenue": revenue,
        "roas": (revenue / spend).quantize(CENT, ROUND_HALF_UP) if spend else None,
    }
    totals.update(_satisfaction(session, period))
    latest_figures = None
    if latest is not None:
        latest_figures = {
            "date": latest.date,
            "mrr_total": _money(latest.mrr_total),
            "clients_total": sum(int(tier_value(latest.clients_by_tier, t)) for t in TIERS),
            "tiers": [{"tier": t, "label": TIER_LABELS[t], "clients": int(tier_value(latest.clients_by_tier, t)),
                       "mrr": _money(tier_value(latest.mrr_by_tier, t))} for t in TIERS],
        }
    chart = {
        "labels": [d.isoformat() for d in dates],
        "tiers": [{"key": t, "label": TIER_LABELS[t]} for t in TIERS],
        "mrr_by_tier": {t: series(lambda r, t=t: Decimal(str(tier_value(r.mrr_by_tier, t)))) for t in TIERS},
        "clients_by_tier": {t: series(lambda r, t=t: tier_value(r.clients_by_tier, t)) for t in TIERS},
        "tickets_opened": series(lambda r: r.tickets_opened),
        "tickets_resolved": series(lambda r: r.tickets_resolved),
        "sla_compliance_pct": series(lambda r: r.sla_compliance_pct),
        "incidents": series(lambda r: r.incidents),
        "downtime_minutes": series(lambda r: r.downtime_minutes),
        "ad_spend": series(lambda r: r.ad_spend),
        "ad_revenue": series(lambda r: r.ad_revenue),
    }
    return {"range": period, "totals": totals, "latest": latest_figures, "chart": chart,
            "missing": missing, "recompute_max_days": RECOMPUTE_MAX_DAYS}


def _satisfaction(session, period: DateRange) -> dict:
    """Requesters' ratings given in ``period`` (read live from the tickets, one statement):
    how many, and the share satisfied."""
    start = dt.datetime.combine(period.start, dt.time(), tzinfo=dt.UTC)
    end = dt.datetime.combine(period.end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    rated, satisfied = session.execute(
        sa.select(sa.func.count(), sa.func.count().filter(Ticket.satisfaction == Satisfaction.SATISFIED.value))
        .where(Ticket.rated_at >= start, Ticket.rated_at < end)).one()
    return {"ratings": int(rated), "satisfied": int(satisfied),
            "csat_pct": (Decimal(100 * satisfied) / rated).quantize(CENT, ROUND_HALF_UP) if rated else None}


# --------------------------------------------------------------------------- recomputing


def recompute_missing(session, period: DateRange, *, limit: int = RECOMPUTE_MAX_DAYS,
                      record: bool = True) -> dict:
    """Compute the missing days of ``period`` (newest first, at most ``limit``) through
    ``analytics.compute_day``; with ``record``, one ``analytics.recompute`` audit event
    says which days and how many remain. The caller commits."""
    missing = missing_days(session, period)
    chosen = sorted(missing, reverse=True)[:max(0, limit)]
    for day in sorted(chosen):
        analytics.compute_day(session, day)
    session.flush()
    result = {"computed": len(chosen), "remaining": len(missing) - len(chosen),
              "first": min(chosen) if chosen else None, "last": max(chosen) if chosen else None}
    if record and chosen:
        audit.record(session, "analytics.recompute", resource_type="DailyAnalytics", staff_only=True,
                     details={"range": [period.start, period.end], "days": len(chosen),
                              "first": result["first"], "last": result["last"],
                              "remaining": result["remaining"]})
    return result


def seed_history(session, today: dt.date | None = None, days: int = 90) -> dict:
    """The demo's past ``days`` days of figures (only the days without a row, so a
    second seed changes nothing). Not audited as a person's recompute."""
    return recompute_missing(session, last_days(days, today), limit=days, record=False)
