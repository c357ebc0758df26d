"""Logs and error reports (SPEC §10): where they go and what they carry.

Logs
- One handler on the root logger writes to standard error (looked up at each line, so a
  process or a test that swaps ``sys.stderr`` gets the lines). ``LOG_FORMAT=json``
  (production's default) writes one JSON object per line: ``timestamp`` (UTC, ISO
  8601), ``level``, ``logger``, ``message``, the identity of ``services.identity``
  (``request_id``, ``user``, ``true_user``, ``impersonation_session``, ``client``), any
  ``extra=`` fields of the call, and ``exception`` with the traceback. ``text`` writes
  the same as one readable line. The standard library is enough for that (a formatter
  of twenty lines), so no logging library is added.
- Every request logs one access line on ``atrium.access``: ``method``, ``path`` (never
  the query string, which may carry tokens), ``status`` and ``duration_ms``; health
  probes at DEBUG, everything else at INFO.

Sentry (when ``SENTRY_DSN`` is set), in the web app and in workers (both build the app
with ``create_app``): Flask, RQ and SQLAlchemy integrations, ``send_default_pii=False``,
and ``scrub_event`` before anything leaves: cookies and authorization headers dropped,
every value under a key naming a password, secret or token masked wherever it sits
(form, JSON body, local variables, breadcrumbs), and the request's own secret values
masked even where they appear inside other text. Events are tagged with the acting user,
the true user, the client, the view-as session and the request id.

No business rule lives here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import sys
import time

from flask import Flask, has_request_context, request, request_started

from app.services.identity import IdentityLogFilter, log_context
from app.services.secrets import is_secret

ACCESS_LOG = logging.getLogger("atrium.access")
FILTERED = "[Filtered]"
# Keys whose values never leave the process: ``services.secrets.is_secret`` (parts of
# the key, any case). Request headers dropped from Sentry events altogether.
SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"})
CONTEXT_FIELDS = ("request_id", "user", "true_user", "impersonation_session", "client")
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def init_app(app: Flask) -> None:
    configure_logging(app.config)
    request_started.connect(_request_started, app)
    app.after_request(_log_access)
    init_sentry(app.config)


# --------------------------------------------------------------------------- logging

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message", "asctime", "atrium_context", "taskName"}


def _extras(record: logging.LogRecord) -> dict:
    return {k: v for k, v in record.__dict__.items() if k not in _RECORD_ATTRIBUTES and not k.startswith("_")}


class JsonFormatter(logging.Formatter):
    """One JSON object per line (``LOG_FORMAT=json``)."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(getattr(record, "atrium_context", None) or dict.fromkeys(CONTEXT_FIELDS))
        line.update(_extras(record))  # a call's own fields (e.g. the access line's) win
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``2025-01-31 12:00:00,000 INFO app.x [req=... user=3 true_user=1 client=2 view_as=7] message``."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(atrium_fields)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        context = getattr(record, "atrium_context", None) or {}
        names = {"request_id": "req", "impersonation_session": "view_as"}
        record.atrium_fields = " ".join(f"{names.get(k, k)}={'-' if context.get(k) is None else context[k]}"
                                        for k in CONTEXT_FIELDS)
        return super().format(record)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when the line is written."""

    def __init__(self):
        super().__init__()

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


def _handler() -> logging.Handler:
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "_atrium", False):
            return handler
    handler = _StderrHandler()
    handler._atrium = True
    handler.addFilter(IdentityLogFilter())
    root.addHandler(handler)
    return handler


def configure_logging(config) -> None:
    """The process's log lines in ``LOG_FORMAT`` at ``LOG_LEVEL`` (the last app built in
    a process decides: production builds one)."""
    level = str(config.get("LOG_LEVEL") or "INFO").upper()
    if level not in _LEVELS:
        raise RuntimeError(f"LOG_LEVEL must be one of {', '.join(_LEVELS)}; got {config.get('LOG_LEVEL')!r}")
    fmt = config.get("LOG_FORMAT") or "text"
    if fmt not in ("json", "text"):
        raise RuntimeError(f"LOG_FORMAT must be json or text; got {fmt!r}")
    root = logging.getLogger()
    _handler().setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root.setLevel(level)


def _request_started(sender, **extra) -> None:
    request.environ["atrium.started"] = time.perf_counter()


def _log_access(response):
    started = request.environ.get("atrium.started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    quiet = request.path.startswith("/health") or request.endpoint in ("static", "appbuilder.static")
    ACCESS_LOG.log(logging.DEBUG if quiet else logging.INFO, "%s %s %s %s ms", request.method, request.path,
                   response.status_code, duration_ms,
                   extra={"method": request.method, "path": request.path, "status": response.status_code,
                          "duration_ms": duration_ms})
    return response


# --------------------------------------------------------------------------- Sentry


def init_sentry(config) -> bool:
    """Start reporting to ``SENTRY_DSN`` (once per process); False when it is not set."""
    dsn = config.get("SENTRY_DSN")
    if not dsn:
        return False
    import sentry_sdk  # Sentry and its integrations load only with SENTRY_DSN set
    from sentry_sdk.integrations.flask import FlaskIntegration  # (as above)
    from sentry_sdk.integrations.rq import RqIntegration  # (as above)
    from sentry_sdk.integrations.sqlalchemy import SqlalchemyIntegration  # (as above)
    from sentry_sdk.scrubber import EventScrubber  # (as above)

    current = sentry_sdk.get_client()
    if current.is_active() and current.dsn == dsn:
        return True
    sentry_sdk.init(
        dsn=dsn,
        environment=config.get("ENV_NAME"),
        integrations=[FlaskIntegration(), RqIntegration(), SqlalchemyIntegration()],
        send_default_pii=False,
        event_scrubber=EventScrubber(recursive=True),
        before_send=scrub_event,  # breadcrumbs travel inside the event: scrubbed there too
    )
    return True


def _request_secrets() -> list[str]:
    """The secret values of the current request (passwords, tokens, the Authorization
    header, cookies), longest first, to mask wherever they were copied."""
    if not has_request_context():
        return []
    found: set[str] = set()

    def collect(value, secret=False):
        if isinstance(value, dict):
            for k, v in value.items():
                collect(v, secret or is_secret(k))
        elif isinstance(value, list):
            for v in value:
                collect(v, secret)
        elif secret and isinstance(value, (str, int)) and not isinstance(value, bool):
            found.add(str(value))

    try:
        collect({k: request.form.getlist(k) for k in request.form})
        collect(request.get_json(silent=True) or {})
        authorization = request.headers.get("Authorization", "")
        if authorization:
            found.add(authorization)
            scheme, _, credentials = authorization.partition(" ")
            found.add(credentials)
            if scheme.lower() == "basic":
                try:
                    found.update(base64.b64decode(credentials).decode("utf-8", "replace").split(":", 1))
                except ValueError:
                    pass
        if request.headers.get("Cookie"):
            found.add(request.headers["Cookie"])
            found.update(request.cookies.values())
    except Exception:  # noqa: BLE001 - a report must still go out (key masking still applies)
        pass
    return sorted((s for s in found if len(s) >= 4), key=len, reverse=True)


def _scrub(value, secrets: list[str]):
    if isinstance(value, dict):
        return {k: (FILTERED if is_secret(k) and v not in (None, "") else _scrub(v, secrets))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secrets) for v in value]
    if isinstance(value, tuple):
        return tuple(_scrub(v, secrets) for v in value)
    if isinstance(value, str):
        for secret in secrets:
            if secret in value:
                value = value.replace(secret, FILTERED)
    return value


def scrub_event(event: dict, hint=None) -> dict:
    """Sentry's ``before_send``: drop cookies and authorization headers, mask secrets,
    tag with who was acting."""
    http = event.get("request")
    if isinstance(http, dict):
        http.pop("cookies", None)
        headers = http.get("headers")
        if isinstance(headers, dict):
            http["headers"] = {k: v for k, v in headers.items() if str(k).lower() not in SECRET_HEADERS}
    tags = event.pop("tags", None)
    event = _scrub(event, _request_secrets())
    tags = dict(tags or {})
    context = log_context()
    tags.update({k: str(v) for k, v in context.items() if v is not None})
    if context.get("user") is not None:
        event["user"] = {"id": str(context["user"])}
    elif isinstance(event.get("user"), dict) and event["user"].get("id"):
        tags.setdefault("user", str(event["user"]["id"]))  # a job's, set on its scope when it started
    event["tags"] = tags
    return event
