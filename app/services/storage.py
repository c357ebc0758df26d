"""Client file storage: uploads under ``UPLOAD_DIR``, checked and counted (SPEC §2, §3).

- Size: at most ``MAX_UPLOAD_MB`` per file; type: the document, image, spreadsheet and
  archive formats agencies exchange (``ALLOWED_TYPES``); the content sniffed must not
  be HTML or script, whatever the extension says.
- Quota: the file counts against the client's storage limit (``tiers``) before a byte
  is written; the limit check runs again on flush for every door.
- Layout: ``UPLOAD_DIR/<client id>/<random hex>-<safe name>``; the database keeps the
  path relative to ``UPLOAD_DIR``, the SHA-256 and the size. Downloads go through
  ``path_of`` only, after the row was loaded under the caller's tenancy.
"""

from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path

from werkzeug.utils import secure_filename

from app import models as m
from app.services import tiers
from app.services.errors import InvalidInput

ALLOWED_TYPES = {
    ".pdf": "application/pdf", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".gif": "image/gif", ".webp": "image/webp", ".txt": "text/plain", ".csv": "text/csv", ".md": "text/markdown",
    ".doc": "application/msword",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".xls": "application/vnd.ms-excel",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".ppt": "application/vnd.ms-powerpoint",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ".zip": "application/zip",
}
_ACTIVE_CONTENT = (b"<!doctype html", b"<html", b"<script", b"<svg")
CHUNK = 1024 * 1024


def check_name(filename: str) -> tuple[str, str]:
    """The safe file name and its MIME type, or ``InvalidInput`` naming what is accepted."""
    safe = secure_filename(filename or "")
    ext = os.path.splitext(safe)[1].lower()
    if not safe or ext not in ALLOWED_TYPES:
        accepted = ", ".join(sorted(e.lstrip(".") for e in ALLOWED_TYPES))
        raise InvalidInput(f"Files of this type cannot be uploaded. Accepted: {accepted}.", field="file")
    return safe, ALLOWED_TYPES[ext]


def store_upload(session, client, user, filename: str, stream, upload_dir: str, max_bytes: int,
                 project_id: int | None = None, folder_id: int | None = None) -> m.StorageFile:
    """Write an upload and add its ``StorageFile`` row (not committed). Nothing is left on
    disk when a check fails."""
    safe, mime = check_name(filename)
    directory = Path(upload_dir) / str(client.id)
    directory.mkdir(parents=True, exist_ok=True)
    relative = Path(str(client.id)) / f"{secrets.token_hex(8)}-{safe}"
    target = Path(upload_dir) / relative
    digest, size, head = hashlib.sha256(), 0, b""
    try:
        with open(target, "wb") as out:
            while chunk := stream.read(CHUNK):
                if not head:
                    head = chunk[:512].lstrip().lower()
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidInput(f"The file is larger than the {tiers.human_bytes(max_bytes)} "
                                       "allowed per upload.", field="file")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidInput("The file is empty.", field="file")
        if head.startswith(_ACTIVE_CONTENT):
            raise InvalidInput("Web pages and scripts cannot be uploaded.", field="file")
        tiers.check_can_add(session, client, "storage_bytes", adding=size)
        row = m.StorageFile(client_id=client.id, project_id=project_id, folder_id=folder_id, file_name=safe,
                            stored_path=str(relative), mime_type=mime, size_bytes=size, sha256=digest.hexdigest(),
                            uploaded_by_id=getattr(user, "id", None), tags=[])
        session.add(row)
        return row
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def path_of(stored_path: str, upload_dir: str) -> Path:
    """The file on disk for a stored (relative) path; it never escapes ``upload_dir``."""
    root = Path(upload_dir).resolve()
    path = (root / stored_path).resolve()
    if root not in path.parents:
        raise InvalidInput("The stored file path is invalid.")
    return path


def discard(files, upload_dir: str) -> None:
    """Remove the bytes of uploads whose rows were not kept (the commit was refused)."""
    for file in files:
        path_of(file.stored_path, upload_dir).unlink(missing_ok=True)
