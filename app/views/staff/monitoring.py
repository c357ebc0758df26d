"""Staff views of monitoring (menu "Monitoring"): monitors, their checks, incidents and
their updates."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.validators import NumberRange, URL, Optional

from app import models as m
from app.views.base import AtriumModelView
from app.views.forms import not_before
from app.views.interface import AtriumInterface
from app.views.staff.common import MONEY


class MonitorCheckView(AtriumModelView):
    datamodel = AtriumInterface(m.MonitorCheck)
    class_permission_name = "MonitorCheck"
    list_title = _l("Monitor checks")
    list_columns = ["monitor.url", "checked_at", "ok", "status_code", "latency_ms", "error"]
    search_columns = ["monitor", "ok", "checked_at", "status_code"]
    base_permissions = ["can_read"]
    base_order = ("checked_at", "desc")
    label_columns = {"monitor.url": _l("Monitor")}


class MonitorView(AtriumModelView):
    datamodel = AtriumInterface(m.Monitor)
    class_permission_name = "Monitor"
    extra_args = {"run_now": ("monitor",)}  # "Check now" on the monitor's page (app.views.jobs)
    list_title = _l("Uptime monitors")
    list_columns = ["project.name", "url", "method", "expected_status", "interval_seconds", "enabled",
                    "state", "consecutive_failures", "last_checked_at"]
    search_columns = ["project", "url", "state", "enabled"]
    add_columns = edit_columns = ["project", "url", "method", "expected_status", "keyword",
                                  "timeout_seconds", "interval_seconds", "enabled"]
    show_exclude_columns = ["client"]
    validators_columns = {
        "url": [URL(require_tld=False, message=_l("Enter a full URL such as https://example.com/health."))],
        "expected_status": [NumberRange(min=100, max=599, message=_l("Must be an HTTP status between 100 and 599."))],
        "timeout_seconds": [NumberRange(min=1, max=120, message=_l("Timeout must be between 1 and 120 seconds."))],
        "interval_seconds": [Optional(), NumberRange(min=30, message=_l("Checks run at most every 30 seconds."))],
    }
    related_views = [MonitorCheckView]
    base_order = ("id", "asc")
    label_columns = {"project.name": _l("Project"), "interval_seconds": _l("Interval (s)"),
                     "timeout_seconds": _l("Timeout (s)")}
    description_columns = {"interval_seconds": _l("Empty: the client's tier decides (15, 5 or 1 min).")}


class IncidentUpdateView(AtriumModelView):
    datamodel = AtriumInterface(m.IncidentUpdate)
    class_permission_name = "IncidentUpdate"
    list_title = _l("Incident updates")
    list_columns = ["incident.title", "at", "status", "message", "author"]
    search_columns = ["incident", "status", "at"]
    add_columns = edit_columns = ["incident", "status", "message", "at"]  # the author is whoever writes it
    base_order = ("at", "desc")
    label_columns = {"incident.title": _l("Incident")}


class IncidentView(AtriumModelView):
    datamodel = AtriumInterface(m.Incident)
    class_permission_name = "Incident"
    list_title = _l("Incidents")
    list_columns = ["project.name", "title", "severity", "status", "started_at", "resolved_at",
                    "downtime_minutes", "source"]
    search_columns = ["project", "title", "severity", "status", "source", "started_at"]
    add_columns = edit_columns = [
        "project", "monitor", "title", "description", "severity", "status", "started_at", "resolved_at",
        "affected_users", "revenue_impact", "root_cause", "resolution_notes", "source"]
    show_exclude_columns = ["client"]
    validators_columns = {
        "resolved_at": [not_before("started_at", _l("the start"), _l("Resolved at"))],
        "revenue_impact": [MONEY],
        "affected_users": [Optional(), NumberRange(min=0)],
    }
    related_views = [IncidentUpdateView]
    base_order = ("started_at", "desc")
    label_columns = {"project.name": _l("Project"), "downtime_minutes": _l("Downtime (min)")}
    description_columns = {"downtime_minutes": _l("Derived from start and resolution.")}
