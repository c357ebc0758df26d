"""The home page: the staff dashboard for staff, the portal overview for client users
(a signed-in user with neither sees a welcome page). Figures come from ``services.dashboard``."""

from __future__ import annotations

from flask import g, redirect, url_for
from flask_appbuilder import BaseView, IndexView, expose, has_access

from app.extensions import db
from app.services import dashboard
from app import tenancy


class AtriumIndexView(IndexView):
    index_template = "index.html"

    @expose("/")
    def index(self):
        user = getattr(g, "user", None)
        if user is not None and user.is_authenticated:
            if tenancy.is_staff_user(user):
                return redirect(url_for("DashboardView.show"))
            if tenancy.current_scope().is_client:
                return redirect(url_for("PortalDashboardView.show"))
        return self.render_template(self.index_template, appbuilder=self.appbuilder)


class DashboardView(BaseView):
    route_base = "/dashboard"
    class_permission_name = "Dashboard"
    method_permission_name = {"show": "read"}
    default_view = "show"

    @expose("/")
    @has_access
    def show(self):
        summary = dashboard.staff_summary(db.session)
        return self.render_template("dashboard.html", summary=summary)
