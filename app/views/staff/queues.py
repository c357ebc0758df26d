"""Support queues (saved views), in-app alerts and "My settings" for staff (issue 20).

- ``SupportQueueView``: ``/support/queues/<slug>`` lists a queue of
  ``services.ticket_queues`` (mine, unassigned, at risk and breached, waiting on client,
  all open), narrowed by client and assignee, with every queue's count beside it;
  ``/support/queues/counts`` gives the counts and the unread alerts as JSON, which the
  navbar fetches after the page is shown (so no page pays for them).
- ``StaffAlertView``: the signed-in staff member's alerts, "mark all read".
- ``StaffSettingsView``: the timezone their pages show times in.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

import sqlalchemy as sa
from flask import abort, flash, g, jsonify, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _, ngettext

from app import models as m
from app.extensions import db
from app.errors import InvalidInput
from app.services import notifications, preferences, ticket_queues, tickets
from app.views.forms import STAFF_TIMEZONE_KEY
from app.views.staff.common import staff_choices


def _int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    if raw == "":
        return None
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        abort(400, description=_("%(name)s must be a whole number.", name=name))
    return int(raw)


class _SupportPage(BaseView):
    """Pages every staff member reads (``SupportQueue``: every method is "read")."""

    class_permission_name = "SupportQueue"
    base_permissions = ["can_read"]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.method_permission_name = {name: "read" for name in cls.support_methods}


class SupportQueueView(_SupportPage):
    route_base = "/support/queues"
    support_methods = ("queue", "counts")
    default_view = "queue"

    @expose("/")
    @expose("/<slug>")
    @has_access
    def queue(self, slug="mine"):
        if slug not in ticket_queues.QUEUES:
            abort(404)
        client_id, assignee_id, number = _int_arg("client"), _int_arg("assignee"), _int_arg("page") or 1
        rows, total = ticket_queues.page(db.session, slug, g.user.id, client_id=client_id,
                                         assignee_id=assignee_id, number=number)
        clients = db.session.execute(sa.select(m.Client.id, m.Client.name).order_by(m.Client.name)).all()
        staff = staff_choices()
        return self.render_template(
            "staff/queue.html", slug=slug, queues=ticket_queues.QUEUES, rows=rows, total=total,
            counts=ticket_queues.counts(db.session, g.user.id, client_id=client_id), number=number,
            pages=max(1, -(-total // ticket_queues.PAGE_SIZE)), client_id=client_id, assignee_id=assignee_id,
            clients=clients, staff=staff, labels=m.LABELS, sla=tickets.sla_summary,
            unassigned=ticket_queues.UNASSIGNED)

    @expose("/counts")
    @has_access
    def counts(self):
        unread, _rows = notifications.unread_alerts(db.session, g.user.id, limit=0)
        response = jsonify({"queues": ticket_queues.counts(db.session, g.user.id), "unread_alerts": unread})
        response.headers["Cache-Control"] = "private, no-store"
        return response


class StaffAlertView(_SupportPage):
    route_base = "/support/alerts"
    support_methods = ("index", "read_all")  # one's own alerts: reading them is marking them
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        unread, rows = notifications.unread_alerts(db.session, g.user.id, limit=100)
        return self.render_template("staff/alerts.html", unread=unread, rows=rows)

    @expose("/read", methods=["POST"])
    @has_access
    def read_all(self):
        marked = notifications.mark_read(db.session, g.user.id)
        db.session.commit()
        flash(ngettext("%(num)d alert(s) marked read.", "%(num)d alert(s) marked read.", marked), "success")
        return redirect(url_for(".index"))


class StaffSettingsView(_SupportPage):
    route_base = "/support/settings"
    support_methods = ("index",)  # one's own display timezone
    default_view = "index"

    @expose("/", methods=["GET", "POST"])
    @has_access
    def index(self):
        current = preferences.saved_timezone(db.session, g.user.id)
        if request.method == "POST":
            try:
                chosen = preferences.save_timezone(db.session, g.user.id, request.form.get("timezone"))
            except InvalidInput as exc:
                db.session.rollback()
                flash(exc.message, "danger")
                return self.render_template("staff/settings.html", current=current, zones=_zones()), 422
            db.session.commit()
            session[STAFF_TIMEZONE_KEY] = chosen
            flash(_("Times are now shown in %(zone)s.", zone=chosen), "success")
            return redirect(url_for(".index"))
        return self.render_template("staff/settings.html", current=current, zones=_zones(),
                                    example=ZoneInfo(current) if current != "UTC" else None)


def _zones() -> list[str]:
    return ["UTC", *sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV")))]
