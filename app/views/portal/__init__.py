"""The client portal (role ``Client``): their own organisation only (SPEC §1, §4).

Thin doors. Tenancy is not here: every query these views run is scoped to the user's
client by ``app.tenancy.guard`` (PostgreSQL's row-level security repeats it), so a
row of another client is simply not found (404). What a membership role may change is
``app.tenancy.check_write``, asked before any write endpoint runs (403 with the
reason); tier limits are ``services.tiers`` (a message naming the plan); ticket rules
are ``services.tickets``; files are ``services.storage``.

Staff-only fields (internal notes, costs, assignees, internal ticket messages) are not
in any column list here, and internal messages are filtered below the views anyway.

Projects and domains have an edit form with their contact data only (owner/admin,
SPEC §1); no add or delete route. The form is a convenience: the write guard refuses a
client user's change to any other attribute (``tenancy.CLIENT_EDITABLE_FIELDS``).
"""

from __future__ import annotations

import json

from flask import abort
from flask_appbuilder import BaseView, expose, has_access
from markupsafe import Markup

from app.extensions import db
from app.services import portal as portal_service
from app.views.portal.base import portal_scope
from app.views.portal.campaigns import PortalCampaignMetricView, PortalCampaignView, PortalReportView
from app.views.portal.files import PortalFileView
from app.views.portal.projects import PortalDomainView, PortalInfrastructureView, PortalMilestoneView, PortalProjectView
from app.views.portal.support import PortalIncidentUpdateView, PortalIncidentView, PortalTicketView
from app.views.portal.team import PortalTeamView


class PortalDashboardView(BaseView):
    route_base = "/portal"
    class_permission_name = "PortalDashboard"
    method_permission_name = {"show": "read"}
    default_view = "show"

    @expose("/")
    @has_access
    def show(self):
        scope = portal_scope()
        if not scope.is_client:
            abort(404)
        data = portal_service.client_dashboard(db.session, scope.client_id)
        chart = Markup(json.dumps(data["campaigns"]["series"]).replace("</", "<\\/"))
        return self.render_template("portal/dashboard.html", d=data, chart_json=chart)


PORTAL_MENU = (
    (PortalDashboardView, "Overview", "fa-home"),
    (PortalProjectView, "Projects", "fa-folder-open"),
    (PortalTicketView, "Tickets", "fa-life-ring"),
    (PortalFileView, "Files", "fa-file"),
    (PortalCampaignView, "Campaigns", "fa-line-chart"),
    (PortalIncidentView, "Incidents", "fa-exclamation-triangle"),
    (PortalDomainView, "Domains", "fa-globe"),
    (PortalInfrastructureView, "Infrastructure", "fa-server"),
    (PortalReportView, "Reports", "fa-file-pdf-o"),
    (PortalTeamView, "Team", "fa-users"),
)
PORTAL_HIDDEN = (PortalMilestoneView, PortalCampaignMetricView, PortalIncidentUpdateView)


def register(appbuilder) -> None:
    for view in PORTAL_HIDDEN:
        appbuilder.add_view_no_menu(view)
    # Menu entries are named "Portal <label>": FAB shows an entry to whoever holds
    # ``menu_access`` on its name, and the staff console has entries labelled the same
    # ("Projects", "Tickets" ...); one shared name showed the portal's to staff.
    for view, label, icon in PORTAL_MENU:
        appbuilder.add_view(view, f"Portal {label}", label=label, icon=icon)
