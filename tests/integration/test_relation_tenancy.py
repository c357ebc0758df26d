"""Every relation between tenant rows stays inside one client, whatever the door
(issue 16 item 3): a ticket's project, an incident's monitor, a campaign's project, a
file's project or folder, a message's attachments... The relations are derived from the
models' foreign keys, here as in ``app.tenancy.guard``."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.tenancy import guard
from app.errors import InvalidInput
from tests.conftest import PASSWORD, csrf_token, login

pytestmark = pytest.mark.both_backends


def _client(slug):
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _a_row(model, client_id):
    return db.session.execute(sa.select(model).filter_by(client_id=client_id).order_by(model.id).limit(1)).scalar()


LINKS = [(model, key, fk_key, target) for model in m.TENANT_MODELS
         for key, fk_key, target in guard._tenant_links(model)]


def test_the_links_are_derived_from_the_foreign_keys():
    found = {(model.__name__, key) for model, key, _, _ in LINKS}
    assert {("Ticket", "project"), ("Incident", "monitor"), ("Campaign", "project"),
            ("StorageFile", "project"), ("TicketMessage", "attachments")} <= found


@pytest.mark.parametrize("model,key,fk_key,target", LINKS,
                         ids=[f"{model.__name__}.{key}" for model, key, _, _ in LINKS])
def test_a_link_to_another_clients_row_is_refused_on_flush_naming_the_field(app, model, key, fk_key, target):
    pro, enterprise = _client("pro-co"), _client("enterprise-co")
    row = _a_row(model, pro.id) or _a_row(model, enterprise.id)
    if row is None:
        pytest.skip(f"no {model.__name__} in the seed")
    other_client = enterprise.id if row.client_id == pro.id else pro.id
    other = _a_row(target, other_client)
    if other is None:
        pytest.skip(f"no {target.__name__} of another client in the seed")
    if fk_key is None:
        getattr(row, key).append(other)
    else:
        setattr(row, fk_key, other.id)
    with pytest.raises(InvalidInput) as refused:
        db.session.flush()
    db.session.rollback()
    assert refused.value.field == key
    assert _client("pro-co").name in refused.value.message or _client("enterprise-co").name in refused.value.message


def test_a_same_client_link_is_kept(app):
    pro = _client("pro-co")
    ticket = _a_row(m.Ticket, pro.id)
    projects = db.session.execute(sa.select(m.Project).filter_by(client_id=pro.id)).scalars().all()
    ticket.project = projects[-1]
    db.session.commit()
    assert db.session.get(m.Ticket, ticket.id).project_id == projects[-1].id


def test_a_new_ticket_with_another_clients_project_is_refused_by_the_service_door(app):
    pro, enterprise = _client("pro-co"), _client("enterprise-co")
    foreign = _a_row(m.Project, enterprise.id)
    db.session.add(m.Ticket(client=pro, project=foreign, subject="Wrong project", description="x",
                            priority="low", status="open"))
    with pytest.raises(InvalidInput) as refused:
        db.session.commit()
    db.session.rollback()
    assert refused.value.field == "project"
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Ticket)
                              .filter_by(subject="Wrong project")).scalar_one() == 0


def _ticket_and_foreign_project():
    pro, enterprise = _client("pro-co"), _client("enterprise-co")
    ticket = _a_row(m.Ticket, pro.id)
    foreign = _a_row(m.Project, enterprise.id)
    return ticket.id, ticket.project_id, foreign.id


def test_the_staff_ticket_form_refuses_another_clients_project_on_the_field(client):
    ticket_id, before, foreign = _ticket_and_foreign_project()
    login(client, "operator")
    html = client.get(f"/ticketview/edit/{ticket_id}").get_data(as_text=True)
    token = csrf_token(client, f"/ticketview/edit/{ticket_id}")
    ticket = db.session.get(m.Ticket, ticket_id)
    answered = client.post(f"/ticketview/edit/{ticket_id}", data={
        "csrf_token": token, "project": str(foreign), "subject": ticket.subject,
        "description": ticket.description or "", "priority": ticket.priority, "status": ticket.status})
    body = answered.get_data(as_text=True)
    assert answered.status_code == 422, body[:300]
    assert "Enterprise Co" in body and "Choose one of Pro Co" in body
    assert "IntegrityError" not in body and "Traceback" not in body
    assert html  # the form was reachable
    db.session.expire_all()
    assert db.session.get(m.Ticket, ticket_id).project_id == before


def test_the_api_refuses_another_clients_project(client):
    ticket_id, before, foreign = _ticket_and_foreign_project()
    token = client.post("/api/v1/security/login", json={"username": "operator", "password": PASSWORD,
                                                        "provider": "db"}).get_json()["access_token"]
    answered = client.put(f"/api/v1/ticket/{ticket_id}", json={"project_id": foreign},
                          headers={"Authorization": f"Bearer {token}"})
    assert answered.status_code in (400, 422), answered.get_json()
    assert "project" in answered.get_json()["message"].lower()
    db.session.expire_all()
    assert db.session.get(m.Ticket, ticket_id).project_id == before
