"""Staff views of delivery (menu "Delivery"): projects, milestones, infrastructure,
network usage, performance metrics, domains."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.validators import NumberRange, URL, Optional

from app import models as m
from app.services import validation
from app.views.base import AtriumModelView
from app.views.forms import contact_fields, json_list_field, not_before, service_validator
from app.views.interface import AtriumInterface
from app.views.staff.common import MONEY, PERCENT
from app.views.staff.monitoring import IncidentView, MonitorView


class MilestoneView(AtriumModelView):
    datamodel = AtriumInterface(m.Milestone)
    class_permission_name = "Milestone"
    list_title = _l("Milestones")
    list_columns = ["project.name", "title", "due_date", "completed_at"]
    search_columns = ["project", "title", "due_date", "completed_at"]
    add_columns = edit_columns = ["project", "title", "due_date", "completed_at", "deliverable"]
    show_columns = ["project", "title", "due_date", "completed_at", "deliverable", "created_at", "updated_at"]
    base_order = ("due_date", "asc")
    label_columns = {"project.name": _l("Project")}


class InfrastructureView(AtriumModelView):
    datamodel = AtriumInterface(m.Infrastructure)
    class_permission_name = "Infrastructure"
    list_title = _l("Infrastructure")
    list_columns = ["project.name", "hosting_provider", "hosting_plan", "hosting_status",
                    "hosting_monthly_cost", "cdn_provider", "db_backup_status", "db_last_backup_at"]
    search_columns = ["project", "hosting_provider", "hosting_status", "cdn_provider", "db_backup_status"]
    add_columns = edit_columns = [
        "project", "hosting_provider", "hosting_plan", "hosting_status", "hosting_monthly_cost",
        "cdn_provider", "cdn_bandwidth_gb", "cdn_cache_hit_rate", "db_provider", "db_size_mb",
        "db_backup_status", "db_last_backup_at"]
    validators_columns = {"hosting_monthly_cost": [MONEY], "cdn_cache_hit_rate": [PERCENT],
                          "cdn_bandwidth_gb": [MONEY], "db_size_mb": [Optional(), NumberRange(min=0)]}
    base_order = ("project_id", "asc")
    label_columns = {"project.name": _l("Project"), "cdn_cache_hit_rate": _l("CDN cache hit rate (%)"),
                     "db_size_mb": _l("Database size (MB)"), "cdn_bandwidth_gb": _l("CDN bandwidth (GB)")}


class NetworkUsageView(AtriumModelView):
    datamodel = AtriumInterface(m.NetworkUsage)
    class_permission_name = "NetworkUsage"
    list_title = _l("Network usage")
    list_columns = ["project.name", "date", "bandwidth_gb", "requests_total", "requests_2xx",
                    "requests_4xx", "requests_5xx", "peak_rps"]
    search_columns = ["project", "date"]
    add_columns = edit_columns = ["project", "date", "bandwidth_gb", "requests_total", "requests_2xx",
                                  "requests_4xx", "requests_5xx", "peak_at", "peak_rps"]
    validators_columns = {c: [Optional(), NumberRange(min=0)] for c in
                          ("requests_total", "requests_2xx", "requests_4xx", "requests_5xx", "peak_rps")}
    validators_columns["bandwidth_gb"] = [Optional(), NumberRange(min=0)]
    base_order = ("date", "desc")
    label_columns = {"project.name": _l("Project"), "bandwidth_gb": _l("Bandwidth (GB)"),
                     "peak_rps": _l("Peak req/s")}


class PerformanceMetricView(AtriumModelView):
    datamodel = AtriumInterface(m.PerformanceMetric)
    class_permission_name = "PerformanceMetric"
    list_title = _l("Performance metrics")
    list_columns = ["project.name", "measured_at", "grade", "lcp_s", "inp_ms", "cls",
                    "lighthouse_performance", "lighthouse_accessibility", "lighthouse_best_practices",
                    "lighthouse_seo"]
    search_columns = ["project", "domain", "measured_at", "grade"]
    add_columns = edit_columns = ["project", "domain", "measured_at", "lcp_s", "inp_ms", "fid_ms", "cls",
                                  "lighthouse_performance", "lighthouse_accessibility",
                                  "lighthouse_best_practices", "lighthouse_seo"]
    validators_columns = {c: [PERCENT] for c in ("lighthouse_performance", "lighthouse_accessibility",
                                                 "lighthouse_best_practices", "lighthouse_seo")}
    validators_columns.update({"lcp_s": [Optional(), NumberRange(min=0)], "inp_ms": [Optional(), NumberRange(min=0)],
                               "fid_ms": [Optional(), NumberRange(min=0)], "cls": [Optional(), NumberRange(min=0)]})
    base_order = ("measured_at", "desc")
    label_columns = {"project.name": _l("Project"), "lcp_s": _l("LCP (s)"), "inp_ms": _l("INP (ms)"),
                     "fid_ms": _l("FID (ms)"), "cls": _l("CLS"), "lighthouse_performance": _l("Performance"),
                     "lighthouse_accessibility": _l("Accessibility"),
                     "lighthouse_best_practices": _l("Best practices"), "lighthouse_seo": _l("SEO")}
    description_columns = {"grade": _l("Derived from the scores and Core Web Vitals (see docs).")}


class DomainView(AtriumModelView):
    datamodel = AtriumInterface(m.Domain)
    class_permission_name = "Domain"
    extra_args = {"run_now": ("domain_tls", "domain_expiry")}
    list_title = _l("Domains")
    list_columns = ["name", "client.name", "status", "ssl_status", "ssl_expires_at", "registrar",
                    "renewal_date", "auto_renew"]
    search_columns = ["name", "client", "project", "status", "ssl_status", "registrar", "renewal_date",
                      "ssl_expires_at"]
    add_columns = ["client", "project", "name", "status", "nameservers", "dns_records", "ssl_status",
                   "ssl_issuer", "ssl_expires_at", "registrar", "registered_on", "renewal_date",
                   "auto_renew", "contact_name", "contact_email", "contact_phone", "internal_notes"]
    edit_columns = [c for c in add_columns if c != "client"]
    show_exclude_columns = []
    validators_columns = {
        "name": [service_validator(validation.domain_name)],
        "renewal_date": [not_before("registered_on", _l("the registration date"), _l("Renewal date"))],
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "nameservers": json_list_field(
            _l("Nameservers"), validation.nameservers,
            _l('JSON list, e.g. ["ns1.example.net", "ns2.example.net"]')),
        "dns_records": json_list_field(
            _l("DNS records"), validation.dns_records,
            _l('JSON list of {"type", "name", "value", "ttl", "priority"} (priority for MX/SRV).')),
        **contact_fields(),
    }
    base_order = ("name", "asc")
    label_columns = {"client.name": _l("Client"), "ssl_status": _l("SSL"), "ssl_expires_at": _l("SSL expires")}


class ProjectView(AtriumModelView):
    datamodel = AtriumInterface(m.Project)
    class_permission_name = "Project"
    list_title = _l("Projects")
    list_columns = ["name", "client.name", "status", "completion_percent", "estimated_delivery",
                    "budget_total", "budget_used", "manager.username"]
    search_columns = ["name", "client", "status", "manager", "estimated_delivery"]
    add_columns = ["client", "name", "description", "status", "completion_percent", "start_date",
                   "estimated_delivery", "actual_delivery", "budget_total", "budget_used", "manager",
                   "team", "site_url", "contact_name", "contact_email", "contact_phone", "internal_notes"]
    edit_columns = [c for c in add_columns if c != "client"]
    add_form_extra_fields = edit_form_extra_fields = contact_fields()
    validators_columns = {
        "completion_percent": [PERCENT],
        "budget_total": [MONEY], "budget_used": [MONEY],
        "estimated_delivery": [not_before("start_date", _l("the start date"), _l("Estimated delivery"))],
        "actual_delivery": [not_before("start_date", _l("the start date"), _l("Actual delivery"))],
        "site_url": [Optional(), URL(message=_l("Enter a full URL such as https://example.com."))],
    }
    related_views = [MilestoneView, InfrastructureView, MonitorView, IncidentView, NetworkUsageView,
                     PerformanceMetricView]
    base_order = ("name", "asc")
    label_columns = {"client.name": _l("Client"), "manager.username": _l("Manager"),
                     "completion_percent": _l("Completion (%)")}
