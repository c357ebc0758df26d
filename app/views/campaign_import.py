"""The staff door for importing a campaign's daily metrics from a platform's CSV export
(operators without API access; Admin and Operator: write on the "Campaign" resource).

``/campaigns/import/`` (GET) shows the form (campaign, file); POST (CSRF-protected like
every form) hands the bytes to ``services.campaign_sync.import_csv``, which validates
every line and writes nothing unless all are good. Bad input is answered 422 with the
form again and one message per bad line; success redirects to the campaign with a
summary. No rule lives here.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _, ngettext

from app.extensions import db
from app.i18n import date
from app.integrations import campaign_csv
from app.models import Campaign, Client
from app.services import campaign_sync
from app.errors import AtriumError


class CampaignImportView(BaseView):
    """Import daily metrics of one campaign from a CSV export."""

    route_base = "/campaigns/import"
    class_permission_name = "Campaign"
    method_permission_name = {"form": "write", "upload": "write"}
    base_permissions = ["can_write"]
    default_view = "form"

    def _campaigns(self):
        return db.session.execute(sa.select(Campaign.id, Campaign.name, Campaign.platform, Client.name)
                                  .join(Client, Campaign.client_id == Client.id)
                                  .order_by(Client.name, Campaign.name)).all()

    def _render(self, status=200, errors=(), selected=None):
        return self.render_template("campaign_import/form.html", campaigns=self._campaigns(), errors=list(errors),
                                    selected=selected, max_rows=campaign_csv.MAX_ROWS,
                                    columns=campaign_csv.COLUMNS), status

    @expose("/", methods=["GET"])
    @has_access
    def form(self):
        selected = request.args.get("campaign_id", type=int)
        return self._render(selected=selected)

    @expose("/", methods=["POST"])
    @has_access
    def upload(self):
        raw_id = request.form.get("campaign_id", "")
        valid_id = raw_id.isascii() and raw_id.isdigit() and len(raw_id) < 10
        campaign = db.session.get(Campaign, int(raw_id)) if valid_id else None
        selected = campaign.id if campaign else None
        if campaign is None:
            flash(_("Choose the campaign these figures belong to."), "danger")
            return self._render(422)
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose the CSV file to import."), "danger")
            return self._render(422, selected=selected)
        data = upload.read(campaign_csv.MAX_BYTES + 1)
        try:
            summary = campaign_sync.import_csv(db.session, campaign, data, filename=upload.filename)
            db.session.commit()
        except campaign_sync.CsvImportInvalid as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return self._render(422, errors=exc.errors, selected=selected)
        except AtriumError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return self._render(exc.status if 400 <= exc.status < 500 else 422, selected=selected)
        flash(ngettext("Imported %(num)d day(s) of %(campaign)s (%(first)s to %(last)s): %(created)d new, "
                       "%(updated)d updated, %(unchanged)d unchanged.",
                       "Imported %(num)d day(s) of %(campaign)s (%(first)s to %(last)s): %(created)d new, "
                       "%(updated)d updated, %(unchanged)d unchanged.", summary["rows"], campaign=campaign.name,
                       first=date(summary["from"]), last=date(summary["to"]), created=summary["created"],
                       updated=summary["updated"], unchanged=summary["unchanged"]), "success")
        return redirect(url_for("CampaignView.show", pk=campaign.id))


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(CampaignImportView)
