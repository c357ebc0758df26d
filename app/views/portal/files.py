"""The portal's file storage view (upload and download)."""

from __future__ import annotations


from flask import current_app, flash, g, redirect, request, url_for
from flask_appbuilder import expose, has_access
from flask_babel import gettext as _, lazy_gettext as _l

from app import models as m
from app.extensions import db
from app.services import storage, tiers, validation
from app.errors import AtriumError
from app.views.interface import AtriumInterface
from app.views.files import discard, send_stored, store_request_file
from app.views.portal.base import PortalModelView, download_link, portal_scope

class PortalFileView(PortalModelView):
    datamodel = AtriumInterface(m.StorageFile)
    class_permission_name = "PortalFile"
    route_base = "/portal/files"
    base_permissions = ["can_read", "can_write"]
    list_title = _l("Files")
    show_title = _l("Show Storage File")
    list_columns = ["file_name", "project.name", "mime_type", "size_bytes", "uploaded_by", "created_at", "id"]
    show_columns = ["file_name", "project", "folder", "mime_type", "size_bytes", "sha256", "uploaded_by",
                    "created_at", "id"]
    search_columns = ["file_name", "mime_type"]
    # Files come in through the upload (``upload`` below: content checked, quota counted)
    # and go through delete; their stored metadata is never a form. The list's "+" is the
    # upload; FAB's add/edit routes do not exist here.
    add_columns = edit_columns = ["file_name"]  # no route serves these forms
    portal_routes = frozenset({"delete"})
    portal_add = ("upload", _l("Upload a file"), "StorageFile", "storage_bytes")
    label_columns = {"file_name": _l("File Name"), "project.name": _l("Project"), "project": _l("Project"),
                     "folder": _l("Folder"), "mime_type": _l("Type"), "size_bytes": _l("Size"), "sha256": _l("Sha256"),
                     "uploaded_by": _l("Uploaded By"), "created_at": _l("Uploaded at"), "id": _l("File")}
    formatters_columns = {"size_bytes": lambda n: tiers.human_bytes(int(n or 0)),
                          "id": lambda pk: download_link("PortalFileView", pk)}
    base_order = ("created_at", "desc")

    def post_delete(self, item):
        storage.path_of(item.stored_path, current_app.config["UPLOAD_DIR"]).unlink(missing_ok=True)

    @expose("/upload", methods=["GET", "POST"])
    @has_access
    def upload(self):
        scope = portal_scope()
        projects = db.session.query(m.Project).order_by(m.Project.name).all()
        if request.method == "POST":
            stored = []
            try:
                upload = request.files.get("file")
                if upload is None or not upload.filename:
                    raise storage.InvalidInput(_("Choose a file to upload."), field="file")
                project_id = validation.record_id(request.form.get("project_id"), field="project_id", what="project")
                if project_id is not None and db.session.get(m.Project, project_id) is None:  # scoped
                    raise storage.InvalidInput(_("Choose one of your projects (or none)."), field="project_id")
                client = db.session.get(m.Client, scope.client_id)
                stored.append(store_request_file(upload, client, g.user, project_id=project_id))
                db.session.commit()
                flash(_("%(name)s was uploaded.", name=upload.filename), "success")
                return redirect(url_for(".show", pk=stored[0].id))
            except AtriumError as exc:
                db.session.rollback()
                discard(stored)
                flash(exc.message, "danger")
                return self.render_template("portal/upload.html", projects=projects,
                                            accepted=sorted(storage.ALLOWED_TYPES)), exc.status
        return self.render_template("portal/upload.html", projects=projects, accepted=sorted(storage.ALLOWED_TYPES))

    @expose("/download/<int:pk>")
    @has_access
    def download(self, pk):
        file = self._get_or_404(m.StorageFile, pk)
        return send_stored(file.stored_path, file.file_name, file.mime_type)
