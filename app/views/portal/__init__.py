"""The client portal (role ``Client``): their own organisation only (SPEC §1, §4).

Thin doors. Tenancy is not here: every query these views run is scoped to the user's
client by ``app.security.scoping`` (PostgreSQL's row-level security repeats it), so a
row of another client is simply not found (404). What a membership role may change is
``services.tenancy.check_write``, asked before any write endpoint runs (403 with the
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
import logging

from flask import abort, current_app, flash, g, redirect, request, send_file, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_appbuilder.urltools import get_filter_args
from markupsafe import Markup

from app import models as m
from app.extensions import db
from app.services import portal as portal_service
from app.services import storage, team, tenancy, tickets, tiers, validation
from app.errors import AtriumError, NotFound
from app.views.base import METHOD_PERMISSIONS, AtriumModelView
from app.views.forms import contact_fields, format_utc
from app.views.interface import AtriumInterface
from app.views.widgets import AtriumListWidget

log = logging.getLogger(__name__)

# Endpoint name → the operation ``check_write`` is asked about, and on which model
# (``None``: the view's own model).
WRITE_ENDPOINTS = {"add": ("create", None), "edit": ("update", None), "delete": ("delete", None),
                   "action_post": ("update", None), "reply": ("create", "TicketMessage"),
                   "close": ("update", None), "reopen": ("update", None), "role": ("update", None), "remove": ("delete", None), "upload": ("create", None), "invite": ("create", None)}
PORTAL_PERMISSIONS = {**METHOD_PERMISSIONS, "reply": "write", "close": "write", "reopen": "write", "role": "write", "remove": "write", "upload": "write",
                      "invite": "write", "download": "read"}


def _scope():
    return tenancy.current_scope()


# Generated routes a portal view does not have unless it says so (``portal_routes``):
# a client adds, changes and deletes only through the doors SPEC gives them (the ticket
# form, replies and closing; the Files upload and delete; the Team invite; the contact
# form of projects and domains). FAB's generic file ``download/<filename>`` and bulk
# actions are not portal doors either.
GENERATED_ROUTES = frozenset({"add", "edit", "delete", "action", "action_post", "download"})
# The declarations every portal view makes itself (issue 16): nothing falls back to FAB's
# "every column of the model" default.
DECLARED = ("list_columns", "show_columns", "search_columns")


class PortalListWidget(AtriumListWidget):
    """The staff list table (``templates/atrium/list_widget.html``) with the portal's
    buttons: the view passes ``portal`` (``PortalModelView.portal_buttons``), so show,
    pencil and trash appear only where this person may use them and "+" is the view's
    real way of adding, or the plan's reason when its limit is reached."""


class PortalModelView(AtriumModelView):
    """Base of every portal list: read-only unless a subclass opens a write endpoint.

    A subclass names the generated routes it keeps in ``portal_routes`` (default: list
    and show only), its add/edit form fields in ``add_columns``/``edit_columns``, and
    where its "+" leads in ``portal_add`` (endpoint, label, model, plan resource).
    """

    method_permission_name = PORTAL_PERMISSIONS
    base_permissions = ["can_read"]
    list_widget = PortalListWidget
    portal_routes: frozenset = frozenset()
    # (endpoint of this view, button label, model asked about, tiers resource or None)
    portal_add: tuple | None = None

    def __init_subclass__(cls, **kwargs):
        # FAB builds add/edit forms even for read-only views, from every column when none
        # are named (SQL-computed columns break that): name the plain columns shown. No
        # route serves those forms unless ``portal_routes`` keeps it.
        datamodel = cls.__dict__.get("datamodel")
        if datamodel is not None:
            missing = [name for name in DECLARED if name not in cls.__dict__
                       and not any(name in base.__dict__ for base in cls.__mro__[1:-1]
                                   if issubclass(base, PortalModelView) and base is not PortalModelView)]
            if missing:
                raise TypeError(f"{cls.__name__} must declare {', '.join(missing)} (portal views name their columns)")
            if getattr(cls, "add_columns", None) is None:
                table_columns = set(datamodel.obj.__table__.columns.keys())
                cls.add_columns = cls.edit_columns = [
                    c for c in cls.__dict__.get("show_columns", cls.__dict__.get("list_columns", []))
                    if c in table_columns and c != "id"]
            if "order_columns" not in cls.__dict__:
                # Ordering only by what the list shows: a plain column or a "relation.column".
                table_columns = set(datamodel.obj.__table__.columns.keys())
                cls.order_columns = [c for c in cls.list_columns if c in table_columns or "." in c]
            own = {name for name in ("download",) if name in cls.__dict__}  # a view's own door, not FAB's
            # A relation picker serves a form: none without an add or edit route.
            pickers = set() if {"add", "edit"} & set(cls.portal_routes) else {"picker"}
            cls.exclude_route_methods = set(GENERATED_ROUTES - set(cls.portal_routes) - own) | pickers | set(
                cls.__dict__.get("exclude_route_methods", ()))
        super().__init_subclass__(**kwargs)

    # ------------------------------------------------------------------ buttons

    def portal_buttons(self) -> dict:
        """Which of "+", show, pencil and trash this person sees on the list: only the
        ones they may use (membership role, plan limit; at the limit the reason instead)."""
        scope = _scope()
        model = self.datamodel.obj.__name__
        buttons = {"show": True, "edit": False, "delete": False, "add_url": None, "add_label": "", "add_reason": None}
        if not scope.is_client:
            return buttons
        buttons["edit"] = "edit" in self.portal_routes and tenancy.may_write(scope, model, "update")
        buttons["delete"] = "delete" in self.portal_routes and tenancy.may_write(scope, model, "delete")
        if self.portal_add:
            endpoint, label, add_model, resource = self.portal_add
            if tenancy.may_write(scope, add_model, "create"):
                reason = self._limit_reason(scope, resource) if resource else None
                if reason:
                    buttons["add_reason"] = reason
                else:
                    buttons["add_url"], buttons["add_label"] = url_for(f".{endpoint}"), label
        return buttons

    @staticmethod
    def _limit_reason(scope, resource: str) -> str | None:
        """The plan's message when adding one more ``resource`` would pass its limit
        (``tiers.check_can_add``, the rule every flush applies), else ``None``."""
        client = db.session.get(m.Client, scope.client_id)
        if client is None:
            return None
        try:
            tiers.check_can_add(db.session, client, resource)
        except tiers.LimitReached as exc:
            return exc.message
        return None

    def _get_list_widget(self, filters, **kwargs):
        kwargs.setdefault("portal", self.portal_buttons())
        return super()._get_list_widget(filters, **kwargs)

    # ------------------------------------------------------------------ saving

    def _add(self):
        """FAB's add, except that a refused save (a plan limit, a membership or ticket
        rule) shows the form again with what the person typed and the reason (422 by
        ``AtriumModelView.add``) instead of redirecting to an empty form."""
        if request.method != "POST":
            return super()._add()
        get_filter_args(self._filters, disallow_if_not_in_search=False)
        exclude_cols = self._filters.get_relation_cols()
        form = self.add_form.refresh()
        self._fill_form_exclude_cols(exclude_cols, form)
        if form.validate():
            self.process_form(form, True)
            item = self.datamodel.obj()
            try:
                form.populate_obj(item)
                self.pre_add(item)
                self.datamodel.add(item)
            except AtriumError as exc:
                db.session.rollback()
                flash(exc.message, "danger")
            else:
                self.post_add(item)
                flash(self.add_row_message, "success")
                return None
        return self._get_add_widget(form=form, exclude_cols=exclude_cols)


    def post_update(self, item):
        super().post_update(item)
        g.atrium_portal_saved = item.id

    def post_edit_redirect(self):
        """After a save, the record saved (not whatever page came before)."""
        pk = g.pop("atrium_portal_saved", None)
        return redirect(url_for(".show", pk=pk) if pk is not None else url_for(".list"))

    def create_blueprint(self, appbuilder, *args, **kwargs):
        blueprint = super().create_blueprint(appbuilder, *args, **kwargs)
        blueprint.before_request(self._membership_guard)
        return blueprint

    def _membership_guard(self):
        endpoint = (request.endpoint or "").rsplit(".", 1)[-1]
        if endpoint == "picker":  # a form's relation picker: for whoever may submit that form
            endpoint = "edit" if request.args.get("form") == "edit" else "add"
        if endpoint not in WRITE_ENDPOINTS or not getattr(g.user, "is_authenticated", False):
            return None
        operation, model_name = WRITE_ENDPOINTS[endpoint]
        try:
            tenancy.check_write(_scope(), model_name or self.datamodel.obj.__name__, operation)
        except tenancy.Forbidden as exc:
            abort(403, description=exc.message)
        return None

    def _get_or_404(self, model, pk):
        row = db.session.get(model, pk)  # scoped: another client's id is not found
        if row is None:
            abort(404)
        return row

    def _apply(self, model, pk, change, done: str, then: str | None = None):
        """Run ``change`` (a service's rule) on row ``pk`` and commit, flashing ``done``;
        then to ``then`` (default: the row). A refusal is rolled back and flashed, and the
        browser goes back to the row."""
        row = self._get_or_404(model, pk)
        try:
            change(row)
            db.session.commit()
        except AtriumError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            return redirect(url_for(".show", pk=pk))
        flash(done, "success")
        return redirect(then or url_for(".show", pk=pk))


class PortalMilestoneView(PortalModelView):
    datamodel = AtriumInterface(m.Milestone)
    class_permission_name = "PortalProject"
    route_base = "/portal/milestones"
    list_title = "Milestones"
    list_columns = ["title", "due_date", "completed_at", "deliverable"]
    show_columns = list_columns
    search_columns = ["title", "due_date"]
    base_order = ("due_date", "asc")


class PortalContactEditMixin:
    """Edit the contact data of a row, nothing else; no add/delete routes at all."""

    base_permissions = ["can_read", "can_write"]
    portal_routes = frozenset({"edit"})
    add_columns = edit_columns = list(tenancy.CONTACT_FIELDS)  # add: no route; FAB builds the form anyway
    edit_form_extra_fields = contact_fields()
    edit_title = "Edit contact details"
    edit_row_message = "The contact details were saved."


class PortalProjectView(PortalContactEditMixin, PortalModelView):
    datamodel = AtriumInterface(m.Project)
    class_permission_name = "PortalProject"
    route_base = "/portal/projects"
    list_title = "Projects"
    list_columns = ["name", "status", "completion_percent", "start_date", "estimated_delivery", "site_url"]
    show_columns = ["name", "description", "status", "completion_percent", "start_date", "estimated_delivery",
                    "actual_delivery", "site_url", "budget_total", "budget_used", "contact_name", "contact_email",
                    "contact_phone"]
    search_columns = ["name", "status"]
    label_columns = {"completion_percent": "Progress (%)"}
    related_views = [PortalMilestoneView]
    base_order = ("name", "asc")


class PortalInfrastructureView(PortalModelView):
    datamodel = AtriumInterface(m.Infrastructure)
    class_permission_name = "PortalInfrastructure"
    route_base = "/portal/infrastructure"
    list_title = "Infrastructure"
    # Hosting costs are the agency's: not shown.
    list_columns = ["project.name", "hosting_provider", "hosting_plan", "hosting_status", "cdn_provider",
                    "cdn_cache_hit_rate", "db_backup_status", "db_last_backup_at"]
    show_columns = ["project", "hosting_provider", "hosting_plan", "hosting_status", "cdn_provider",
                    "cdn_bandwidth_gb", "cdn_cache_hit_rate", "db_provider", "db_size_mb", "db_backup_status",
                    "db_last_backup_at"]
    search_columns = ["hosting_provider", "hosting_status", "db_backup_status"]
    label_columns = {"project.name": "Project", "cdn_cache_hit_rate": "CDN cache hit rate (%)"}
    base_order = ("project_id", "asc")


class PortalDomainView(PortalContactEditMixin, PortalModelView):
    datamodel = AtriumInterface(m.Domain)
    class_permission_name = "PortalDomain"
    route_base = "/portal/domains"
    list_title = "Domains"
    list_columns = ["name", "status", "ssl_status", "ssl_expires_at", "renewal_date", "auto_renew"]
    show_columns = ["name", "project", "status", "nameservers", "dns_records", "ssl_status", "ssl_issuer",
                    "ssl_expires_at", "registrar", "registered_on", "renewal_date", "auto_renew", "contact_name",
                    "contact_email", "contact_phone"]
    search_columns = ["name", "status", "ssl_status"]
    base_order = ("name", "asc")


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


class PortalIncidentUpdateView(PortalModelView):
    datamodel = AtriumInterface(m.IncidentUpdate)
    class_permission_name = "PortalIncident"
    route_base = "/portal/incident-updates"
    list_title = "Timeline"
    list_columns = ["created_at", "status", "message"]
    show_columns = list_columns
    search_columns = ["status", "message"]
    base_order = ("created_at", "desc")


class PortalIncidentView(PortalModelView):
    datamodel = AtriumInterface(m.Incident)
    class_permission_name = "PortalIncident"
    route_base = "/portal/incidents"
    list_title = "Incidents"
    list_columns = ["title", "project.name", "severity", "status", "started_at", "resolved_at", "downtime_minutes"]
    show_columns = ["title", "project", "description", "severity", "status", "started_at", "resolved_at",
                    "downtime_minutes", "root_cause", "resolution_notes"]
    search_columns = ["title", "severity", "status"]
    label_columns = {"project.name": "Project"}
    related_views = [PortalIncidentUpdateView]
    base_order = ("started_at", "desc")


class PortalReportView(PortalModelView):
    datamodel = AtriumInterface(m.Report)
    class_permission_name = "PortalReport"
    route_base = "/portal/reports"
    list_title = "Reports"
    list_columns = ["period", "status", "generated_at", "id"]
    show_columns = ["period", "status", "generated_at", "id"]
    search_columns = ["period", "status"]
    label_columns = {"id": "PDF"}
    formatters_columns = {"id": lambda pk: _download_link("PortalReportView", pk),
                          "period": lambda d: f"{d:%Y-%m}" if d else ""}
    base_order = ("period", "desc")

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        """The PDF under ``REPORT_DIR``; another client's report id is not found (404)."""
        from app.services import reports

        report = self._get_or_404(m.Report, pk)
        try:
            path, name = reports.pdf_to_send(db.session, report, current_app.config)
        except NotFound as exc:
            abort(404, description=f"{exc.message} Your account manager can tell you when it will be ready.")
        return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=name)


class PortalTicketView(PortalModelView):
    datamodel = AtriumInterface(m.Ticket)
    class_permission_name = "PortalTicket"
    route_base = "/portal/tickets"
    base_permissions = ["can_read", "can_write"]
    list_title = "Support tickets"
    add_title = "Open a ticket"
    add_row_message = "Your ticket was opened."
    list_columns = ["subject", "project.name", "priority", "status", "sla_state", "first_response_due_at",
                    "created_at"]
    show_columns = ["subject", "project", "description", "priority", "status", "sla_state", "first_response_due_at",
                    "created_at"]  # the page itself is portal/ticket.html
    # The one form a client types a ticket into (SPEC: subject, description, priority, a
    # project of theirs; attachments go with replies). No edit route: follow-ups are
    # replies, closing and reopening (within ``tickets.REOPEN_DAYS`` of the resolution).
    add_columns = edit_columns = ["project", "subject", "description", "priority"]
    portal_routes = frozenset({"add"})
    portal_add = ("add", "Open a ticket", "Ticket", "tickets_per_month")
    search_columns = ["subject", "status", "priority"]
    label_columns = {"project.name": "Project", "sla_state": "SLA", "first_response_due_at": "First response due"}
    base_order = ("created_at", "desc")

    def pre_add(self, item):
        tickets.open_for_client(item, g.user)  # the API's client writes obey the same rule

    def post_add(self, item):
        g.atrium_new_ticket_id = item.id

    def post_add_redirect(self):
        """After opening a ticket, show it (its thread and reply form)."""
        new_id = g.pop("atrium_new_ticket_id", None)
        return redirect(url_for(".show", pk=new_id) if new_id else url_for(".list"))

    @expose("/show/<pk>")
    @has_access
    def show(self, pk):
        ticket = self._get_or_404(m.Ticket, _int_or_404(pk))
        scope = _scope()
        return self.render_template(
            "portal/ticket.html", ticket=ticket, messages=list(ticket.messages),
            can_reply=tenancy.may_write(scope, "TicketMessage", "create") and ticket.status not in tickets.CLOSED_STATUSES,
            can_close=tenancy.may_write(scope, "Ticket", "update") and ticket.status != m.TicketStatus.CLOSED,
            can_reopen=tenancy.may_write(scope, "Ticket", "update") and tickets.may_reopen(ticket),
            reopen_days=tickets.REOPEN_DAYS,
            format_utc=format_utc)

    @expose("/reply/<int:pk>", methods=["POST"])
    @has_access
    def reply(self, pk):
        ticket = self._get_or_404(m.Ticket, pk)
        attachments = []
        try:
            upload = request.files.get("attachment")
            if upload is not None and upload.filename:
                tenancy.check_write(_scope(), "StorageFile", "create")
                attachments.append(storage.store_upload(
                    db.session, ticket.client, g.user, upload.filename, upload.stream,
                    current_app.config["UPLOAD_DIR"], current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024,
                    project_id=ticket.project_id))
            tickets.add_reply(db.session, ticket, g.user, request.form.get("body", ""), attachments=attachments)
            db.session.commit()
            flash("Your reply was sent.", "success")
        except AtriumError as exc:
            db.session.rollback()
            storage.discard(attachments, current_app.config["UPLOAD_DIR"])
            flash(exc.message, "danger")
        return redirect(url_for(".show", pk=pk))

    @expose("/reopen/<int:pk>", methods=["POST"])
    @has_access
    def reopen(self, pk):
        return self._apply(m.Ticket, pk, tickets.reopen, "The ticket is open again.")

    @expose("/close/<int:pk>", methods=["POST"])
    @has_access
    def close(self, pk):
        return self._apply(m.Ticket, pk, tickets.close, "The ticket was closed.")


class PortalFileView(PortalModelView):
    datamodel = AtriumInterface(m.StorageFile)
    class_permission_name = "PortalFile"
    route_base = "/portal/files"
    base_permissions = ["can_read", "can_write"]
    list_title = "Files"
    list_columns = ["file_name", "project.name", "mime_type", "size_bytes", "uploaded_by", "created_at", "id"]
    show_columns = ["file_name", "project", "folder", "mime_type", "size_bytes", "sha256", "uploaded_by",
                    "created_at", "id"]
    search_columns = ["file_name", "mime_type"]
    # Files come in through the upload (``upload`` below: content checked, quota counted)
    # and go through delete; their stored metadata is never a form. The list's "+" is the
    # upload; FAB's add/edit routes do not exist here.
    add_columns = edit_columns = ["file_name"]  # no route serves these forms
    portal_routes = frozenset({"delete"})
    portal_add = ("upload", "Upload a file", "StorageFile", "storage_bytes")
    label_columns = {"project.name": "Project", "mime_type": "Type", "created_at": "Uploaded at",
                     "size_bytes": "Size", "id": "File"}
    formatters_columns = {"size_bytes": lambda n: tiers.human_bytes(int(n or 0)),
                          "id": lambda pk: _download_link("PortalFileView", pk)}
    base_order = ("created_at", "desc")

    def post_delete(self, item):
        storage.path_of(item.stored_path, current_app.config["UPLOAD_DIR"]).unlink(missing_ok=True)

    @expose("/upload", methods=["GET", "POST"])
    @has_access
    def upload(self):
        scope = _scope()
        projects = db.session.query(m.Project).order_by(m.Project.name).all()
        if request.method == "POST":
            stored = []
            try:
                upload = request.files.get("file")
                if upload is None or not upload.filename:
                    raise storage.InvalidInput("Choose a file to upload.", field="file")
                project_id = validation.record_id(request.form.get("project_id"), field="project_id", what="project")
                if project_id is not None and db.session.get(m.Project, project_id) is None:  # scoped
                    raise storage.InvalidInput("Choose one of your projects (or none).", field="project_id")
                client = db.session.get(m.Client, scope.client_id)
                stored.append(storage.store_upload(
                    db.session, client, g.user, upload.filename, upload.stream, current_app.config["UPLOAD_DIR"],
                    current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024, project_id=project_id))
                db.session.commit()
                flash(f"{upload.filename} was uploaded.", "success")
                return redirect(url_for(".show", pk=stored[0].id))
            except AtriumError as exc:
                db.session.rollback()
                storage.discard(stored, current_app.config["UPLOAD_DIR"])
                flash(exc.message, "danger")
                return self.render_template("portal/upload.html", projects=projects,
                                            accepted=sorted(storage.ALLOWED_TYPES)), exc.status
        return self.render_template("portal/upload.html", projects=projects, accepted=sorted(storage.ALLOWED_TYPES))

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        file = self._get_or_404(m.StorageFile, pk)
        return _send_stored(file.stored_path, file.file_name, file.mime_type)


class PortalTeamView(PortalModelView):
    datamodel = AtriumInterface(m.ClientMember)
    class_permission_name = "PortalTeam"
    route_base = "/portal/team"
    base_permissions = ["can_read", "can_write"]
    list_title = "Team"
    list_columns = ["user", "user.email", "role", "created_at"]
    show_columns = list_columns
    search_columns = ["role"]  # no filter on users: their list is everyone's
    # Memberships change through ``services.team`` only (the invite below; the owner's
    # role rules live there): no generated add/edit/delete route, no form.
    add_columns = edit_columns = ["role"]  # no route serves these forms
    portal_add = ("invite", "Invite a team member", "ClientMember", "team_members")
    label_columns = {"user": "Name", "user.email": "Email", "created_at": "Member since"}
    show_template = "portal/member_show.html"

    def render_template(self, template, **kwargs):
        """The member's page offers the owner the role change and removal (not on the
        owner's own membership: ``services.team`` refuses that)."""
        if template == self.show_template and kwargs.get("pk") is not None:
            member = db.session.get(m.ClientMember, _int_or_404(kwargs["pk"]))
            if (member is not None and member.role != m.MemberRole.OWNER
                    and tenancy.may_write(_scope(), "ClientMember", "update")):
                kwargs.update(manage_member=member, member_roles=team.INVITABLE_ROLES)
        return super().render_template(template, **kwargs)

    @expose("/role/<int:pk>", methods=["POST"])
    @has_access
    def role(self, pk):
        return self._apply(m.ClientMember, pk, lambda member: team.change_role(
            db.session, _scope(), member, request.form.get("role", "")), "The role was changed.")

    @expose("/remove/<int:pk>", methods=["POST"])
    @has_access
    def remove(self, pk):
        return self._apply(m.ClientMember, pk, lambda member: team.remove_member(db.session, _scope(), member),
                           "The member was removed; they can no longer sign in.", then=url_for(".list"))
    base_order = ("created_at", "asc")

    @expose("/invite", methods=["GET", "POST"])
    @has_access
    def invite(self):
        form = request.form
        if request.method == "POST":
            try:
                member = team.add_member(db.session, current_app.appbuilder.sm, _scope(), username=form.get("username", ""),
                                email=form.get("email", ""), first_name=form.get("first_name", ""),
                                last_name=form.get("last_name", ""), role=form.get("role", ""),
                                password=form.get("password", ""))
                db.session.commit()
                flash(f"{form.get('username')} can now sign in.", "success")
                return redirect(url_for(".show", pk=member.id))
            except AtriumError as exc:
                db.session.rollback()
                flash(exc.message, "danger")
                return self.render_template("portal/invite.html", form=form, roles=team.INVITABLE_ROLES), exc.status
        return self.render_template("portal/invite.html", form={}, roles=team.INVITABLE_ROLES)


class PortalDashboardView(BaseView):
    route_base = "/portal"
    class_permission_name = "PortalDashboard"
    method_permission_name = {"show": "read"}
    default_view = "show"

    @expose("/")
    @has_access
    def show(self):
        scope = _scope()
        if not scope.is_client:
            abort(404)
        data = portal_service.client_dashboard(db.session, scope.client_id)
        chart = Markup(json.dumps(data["campaigns"]["series"]).replace("</", "<\\/"))
        return self.render_template("portal/dashboard.html", d=data, chart_json=chart, format_utc=format_utc)


def _download_link(view_name: str, pk) -> Markup:
    return Markup('<a href="{}"><i class="fa fa-download"></i> Download</a>').format(
        url_for(f"{view_name}.download", pk=pk))


def _int_or_404(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        abort(404)


def _send_stored(relative_path: str, download_name: str, mimetype: str):
    path = storage.path_of(relative_path, current_app.config["UPLOAD_DIR"])
    if not path.is_file():
        log.error("stored file missing: %s", path)
        abort(404, description="The file is missing from storage. Please tell your account manager.")
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=download_name)


PORTAL_MENU = (
    (PortalDashboardView, "Overview", "fa-home"),
    (PortalProjectView, "Projects", "fa-folder-open"),
    (PortalTicketView, "Tickets", "fa-life-ring"),
    (PortalFileView, "Files", "fa-file"),
    (PortalCampaignView, "Campaigns", "fa-line-chart"),
    (PortalIncidentView, "Incidents", "fa-exclamation-triangle"),
    (PortalDomainView, "Domains", "fa-globe"),
    (PortalInfrastructureView, "Infrastructure", "fa-server"),
    (PortalReportView, "Reports", "fa-file-pdf-o"),
    (PortalTeamView, "Team", "fa-users"),
)
PORTAL_HIDDEN = (PortalMilestoneView, PortalCampaignMetricView, PortalIncidentUpdateView)


def register(appbuilder) -> None:
    for view in PORTAL_HIDDEN:
        appbuilder.add_view_no_menu(view)
    # Menu entries are named "Portal <label>": FAB shows an entry to whoever holds
    # ``menu_access`` on its name, and the staff console has entries labelled the same
    # ("Projects", "Tickets" ...); one shared name showed the portal's to staff.
    for view, label, icon in PORTAL_MENU:
        appbuilder.add_view(view, f"Portal {label}", label=label, icon=icon)
