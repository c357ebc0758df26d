"""Portal views of a client's projects, their milestones and infrastructure, and its
domains (contact data editable by owner and admin)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app import models as m
from app import tenancy
from app.views.forms import contact_fields
from app.views.interface import AtriumInterface
from app.views.portal.base import PortalModelView

# The contact fields' labels (projects and domains).
CONTACT_LABELS = {"contact_name": _l("Contact Name"), "contact_email": _l("Contact Email"),
                  "contact_phone": _l("Contact Phone")}


class PortalMilestoneView(PortalModelView):
    datamodel = AtriumInterface(m.Milestone)
    class_permission_name = "PortalProject"
    route_base = "/portal/milestones"
    list_title = _l("Milestones")
    show_title = _l("Show Milestone")
    list_columns = ["title", "due_date", "completed_at", "deliverable"]
    label_columns = {"title": _l("Title"), "due_date": _l("Due Date"), "completed_at": _l("Completed At"),
                     "deliverable": _l("Deliverable")}
    show_columns = list_columns
    search_columns = ["title", "due_date"]
    base_order = ("due_date", "asc")


class PortalContactEditMixin:
    """Edit the contact data of a row, nothing else; no add/delete routes at all."""

    base_permissions = ["can_read", "can_write"]
    portal_routes = frozenset({"edit"})
    add_columns = edit_columns = list(tenancy.CONTACT_FIELDS)  # add: no route; FAB builds the form anyway
    edit_form_extra_fields = contact_fields()
    edit_title = _l("Edit contact details")
    edit_row_message = _l("The contact details were saved.")


class PortalProjectView(PortalContactEditMixin, PortalModelView):
    datamodel = AtriumInterface(m.Project)
    class_permission_name = "PortalProject"
    route_base = "/portal/projects"
    list_title = _l("Projects")
    show_title = _l("Show Project")
    list_columns = ["name", "status", "completion_percent", "start_date", "estimated_delivery", "site_url"]
    show_columns = ["name", "description", "status", "completion_percent", "start_date", "estimated_delivery",
                    "actual_delivery", "site_url", "budget_total", "budget_used", "contact_name", "contact_email",
                    "contact_phone"]
    search_columns = ["name", "status"]
    label_columns = {"name": _l("Name"), "description": _l("Description"), "status": _l("Status"),
                     "completion_percent": _l("Progress (%)"), "start_date": _l("Start Date"),
                     "estimated_delivery": _l("Estimated Delivery"), "actual_delivery": _l("Actual Delivery"),
                     "site_url": _l("Site Url"), "budget_total": _l("Budget Total"), "budget_used": _l("Budget Used"),
                     **CONTACT_LABELS}
    related_views = [PortalMilestoneView]
    base_order = ("name", "asc")


class PortalInfrastructureView(PortalModelView):
    datamodel = AtriumInterface(m.Infrastructure)
    class_permission_name = "PortalInfrastructure"
    route_base = "/portal/infrastructure"
    list_title = _l("Infrastructure")
    show_title = _l("Show Infrastructure")
    # Hosting costs are the agency's: not shown.
    list_columns = ["project.name", "hosting_provider", "hosting_plan", "hosting_status", "cdn_provider",
                    "cdn_cache_hit_rate", "db_backup_status", "db_last_backup_at"]
    show_columns = ["project", "hosting_provider", "hosting_plan", "hosting_status", "cdn_provider",
                    "cdn_bandwidth_gb", "cdn_cache_hit_rate", "db_provider", "db_size_mb", "db_backup_status",
                    "db_last_backup_at"]
    search_columns = ["hosting_provider", "hosting_status", "db_backup_status"]
    label_columns = {"project.name": _l("Project"), "project": _l("Project"), "hosting_provider": _l("Hosting Provider"),
                     "hosting_plan": _l("Hosting Plan"), "hosting_status": _l("Hosting Status"),
                     "cdn_provider": _l("Cdn Provider"), "cdn_bandwidth_gb": _l("Cdn Bandwidth Gb"),
                     "cdn_cache_hit_rate": _l("CDN cache hit rate (%)"), "db_provider": _l("Db Provider"),
                     "db_size_mb": _l("Db Size Mb"), "db_backup_status": _l("Db Backup Status"),
                     "db_last_backup_at": _l("Db Last Backup At")}
    base_order = ("project_id", "asc")


class PortalDomainView(PortalContactEditMixin, PortalModelView):
    datamodel = AtriumInterface(m.Domain)
    class_permission_name = "PortalDomain"
    route_base = "/portal/domains"
    list_title = _l("Domains")
    show_title = _l("Show Domain")
    list_columns = ["name", "status", "ssl_status", "ssl_expires_at", "renewal_date", "auto_renew"]
    show_columns = ["name", "project", "status", "nameservers", "dns_records", "ssl_status", "ssl_issuer",
                    "ssl_expires_at", "registrar", "registered_on", "renewal_date", "auto_renew", "contact_name",
                    "contact_email", "contact_phone"]
    search_columns = ["name", "status", "ssl_status"]
    label_columns = {"name": _l("Name"), "project": _l("Project"), "status": _l("Status"),
                     "nameservers": _l("Nameservers"), "dns_records": _l("Dns Records"), "ssl_status": _l("Ssl Status"),
                     "ssl_issuer": _l("Ssl Issuer"), "ssl_expires_at": _l("Ssl Expires At"), "registrar": _l("Registrar"),
                     "registered_on": _l("Registered On"), "renewal_date": _l("Renewal Date"),
                     "auto_renew": _l("Auto Renew"), **CONTACT_LABELS}
    base_order = ("name", "asc")
