"""Serving a stored file (``services.storage``) to whoever a view let see its row."""

from __future__ import annotations

import logging

from flask import abort, current_app, send_file

from app.services import storage

log = logging.getLogger(__name__)


def send_stored(relative_path: str, download_name: str, mimetype: str):
    path = storage.path_of(relative_path, current_app.config["UPLOAD_DIR"])
    if not path.is_file():
        log.error("stored file missing: %s", path)
        abort(404, description="The file is missing from storage. Please tell your account manager.")
    return send_file(path, mimetype=mimetype, as_attachment=True, download_name=download_name)
