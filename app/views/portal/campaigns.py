"""Portal views of a client's ad campaigns, their daily metrics, and its monthly
reports (download)."""

from __future__ import annotations

from flask_appbuilder import expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import i18n
from app import models as m
from app.views.interface import AtriumInterface
from app.views.portal.base import PortalModelView, download_link
from app.views.report_download import report_pdf


class PortalCampaignMetricView(PortalModelView):
    datamodel = AtriumInterface(m.CampaignMetric)
    class_permission_name = "PortalCampaign"
    route_base = "/portal/campaign-metrics"
    list_title = _l("Daily metrics")
    show_title = _l("Show Campaign Metric")
    list_columns = ["date", "impressions", "clicks", "conversions", "cost", "revenue", "ctr", "cpc", "cpa", "roas"]
    label_columns = {"date": _l("Date"), "impressions": _l("Impressions"), "clicks": _l("Clicks"),
                     "conversions": _l("Conversions"), "cost": _l("Cost"), "revenue": _l("Revenue"), "ctr": _l("Ctr"),
                     "cpc": _l("Cpc"), "cpa": _l("Cpa"), "roas": _l("Roas")}
    show_columns = list_columns
    search_columns = ["date"]
    base_order = ("date", "desc")


class PortalCampaignView(PortalModelView):
    datamodel = AtriumInterface(m.Campaign)
    class_permission_name = "PortalCampaign"
    route_base = "/portal/campaigns"
    list_title = _l("Campaigns")
    show_title = _l("Show Campaign")
    list_columns = ["name", "platform", "status", "budget_total", "spent_total", "start_date", "end_date",
                    "last_synced_at"]
    show_columns = list_columns + ["budget_daily", "project"]
    search_columns = ["name", "platform", "status"]
    label_columns = {"name": _l("Name"), "platform": _l("Platform"), "status": _l("Status"),
                     "budget_total": _l("Budget Total"), "spent_total": _l("Spent Total"), "start_date": _l("Start Date"),
                     "end_date": _l("End Date"), "last_synced_at": _l("Last Synced At"),
                     "budget_daily": _l("Budget Daily"), "project": _l("Project")}
    related_views = [PortalCampaignMetricView]
    base_order = ("name", "asc")


class PortalReportView(PortalModelView):
    datamodel = AtriumInterface(m.Report)
    class_permission_name = "PortalReport"
    route_base = "/portal/reports"
    list_title = _l("Reports")
    show_title = _l("Show Report")
    list_columns = ["period", "status", "generated_at", "id"]
    show_columns = ["period", "status", "generated_at", "id"]
    search_columns = ["period", "status"]
    label_columns = {"period": _l("Period"), "status": _l("Status"), "generated_at": _l("Generated At"),
                     "id": _l("PDF")}
    formatters_columns = {"id": lambda pk: download_link("PortalReportView", pk),
                          "period": lambda d: i18n.month(d) if d else ""}
    base_order = ("period", "desc")

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        """The PDF under ``REPORT_DIR``; another client's report id is not found (404)."""
        return report_pdf(self._get_or_404(m.Report, pk),
                          _("Your account manager can tell you when it will be ready."))
