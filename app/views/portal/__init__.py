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
import re

from flask import abort, current_app, url_for
from flask_appbuilder import BaseView, expose, has_access
from markupsafe import Markup

from app.extensions import db
from app.models import Tier
from app.services import portal as portal_service
from app.services import tiers
from app.views.files import send_stored
from app.views.forms import viewer_client
from app.views.portal.base import portal_scope
from app.views.portal.campaigns import PortalCampaignMetricView, PortalCampaignView, PortalReportView
from app.views.portal.files import PortalFileView
from app.views.portal.projects import PortalDomainView, PortalInfrastructureView, PortalMilestoneView, PortalProjectView
from app.views.portal.support import PortalIncidentUpdateView, PortalIncidentView, PortalTicketView
from app.views.portal.team import PortalTeamView


def portal_brand():
    """The navbar's brand for this viewer: an Enterprise client's own (name, colour, logo:
    white-label, no agency name); ``None`` for everyone else (the app's name)."""
    client = viewer_client()
    if client is None or not tiers.PLANS[Tier(client.tier)].white_label:
        return None
    color = client.brand_primary_color if re.match(r"^#[0-9a-fA-F]{6}$", client.brand_primary_color or "") else None
    return {"name": client.name, "color": color,
            "logo_url": url_for("PortalDashboardView.logo") if client.brand_logo_path else None}


class PortalDashboardView(BaseView):
    route_base = "/portal"
    class_permission_name = "PortalDashboard"
    method_permission_name = {"show": "read", "logo": "read"}
    default_view = "show"

    @expose("/brand-logo")
    @has_access
    def logo(self):
        """The client's own logo (white-label portals), from its stored path."""
        client = viewer_client()
        if client is None or not client.brand_logo_path:
            abort(404)
        return send_stored(client.brand_logo_path, "logo", "image/png")

    @expose("/")
    @has_access
    def show(self):
        scope = portal_scope()
        if not scope.is_client:
            abort(404)
        data = portal_service.client_dashboard(db.session, scope.client_id)
        chart = Markup(json.dumps(data["campaigns"]["series"]).replace("</", "<\\/"))
        return self.render_template("portal/dashboard.html", d=data, chart_json=chart)


# (view, label, icon, menu group or None). Grouped so the portal's navbar is one row at
# 1280 px for every plan: Overview, Tickets, Files, Sites ▾, Marketing ▾, Team ▾.
SITES, MARKETING, PEOPLE = ("Portal sites", "Sites", "fa-sitemap"), ("Portal marketing", "Marketing", "fa-bullhorn"), \
    ("Portal people", "Team", "fa-users")
PORTAL_MENU = (
    (PortalDashboardView, "Overview", "fa-home", None),
    (PortalTicketView, "Tickets", "fa-life-ring", None),
    (PortalFileView, "Files", "fa-file", None),
    (PortalProjectView, "Projects", "fa-folder-open", SITES),
    (PortalDomainView, "Domains", "fa-globe", SITES),
    (PortalInfrastructureView, "Infrastructure", "fa-server", SITES),
    (PortalIncidentView, "Incidents", "fa-exclamation-triangle", SITES),
    (PortalCampaignView, "Campaigns", "fa-line-chart", MARKETING),
    (PortalReportView, "Reports", "fa-file-pdf-o", MARKETING),
    (PortalTeamView, "Team", "fa-users", PEOPLE),
)
PORTAL_HIDDEN = (PortalMilestoneView, PortalCampaignMetricView, PortalIncidentUpdateView)


def register(appbuilder) -> None:
    current_app.jinja_env.globals["portal_brand"] = portal_brand
    for view in PORTAL_HIDDEN:
        appbuilder.add_view_no_menu(view)
    # Menu entries are named "Portal <label>": FAB shows an entry to whoever holds
    # ``menu_access`` on its name, and the staff console has entries labelled the same
    # ("Projects", "Tickets" ...); one shared name showed the portal's to staff.
    for view, label, icon, group in PORTAL_MENU:
        if group is None:
            appbuilder.add_view(view, f"Portal {label}", label=label, icon=icon)
        else:
            name, group_label, group_icon = group
            appbuilder.add_view(view, f"Portal {label}", label=label, icon=icon, category=name,
                                category_label=group_label, category_icon=group_icon)
