"""Portal views of a client's incidents (with their updates) and support tickets
(open, reply, close, reopen)."""

from __future__ import annotations

from flask import flash, g, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_wtf.file import FileField
from wtforms.validators import Optional

from app import models as m
from app import tenancy
from app.errors import AtriumError
from app.extensions import db
from app.services import tickets
from app.views.files import discard, store_request_file
from app.views.interface import AtriumInterface
from app.views.portal.base import PortalModelView, int_or_404, portal_scope


class PortalIncidentUpdateView(PortalModelView):
    datamodel = AtriumInterface(m.IncidentUpdate)
    class_permission_name = "PortalIncident"
    route_base = "/portal/incident-updates"
    list_title = _l("Timeline")
    show_title = _l("Show Incident Update")
    list_columns = ["created_at", "status", "message"]
    label_columns = {"created_at": _l("Created At"), "status": _l("Status"), "message": _l("Message")}
    show_columns = list_columns
    search_columns = ["status", "message"]
    base_order = ("created_at", "desc")


class PortalIncidentView(PortalModelView):
    datamodel = AtriumInterface(m.Incident)
    class_permission_name = "PortalIncident"
    route_base = "/portal/incidents"
    list_title = _l("Incidents")
    show_title = _l("Show Incident")
    list_columns = ["title", "project.name", "severity", "status", "started_at", "resolved_at", "downtime_minutes"]
    show_columns = ["title", "project", "description", "severity", "status", "started_at", "resolved_at",
                    "downtime_minutes", "root_cause", "resolution_notes"]
    search_columns = ["title", "severity", "status"]
    label_columns = {"title": _l("Title"), "project.name": _l("Project"), "project": _l("Project"),
                     "description": _l("Description"), "severity": _l("Severity"), "status": _l("Status"),
                     "started_at": _l("Started At"), "resolved_at": _l("Resolved At"),
                     "downtime_minutes": _l("Downtime Minutes"), "root_cause": _l("Root Cause"),
                     "resolution_notes": _l("Resolution Notes")}
    related_views = [PortalIncidentUpdateView]
    base_order = ("started_at", "desc")


class PortalTicketView(PortalModelView):
    datamodel = AtriumInterface(m.Ticket)
    class_permission_name = "PortalTicket"
    route_base = "/portal/tickets"
    base_permissions = ["can_read", "can_write"]
    list_title = _l("Support tickets")
    show_title = _l("Show Ticket")
    add_title = _l("Open a ticket")
    add_row_message = _l("Your ticket was opened.")
    list_columns = ["subject", "project.name", "priority", "status", "sla_state", "first_response_due_at",
                    "created_at"]
    show_columns = ["subject", "project", "description", "priority", "status", "sla_state", "first_response_due_at",
                    "created_at"]  # the page itself is portal/ticket.html
    # The one form a client types a ticket into (SPEC: subject, description, priority, a
    # project of theirs, an optional attachment). No edit route: follow-ups are replies
    # (which reopen a resolved ticket within ``tickets.reopen_days()``), closing and rating.
    add_columns = ["project", "subject", "description", "priority", "attachment"]
    edit_columns = ["project", "subject", "description", "priority"]
    add_form_extra_fields = {"attachment": FileField(_l("Attachment (optional)"), validators=[Optional()])}
    portal_routes = frozenset({"add"})
    portal_add = ("add", _l("Open a ticket"), "Ticket", "tickets_per_month")
    search_columns = ["subject", "status", "priority"]
    label_columns = {"subject": _l("Subject"), "project.name": _l("Project"), "project": _l("Project"),
                     "description": _l("Description"), "priority": _l("Priority"), "status": _l("Status"),
                     "sla_state": _l("SLA"), "first_response_due_at": _l("First response due"),
                     "created_at": _l("Created At"), "attachment": _l("Attachment (optional)")}
    base_order = ("created_at", "desc")

    def pre_add(self, item):
        tickets.open_for_client(item, g.user)  # the API's client writes obey the same rule
        upload = request.files.get("attachment")
        if upload is not None and upload.filename:
            tenancy.check_write(portal_scope(), "StorageFile", "create")
            client = db.session.get(m.Client, portal_scope().client_id)
            stored = store_request_file(upload, client, g.user, project_id=item.project_id)
            g.atrium_ticket_uploads = [stored]
            item.attachments = [stored]

    def _save(self, form, item, is_add: bool):
        """A refused ticket leaves no attachment behind on disk."""
        saved = super()._save(form, item, is_add)
        if not saved:
            discard(g.pop("atrium_ticket_uploads", []))
        return saved

    def post_add(self, item):
        g.atrium_new_ticket_id = item.id

    def post_add_redirect(self):
        """After opening a ticket, show it (its thread and reply form)."""
        new_id = g.pop("atrium_new_ticket_id", None)
        return redirect(url_for(".show", pk=new_id) if new_id else url_for(".list"))

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        ticket = self._get_or_404(m.Ticket, int_or_404(pk))
        scope = portal_scope()
        may_update = tenancy.may_write(scope, "Ticket", "update")
        client = db.session.get(m.Client, scope.client_id)
        return self.render_template(
            "portal/ticket.html", ticket=ticket, messages=list(ticket.messages), labels=m.LABELS,
            title=f"#{ticket.id} {ticket.subject}",
            can_reply=tenancy.may_write(scope, "TicketMessage", "create"),
            reply_reopens=tickets.may_reopen(ticket),
            reply_follows_up=ticket.status in tickets.CLOSED_STATUSES and not tickets.may_reopen(ticket),
            can_close=may_update and ticket.status != m.TicketStatus.CLOSED,
            can_reopen=may_update and tickets.may_reopen(ticket),
            can_rate=tickets.may_rate(ticket, g.user),
            reopen_days=tickets.reopen_days(),
            median=tickets.median_first_response(db.session, client.tier), tier=client.tier,
            sla_words=tickets.sla_summary(ticket)[1])

    @expose("/reply/<int:pk>", methods=["POST"])
    @has_access
    def reply(self, pk):
        ticket = self._get_or_404(m.Ticket, pk)
        attachments = []
        try:
            upload = request.files.get("attachment")
            if upload is not None and upload.filename:
                tenancy.check_write(portal_scope(), "StorageFile", "create")
                attachments.append(store_request_file(upload, ticket.client, g.user, project_id=ticket.project_id))
            _message, landed = tickets.reply(db.session, ticket, g.user, request.form.get("body", ""),
                                      attachments=attachments)
            db.session.commit()
        except AtriumError as exc:
            db.session.rollback()
            discard(attachments)
            flash(exc.message, "danger")
            return redirect(url_for(".show", pk=pk))
        flash(_("Your reply was sent.") if landed.id == pk else
              ngettext("This ticket was resolved more than %(num)d day ago, so your reply opened a new ticket, "
                       "#%(id)d, linked to it.",
                       "This ticket was resolved more than %(num)d days ago, so your reply opened a new ticket, "
                       "#%(id)d, linked to it.", tickets.reopen_days(), id=landed.id), "success")
        return redirect(url_for(".show", pk=landed.id))

    @expose("/reopen/<int:pk>", methods=["POST"])
    @has_access
    def reopen(self, pk):
        return self._apply(m.Ticket, pk, tickets.reopen, _("The ticket is open again."))

    @expose("/close/<int:pk>", methods=["POST"])
    @has_access
    def close(self, pk):
        return self._apply(m.Ticket, pk, tickets.close, _("The ticket was closed."))

    @expose("/rate/<int:pk>", methods=["POST"])
    @has_access
    def rate(self, pk):
        return self._apply(m.Ticket, pk, lambda ticket: tickets.rate(
            ticket, g.user, request.form.get("satisfaction", ""), request.form.get("comment")),
            _("Thank you for rating this ticket."))
