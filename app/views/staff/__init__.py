"""The operator console: one Flask-AppBuilder CRUD view per entity of SPEC §3.

Views only describe columns, filters, ordering, related lists and form validators;
every rule they show (derived KPIs, SLA, grades, downtime) is computed by services.
Derived columns are never in a form.
"""

from __future__ import annotations

from app.views.staff.clients import BillingEventView, ClientBillingView, ClientMemberView, ClientView
from app.views.staff.delivery import (
    DomainView, InfrastructureView, MilestoneView, NetworkUsageView, PerformanceMetricView, ProjectView,
)
from app.views.staff.marketing import CampaignMetricView, CampaignView, ReportView
from app.views.staff.monitoring import IncidentUpdateView, IncidentView, MonitorCheckView, MonitorView
from app.views.staff.queues import StaffAlertView, StaffSettingsView, SupportQueueView
from app.views.staff.support import StorageFileView, StorageFolderView, TicketMacroView, TicketMessageView, TicketView


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
    queues = appbuilder.add_view_no_menu(SupportQueueView)
    for slug, title, icon in (("mine", "My open tickets", "fa-user"), ("unassigned", "Unassigned", "fa-inbox"),
                              ("at-risk", "At risk and breached", "fa-exclamation-triangle"),
                              ("waiting", "Waiting on client", "fa-hourglass-half"), ("open", "All open", "fa-list")):
        appbuilder.add_link(title, href=f"/support/queues/{slug}", icon=icon, category="Support",
                            category_icon="fa-life-ring", baseview=queues)
    appbuilder.add_link("Alerts", href="/support/alerts/", icon="fa-bell", category="Support",
                        baseview=appbuilder.add_view_no_menu(StaffAlertView))
    appbuilder.add_separator("Support")
    add(TicketView, "Tickets", icon="fa-life-ring", category="Support", category_icon="fa-life-ring")
    add(TicketMessageView, "Ticket messages", icon="fa-comments", category="Support")
    add(TicketMacroView, "Macros", icon="fa-magic", category="Support")
    add(StorageFileView, "Files", icon="fa-file", category="Support")
    add(StorageFolderView, "Folders", icon="fa-folder", category="Support")
    appbuilder.add_link("My settings", href="/support/settings/", icon="fa-clock-o", category="Support",
                        baseview=appbuilder.add_view_no_menu(StaffSettingsView))
    add(MonitorView, "Monitors", icon="fa-heartbeat", category="Monitoring", category_icon="fa-heartbeat")
    add(MonitorCheckView, "Checks", icon="fa-check", category="Monitoring")
    add(IncidentView, "Incidents", icon="fa-fire", category="Monitoring")
    add(IncidentUpdateView, "Incident updates", icon="fa-bullhorn", category="Monitoring")
    add(CampaignView, "Campaigns", icon="fa-bullseye", category="Marketing", category_icon="fa-bullseye")
    add(CampaignMetricView, "Daily metrics", icon="fa-line-chart", category="Marketing")
    add(ReportView, "Reports", icon="fa-file-pdf-o", category="Marketing")
