"""Files at the doors: a request's upload stored (``store_request_file``), its bytes
removed when the change it came with is refused (``discard``), and a stored file served
to whoever a view let see its row (``send_stored``). The rules are
``services.storage``'s; the app's settings (``UPLOAD_DIR``, ``MAX_UPLOAD_MB``) are read here."""

from __future__ import annotations

import logging

from flask import abort, current_app, send_file
from flask_babel import gettext as _

from app.extensions import db
from app.services import storage

log = logging.getLogger(__name__)


def store_request_file(upload, client, user, project_id=None):
    """Store one uploaded file of the request for ``client`` (a ``StorageFile`` row added,
    not committed; nothing on disk when a check fails)."""
    return storage.store_upload(db.session, client, user, upload.filename, upload.stream,
                                current_app.config["UPLOAD_DIR"], current_app.config["MAX_UPLOAD_MB"] * 1024 * 1024,
                                project_id=project_id)


def discard(files) -> None:
    """The bytes of uploads whose change was refused (rolled back)."""
    storage.discard(files, current_app.config["UPLOAD_DIR"])


def send_stored(relative_path: str, download_name: str, mimetype: str):
    path = storage.path_of(relative_path, current_app.config["UPLOAD_DIR"])
    if not path.is_file():
        log.error("stored file missing: %s", path)
        abort(404, description=_("The file is missing from storage. Please tell your account manager."))
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=download_name)
