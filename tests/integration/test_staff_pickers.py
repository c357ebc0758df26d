"""Staff pickers (issue 16 items 2 and 3): the assignee picker offers staff only; a
client's rows are shown with their client ("Customer app — Pro Co") and narrowed to the
record's client on its edit form; nobody but staff can be assigned, whatever the door;
no API answer a client user receives names another client's user."""
from __future__ import annotations

import re

import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app import tenancy
from tests.conftest import PASSWORD, csrf_token, login


def _client(slug):
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _user(username):
    return db.session.execute(sa.select(m.User).filter_by(username=username)).scalar_one()


def _pro_ticket():
    return db.session.execute(sa.select(m.Ticket).filter_by(client_id=_client("pro-co").id)
                              .order_by(m.Ticket.id).limit(1)).scalar_one()


def _all_pages(client, url):
    results, page = [], 1
    while True:
        body = client.get(f"{url}&page={page}").get_json()
        results += body["results"]
        if not body["pagination"]["more"] or page > 50:
            return results
        page += 1


def test_the_assignee_picker_offers_staff_only(client):
    login(client, "operator")
    for form in ("add", "edit"):
        results = _all_pages(client, f"/ticketview/picker/assignee?form={form}")
        assert results, form
        for row in results:
            assert tenancy.is_staff_user(db.session.get(m.User, row["id"])), (form, row)
    client_user = _user("pro-co-owner")
    found = client.get(f"/ticketview/picker/assignee?form=edit&q={client_user.username}").get_json()
    assert found["results"] == []


def test_project_choices_name_their_client_and_the_edit_form_narrows_to_the_tickets_client(client):
    ticket = _pro_ticket()
    pro = _client("pro-co")
    login(client, "operator")
    everyone = _all_pages(client, "/ticketview/picker/project?form=add")
    names = {db.session.get(m.Project, r["id"]).client.name for r in everyone}
    assert len(names) > 1
    for row in everyone:
        project = db.session.get(m.Project, row["id"])
        assert row["text"] == f"{project.name} — {project.client.name}"
    html = client.get(f"/ticketview/edit/{ticket.id}").get_data(as_text=True)
    url = re.search(r'name="project"[^>]*|data-picker-url="([^"]*picker/project[^"]*)"', html)
    picker_url = re.search(r'data-picker-url="([^"]*picker/project[^"]*)"', html).group(1).replace("&amp;", "&")
    assert f"client={pro.id}" in picker_url, picker_url
    narrowed = _all_pages(client, picker_url)
    assert narrowed and all(r["text"].endswith(" — Pro Co") for r in narrowed)
    assert all(db.session.get(m.Project, r["id"]).client_id == pro.id for r in narrowed)
    if ticket.project is not None:
        assert f"{ticket.project.name} — Pro Co" in html
    assert url


def test_a_client_user_cannot_be_assigned_by_the_form_the_api_or_the_service(client):
    import pytest

    from app.errors import InvalidInput

    ticket = _pro_ticket()
    ticket_id, outsider = ticket.id, _user("pro-co-owner").id
    login(client, "operator")
    token = csrf_token(client, f"/ticketview/edit/{ticket_id}")
    answered = client.post(f"/ticketview/edit/{ticket_id}", data={
        "csrf_token": token, "subject": ticket.subject, "description": ticket.description or "",
        "priority": ticket.priority, "status": ticket.status, "assignee": str(outsider),
        "project": str(ticket.project_id or "")})
    assert answered.status_code == 422
    jwt = client.post("/api/v1/security/login", json={"username": "operator", "password": PASSWORD,
                                                      "provider": "db"}).get_json()["access_token"]
    api = client.put(f"/api/v1/ticket/{ticket_id}", json={"assignee_id": outsider},
                     headers={"Authorization": f"Bearer {jwt}"})
    assert api.status_code in (400, 422) and "assignee" in api.get_json()["message"].lower()
    row = db.session.get(m.Ticket, ticket_id)
    row.assignee_id = outsider
    with pytest.raises(InvalidInput) as refused:
        db.session.flush()
    db.session.rollback()
    assert refused.value.field == "assignee"
    db.session.expire_all()
    assert db.session.get(m.Ticket, ticket_id).assignee_id != outsider
    staff = _user("developer").id
    db.session.get(m.Ticket, ticket_id).assignee_id = staff
    db.session.commit()


def test_no_api_answer_to_a_client_names_another_clients_user(client):
    jwt = client.post("/api/v1/security/login", json={"username": "pro-co-owner", "password": PASSWORD,
                                                      "provider": "db"}).get_json()["access_token"]
    headers = {"Authorization": f"Bearer {jwt}"}
    pro = _client("pro-co").id
    others = db.session.execute(
        sa.select(m.User).join(m.ClientMember, m.ClientMember.user_id == m.User.id)
        .where(m.ClientMember.client_id != pro)).scalars().all()
    words = {w for u in others for w in (u.username, u.email, f"{u.first_name} {u.last_name}")}
    assert words
    admin = client.post("/api/v1/security/login", json={"username": "admin", "password": PASSWORD,
                                                        "provider": "db"}).get_json()["access_token"]
    spec = client.get("/api/v1/_openapi", headers={"Authorization": f"Bearer {admin}"}).get_json() or {}
    paths = ["/api" + p if not p.startswith("/api") else p for p in spec.get("paths", {})
             if p.endswith("/") and "{" not in p and "security" not in p and "openapi" not in p]
    assert paths
    for path in paths:
        for suffix in ("", "?q=(page_size:100)"):
            answer = client.get(path + suffix, headers=headers)
            text = answer.get_data(as_text=True)
            assert not any(word in text for word in words), path
            for row in (answer.get_json(silent=True) or {}).get("result", [])[:5] if answer.status_code == 200 else []:
                if isinstance(row, dict) and "id" in row:
                    shown = client.get(f"{path}{row['id']}", headers=headers).get_data(as_text=True)
                    assert not any(word in shown for word in words), (path, row["id"])
