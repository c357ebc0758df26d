"""Hosting/CDN traffic adapter: per-site daily traffic for ``NetworkUsage`` (SPEC §7).

Atrium talks to one analytics endpoint modelled on Cloudflare's zone analytics; a
provider without it is put behind a small bridge that answers the same shape.

Request::

    GET {HOSTING_API_URL}/zones/{zone}/analytics/daily?since=YYYY-MM-DD&until=YYYY-MM-DD
    Authorization: Bearer {HOSTING_API_TOKEN}

``zone`` is the host name of the project's site URL (``www.client.example``).

Answer (200)::

    {"success": true, "errors": [],
     "result": {"zone": "www.client.example",
                "days": [{"date": "2026-03-01",
                          "requests": {"all": 12000, "2xx": 11500, "4xx": 400, "5xx": 100},
                          "bandwidth": {"all": 734003200},                 # bytes
                          "countries": [{"country": "BR", "requests": 10000, "bytes": 600000000}],
                          "peak": {"at": "2026-03-01T18:05:00Z", "rps": 42}}]}}

Failures: ``{"success": false, "errors": [{"code": 10000, "message": "Authentication
error"}]}`` with HTTP 401/403 (``AuthenticationFailed``, not retried), 404 for an unknown
zone (``PlatformRejected``), 429/5xx/timeouts (``PlatformUnavailable``, retried).
Bandwidth is converted to decimal gigabytes (10^9 bytes, as CDNs bill). Nothing here
touches the database: ``app.services.campaign_sync.sync_network_usage`` stores the days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from urllib.parse import quote

from app.integrations import platform_http
from app.integrations.platform_http import PlatformRejected, PlatformUnavailable

BYTES_PER_GB = Decimal(10) ** 9
GB_PLACES = Decimal("0.001")


@dataclass(frozen=True)
class DailyTraffic:
    date: dt.date
    requests_total: int
    requests_2xx: int
    requests_4xx: int
    requests_5xx: int
    bandwidth_gb: Decimal
    geo_distribution: list = field(default_factory=list)  # [{country, requests, bandwidth_gb}]
    peak_at: dt.datetime | None = None
    peak_rps: int | None = None


def _count(value, what: str) -> int:
    try:
        number = Decimal(str(0 if value is None else value))
    except InvalidOperation:
        raise PlatformUnavailable(f"the hosting API sent {what} {value!r}, not a number; will retry") from None
    if not number.is_finite() or number < 0 or number != number.to_integral_value():
        raise PlatformUnavailable(f"the hosting API sent {what} {value!r}, not a count; will retry")
    return int(number)


def _gb(byte_count) -> Decimal:
    return (Decimal(_count(byte_count, "bytes")) / BYTES_PER_GB).quantize(GB_PLACES)


class HostingAnalytics:
    label = "The hosting API"
    AUTH_HINT = "Check HOSTING_API_TOKEN."

    def __init__(self, base_url: str, token: str, timeout=platform_http.TIMEOUT):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    @staticmethod
    def missing_settings(config: Mapping) -> list[str]:
        return [k for k in ("HOSTING_API_URL", "HOSTING_API_TOKEN") if not config.get(k)]

    @classmethod
    def from_config(cls, config: Mapping) -> HostingAnalytics:
        return cls(config["HOSTING_API_URL"], config["HOSTING_API_TOKEN"])

    def fetch_daily(self, zone: str, start: dt.date, end: dt.date) -> list[DailyTraffic]:
        url = f"{self.base_url}/zones/{quote(zone, safe='')}/analytics/daily"
        with platform_http.client(timeout=self.timeout, headers={"Authorization": f"Bearer {self.token}"}) as http:
            response = platform_http.send(http, "GET", url, platform=self.label, auth_hint=self.AUTH_HINT,
                                          params={"since": start.isoformat(), "until": end.isoformat()})
        body = platform_http.json_body(response, platform=self.label)
        result = body.get("result") if isinstance(body, dict) else None
        if not isinstance(body, dict) or body.get("success") is False or not isinstance(result, dict):
            detail = platform_http.error_text(response)
            raise PlatformRejected(f"{self.label} did not return analytics for {zone}: {detail}")
        days = []
        for day in result.get("days") or []:
            try:
                date = dt.date.fromisoformat(str(day.get("date")))
            except ValueError:
                raise PlatformUnavailable(f"{self.label} sent the date {day.get('date')!r}; will retry") from None
            if not start <= date <= end:
                continue
            requests = day.get("requests") or {}
            peak = day.get("peak") or {}
            peak_at = None
            if peak.get("at"):
                try:
                    peak_at = dt.datetime.fromisoformat(str(peak["at"]).replace("Z", "+00:00"))
                except ValueError:
                    peak_at = None
                if peak_at is not None and peak_at.tzinfo is None:
                    peak_at = peak_at.replace(tzinfo=dt.UTC)
            days.append(DailyTraffic(
                date=date,
                requests_total=_count(requests.get("all"), "requests.all"),
                requests_2xx=_count(requests.get("2xx"), "requests.2xx"),
                requests_4xx=_count(requests.get("4xx"), "requests.4xx"),
                requests_5xx=_count(requests.get("5xx"), "requests.5xx"),
                bandwidth_gb=_gb((day.get("bandwidth") or {}).get("all")),
                geo_distribution=[{"country": str(c.get("country", "??"))[:2].upper(),
                                   "requests": _count(c.get("requests"), "country requests"),
                                   "bandwidth_gb": float(_gb(c.get("bytes")))}
                                  for c in day.get("countries") or [] if isinstance(c, dict)],
                peak_at=peak_at,
                peak_rps=None if peak.get("rps") is None else _count(peak.get("rps"), "peak.rps")))
        return days
