"""The operator console: one Flask-AppBuilder CRUD view per entity of SPEC §3.

Views only describe columns, filters, ordering, related lists and form validators;
every rule they show (derived KPIs, SLA, grades, downtime) is computed by services.
Derived columns are never in a form.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.views.staff.clients import BillingEventView, ClientBillingView, ClientMemberView, ClientView
from app.views.staff.delivery import (
    DomainView, InfrastructureView, MilestoneView, NetworkUsageView, PerformanceMetricView, ProjectView,
)
from app.views.staff.marketing import CampaignMetricView, CampaignView, ReportView
from app.views.staff.monitoring import IncidentUpdateView, IncidentView, MonitorCheckView, MonitorView
from app.views.staff.queues import StaffAlertView, StaffSettingsView, SupportQueueView
from app.views.staff.support import StorageFileView, StorageFolderView, TicketMacroView, TicketMessageView, TicketView


def register(appbuilder) -> None:
    """The staff menus. Each entry's name (and its category's) is its permission, in
    English; ``label``/``category_label`` are the words people read, in their language."""
    def add(view, name, label, category, category_label, **kwargs):
        appbuilder.add_view(view, name, label=label, category=category, category_label=category_label, **kwargs)

    clients, delivery = _l("Clients"), _l("Delivery")
    add(ClientView, "Clients", _l("Clients"), "Clients", clients, icon="fa-building", category_icon="fa-building")
    add(ClientMemberView, "Members", _l("Members"), "Clients", clients, icon="fa-users")
    add(ClientBillingView, "Billing", _l("Billing"), "Clients", clients, icon="fa-credit-card")
    add(BillingEventView, "Billing events", _l("Billing events"), "Clients", clients, icon="fa-list")
    add(ProjectView, "Projects", _l("Projects"), "Delivery", delivery, icon="fa-briefcase",
        category_icon="fa-briefcase")
    add(MilestoneView, "Milestones", _l("Milestones"), "Delivery", delivery, icon="fa-flag")
    add(InfrastructureView, "Infrastructure", _l("Infrastructure"), "Delivery", delivery, icon="fa-server")
    add(NetworkUsageView, "Network usage", _l("Network usage"), "Delivery", delivery, icon="fa-exchange")
    add(PerformanceMetricView, "Performance", _l("Performance"), "Delivery", delivery, icon="fa-tachometer")
    add(DomainView, "Domains", _l("Domains"), "Delivery", delivery, icon="fa-globe")
    support = _l("Support")
    queues = appbuilder.add_view_no_menu(SupportQueueView)
    for slug, title, label, icon in (
            ("mine", "My open tickets", _l("My open tickets"), "fa-user"),
            ("unassigned", "Unassigned", _l("Unassigned"), "fa-inbox"),
            ("at-risk", "At risk and breached", _l("At risk and breached"), "fa-exclamation-triangle"),
            ("waiting", "Waiting on client", _l("Waiting on client"), "fa-hourglass-half"),
            ("open", "All open", _l("All open"), "fa-list")):
        appbuilder.add_link(title, href=f"/support/queues/{slug}", icon=icon, label=label, category="Support",
                            category_icon="fa-life-ring", category_label=support, baseview=queues)
    appbuilder.add_link("Alerts", href="/support/alerts/", icon="fa-bell", label=_l("Alerts"), category="Support",
                        category_label=support, baseview=appbuilder.add_view_no_menu(StaffAlertView))
    appbuilder.add_separator("Support")
    add(TicketView, "Tickets", _l("Tickets"), "Support", support, icon="fa-life-ring", category_icon="fa-life-ring")
    add(TicketMessageView, "Ticket messages", _l("Ticket messages"), "Support", support, icon="fa-comments")
    add(TicketMacroView, "Macros", _l("Macros"), "Support", support, icon="fa-magic")
    add(StorageFileView, "Files", _l("Files"), "Support", support, icon="fa-file")
    add(StorageFolderView, "Folders", _l("Folders"), "Support", support, icon="fa-folder")
    appbuilder.add_link("My settings", href="/support/settings/", icon="fa-clock-o", label=_l("My settings"),
                        category="Support", category_label=support,
                        baseview=appbuilder.add_view_no_menu(StaffSettingsView))
    monitoring, marketing = _l("Monitoring"), _l("Marketing")
    add(MonitorView, "Monitors", _l("Monitors"), "Monitoring", monitoring, icon="fa-heartbeat",
        category_icon="fa-heartbeat")
    add(MonitorCheckView, "Checks", _l("Checks"), "Monitoring", monitoring, icon="fa-check")
    add(IncidentView, "Incidents", _l("Incidents"), "Monitoring", monitoring, icon="fa-fire")
    add(IncidentUpdateView, "Incident updates", _l("Incident updates"), "Monitoring", monitoring, icon="fa-bullhorn")
    add(CampaignView, "Campaigns", _l("Campaigns"), "Marketing", marketing, icon="fa-bullseye",
        category_icon="fa-bullseye")
    add(CampaignMetricView, "Daily metrics", _l("Daily metrics"), "Marketing", marketing, icon="fa-line-chart")
    add(ReportView, "Reports", _l("Reports"), "Marketing", marketing, icon="fa-file-pdf-o")
