"""The business dashboard (``/analytics/``, menu "Business"): clients and MRR by tier,
tickets and SLA compliance, incidents and downtime, ad spend and revenue over the last
30/90/365 days or a custom range, drawn in the browser by the vendored Chart.js
(``static/bi.js``; the series travel as JSON in the page, no inline script).

Resource ``Analytics``: Admin, and Operator read-only; not Developer (MRR is billing,
SPEC §1) nor clients. "Recompute" (write) fills the range's missing days by POST with
CSRF. Thin door: the range rules, figures and recomputing are ``services.bi``.
"""

from __future__ import annotations

import json

from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _, ngettext
from markupsafe import Markup

from app.extensions import db
from app.i18n import date, number
from app.services import bi
from app.errors import InvalidInput


def _chart_json(chart: dict) -> Markup:
    return Markup(json.dumps(chart, separators=(",", ":")).replace("</", "<\\/"))


class AnalyticsView(BaseView):
    route_base = "/analytics"
    class_permission_name = "Analytics"
    method_permission_name = {"show": "read", "recompute": "write"}
    base_permissions = ["can_read", "can_write"]
    default_view = "show"

    def _page(self, args):
        """The dashboard for the range in ``args``; a bad range: its message (4xx)."""
        try:
            period = bi.parse_range(args)
        except InvalidInput as exc:
            return self.render_template("bi/dashboard.html", error=exc.message, d=None, presets=bi.PRESETS,
                                        form_dates=bi.typed_dates(args), can_write=False), exc.status
        data = bi.figures(db.session, period)
        return self.render_template(
            "bi/dashboard.html", error=None, d=data, presets=bi.PRESETS,
            chart_json=_chart_json(data["chart"]),
            can_write=self.appbuilder.sm.has_access("can_write", self.class_permission_name))

    @expose("/")
    @has_access
    def show(self):
        return self._page(request.args)

    @expose("/recompute", methods=["POST"])
    @has_access
    def recompute(self):
        try:
            period = bi.parse_range(request.form)
        except InvalidInput:
            return self._page(request.form)  # the page with the message
        result = bi.recompute_missing(db.session, period)
        db.session.commit()
        if result["computed"]:
            words = {"count": number(result["computed"]), "first": date(result["first"]),
                     "last": date(result["last"]), "remaining": number(result["remaining"])}
            if result["remaining"]:
                flash(ngettext("Computed the figures of %(count)s missing day(s), %(first)s to %(last)s. "
                               "%(remaining)s more remain: click Recompute again.",
                               "Computed the figures of %(count)s missing day(s), %(first)s to %(last)s. "
                               "%(remaining)s more remain: click Recompute again.", result["computed"], **words),
                      "success")
            else:
                flash(ngettext("Computed the figures of %(count)s missing day(s), %(first)s to %(last)s.",
                               "Computed the figures of %(count)s missing day(s), %(first)s to %(last)s.",
                               result["computed"], **words), "success")
        else:
            flash(_("Nothing to recompute: every day of this range has its figures."), "info")
        args = {"from": period.start.isoformat(), "to": period.end.isoformat()}
        if period.preset:
            args = {"range": period.preset}
        return redirect(url_for(".show", **args))
