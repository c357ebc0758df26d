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
from flask_babel import lazy_gettext as _l
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
    return {"name": client.name, "color": color, "text": readable_text_on(color) if color else None,
            "logo_url": url_for("PortalDashboardView.logo") if client.brand_logo_path else None}


def readable_text_on(color: str) -> str:
    """White or black, whichever reads better on ``color`` ("#rrggbb"): the navbar's text
    on a client's own colour (WCAG 2 contrast: the better of the two is 4.58:1 or more
    for any colour, above the 4.5:1 that text needs)."""
    def channel(hex_pair: str) -> float:
        c = int(hex_pair, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(color[i:i + 2]) for i in (1, 3, 5))
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    on_white, on_black = 1.05 / (luminance + 0.05), (luminance + 0.05) / 0.05
    return "#ffffff" if on_white >= on_black else "#000000"


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


# (view, name, label, icon, menu group or None): the English ``name`` is the menu entry's
# identifier (a permission name, "Portal <name>"), the label what people read. Grouped so
# the portal's navbar is one row at 1280 px for every plan: Overview, Tickets, Files,
# Sites ▾, Marketing ▾, Team ▾.
SITES, MARKETING, PEOPLE = ("Portal sites", _l("Sites"), "fa-sitemap"), \
    ("Portal marketing", _l("Marketing"), "fa-bullhorn"), ("Portal people", _l("Team"), "fa-users")
PORTAL_MENU = (
    (PortalDashboardView, "Overview", _l("Overview"), "fa-home", None),
    (PortalTicketView, "Tickets", _l("Tickets"), "fa-life-ring", None),
    (PortalFileView, "Files", _l("Files"), "fa-file", None),
    (PortalProjectView, "Projects", _l("Projects"), "fa-folder-open", SITES),
    (PortalDomainView, "Domains", _l("Domains"), "fa-globe", SITES),
    (PortalInfrastructureView, "Infrastructure", _l("Infrastructure"), "fa-server", SITES),
    (PortalIncidentView, "Incidents", _l("Incidents"), "fa-exclamation-triangle", SITES),
    (PortalCampaignView, "Campaigns", _l("Campaigns"), "fa-line-chart", MARKETING),
    (PortalReportView, "Reports", _l("Reports"), "fa-file-pdf-o", MARKETING),
    (PortalTeamView, "Team", _l("Team"), "fa-users", PEOPLE),
)
PORTAL_HIDDEN = (PortalMilestoneView, PortalCampaignMetricView, PortalIncidentUpdateView)


def register(appbuilder) -> None:
    current_app.jinja_env.globals["portal_brand"] = portal_brand
    for view in PORTAL_HIDDEN:
        appbuilder.add_view_no_menu(view)
    # Menu entries are named "Portal <name>": FAB shows an entry to whoever holds
    # ``menu_access`` on its name, and the staff console has entries labelled the same
    # ("Projects", "Tickets" ...); one shared name showed the portal's to staff.
    for view, name, label, icon, group in PORTAL_MENU:
        if group is None:
            appbuilder.add_view(view, f"Portal {name}", label=label, icon=icon)
        else:
            category, group_label, group_icon = group
            appbuilder.add_view(view, f"Portal {name}", label=label, icon=icon, category=category,
                                category_label=group_label, category_icon=group_icon)
