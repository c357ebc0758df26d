"""A loopback HTTP server playing Google Ads, the Meta Marketing API and the hosting/CDN
analytics API, answering with their documented payload shapes (the adapters under test
are the production code; only the far end is ours).

- Google Ads: ``POST /{version}/customers/{customer}/googleAds:searchStream`` with a GAQL
  ``query``; answers a JSON array of batches (``results``, ``fieldMask``, ``requestId``),
  int64 fields as strings, zero fields left out, as the REST API does.
- Meta: ``GET /{version}/{campaign}/insights``; answers ``data`` pages of
  ``page_size`` rows with ``paging.cursors`` and ``paging.next``; numbers as strings;
  conversions in ``actions`` / ``action_values``; a bad token is HTTP 400, code 190.
- Hosting: ``GET /zones/{zone}/analytics/daily`` (the shape ``app.integrations.hosting``
  documents).

``delay`` slows every answer down (timeouts); ``meta_error`` makes the next Meta answer
an HTTP 400 with that ``error`` object (Meta reports rate limits that way, codes 4/17).
``FakePlatforms.fail(prefix, *statuses)`` makes the next requests whose path starts with
``prefix`` answer those statuses (one each) before behaving again; ``requests`` records
what arrived (method, path, query, headers, body).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit

GOOGLE_AUTH_ERROR = {"error": {"code": 401, "message": "Request had invalid authentication credentials. Expected "
                               "OAuth 2 access token, login cookie or other valid authentication credential.",
                               "status": "UNAUTHENTICATED"}}
META_AUTH_ERROR = {"error": {"message": "Error validating access token: Session has expired on Monday, "
                             "01-Jan-24 00:00:00 PST.", "type": "OAuthException", "code": 190,
                             "error_subcode": 463, "fbtrace_id": "AbCdEf123"}}


def _dates(start: dt.date, end: dt.date):
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


class FakePlatforms:
    def __init__(self, google_token="google-token", developer_token="dev-token", meta_token="meta-token",
                 hosting_token="hosting-token", page_size=3, batch_size=4):
        self.google_token, self.developer_token = google_token, developer_token
        self.meta_token, self.hosting_token = meta_token, hosting_token
        self.page_size, self.batch_size = page_size, batch_size
        # campaign external id -> {date: dict of figures}; missing dates: no activity
        self.google: dict[str, dict[dt.date, dict]] = {}
        self.meta: dict[str, dict[dt.date, dict]] = {}
        self.hosting: dict[str, dict[dt.date, dict]] = {}
        self.requests: list[dict] = []
        self._failures: list[tuple[str, int]] = []
        self.delay = 0.0  # seconds before every answer (timeouts)
        self.meta_error: dict | None = None  # next Meta answer: HTTP 400 with this ``error`` body
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()

    def fail(self, prefix: str, *statuses: int) -> None:
        with self._lock:
            self._failures.extend((prefix, s) for s in statuses)

    def _scripted_failure(self, path: str) -> int | None:
        with self._lock:
            for index, (prefix, status) in enumerate(self._failures):
                if path.startswith(prefix):
                    del self._failures[index]
                    return status
        return None

    def config(self) -> dict:
        """App settings pointing every adapter at this server."""
        return {"GOOGLE_ADS_API_URL": self.url, "GOOGLE_ADS_API_VERSION": "v21",
                "GOOGLE_ADS_DEVELOPER_TOKEN": self.developer_token, "GOOGLE_ADS_ACCESS_TOKEN": self.google_token,
                "GOOGLE_ADS_LOGIN_CUSTOMER_ID": "999-000-1111",
                "META_GRAPH_URL": self.url, "META_API_VERSION": "v21.0", "META_ACCESS_TOKEN": self.meta_token,
                "HOSTING_API_URL": self.url, "HOSTING_API_TOKEN": self.hosting_token}

    # ------------------------------------------------------------------ answers

    def _google(self, path, headers, body):
        if headers.get("Authorization") != f"Bearer {self.google_token}" or \
                headers.get("developer-token") != self.developer_token:
            return 401, GOOGLE_AUTH_ERROR
        query = json.loads(body or b"{}").get("query", "")
        match = re.search(r"campaign\.id = (\d+) AND segments\.date BETWEEN '([\d-]+)' AND '([\d-]+)'", query)
        if not match:
            return 400, {"error": {"code": 400, "message": "Request contains an invalid argument.",
                                   "status": "INVALID_ARGUMENT"}}
        campaign, start, end = match.group(1), dt.date.fromisoformat(match.group(2)), \
            dt.date.fromisoformat(match.group(3))
        customer = path.split("/")[3]
        results = []
        for day in _dates(start, end):
            figures = self.google.get(campaign, {}).get(day)
            if figures is None:
                continue
            metrics = {}
            for key, name, kind in (("impressions", "impressions", str), ("clicks", "clicks", str),
                                    ("conversions", "conversions", float), ("cost_micros", "costMicros", str),
                                    ("conversions_value", "conversionsValue", float)):
                value = figures.get(key, 0)
                if value:  # proto3 JSON leaves zero values out
                    metrics[name] = kind(value)
            results.append({"campaign": {"resourceName": f"customers/{customer}/campaigns/{campaign}",
                                         "id": campaign},
                            "metrics": metrics, "segments": {"date": day.isoformat()}})
        mask = "segments.date,metrics.impressions,metrics.clicks,metrics.conversions,metrics.costMicros," \
               "metrics.conversionsValue"
        batches = [{"results": results[i:i + self.batch_size], "fieldMask": mask, "requestId": f"req{i}"}
                   for i in range(0, len(results), self.batch_size)]
        return 200, batches or [{"fieldMask": mask, "requestId": "req-empty"}]

    def _meta(self, path, headers, query):
        if self.meta_error is not None:
            error, self.meta_error = self.meta_error, None
            return 400, {"error": error}
        if headers.get("Authorization") != f"Bearer {self.meta_token}":
            return 400, META_AUTH_ERROR
        campaign = path.split("/")[2]
        params = {k: v[0] for k, v in parse_qs(query).items()}
        if params.get("level") != "campaign" or params.get("time_increment") != "1":
            return 400, {"error": {"message": "(#100) level and time_increment are required", "type":
                                   "OAuthException", "code": 100, "fbtrace_id": "X"}}
        window = json.loads(params["time_range"])
        start, end = dt.date.fromisoformat(window["since"]), dt.date.fromisoformat(window["until"])
        rows = []
        for day in _dates(start, end):
            figures = self.meta.get(campaign, {}).get(day)
            if figures is None:
                continue
            row = {"campaign_id": campaign, "date_start": day.isoformat(), "date_stop": day.isoformat(),
                   "impressions": str(figures["impressions"]), "clicks": str(figures["clicks"]),
                   "spend": str(figures["spend"])}
            if figures.get("actions"):
                row["actions"] = [{"action_type": t, "value": str(v)} for t, v in figures["actions"].items()]
            if figures.get("action_values"):
                row["action_values"] = [{"action_type": t, "value": str(v)}
                                        for t, v in figures["action_values"].items()]
            rows.append(row)
        offset = int(params.get("after", "0"))
        page = rows[offset:offset + self.page_size]
        body = {"data": page, "paging": {"cursors": {"before": str(offset), "after": str(offset + len(page))}}}
        if offset + self.page_size < len(rows):
            following = {**params, "after": str(offset + self.page_size)}
            body["paging"]["next"] = f"{self.url}{path}?{urlencode(following)}"
        return 200, body

    def _hosting(self, path, headers, query):
        if headers.get("Authorization") != f"Bearer {self.hosting_token}":
            return 403, {"success": False, "errors": [{"code": 10000, "message": "Authentication error"}],
                         "result": None}
        zone = path.split("/")[2]
        if zone not in self.hosting:
            return 404, {"success": False, "errors": [{"code": 1001, "message": f"Unknown zone {zone}"}],
                         "result": None}
        params = {k: v[0] for k, v in parse_qs(query).items()}
        start, end = dt.date.fromisoformat(params["since"]), dt.date.fromisoformat(params["until"])
        days = [{"date": day.isoformat(), **figures} for day, figures in sorted(self.hosting[zone].items())
                if start <= day <= end]
        return 200, {"success": True, "errors": [], "result": {"zone": zone, "days": days}}

    def _answer(self, method, raw_path, headers, body):
        parts = urlsplit(raw_path)
        path, query = parts.path, parts.query
        with self._lock:
            self.requests.append({"method": method, "path": path, "query": query, "headers": dict(headers),
                                  "body": body})
        if self.delay:
            import time

            time.sleep(self.delay)
        status = self._scripted_failure(path)
        if status is not None:
            return status, {"error": {"code": status, "message": "The service is currently unavailable.",
                                      "status": "UNAVAILABLE"}}
        if method == "POST" and path.endswith("googleAds:searchStream"):
            return self._google(path, headers, body)
        if method == "GET" and path.endswith("/insights"):
            return self._meta(path, headers, query)
        if method == "GET" and path.startswith("/zones/"):
            return self._hosting(path, headers, query)
        return 404, {"error": {"code": 404, "message": f"no route {method} {path}"}}

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _serve(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, payload = fake._answer(method, self.path, self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

        return Handler
