"""What a person gets for bad input (issue 15, items 5, 6 and 8): a 4xx with a message
naming the field, and nothing written. One test per cause the attack found; the sweep
over every form and operation is ``test_bad_input_fuzz.py``.

- Text no field may hold (NUL, invalid UTF-8, a lone surrogate) is refused at the door
  (``app.views.input_guard``): 400 naming the field, for forms and the API alike.
- Numbers are finite and fit their column (``validation.money``/``bounded_number``):
  the form comes back with a 422 and the message on the field.
- Messages quoting the input never use it as a format string (``LiteralErrorsForm``).
- The API checks types before the database (an enumeration given a number is a 422),
  writes take a JSON object, rison ``q`` nests at most ``MAX_RISON_DEPTH`` levels, and
  a list filter takes one value.
- Unknown orderings and actions are a 400 after the permission check (403 before it).
- Limit overrides are bounded, and a page shows whatever is stored (item 5).
- A client's API ticket starts ``open`` like the portal's; asking for ``closed`` is a
  422 naming ``status`` (item 8).
"""

from __future__ import annotations

import io
import json
import re
import urllib.parse

import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.services import tiers
from tests.conftest import PASSWORD, csrf_token, login
from tests.support.bad_input import parse_page


def _api(client, username):
    response = client.post("/api/v1/security/login",
                           json={"username": username, "password": PASSWORD, "provider": "db"})
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def _count(model) -> int:
    db.session.expire_all()
    return db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()


def _client(slug="pro-co") -> m.Client:
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _project(slug="pro-co") -> m.Project:
    return db.session.execute(sa.select(m.Project).join(m.Client).where(m.Client.slug == slug)
                              .order_by(m.Project.id)).scalars().first()


def _ticket(slug="pro-co", open_=True) -> m.Ticket:
    query = sa.select(m.Ticket).join(m.Client).where(m.Client.slug == slug).order_by(m.Ticket.id)
    if open_:
        query = query.where(m.Ticket.status.not_in(["resolved", "closed"]))
    return db.session.execute(query).scalars().first()


def _form_fields(client, url) -> list[tuple[str, bytes]]:
    """The fields of the page's main form with the values it shows (as a browser sends them)."""
    forms, _ = parse_page(url, client.get(url).get_data(as_text=True))
    form = max(forms, key=lambda f: len(f.fields))
    return [(name, (value or "").encode()) for name, value, kind in form.fields
            if value is not None and kind != "file"]


def _post_form(client, url, changes: dict):
    """Post the form of ``url`` as shown, with ``changes`` (raw bytes values) applied."""
    fields = [(n, v) for n, v in _form_fields(client, url) if n not in changes]
    fields += [(n, v if isinstance(v, bytes) else str(v).encode()) for n, v in changes.items()]
    body = urllib.parse.urlencode([(n.encode(), v) for n, v in fields]).encode()
    return client.post(url, data=body, content_type="application/x-www-form-urlencoded")


def _field_errors(response) -> str:
    """The text of the field errors on a form page."""
    html = response.get_data(as_text=True)
    return " ".join(re.sub(r"<[^>]+>", " ", chunk) for chunk in
                    re.findall(r'<div class="alert alert-danger">(.*?)</div>', html, re.S))


def _message(response) -> str:
    if response.is_json:
        return json.dumps(response.get_json(), ensure_ascii=False)
    match = re.search(r'id="error-message">(.*?)</p>', response.get_data(as_text=True), re.S)
    return match.group(1) if match else response.get_data(as_text=True)


# --------------------------------------------------------------------------- text at the door


def test_a_nul_byte_in_a_form_field_is_refused_naming_the_field(app, client):
    login(client, "admin")
    before = _count(m.Client)
    response = _post_form(client, "/clientview/add", {
        "name": b"Acme\x00 Ltda", "slug": b"acme-nul", "tier": b"pro", "status": b"active",
        "contact_email": b"ops@acme.example", "timezone": b"UTC"})
    assert response.status_code == 400
    assert "“name”" in _message(response) and "NUL" in _message(response)
    assert _count(m.Client) == before


def test_a_nul_byte_in_a_portal_reply_is_refused_and_no_message_is_written(app, client):
    ticket = _ticket()
    login(client, "pro-co-owner")
    before = _count(m.TicketMessage)
    token = csrf_token(client, f"/portal/tickets/show/{ticket.id}")
    response = client.post(f"/portal/tickets/reply/{ticket.id}", data={"body": "Hello\x00there", "csrf_token": token})
    assert response.status_code == 400
    assert "“body”" in _message(response)
    assert _count(m.TicketMessage) == before


def test_invalid_utf8_in_an_email_field_is_refused_naming_the_field(app, client):
    project = _project()
    login(client, "pro-co-owner")
    response = _post_form(client, f"/portal/projects/edit/{project.id}", {"contact_email": b"ana\xff\xfe@example.com"})
    assert response.status_code == 400
    assert "“contact_email”" in _message(response) and "UTF-8" in _message(response)
    db.session.expire_all()
    assert db.session.get(m.Project, project.id).contact_email == project.contact_email


def test_a_lone_surrogate_in_an_api_string_is_refused_naming_the_field(app, client):
    headers = {**_api(client, "pro-co-owner"), "Content-Type": "application/json"}
    before = _count(m.Ticket)
    body = '{"client_id": %d, "subject": "Broken \\ud800 text", "description": "D", "priority": "low"}' % _client().id
    response = client.post("/api/v1/ticket/", headers=headers, data=body.encode())
    assert response.status_code == 400
    assert "“subject”" in response.get_json()["message"] and "surrogate" in response.get_json()["message"]
    assert _count(m.Ticket) == before


# --------------------------------------------------------------------------- numbers


def test_nan_infinity_and_huge_amounts_are_refused_on_the_money_fields(app, client):
    project = _project()
    login(client, "admin")
    for value, message in ((b"NaN", "Enter an amount"), (b"inf", "Enter an amount"),
                           (b"99999999999999999999", "at most")):
        response = _post_form(client, f"/projectview/edit/{project.id}", {"budget_total": value})
        assert response.status_code == 422, value
        assert message in _field_errors(response), value
    db.session.expire_all()
    assert db.session.get(m.Project, project.id).budget_total == project.budget_total


def test_a_project_id_beyond_any_integer_on_the_upload_form_is_a_message(app, client):
    login(client, "pro-co-owner")
    before = _count(m.StorageFile)
    token = csrf_token(client, "/portal/files/upload")
    response = client.post("/portal/files/upload", content_type="multipart/form-data", data={
        "csrf_token": token, "project_id": str(2**63), "file": (io.BytesIO(b"plain notes\n"), "notes.txt")})
    assert response.status_code == 422
    assert "Choose a project" in response.get_data(as_text=True)
    assert _count(m.StorageFile) == before


# --------------------------------------------------------------------------- messages quoting input


def test_an_email_that_looks_like_a_format_string_gets_its_message(app, client):
    project = _project()
    login(client, "pro-co-owner")
    for typed in ("%d", "100%", "%(x)s"):
        response = _post_form(client, f"/portal/projects/edit/{project.id}", {"contact_email": typed})
        assert response.status_code == 422, typed
        assert f"“{typed}” is not a valid email address" in _field_errors(response), typed
    db.session.expire_all()
    assert db.session.get(m.Project, project.id).contact_email == project.contact_email


def test_a_ticket_project_that_looks_like_a_format_string_gets_its_message(app, client):
    login(client, "pro-co-owner")
    before = _count(m.Ticket)
    response = _post_form(client, "/portal/tickets/add", {"project": "%d", "subject": "Help", "description": "D",
                                                          "priority": "low"})
    assert response.status_code == 422
    assert "Project" in _field_errors(response) or "project" in _field_errors(response)
    assert _count(m.Ticket) == before


# --------------------------------------------------------------------------- the API


def test_an_enumeration_given_a_number_or_a_boolean_is_a_422_naming_it(app, client):
    headers = _api(client, "pro-co-owner")
    before = _count(m.Ticket)
    for value in (1, True, ["low"]):
        response = client.post("/api/v1/ticket/", headers=headers,
                               json={"client_id": _client().id, "subject": "S", "description": "D",
                                     "priority": value})
        assert response.status_code == 422, value
        assert "priority" in response.get_json()["message"], value
    assert _count(m.Ticket) == before


def test_a_write_whose_body_is_not_an_object_is_a_400(app, client):
    ticket = _ticket()
    headers = {**_api(client, "admin"), "Content-Type": "application/json"}
    for body in (b"[1,2,3]", b'"text"', b"7", b"null"):
        response = client.put(f"/api/v1/ticket/{ticket.id}", headers=headers, data=body)
        assert response.status_code == 400, body
        assert "JSON object" in response.get_json()["message"], body
    db.session.expire_all()
    assert db.session.get(m.Ticket, ticket.id).subject == ticket.subject


def test_deeply_nested_json_is_a_400(app, client):
    headers = {**_api(client, "pro-co-owner"), "Content-Type": "application/json"}
    before = _count(m.Ticket)
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"subject": ' + b"[" * 40 + b"]" * 40 + b"}"):
        response = client.post("/api/v1/ticket/", headers=headers, data=body)
        assert response.status_code == 400
        assert "nested too deeply" in response.get_json()["message"]
    assert _count(m.Ticket) == before


def test_a_list_as_a_filter_value_is_answered_and_a_nested_one_is_a_400(app, client):
    headers = _api(client, "pro-co-owner")
    # FAB reads a list as "each of these" (AND): numbers in a text filter are text.
    listed = client.get("/api/v1/project/?q=" + urllib.parse.quote("(filters:!((col:name,opr:ct,value:!(1,2))))"),
                        headers=headers)
    assert listed.status_code == 200 and listed.get_json()["count"] == 0
    nested = client.get("/api/v1/project/?q=" + urllib.parse.quote("(filters:!((col:status,opr:eq,value:(a:1))))"),
                        headers=headers)
    assert nested.status_code == 400 and "not valid" in nested.get_json()["message"]  # FAB's own schema check
    for q, name in (("(filters:!((col:status,opr:eq,value:!(1,2))))", "status"),
                    ("(filters:!((col:client_id,opr:eq,value:99999999999999999999)))", "client id")):
        response = client.get(f"/api/v1/project/?q={urllib.parse.quote(q)}", headers=headers)
        assert response.status_code == 400, q
        assert f"“{name}” filter" in response.get_json()["message"], q


def test_unbalanced_and_deep_rison_is_a_400_on_every_resource(app, client):
    from app.api import APIS

    headers = _api(client, "admin")
    for api in APIS:
        for q in ("(((", "(a:" * 500 + "1" + ")" * 500):
            response = client.get(f"/api/v1/{api.resource_name}/?q={urllib.parse.quote(q)}", headers=headers)
            assert response.status_code == 400, (api.resource_name, q[:10])
            assert "q is" in response.get_json()["message"]


# --------------------------------------------------------------------------- orderings and actions


def test_an_unknown_ordering_column_is_a_400_after_the_permission_check(app, client):
    login(client, "admin")
    response = client.get("/clientview/list/?_oc_ClientView=no_such_column&_od_ClientView=asc")
    assert response.status_code == 400
    assert "“no_such_column”" in _message(response) and "name" in _message(response)
    assert client.get("/clientview/list/?_oc_ClientView=name&_od_ClientView=asc").status_code == 200
    client.get("/logout/")
    login(client, "pro-co-owner")  # may not read the staff list: the permission answers first
    assert client.get("/clientview/list/?_oc_ClientView=no_such_column").status_code == 403


def test_an_unknown_action_is_a_403_without_the_permission_and_a_400_with_it(app, client):
    target = _client("free-co")
    before = _count(m.Client)
    login(client, "developer")  # reads clients, may not change them
    token = csrf_token(client, "/clientview/list/")
    refused = client.post("/clientview/action_post", data={"action": "muldelete", "rowid": str(target.id),
                                                           "csrf_token": token})
    assert refused.status_code == 403
    client.get("/logout/")
    login(client, "admin")
    token = csrf_token(client, "/clientview/list/")
    unknown = client.post("/clientview/action_post", data={"action": "no_such_action", "rowid": str(target.id),
                                                           "csrf_token": token})
    assert unknown.status_code == 400 and "“no_such_action”" in _message(unknown)
    assert _count(m.Client) == before


# --------------------------------------------------------------------------- item 5: limit overrides


def test_a_storage_override_beyond_the_bound_is_refused_on_the_client_form(app, client):
    target = _client()
    login(client, "admin")
    response = _post_form(client, f"/clientview/edit/{target.id}",
                          {"limit_overrides-storage_bytes": "99999999999999999999999999"})
    assert response.status_code == 422
    assert "Storage (GB): at most 1048576" in _field_errors(response)
    db.session.expire_all()
    assert db.session.get(m.Client, target.id).limit_overrides == target.limit_overrides


def test_a_huge_stored_override_still_shows_on_the_client_pages(app, client):
    target = _client()
    huge = 99999999999999999999999999 * tiers.GB
    db.session.execute(sa.update(m.Client).where(m.Client.id == target.id)
                       .values(limit_overrides={"storage_bytes": huge, "projects": 3}))
    db.session.commit()
    login(client, "admin")
    shown = client.get(f"/clientview/show/{target.id}")
    assert shown.status_code == 200
    assert "Storage (GB): 99999999999999999999999999" in shown.get_data(as_text=True)
    edit = client.get(f"/clientview/edit/{target.id}")
    assert edit.status_code == 200 and 'value="99999999999999999999999999"' in edit.get_data(as_text=True)


# --------------------------------------------------------------------------- item 8: a client's API ticket


def test_a_client_api_ticket_asking_to_be_closed_is_refused_naming_status(app, client):
    headers = _api(client, "pro-co-owner")
    before = _count(m.Ticket)
    response = client.post("/api/v1/ticket/", headers=headers,
                           json={"client_id": _client().id, "subject": "Already done", "description": "D",
                                 "priority": "low", "status": "closed"})
    assert response.status_code == 422
    assert "status" in response.get_json()["message"] and "open" in response.get_json()["message"]
    assert _count(m.Ticket) == before


def test_a_client_api_ticket_starts_open_opened_by_the_client(app, client):
    headers = _api(client, "pro-co-owner")
    owner = db.session.execute(sa.select(m.User).filter_by(username="pro-co-owner")).scalar_one()
    response = client.post("/api/v1/ticket/", headers=headers,
                           json={"client_id": _client().id, "subject": "Site slow", "description": "Since Monday",
                                 "priority": "high", "status": "open"})
    assert response.status_code == 201, response.get_json()
    db.session.expire_all()
    ticket = db.session.get(m.Ticket, response.get_json()["id"])
    assert ticket.status == "open" and ticket.opened_by_id == owner.id and ticket.client_id == _client().id
