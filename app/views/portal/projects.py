"""Portal views of a client's projects, their milestones and infrastructure, and its
domains (contact data editable by owner and admin)."""

from __future__ import annotations


from app import models as m
from app import tenancy
from app.views.forms import contact_fields
from app.views.interface import AtriumInterface
from app.views.portal.base import PortalModelView

class PortalMilestoneView(PortalModelView):
    datamodel = AtriumInterface(m.Milestone)
    class_permission_name = "PortalProject"
    route_base = "/portal/milestones"
    list_title = "Milestones"
    list_columns = ["title", "due_date", "completed_at", "deliverable"]
    show_columns = list_columns
    search_columns = ["title", "due_date"]
    base_order = ("due_date", "asc")


class PortalContactEditMixin:
    """Edit the contact data of a row, nothing else; no add/delete routes at all."""

    base_permissions = ["can_read", "can_write"]
    portal_routes = frozenset({"edit"})
    add_columns = edit_columns = list(tenancy.CONTACT_FIELDS)  # add: no route; FAB builds the form anyway
    edit_form_extra_fields = contact_fields()
    edit_title = "Edit contact details"
    edit_row_message = "The contact details were saved."


class PortalProjectView(PortalContactEditMixin, PortalModelView):
    datamodel = AtriumInterface(m.Project)
    class_permission_name = "PortalProject"
    route_base = "/portal/projects"
    list_title = "Projects"
    list_columns = ["name", "status", "completion_percent", "start_date", "estimated_delivery", "site_url"]
    show_columns = ["name", "description", "status", "completion_percent", "start_date", "estimated_delivery",
                    "actual_delivery", "site_url", "budget_total", "budget_used", "contact_name", "contact_email",
                    "contact_phone"]
    search_columns = ["name", "status"]
    label_columns = {"completion_percent": "Progress (%)"}
    related_views = [PortalMilestoneView]
    base_order = ("name", "asc")


class PortalInfrastructureView(PortalModelView):
    datamodel = AtriumInterface(m.Infrastructure)
    class_permission_name = "PortalInfrastructure"
    route_base = "/portal/infrastructure"
    list_title = "Infrastructure"
    # Hosting costs are the agency's: not shown.
    list_columns = ["project.name", "hosting_provider", "hosting_plan", "hosting_status", "cdn_provider",
                    "cdn_cache_hit_rate", "db_backup_status", "db_last_backup_at"]
    show_columns = ["project", "hosting_provider", "hosting_plan", "hosting_status", "cdn_provider",
                    "cdn_bandwidth_gb", "cdn_cache_hit_rate", "db_provider", "db_size_mb", "db_backup_status",
                    "db_last_backup_at"]
    search_columns = ["hosting_provider", "hosting_status", "db_backup_status"]
    label_columns = {"project.name": "Project", "cdn_cache_hit_rate": "CDN cache hit rate (%)"}
    base_order = ("project_id", "asc")


class PortalDomainView(PortalContactEditMixin, PortalModelView):
    datamodel = AtriumInterface(m.Domain)
    class_permission_name = "PortalDomain"
    route_base = "/portal/domains"
    list_title = "Domains"
    list_columns = ["name", "status", "ssl_status", "ssl_expires_at", "renewal_date", "auto_renew"]
    show_columns = ["name", "project", "status", "nameservers", "dns_records", "ssl_status", "ssl_issuer",
                    "ssl_expires_at", "registrar", "registered_on", "renewal_date", "auto_renew", "contact_name",
                    "contact_email", "contact_phone"]
    search_columns = ["name", "status", "ssl_status"]
    base_order = ("name", "asc")
