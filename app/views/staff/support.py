"""Staff views of support (menu "Support"): tickets, their messages, files and folders."""

from __future__ import annotations


from flask import abort
from flask_appbuilder import expose, has_access
from flask_babel import gettext as _, lazy_gettext as _l
from flask_babel.speaklater import LazyString

from app import models as m
from app.extensions import db
from app.services import ticket_macros
from app.views.base import METHOD_PERMISSIONS, AtriumModelView
from app.views.files import send_stored
from app.views.forms import service_validator
from app.views.interface import AtriumInterface
from app.views.staff.ticket_page import TicketPage
from app.views.widgets import IdInputWidget
from wtforms import IntegerField
from wtforms.validators import Optional


class TicketMessageView(AtriumModelView):
    datamodel = AtriumInterface(m.TicketMessage)
    class_permission_name = "TicketMessage"
    list_title = _l("Ticket messages")
    list_columns = ["ticket.subject", "created_at", "author", "internal", "body"]
    search_columns = ["ticket", "author", "internal", "body"]
    # No author field: a message's author is whoever is signed in (the true user while
    # viewing as), stamped on flush by ``services.lifecycle`` for every door.
    add_columns = edit_columns = ["ticket", "body", "internal"]
    base_order = ("created_at", "asc")
    label_columns = {"ticket.subject": _l("Ticket"), "internal": _l("Internal note")}
    description_columns = {"internal": _l("Internal notes are never shown to the client.")}


class TicketView(TicketPage, AtriumModelView):
    """Tickets: the list (filters by client and assignee among the search fields), and
    each ticket's page, the workspace (``TicketPage``: thread, reply box, moves)."""
    datamodel = AtriumInterface(m.Ticket)
    class_permission_name = "Ticket"
    method_permission_name = {**METHOD_PERMISSIONS, **TicketPage.page_permissions}
    list_title = _l("Support tickets")
    list_columns = ["id", "client.name", "subject", "priority", "status", "sla_state",
                    "first_response_due_at", "assignee.username", "created_at"]
    # No relation drop-downs here: FAB would load every client, user and project on each
    # page view of a 200k-row list. A client's tickets are on the client's page.
    search_columns = ["id", "subject", "priority", "status", "sla_state", "created_at", "first_response_due_at",
                      "client", "assignee"]
    # By id, as the assignee: a drop-down of every client would be one more statement on
    # each page of a 200k-row list (the support queues offer both by name).
    search_form_extra_fields = {"client": IntegerField(_l("Client"), validators=[Optional()], widget=IdInputWidget())}
    add_columns = ["client", "project", "subject", "description", "priority", "status", "assignee"]
    edit_columns = ["project", "subject", "description", "priority", "status", "assignee"]
    show_columns = ["id", "client", "project", "subject", "description", "priority", "status",
                    "assignee", "opened_by", "sla_hours", "first_response_due_at", "first_response_at",
                    "sla_state", "resolved_at", "created_at", "updated_at"]
    related_views = [TicketMessageView]
    base_order = ("created_at", "desc")
    label_columns = {"client.name": _l("Client"), "assignee.username": _l("Assignee"), "sla_state": _l("SLA"),
                     "first_response_due_at": _l("First response due"), "id": "#"}


def _placeholders() -> str:
    """The macro body's help: each placeholder with what it stands for (read when shown,
    in the reader's language)."""
    known = ", ".join("{" + k + "} (" + str(v) + ")" for k, v in ticket_macros.PLACEHOLDERS.items())
    return _("Placeholders: %(placeholders)s", placeholders=known)


class TicketMacroView(AtriumModelView):
    """Macros (canned replies): Admin manages them, staff apply them on a ticket's page."""
    datamodel = AtriumInterface(m.TicketMacro)
    class_permission_name = "TicketMacro"
    list_title = _l("Macros")
    list_columns = ["name", "set_status", "set_priority", "updated_at"]
    search_columns = ["name", "body"]
    add_columns = edit_columns = ["name", "body", "set_status", "set_priority"]
    show_columns = ["name", "body", "set_status", "set_priority", "created_at", "updated_at"]
    base_order = ("name", "asc")
    label_columns = {"set_status": _l("Sets status"), "set_priority": _l("Sets priority")}
    description_columns = {
        "body": LazyString(_placeholders),
        "set_status": _l("Optional: the status the reply also sets when sent."),
        "set_priority": _l("Optional: the priority the reply also sets when sent.")}
    validators_columns = {"body": [service_validator(ticket_macros.check_body)]}


class StorageFolderView(AtriumModelView):
    datamodel = AtriumInterface(m.StorageFolder)
    class_permission_name = "StorageFolder"
    list_title = _l("Folders")
    list_columns = ["client.name", "path", "name"]
    search_columns = ["client", "path", "name"]
    add_columns = ["client", "parent", "name", "path"]
    edit_columns = ["name"]
    base_order = ("path", "asc")
    label_columns = {"client.name": _l("Client")}


class StorageFileView(AtriumModelView):
    datamodel = AtriumInterface(m.StorageFile)
    class_permission_name = "StorageFile"
    method_permission_name = {**METHOD_PERMISSIONS, "file": "read"}
    list_title = _l("Files")
    list_columns = ["client.name", "file_name", "mime_type", "size_bytes", "uploaded_by", "created_at"]
    search_columns = ["client", "project", "file_name", "mime_type"]
    add_columns = []  # files arrive by upload (portal, ticket attachments), not by typing
    edit_columns = ["project", "folder", "file_name"]
    show_exclude_columns = ["stored_path"]
    base_order = ("created_at", "desc")
    label_columns = {"client.name": _l("Client"), "size_bytes": _l("Size (bytes)")}

    @expose("/file/<int:pk>")
    @has_access
    def file(self, pk):
        """The stored file itself (a ticket's attachments link here)."""
        row = db.session.get(m.StorageFile, pk)
        if row is None:
            abort(404)
        return send_stored(row.stored_path, row.file_name, row.mime_type or "application/octet-stream")
