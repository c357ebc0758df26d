"""Portal views of a client's ad campaigns, their daily metrics, and its monthly
reports (download)."""

from __future__ import annotations

from flask_appbuilder import expose, has_access

from app import models as m
from app.views.interface import AtriumInterface
from app.views.portal.base import PortalModelView, download_link
from app.views.report_download import report_pdf


class PortalCampaignMetricView(PortalModelView):
    datamodel = AtriumInterface(m.CampaignMetric)
    class_permission_name = "PortalCampaign"
    route_base = "/portal/campaign-metrics"
    list_title = "Daily metrics"
    list_columns = ["date", "impressions", "clicks", "conversions", "cost", "revenue", "ctr", "cpc", "cpa", "roas"]
    show_columns = list_columns
    search_columns = ["date"]
    base_order = ("date", "desc")


class PortalCampaignView(PortalModelView):
    datamodel = AtriumInterface(m.Campaign)
    class_permission_name = "PortalCampaign"
    route_base = "/portal/campaigns"
    list_title = "Campaigns"
    list_columns = ["name", "platform", "status", "budget_total", "spent_total", "start_date", "end_date",
                    "last_synced_at"]
    show_columns = list_columns + ["budget_daily", "project"]
    search_columns = ["name", "platform", "status"]
    related_views = [PortalCampaignMetricView]
    base_order = ("name", "asc")


class PortalReportView(PortalModelView):
    datamodel = AtriumInterface(m.Report)
    class_permission_name = "PortalReport"
    route_base = "/portal/reports"
    list_title = "Reports"
    list_columns = ["period", "status", "generated_at", "id"]
    show_columns = ["period", "status", "generated_at", "id"]
    search_columns = ["period", "status"]
    label_columns = {"id": "PDF"}
    formatters_columns = {"id": lambda pk: download_link("PortalReportView", pk),
                          "period": lambda d: f"{d:%Y-%m}" if d else ""}
    base_order = ("period", "desc")

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        """The PDF under ``REPORT_DIR``; another client's report id is not found (404)."""
        return report_pdf(self._get_or_404(m.Report, pk), "Your account manager can tell you when it will be ready.")
