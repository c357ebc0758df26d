"""Staff views of marketing (menu "Marketing"): campaigns, their daily metrics, monthly
reports."""

from __future__ import annotations

from flask import abort, flash, request, url_for
from flask_appbuilder import expose, has_access
from flask_babel import gettext as _, lazy_gettext as _l
from markupsafe import Markup
from wtforms import ValidationError
from wtforms.validators import NumberRange

from app import models as m
from app.errors import InvalidInput
from app.extensions import db
from app.i18n import month
from app.services import jobs, report_data
from app.views import jobs as jobs_views
from app.views.base import AtriumModelView
from app.views.forms import not_before
from app.views.interface import AtriumInterface
from app.views.report_download import report_pdf
from app.views.staff.common import MONEY


class CampaignMetricView(AtriumModelView):
    datamodel = AtriumInterface(m.CampaignMetric)
    class_permission_name = "CampaignMetric"
    list_title = _l("Campaign daily metrics")
    list_columns = ["campaign.name", "date", "impressions", "clicks", "conversions", "cost", "revenue",
                    "ctr", "cpc", "cpa", "roas"]
    search_columns = ["campaign", "date"]
    add_columns = edit_columns = ["campaign", "date", "impressions", "clicks", "conversions", "cost", "revenue"]
    show_columns = list_columns
    validators_columns = {"cost": [MONEY], "revenue": [MONEY],
                          "impressions": [NumberRange(min=0)], "clicks": [NumberRange(min=0)],
                          "conversions": [NumberRange(min=0)]}
    base_order = ("date", "desc")
    label_columns = {"campaign.name": _l("Campaign"), "ctr": _l("CTR (%)"), "cpc": _l("CPC"), "cpa": _l("CPA"),
                     "roas": _l("ROAS")}


class CampaignView(AtriumModelView):
    datamodel = AtriumInterface(m.Campaign)
    class_permission_name = "Campaign"
    extra_args = {"run_now": ("campaign",), "csv_import": True}  # "Sync now", "Import CSV"
    list_title = _l("Ad campaigns")
    list_columns = ["client.name", "name", "platform", "status", "budget_daily", "budget_total",
                    "spent_total", "start_date", "end_date", "last_synced_at"]
    search_columns = ["client", "name", "platform", "status", "external_id"]
    add_columns = ["client", "project", "name", "platform", "external_id", "status", "budget_total",
                   "budget_daily", "start_date", "end_date"]
    edit_columns = ["project", "name", "status", "budget_total", "budget_daily", "start_date", "end_date"]
    show_columns = ["client", "project", "name", "platform", "external_id", "status", "budget_total",
                    "budget_daily", "spent_total", "start_date", "end_date", "last_synced_at"]
    validators_columns = {"budget_total": [MONEY], "budget_daily": [MONEY],
                          "end_date": [not_before("start_date", _l("the start date"), _l("End date"))]}
    related_views = [CampaignMetricView]
    base_order = ("name", "asc")
    label_columns = {"client.name": _l("Client"), "spent_total": _l("Spent (derived)")}


def _report_month(form, field):
    """The add form's period: any day of a finished month, stored as its first day."""
    if field.data is None:
        return
    try:
        field.data = report_data.check_reportable(field.data.replace(day=1))
    except InvalidInput as exc:
        raise ValidationError(exc.message) from None


def _report_actions(pk) -> Markup:
    """The PDF link; on the list also each row's "Generate report" (the report's page
    has that button above the record)."""
    generate = jobs_views.run_now_button("report", pk) if (request.endpoint or "").endswith(".list") else ""
    return Markup('<a class="btn btn-sm btn-default" href="{}"><i class="fa fa-download"></i> {}</a> {}').format(
        url_for("ReportView.download", pk=pk), _("PDF"), generate)


class ReportView(AtriumModelView):
    """Monthly client reports (``services.reports``): the PDF's download (Report read) and
    "Generate report" (Report write); adding a report for a client and month renders it."""

    datamodel = AtriumInterface(m.Report)
    class_permission_name = "Report"
    extra_args = {"run_now": ("report",)}  # "Generate report" on the report's page
    list_title = _l("Reports")
    list_columns = ["client.name", "period", "status", "generated_at", "error", "id"]
    show_columns = ["client", "period", "status", "generated_at", "error", "id", "created_at", "updated_at"]
    search_columns = ["client", "period", "status"]
    add_columns = ["client", "period"]
    edit_columns = ["status"]
    validators_columns = {"period": [_report_month]}
    base_order = ("period", "desc")
    label_columns = {"client.name": _l("Client"), "id": _l("PDF")}
    description_columns = {"period": _l("Any day of the month to report on (a month that is over).")}
    formatters_columns = {"id": _report_actions, "period": lambda d: month(d) if d else ""}

    def post_add(self, item):
        """Render the new report now (or queue it on the reports queue)."""
        try:
            jobs.enqueue("reports.generate", report_id=item.id)
        except Exception as exc:  # noqa: BLE001 - the Report row and its JobRun say why
            db.session.rollback()
            flash(_("The report was added but its generation failed: %(error)s",
                    error=getattr(exc, "message", exc)), "danger")

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        report = db.session.get(m.Report, pk)
        if report is None:
            abort(404, description=_("There is no report %(id)s.", id=pk))
        return report_pdf(report, _("Generate it from its page."))
