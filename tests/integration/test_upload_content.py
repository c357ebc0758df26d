"""Uploads are accepted by what their bytes are, at every door that stores a file
(``services.storage.store_upload``): the portal's Files upload, a new ticket's and a
client's reply's attachment, and a staff reply's. Downloads are attachments with nosniff and a sandboxing CSP.

What a person would notice: a web page or script dressed as a document, image or text
file is refused with a message and nothing is kept (no row, no bytes on disk); real
PDFs, images, spreadsheets, documents and text still upload and download unchanged.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
import zlib

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import csrf_token, login

SCRIPT = b"<script>alert(document.cookie)</script>"

# The 19 forms of issue 15 item 7: the first nine got through the old check.
HOSTILE = [
    ("utf8-bom-html", "notes.txt", b"\xef\xbb\xbf<html><body>" + SCRIPT + b"</body></html>"),
    ("xml-svg-script", "logo.png",
     b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg">' + SCRIPT + b"</svg>"),
    ("body-onload", "readme.txt", b"<body onload=alert(1)>hello</body>"),
    ("iframe", "notes.md", b"Meeting notes\n\n<iframe src=\"https://evil.example/\"></iframe>\n"),
    ("meta-refresh", "export.csv", b'<meta http-equiv="refresh" content="0;url=https://evil.example/">'),
    ("utf16-html", "letter.txt", "\ufeff<html><body><script>alert(1)</script></body></html>".encode("utf-16-le")),
    ("markup-after-600", "log.txt", b"a" * 700 + b"\n" + SCRIPT + b"\n"),
    ("comment-then-script", "todo.txt", b"<!--x-->" + SCRIPT),
    ("gif-html-polyglot", "banner.gif",
     b"GIF89a/*\x01\x00\x01\x00\x00\xff\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x00;*/=1;"
     b"<html><body>" + SCRIPT + b"</body></html>"),
    # ...and the plainer ten.
    ("plain-html", "page.html", b"<!DOCTYPE html><html><body>hi</body></html>"),
    ("svg-by-name", "icon.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("javascript-file", "app.js", b"fetch('/api/v1/client/').then(r => r.text()).then(alert)"),
    ("script-in-txt", "notes2.txt", SCRIPT),
    ("html-named-pdf", "invoice.pdf", b"<html><body>" + SCRIPT + b"</body></html>"),
    ("svg-named-jpeg", "photo.jpg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("doctype-in-csv", "data.csv", b"  <!doctype html><p>hi"),
    ("uppercase-html-md", "README.md", b"\n\n   <HTML><SCRIPT>alert(1)</SCRIPT></HTML>"),
    ("double-extension", "invoice.pdf.html", b"%PDF-1.4\n<html>" + SCRIPT),
    ("html-named-xlsx", "sheet.xlsx", b"<html><table><tr><td>1</td></tr></table>" + SCRIPT + b"</html>"),
]


def _png() -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 4 for _ in range(4))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (8, 8), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def _pdf() -> bytes:
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Brief for the spring campaign")
    page.save()
    return out.getvalue()


def _office(kind: str) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", '<?xml version="1.0" encoding="UTF-8"?><Types '
                   'xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>')
        if kind == "docx":
            z.writestr("word/document.xml", '<?xml version="1.0"?><w:document xmlns:w="http://schemas.'
                       'openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p/></w:body></w:document>')
        else:
            z.writestr("xl/workbook.xml", '<?xml version="1.0"?><workbook xmlns="http://schemas.'
                       'openxmlformats.org/spreadsheetml/2006/main"><sheets/></workbook>')
    return out.getvalue()


def _allowed():
    return [("brief.pdf", _pdf()), ("mock.png", _png()), ("photo.jpeg", _jpeg()),
            ("leads.csv", b"name,email\nAna,ana@example.com\n"), ("budget.xlsx", _office("xlsx")),
            ("contract.docx", _office("docx")), ("notes.txt", "Reunião às 10h: 3 < 5, a > b\n".encode()),
            ("archive.zip", _office("docx"))]


def _pro_co_open_ticket() -> int:
    client_id = db.session.execute(sa.select(m.Client.id).filter_by(slug="pro-co")).scalar_one()
    return db.session.execute(sa.select(m.Ticket.id).where(
        m.Ticket.client_id == client_id, m.Ticket.status.notin_(["resolved", "closed"])).limit(1)).scalar_one()


def _post_form(http, path, form):
    """POST ``form`` (multipart) with the page's CSRF token; (status, the page a person sees)."""
    response = http.post(path, data={"csrf_token": csrf_token(http, path), **form}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    if response.status_code == 302:
        page = http.get(response.headers["Location"]).get_data(as_text=True)
    return response.status_code, page


def _upload_file(http, name, data, **form):
    return _post_form(http, "/portal/files/upload", {"file": (io.BytesIO(data), name), **form})


def _reply_with(http, name, data):
    ticket = _pro_co_open_ticket()
    token = csrf_token(http, f"/portal/tickets/show/{ticket}")
    response = http.post(f"/portal/tickets/reply/{ticket}", data={
        "csrf_token": token, "body": f"see {name}", "attachment": (io.BytesIO(data), name)},
        content_type="multipart/form-data")
    assert response.status_code == 302
    return response.status_code, http.get(response.headers["Location"]).get_data(as_text=True)


def _open_ticket_with(http, name, data):
    return _post_form(http, "/portal/tickets/add", {"subject": f"About {name}", "description": "See the attachment.",
                                                    "priority": "low", "attachment": (io.BytesIO(data), name)})


def _staff_reply_with(http, name, data):
    ticket = _pro_co_open_ticket()
    token = csrf_token(http, f"/ticketview/show/{ticket}")
    response = http.post(f"/ticketview/reply/{ticket}", data={
        "csrf_token": token, "kind": "reply", "body": f"see {name}", "attachment": (io.BytesIO(data), name)},
        content_type="multipart/form-data")
    assert response.status_code == 302
    return response.status_code, http.get(response.headers["Location"]).get_data(as_text=True)


# door -> (how a file goes in, who sends it, where its bytes come back)
DOORS = {"portal file upload": (_upload_file, "pro-co-owner", "/portal/files/download/"),
         "ticket reply attachment": (_reply_with, "pro-co-owner", "/portal/files/download/"),
         "new ticket attachment": (_open_ticket_with, "pro-co-owner", "/portal/files/download/"),
         "staff reply attachment": (_staff_reply_with, "operator", "/storagefileview/file/")}


def _files() -> int:
    db.session.expire_all()
    return db.session.execute(sa.select(sa.func.count()).select_from(m.StorageFile)).scalar_one()


def _tickets() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)).scalar_one()


def _replies() -> int:
    return db.session.execute(sa.select(sa.func.count()).select_from(m.TicketMessage)).scalar_one()


def _refusal(page: str) -> str | None:
    found = re.search(r'alert-danger[^>]*>(.*?)</div>', page, re.S)
    return re.sub(r"<[^>]+>|&times;", "", found.group(1)).strip() if found else None


@pytest.mark.parametrize("door", sorted(DOORS))
def test_every_hostile_payload_is_refused_with_a_message_and_nothing_kept(app, client, tmp_path, door):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    send, user, _ = DOORS[door]
    login(client, user)
    files, replies, tickets = _files(), _replies(), _tickets()
    through = []
    for label, name, data in HOSTILE:
        status, page = send(client, name, data)
        message = _refusal(page)
        if message is None or "cannot be uploaded" not in message and " is not " not in message:
            through.append((label, status, message))
    assert through == [], f"accepted at the {door}: {through}"
    assert _files() == files and _replies() == replies and _tickets() == tickets
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


@pytest.mark.parametrize("door", sorted(DOORS))
def test_real_documents_images_and_text_still_upload_and_come_back_unchanged(app, client, tmp_path, door):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    send, user, download_path = DOORS[door]
    login(client, user)
    for name, data in _allowed():
        status, page = send(client, name, data)
        assert _refusal(page) is None, (name, _refusal(page))
        db.session.expire_all()
        row = db.session.execute(sa.select(m.StorageFile).filter_by(file_name=name)
                                 .order_by(m.StorageFile.id.desc()).limit(1)).scalar_one()
        download = client.get(f"{download_path}{row.id}")
        assert download.status_code == 200 and download.data == data, name
        assert download.headers["Content-Disposition"].startswith("attachment")
        assert download.headers["X-Content-Type-Options"] == "nosniff"
        policy = [p.strip() for p in download.headers["Content-Security-Policy"].split(";")]
        assert "sandbox" in policy and "default-src 'none'" in policy, policy


def test_report_pdfs_and_csv_exports_are_sandboxed_downloads_too(app, client, tmp_path):
    app.config.update(REPORT_DIR=str(tmp_path / "reports"))
    login(client, "admin")
    export = client.get("/clientview/export.csv")
    assert export.status_code == 200
    assert export.headers["Content-Disposition"].startswith("attachment")
    assert export.headers["Content-Security-Policy"].startswith("sandbox;")
    page = client.get("/clientview/list/")  # a page keeps the app's own policy
    assert "sandbox" not in page.headers["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in page.headers["Content-Security-Policy"]


@pytest.mark.parametrize("field, value, message", [
    ("name", "a" * 100_000 + ".txt", "The file name is too long"),
    ("project_id", "9" * 40, "Choose a project"),
    ("project_id", "-1", "Choose a project"),
    ("project_id", "2147483648", "Choose a project"),
    ("project_id", "abc", "Choose a project"),
])
def test_out_of_bounds_upload_inputs_get_a_message_not_a_500(app, client, tmp_path, field, value, message):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    login(client, "pro-co-owner")
    files = _files()
    name, form = (value, {}) if field == "name" else ("brief.txt", {"project_id": value})
    status, page = _upload_file(client, name, b"hello", **form)
    assert status == 422 and message in (_refusal(page) or ""), (status, _refusal(page))
    assert _files() == files and [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_another_clients_project_cannot_be_named_on_an_upload(app, client, tmp_path):
    app.config["UPLOAD_DIR"] = str(tmp_path)
    other = db.session.execute(sa.select(m.Project.id).join(m.Client).where(m.Client.slug == "basic-co")
                               .limit(1)).scalar_one()
    login(client, "pro-co-owner")
    files = _files()
    status, page = _upload_file(client, "brief.txt", b"hello", project_id=str(other))
    assert status == 422 and "Choose one of your projects" in (_refusal(page) or "")
    assert _files() == files


def test_the_campaign_csv_import_refuses_every_hostile_payload_and_writes_nothing(app, client):
    """The third form with a file input: staff's campaign CSV import. It keeps no file (the
    figures are parsed into metrics), so it is not a storage door, but the same payloads
    must still come back as a message with nothing written."""
    from app.views import campaign_import

    if not any(type(v).__name__ == "CampaignImportView" for v in app.appbuilder.baseviews):
        campaign_import.register(app.appbuilder)
    campaign = db.session.execute(sa.select(m.Campaign).join(m.Client).where(m.Client.slug == "pro-co")
                                  .limit(1)).scalar_one()
    metrics = sa.select(sa.func.count()).select_from(m.CampaignMetric)
    before = db.session.execute(metrics).scalar_one()
    login(client, "operator")
    form = f"/campaigns/import/?campaign_id={campaign.id}"
    through = []
    for label, name, data in HOSTILE:
        response = client.post("/campaigns/import/", data={
            "csrf_token": csrf_token(client, form), "campaign_id": str(campaign.id),
            "file": (io.BytesIO(data), name)}, content_type="multipart/form-data")
        if response.status_code != 422 or _refusal(response.get_data(as_text=True)) is None:
            through.append((label, response.status_code))
    assert through == []
    db.session.expire_all()
    assert db.session.execute(metrics).scalar_one() == before


def test_every_form_with_a_file_input_is_one_of_the_doors_tested_here():
    """A new upload form must join the tests above (and call ``storage.store_upload``)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "templates"
    forms = sorted(str(p.relative_to(root)) for p in root.rglob("*.html") if 'type="file"' in p.read_text())
    assert forms == ["campaign_import/form.html", "portal/ticket.html", "portal/upload.html", "staff/ticket.html"]
    # (the portal's new-ticket form is FAB's, with ``PortalTicketView.add_form_extra_fields``'s file field)
