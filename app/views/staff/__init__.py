"""The operator console: one Flask-AppBuilder CRUD view per entity of SPEC §3.

Views only describe columns, filters, ordering, related lists and form validators;
every rule they show (derived KPIs, SLA, grades, downtime) is computed by services.
Derived columns are never in a form.
"""

from __future__ import annotations

from flask import abort, current_app, flash, request, send_file, url_for
from flask_appbuilder import expose, has_access
from markupsafe import Markup
from wtforms import ValidationError
from wtforms.validators import Email, Length, NumberRange, Regexp, URL, Optional

from app import models as m
from app.extensions import db
from app.services import report_data, reports, validation
from app.errors import InvalidInput, NotFound
from app.views import jobs as jobs_views
from app.views.base import AtriumModelView
from app.views.forms import (
    LimitOverridesField, contact_fields, format_limit_overrides, json_list_field, not_before, service_validator,
)
from app.views.interface import AtriumInterface
from app.views.impersonation import view_as_button
from app.services import jobs

PERCENT = service_validator(validation.percent)
MONEY = service_validator(validation.money)
CHILD_EXCLUDE = ["client", "created_at", "updated_at"]


class MilestoneView(AtriumModelView):
    datamodel = AtriumInterface(m.Milestone)
    class_permission_name = "Milestone"
    list_title = "Milestones"
    list_columns = ["project.name", "title", "due_date", "completed_at"]
    search_columns = ["project", "title", "due_date", "completed_at"]
    add_columns = edit_columns = ["project", "title", "due_date", "completed_at", "deliverable"]
    show_columns = ["project", "title", "due_date", "completed_at", "deliverable", "created_at", "updated_at"]
    base_order = ("due_date", "asc")
    label_columns = {"project.name": "Project"}


class InfrastructureView(AtriumModelView):
    datamodel = AtriumInterface(m.Infrastructure)
    class_permission_name = "Infrastructure"
    list_title = "Infrastructure"
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
    label_columns = {"project.name": "Project", "cdn_cache_hit_rate": "CDN cache hit rate (%)",
                     "db_size_mb": "Database size (MB)", "cdn_bandwidth_gb": "CDN bandwidth (GB)"}


class NetworkUsageView(AtriumModelView):
    datamodel = AtriumInterface(m.NetworkUsage)
    class_permission_name = "NetworkUsage"
    list_title = "Network usage"
    list_columns = ["project.name", "date", "bandwidth_gb", "requests_total", "requests_2xx",
                    "requests_4xx", "requests_5xx", "peak_rps"]
    search_columns = ["project", "date"]
    add_columns = edit_columns = ["project", "date", "bandwidth_gb", "requests_total", "requests_2xx",
                                  "requests_4xx", "requests_5xx", "peak_at", "peak_rps"]
    validators_columns = {c: [Optional(), NumberRange(min=0)] for c in
                          ("requests_total", "requests_2xx", "requests_4xx", "requests_5xx", "peak_rps")}
    validators_columns["bandwidth_gb"] = [Optional(), NumberRange(min=0)]
    base_order = ("date", "desc")
    label_columns = {"project.name": "Project", "bandwidth_gb": "Bandwidth (GB)", "peak_rps": "Peak req/s"}


class PerformanceMetricView(AtriumModelView):
    datamodel = AtriumInterface(m.PerformanceMetric)
    class_permission_name = "PerformanceMetric"
    list_title = "Performance metrics"
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
    label_columns = {"project.name": "Project", "lcp_s": "LCP (s)", "inp_ms": "INP (ms)",
                     "fid_ms": "FID (ms)", "cls": "CLS", "lighthouse_performance": "Performance",
                     "lighthouse_accessibility": "Accessibility", "lighthouse_best_practices": "Best practices",
                     "lighthouse_seo": "SEO"}
    description_columns = {"grade": "Derived from the scores and Core Web Vitals (see docs)."}


class MonitorCheckView(AtriumModelView):
    datamodel = AtriumInterface(m.MonitorCheck)
    class_permission_name = "MonitorCheck"
    list_title = "Monitor checks"
    list_columns = ["monitor.url", "checked_at", "ok", "status_code", "latency_ms", "error"]
    search_columns = ["monitor", "ok", "checked_at", "status_code"]
    base_permissions = ["can_read"]
    base_order = ("checked_at", "desc")
    label_columns = {"monitor.url": "Monitor"}


class MonitorView(AtriumModelView):
    datamodel = AtriumInterface(m.Monitor)
    class_permission_name = "Monitor"
    extra_args = {"run_now": ("monitor",)}  # "Check now" on the monitor's page (app.views.jobs)
    list_title = "Uptime monitors"
    list_columns = ["project.name", "url", "method", "expected_status", "interval_seconds", "enabled",
                    "state", "consecutive_failures", "last_checked_at"]
    search_columns = ["project", "url", "state", "enabled"]
    add_columns = edit_columns = ["project", "url", "method", "expected_status", "keyword",
                                  "timeout_seconds", "interval_seconds", "enabled"]
    show_exclude_columns = ["client"]
    validators_columns = {
        "url": [URL(require_tld=False, message="Enter a full URL such as https://example.com/health.")],
        "expected_status": [NumberRange(min=100, max=599, message="Must be an HTTP status between 100 and 599.")],
        "timeout_seconds": [NumberRange(min=1, max=120, message="Timeout must be between 1 and 120 seconds.")],
        "interval_seconds": [Optional(), NumberRange(min=30, message="Checks run at most every 30 seconds.")],
    }
    related_views = [MonitorCheckView]
    base_order = ("id", "asc")
    label_columns = {"project.name": "Project", "interval_seconds": "Interval (s)",
                     "timeout_seconds": "Timeout (s)"}
    description_columns = {"interval_seconds": "Empty: the client's tier decides (15, 5 or 1 min)."}


class IncidentUpdateView(AtriumModelView):
    datamodel = AtriumInterface(m.IncidentUpdate)
    class_permission_name = "IncidentUpdate"
    list_title = "Incident updates"
    list_columns = ["incident.title", "at", "status", "message", "author"]
    search_columns = ["incident", "status", "at"]
    add_columns = edit_columns = ["incident", "status", "message", "at"]  # the author is whoever writes it
    base_order = ("at", "desc")
    label_columns = {"incident.title": "Incident"}


class IncidentView(AtriumModelView):
    datamodel = AtriumInterface(m.Incident)
    class_permission_name = "Incident"
    list_title = "Incidents"
    list_columns = ["project.name", "title", "severity", "status", "started_at", "resolved_at",
                    "downtime_minutes", "source"]
    search_columns = ["project", "title", "severity", "status", "source", "started_at"]
    add_columns = edit_columns = [
        "project", "monitor", "title", "description", "severity", "status", "started_at", "resolved_at",
        "affected_users", "revenue_impact", "root_cause", "resolution_notes", "source"]
    show_exclude_columns = ["client"]
    validators_columns = {
        "resolved_at": [not_before("started_at", "the start", "Resolved at")],
        "revenue_impact": [MONEY],
        "affected_users": [Optional(), NumberRange(min=0)],
    }
    related_views = [IncidentUpdateView]
    base_order = ("started_at", "desc")
    label_columns = {"project.name": "Project", "downtime_minutes": "Downtime (min)"}
    description_columns = {"downtime_minutes": "Derived from start and resolution."}


class TicketMessageView(AtriumModelView):
    datamodel = AtriumInterface(m.TicketMessage)
    class_permission_name = "TicketMessage"
    list_title = "Ticket messages"
    list_columns = ["ticket.subject", "created_at", "author", "internal", "body"]
    search_columns = ["ticket", "author", "internal", "body"]
    # No author field: a message's author is whoever is signed in (the true user while
    # viewing as), stamped on flush by ``services.lifecycle`` for every door.
    add_columns = edit_columns = ["ticket", "body", "internal"]
    base_order = ("created_at", "asc")
    label_columns = {"ticket.subject": "Ticket", "internal": "Internal note"}
    description_columns = {"internal": "Internal notes are never shown to the client."}


class TicketView(AtriumModelView):
    datamodel = AtriumInterface(m.Ticket)
    class_permission_name = "Ticket"
    list_title = "Support tickets"
    list_columns = ["id", "client.name", "subject", "priority", "status", "sla_state",
                    "first_response_due_at", "assignee.username", "created_at"]
    # No relation drop-downs here: FAB would load every client, user and project on each
    # page view of a 200k-row list. A client's tickets are on the client's page.
    search_columns = ["id", "subject", "priority", "status", "sla_state", "created_at", "first_response_due_at"]
    add_columns = ["client", "project", "subject", "description", "priority", "status", "assignee"]
    edit_columns = ["project", "subject", "description", "priority", "status", "assignee"]
    show_columns = ["id", "client", "project", "subject", "description", "priority", "status",
                    "assignee", "opened_by", "sla_hours", "first_response_due_at", "first_response_at",
                    "sla_state", "resolved_at", "created_at", "updated_at"]
    related_views = [TicketMessageView]
    base_order = ("created_at", "desc")
    label_columns = {"client.name": "Client", "assignee.username": "Assignee", "sla_state": "SLA",
                     "first_response_due_at": "First response due", "id": "#"}


class CampaignMetricView(AtriumModelView):
    datamodel = AtriumInterface(m.CampaignMetric)
    class_permission_name = "CampaignMetric"
    list_title = "Campaign daily metrics"
    list_columns = ["campaign.name", "date", "impressions", "clicks", "conversions", "cost", "revenue",
                    "ctr", "cpc", "cpa", "roas"]
    search_columns = ["campaign", "date"]
    add_columns = edit_columns = ["campaign", "date", "impressions", "clicks", "conversions", "cost", "revenue"]
    show_columns = list_columns
    validators_columns = {"cost": [MONEY], "revenue": [MONEY],
                          "impressions": [NumberRange(min=0)], "clicks": [NumberRange(min=0)],
                          "conversions": [NumberRange(min=0)]}
    base_order = ("date", "desc")
    label_columns = {"campaign.name": "Campaign", "ctr": "CTR (%)", "cpc": "CPC", "cpa": "CPA", "roas": "ROAS"}


class CampaignView(AtriumModelView):
    datamodel = AtriumInterface(m.Campaign)
    class_permission_name = "Campaign"
    extra_args = {"run_now": ("campaign",), "csv_import": True}  # "Sync now", "Import CSV"
    list_title = "Ad campaigns"
    list_columns = ["client.name", "name", "platform", "status", "budget_daily", "budget_total",
                    "spent_total", "start_date", "end_date", "last_synced_at"]
    search_columns = ["client", "name", "platform", "status", "external_id"]
    add_columns = ["client", "project", "name", "platform", "external_id", "status", "budget_total",
                   "budget_daily", "start_date", "end_date"]
    edit_columns = ["project", "name", "status", "budget_total", "budget_daily", "start_date", "end_date"]
    show_columns = ["client", "project", "name", "platform", "external_id", "status", "budget_total",
                    "budget_daily", "spent_total", "start_date", "end_date", "last_synced_at"]
    validators_columns = {"budget_total": [MONEY], "budget_daily": [MONEY],
                          "end_date": [not_before("start_date", "the start date", "End date")]}
    related_views = [CampaignMetricView]
    base_order = ("name", "asc")
    label_columns = {"client.name": "Client", "spent_total": "Spent (derived)"}


class DomainView(AtriumModelView):
    datamodel = AtriumInterface(m.Domain)
    class_permission_name = "Domain"
    extra_args = {"run_now": ("domain_tls", "domain_expiry")}
    list_title = "Domains"
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
        "renewal_date": [not_before("registered_on", "the registration date", "Renewal date")],
    }
    add_form_extra_fields = edit_form_extra_fields = {
        "nameservers": json_list_field(
            "Nameservers", validation.nameservers, 'JSON list, e.g. ["ns1.example.net", "ns2.example.net"]'),
        "dns_records": json_list_field(
            "DNS records", validation.dns_records,
            'JSON list of {"type", "name", "value", "ttl", "priority"} (priority for MX/SRV).'),
        **contact_fields(),
    }
    base_order = ("name", "asc")
    label_columns = {"client.name": "Client", "ssl_status": "SSL", "ssl_expires_at": "SSL expires"}


class ProjectView(AtriumModelView):
    datamodel = AtriumInterface(m.Project)
    class_permission_name = "Project"
    list_title = "Projects"
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
        "estimated_delivery": [not_before("start_date", "the start date", "Estimated delivery")],
        "actual_delivery": [not_before("start_date", "the start date", "Actual delivery")],
        "site_url": [Optional(), URL(message="Enter a full URL such as https://example.com.")],
    }
    related_views = [MilestoneView, InfrastructureView, MonitorView, IncidentView, NetworkUsageView,
                     PerformanceMetricView]
    base_order = ("name", "asc")
    label_columns = {"client.name": "Client", "manager.username": "Manager",
                     "completion_percent": "Completion (%)"}


class ClientMemberView(AtriumModelView):
    datamodel = AtriumInterface(m.ClientMember)
    class_permission_name = "ClientMember"
    list_title = "Client members"
    list_columns = ["client.name", "user.username", "user.email", "role", "user_id"]
    search_columns = ["client", "user", "role"]
    add_columns = ["client", "user", "role"]
    edit_columns = ["role"]
    base_order = ("client_id", "asc")
    label_columns = {"client.name": "Client", "user.username": "User", "user.email": "Email", "user_id": "View as"}
    # "View as" (SPEC §5) on every row and on the member's page, for Admin and Operator.
    formatters_columns = {"user_id": view_as_button}
    show_template = "atrium/client_member_show.html"



def _report_month(form, field):
    """The add form's period: any day of a finished month, stored as its first day."""
    if field.data is None:
        return
    try:
        field.data = report_data.check_reportable(field.data.replace(day=1))
    except InvalidInput as exc:
        raise ValidationError(exc.message) from None


def _report_actions(pk) -> Markup:
    """The PDF link; on the list also each row's "Generate report" (the report's page
    has that button above the record)."""
    generate = jobs_views.run_now_button("report", pk) if (request.endpoint or "").endswith(".list") else ""
    return Markup('<a class="btn btn-sm btn-default" href="{}"><i class="fa fa-download"></i> PDF</a> {}').format(
        url_for("ReportView.download", pk=pk), generate)


class ReportView(AtriumModelView):
    """Monthly client reports (``services.reports``): the PDF's download (Report read) and
    "Generate report" (Report write); adding a report for a client and month renders it."""

    datamodel = AtriumInterface(m.Report)
    class_permission_name = "Report"
    extra_args = {"run_now": ("report",)}  # "Generate report" on the report's page
    list_title = "Reports"
    list_columns = ["client.name", "period", "status", "generated_at", "error", "id"]
    show_columns = ["client", "period", "status", "generated_at", "error", "id", "created_at", "updated_at"]
    search_columns = ["client", "period", "status"]
    add_columns = ["client", "period"]
    edit_columns = ["status"]
    validators_columns = {"period": [_report_month]}
    base_order = ("period", "desc")
    label_columns = {"client.name": "Client", "id": "PDF"}
    description_columns = {"period": "Any day of the month to report on (a month that is over)."}
    formatters_columns = {"id": _report_actions, "period": lambda d: f"{d:%Y-%m}" if d else ""}

    def post_add(self, item):
        """Render the new report now (or queue it on the reports queue)."""
        try:
            jobs.enqueue("reports.generate", report_id=item.id)
        except Exception as exc:  # noqa: BLE001 - the Report row and its JobRun say why
            db.session.rollback()
            flash(f"The report was added but its generation failed: {getattr(exc, 'message', exc)}", "danger")

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        report = db.session.get(m.Report, pk)
        if report is None:
            abort(404, description=f"There is no report {pk}.")
        try:
            path, name = reports.pdf_to_send(db.session, report, current_app.config)
        except NotFound as exc:
            abort(404, description=f"{exc.message} Generate it from its page.")
        return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=name)


class StorageFolderView(AtriumModelView):
    datamodel = AtriumInterface(m.StorageFolder)
    class_permission_name = "StorageFolder"
    list_title = "Folders"
    list_columns = ["client.name", "path", "name"]
    search_columns = ["client", "path", "name"]
    add_columns = ["client", "parent", "name", "path"]
    edit_columns = ["name"]
    base_order = ("path", "asc")
    label_columns = {"client.name": "Client"}


class StorageFileView(AtriumModelView):
    datamodel = AtriumInterface(m.StorageFile)
    class_permission_name = "StorageFile"
    list_title = "Files"
    list_columns = ["client.name", "file_name", "mime_type", "size_bytes", "uploaded_by", "created_at"]
    search_columns = ["client", "project", "file_name", "mime_type"]
    add_columns = []  # files arrive by upload (portal, ticket attachments), not by typing
    edit_columns = ["project", "folder", "file_name"]
    show_exclude_columns = ["stored_path"]
    base_order = ("created_at", "desc")
    label_columns = {"client.name": "Client", "size_bytes": "Size (bytes)"}


class ClientView(AtriumModelView):
    datamodel = AtriumInterface(m.Client)
    class_permission_name = "Client"
    extra_args = {"run_now": ("client_report",)}  # "Generate last month's report" (Report write)
    list_title = "Clients"
    list_columns = ["name", "slug", "tier", "status", "contact_email", "created_at"]
    search_columns = ["name", "slug", "tier", "status", "contact_email"]
    add_columns = ["name", "slug", "tier", "status", "contact_email", "timezone",
                   "brand_primary_color", "internal_notes"]
    # A new client starts on its plan; exceptions are set afterwards, on purpose.
    edit_columns = add_columns + ["limit_overrides"]
    edit_form_extra_fields = {"limit_overrides": LimitOverridesField(
        "Limit overrides",
        description="Per-client exceptions to the plan: leave empty for the plan's limit, type a whole number "
                    "(GB for storage) to lift or lower it, or “unlimited”. Who set it and when is recorded.")}
    formatters_columns = {"limit_overrides": format_limit_overrides}
    label_columns = {"limit_overrides_set_by": "Overrides set by", "limit_overrides_set_at": "Overrides set at"}
    show_columns = ["name", "slug", "tier", "status", "contact_email", "timezone", "limit_overrides",
                    "limit_overrides_set_by", "limit_overrides_set_at", "subscription_status",
                    "current_period_end", "brand_primary_color", "internal_notes", "created_at", "updated_at"]
    validators_columns = {
        "slug": [Regexp(r"^[a-z0-9][a-z0-9-]{1,62}$",
                        message="Use 2–63 lower-case letters, digits or hyphens (e.g. acme-ltda).")],
        "contact_email": [Email(message="Enter a valid email address.")],
        "brand_primary_color": [Optional(), Regexp(r"^#[0-9a-fA-F]{6}$", message="Use a colour like #1a73e8.")],
        "timezone": [Length(max=64)],
    }
    related_views = [ClientMemberView, ProjectView, DomainView, TicketView, CampaignView, IncidentView,
                     ReportView]
    base_order = ("name", "asc")


class ClientBillingView(AtriumModelView):
    """Billing fields of a client: Admin only (SPEC §1)."""

    datamodel = AtriumInterface(m.Client)
    class_permission_name = "ClientBilling"
    list_title = "Billing"
    list_columns = ["name", "tier", "subscription_status", "stripe_customer_id", "current_period_end"]
    search_columns = ["name", "tier", "subscription_status", "stripe_customer_id"]
    edit_columns = ["stripe_customer_id", "stripe_subscription_id", "subscription_status",
                    "current_period_start", "current_period_end"]
    add_columns = []
    show_columns = ["name", "tier"] + edit_columns
    base_permissions = ["can_read", "can_write"]
    validators_columns = {"current_period_end": [not_before("current_period_start", "the period start",
                                                            "Period end")]}
    base_order = ("name", "asc")


class BillingEventView(AtriumModelView):
    datamodel = AtriumInterface(m.BillingEvent)
    class_permission_name = "BillingEvent"
    list_title = "Billing events"
    list_columns = ["received_at", "type", "provider_event_id", "outcome", "processed_at"]
    search_columns = ["type", "provider_event_id", "outcome"]
    base_permissions = ["can_read"]
    base_order = ("received_at", "desc")


def register(appbuilder) -> None:
    add = appbuilder.add_view
    add(ClientView, "Clients", icon="fa-building", category="Clients", category_icon="fa-building")
    add(ClientMemberView, "Members", icon="fa-users", category="Clients")
    add(ClientBillingView, "Billing", icon="fa-credit-card", category="Clients")
    add(BillingEventView, "Billing events", icon="fa-list", category="Clients")
    add(ProjectView, "Projects", icon="fa-briefcase", category="Delivery", category_icon="fa-briefcase")
    add(MilestoneView, "Milestones", icon="fa-flag", category="Delivery")
    add(InfrastructureView, "Infrastructure", icon="fa-server", category="Delivery")
    add(NetworkUsageView, "Network usage", icon="fa-exchange", category="Delivery")
    add(PerformanceMetricView, "Performance", icon="fa-tachometer", category="Delivery")
    add(DomainView, "Domains", icon="fa-globe", category="Delivery")
    add(TicketView, "Tickets", icon="fa-life-ring", category="Support", category_icon="fa-life-ring")
    add(TicketMessageView, "Ticket messages", icon="fa-comments", category="Support")
    add(StorageFileView, "Files", icon="fa-file", category="Support")
    add(StorageFolderView, "Folders", icon="fa-folder", category="Support")
    add(MonitorView, "Monitors", icon="fa-heartbeat", category="Monitoring", category_icon="fa-heartbeat")
    add(MonitorCheckView, "Checks", icon="fa-check", category="Monitoring")
    add(IncidentView, "Incidents", icon="fa-fire", category="Monitoring")
    add(IncidentUpdateView, "Incident updates", icon="fa-bullhorn", category="Monitoring")
    add(CampaignView, "Campaigns", icon="fa-bullseye", category="Marketing", category_icon="fa-bullseye")
    add(CampaignMetricView, "Daily metrics", icon="fa-line-chart", category="Marketing")
    add(ReportView, "Reports", icon="fa-file-pdf-o", category="Marketing")
