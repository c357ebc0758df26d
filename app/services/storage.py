"""Client file storage: uploads under ``UPLOAD_DIR``, checked and counted (SPEC §2, §3).

- Size: at most ``MAX_UPLOAD_MB`` per file; name: at most ``MAX_NAME_CHARS`` characters.
- Type, by content (``check_content``): the name's extension must be one of the
  document, image, spreadsheet and archive formats agencies exchange (``ALLOWED_TYPES``)
  AND the bytes must be that kind of file: binary formats are identified by their magic
  numbers (``puremagic``), text formats (txt, csv, md) must be 8-bit text (no NUL bytes,
  so no UTF-16/32 and no binary). Then no markup that a browser would run: the whole of
  a text or image file (where a GIF/HTML polyglot hides it), the first ``HEAD_SCAN``
  bytes of PDFs, office documents and archives (the window browsers sniff), are searched
  for HTML/SVG/script tags, in ASCII and in UTF-16.
- Downloads are attachments with ``nosniff`` and a sandboxing CSP
  (``app.security.headers``), so even a file that got past all this cannot run as a page.
- Quota: the file counts against the client's storage limit (``tiers``) before a byte
  is written; the limit check runs again on flush for every door.
- Layout: ``UPLOAD_DIR/<client id>/<random hex>-<safe name>``; the database keeps the
  path relative to ``UPLOAD_DIR``, the SHA-256 and the size. Downloads go through
  ``path_of`` only, after the row was loaded under the caller's tenancy.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from pathlib import Path

import puremagic
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.utils import secure_filename

from app import models as m
from app.errors import InvalidInput
from app.services import tiers

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
CHUNK = 1024 * 1024
MAX_NAME_CHARS = 200  # a stored name is "<16 hex>-<name>", which must fit a file system's 255 bytes
HEAD_SCAN = 4096  # bytes of a PDF, office file or archive searched for markup

# Extension -> the kind of content it must hold. Binary kinds list what ``puremagic`` may
# call such content (the extensions it reports); text kinds are checked by hand.
TEXT_KINDS = {".txt", ".csv", ".md"}
_ZIP = {".zip", ".docx", ".xlsx", ".pptx"}
_OLE = {".doc", ".xls", ".ppt"}
CONTENT_KINDS = {
    ".pdf": (_l("a PDF document"), {".pdf"}),
    ".png": (_l("a PNG image"), {".png"}),
    ".jpg": (_l("a JPEG image"), {".jpg", ".jpeg", ".jfif", ".jpe"}),
    ".jpeg": (_l("a JPEG image"), {".jpg", ".jpeg", ".jfif", ".jpe"}),
    ".gif": (_l("a GIF image"), {".gif"}),
    ".webp": (_l("a WebP image"), {".webp"}),
    ".doc": (_l("a Word document"), _OLE), ".xls": (_l("an Excel spreadsheet"), _OLE),
    ".ppt": (_l("a PowerPoint presentation"), _OLE),
    ".docx": (_l("a Word document"), _ZIP), ".xlsx": (_l("an Excel spreadsheet"), _ZIP),
    ".pptx": (_l("a PowerPoint presentation"), _ZIP), ".zip": (_l("a ZIP archive"), _ZIP),
}
FULL_SCAN = TEXT_KINDS | {".png", ".jpg", ".jpeg", ".gif", ".webp"}

# Markup a browser would render or run: HTML, SVG and XSLT elements (opening or closing),
# and any tag carrying an ``on...=`` event handler. In text anything may stand between
# the tag's name and the handler; in binary files only printable ASCII (random bytes
# would otherwise match the loose form about once in a few hundred large images).
_TAGS = (r"!doctype\s+html|html|head|body|script|iframe|frame|frameset|object|embed|applet|svg|math|meta|"
         r"link|base|form|img|video|audio|style|\?xml-stylesheet|xsl:[a-z]+|x:script")
_MARKUP_TAG = re.compile(rb"</?(?:" + _TAGS.encode() + rb")(?=[\s/>]|$)", re.IGNORECASE)
_HANDLER_IN_TEXT = re.compile(rb"<[a-z][a-z0-9:-]*\s[^<>]{0,1000}?\bon[a-z]+\s*=", re.IGNORECASE)
_HANDLER_IN_BINARY = re.compile(rb"<[a-z][a-z0-9:-]*\s[\x20-\x3b\x3d\x3f-\x7e\t\r\n]{0,300}?\bon[a-z]+\s*=",
                                re.IGNORECASE)
_OVERLAP = 1100  # bytes carried between chunks so a tag split by a chunk boundary is still seen


def check_name(filename: str) -> tuple[str, str]:
    """The safe file name and its MIME type, or ``InvalidInput`` naming what is accepted."""
    if len(filename or "") > MAX_NAME_CHARS:
        raise InvalidInput(_("The file name is too long: at most %(most)d characters. Rename the file and upload it "
                             "again.", most=MAX_NAME_CHARS), field="file")
    safe = secure_filename(filename or "")
    ext = os.path.splitext(safe)[1].lower()
    if not safe or ext not in ALLOWED_TYPES:
        accepted = ", ".join(sorted(e.lstrip(".") for e in ALLOWED_TYPES))
        raise InvalidInput(_("Files of this type cannot be uploaded. Accepted: %(accepted)s.", accepted=accepted),
                           field="file")
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
    digest, size = hashlib.sha256(), 0
    try:
        with open(target, "wb") as out:
            while chunk := stream.read(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidInput(_("The file is larger than the %(most)s allowed per upload.",
                                         most=tiers.human_bytes(max_bytes)), field="file")
                digest.update(chunk)
                out.write(chunk)
        if size == 0:
            raise InvalidInput(_("The file is empty."), field="file")
        check_content(safe, target)
        tiers.check_can_add(session, client, "storage_bytes", adding=size)
        row = m.StorageFile(client_id=client.id, project_id=project_id, folder_id=folder_id, file_name=safe,
                            stored_path=str(relative), mime_type=mime, size_bytes=size, sha256=digest.hexdigest(),
                            uploaded_by_id=getattr(user, "id", None), tags=[])
        session.add(row)
        return row
    except BaseException:
        target.unlink(missing_ok=True)
        raise


def check_content(name: str, path: Path) -> None:
    """Refuse (``InvalidInput``) a file whose bytes are not the kind its name says, or that
    carries markup a browser would run. ``name`` is the checked name (``check_name``)."""
    ext = os.path.splitext(name)[1].lower()
    with open(path, "rb") as data:
        head = data.read(HEAD_SCAN)
        if ext in TEXT_KINDS:
            _check_text(head, data)
        else:
            _check_magic(name, ext, head)
        data.seek(0)
        text = ext in TEXT_KINDS
        if ext in FULL_SCAN:
            _scan_markup(data, text)
        else:
            _scan_markup_bytes(head, text)


def _refuse_markup():
    raise InvalidInput(_("Web pages, SVG and scripts cannot be uploaded: this file contains HTML or script markup."),
                       field="file")


def _check_text(head: bytes, data) -> None:
    bom = head.startswith((b"\xff\xfe", b"\xfe\xff"))
    data.seek(0)
    while chunk := data.read(CHUNK):
        if b"\x00" in chunk or bom:
            # UTF-16/32 text or binary content: markup hides there from byte scans.
            _scan_markup_bytes(_squeeze_utf16(chunk), text=True)
            raise InvalidInput(_("This is not a plain text file (it is binary or UTF-16 encoded). "
                                 "Save text as UTF-8, or upload a document, image or archive."), field="file")


def _squeeze_utf16(chunk: bytes) -> bytes:
    return chunk.replace(b"\x00", b"")


def _check_magic(name: str, ext: str, head: bytes) -> None:
    kind, accepted = CONTENT_KINDS[ext]
    try:
        found = puremagic.magic_string(head)
    except (puremagic.PureError, ValueError):
        found = []
    if not any(match.extension.lower() in accepted for match in found):
        looks = next((m.name or m.extension for m in found if m.confidence >= 0.5), None)
        if looks:
            raise InvalidInput(_("%(name)s is not %(kind)s (its content looks like %(looks)s): files are accepted by "
                                 "what they contain, and the content must match the name's type.", name=name,
                                 kind=kind, looks=looks), field="file")
        raise InvalidInput(_("%(name)s is not %(kind)s: files are accepted by what they contain, and the content "
                             "must match the name's type.", name=name, kind=kind), field="file")


def _scan_markup_bytes(data: bytes, text: bool) -> None:
    handler = _HANDLER_IN_TEXT if text else _HANDLER_IN_BINARY
    for form in (data, _squeeze_utf16(data)):  # as stored, and UTF-16 read as bytes
        if _MARKUP_TAG.search(form) or handler.search(form):
            _refuse_markup()


def _scan_markup(data, text: bool) -> None:
    carry = b""
    while chunk := data.read(CHUNK):
        window = carry + chunk
        _scan_markup_bytes(window, text)
        carry = window[-_OVERLAP:]


def path_of(stored_path: str, upload_dir: str) -> Path:
    """The file on disk for a stored (relative) path; it never escapes ``upload_dir``."""
    root = Path(upload_dir).resolve()
    path = (root / stored_path).resolve()
    if root not in path.parents:
        raise InvalidInput(_("The stored file path is invalid."))
    return path


def discard(files, upload_dir: str) -> None:
    """Remove the bytes of uploads whose rows were not kept (the commit was refused)."""
    for file in files:
        path_of(file.stored_path, upload_dir).unlink(missing_ok=True)
