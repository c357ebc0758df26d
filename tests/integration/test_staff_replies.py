"""A reply's author is the person writing it, and the first public staff reply sets the
ticket's first response, whatever the door: the staff UI, the API, the CLI (issue 16 item 4)."""
from __future__ import annotations

import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import PASSWORD, csrf_token, login, run_cli


def _user(username):
    return db.session.execute(sa.select(m.User).filter_by(username=username)).scalar_one()


def _fresh_ticket(slug="pro-co"):
    """A new open ticket of ``slug`` with no reply yet (first response not set)."""
    client = db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()
    ticket = m.Ticket(client=client, subject="Checkout page is blank", description="Since this morning.",
                      priority="high", status="open", opened_by=_user(f"{slug}-owner"))
    db.session.add(ticket)
    db.session.commit()
    assert ticket.first_response_at is None
    return ticket.id


def _messages(ticket_id):
    db.session.expire_all()
    return db.session.execute(sa.select(m.TicketMessage).filter_by(ticket_id=ticket_id)
                              .order_by(m.TicketMessage.id)).scalars().all()


def _first_response(ticket_id):
    db.session.expire_all()
    return db.session.get(m.Ticket, ticket_id).first_response_at


def test_the_staff_message_form_has_no_author_field_and_the_reply_is_the_signed_in_persons(client):
    ticket_id = _fresh_ticket()
    login(client, "operator")
    html = client.get("/ticketmessageview/add").get_data(as_text=True)
    import re

    assert not re.search(r'<(select|input|textarea)[^>]*name="author"', html)
    token = csrf_token(client, "/ticketmessageview/add")
    answered = client.post("/ticketmessageview/add", data={
        "csrf_token": token, "ticket": str(ticket_id), "body": "We are looking at it now."})
    assert answered.status_code == 302, answered.get_data(as_text=True)[:500]
    [message] = _messages(ticket_id)
    assert message.author_id == _user("operator").id
    assert _first_response(ticket_id) is not None


def test_a_forged_author_on_the_staff_form_is_not_taken(client):
    ticket_id = _fresh_ticket()
    login(client, "operator")
    token = csrf_token(client, "/ticketmessageview/add")
    client.post("/ticketmessageview/add", data={
        "csrf_token": token, "ticket": str(ticket_id), "body": "Posting as the client?",
        "author": str(_user("pro-co-owner").id)})
    [message] = _messages(ticket_id)
    assert message.author_id == _user("operator").id
    assert _first_response(ticket_id) is not None


def test_an_internal_note_carries_its_author_and_is_not_a_first_response(client):
    ticket_id = _fresh_ticket()
    login(client, "developer")
    token = csrf_token(client, "/ticketmessageview/add")
    answered = client.post("/ticketmessageview/add", data={
        "csrf_token": token, "ticket": str(ticket_id), "body": "Probably the CDN.", "internal": "y"})
    assert answered.status_code == 302, answered.get_data(as_text=True)[:500]  # Developer writes messages
    [message] = _messages(ticket_id)
    assert message.internal and message.author_id == _user("developer").id
    assert _first_response(ticket_id) is None


def _api_headers(client, username):
    response = client.post("/api/v1/security/login", json={"username": username, "password": PASSWORD,
                                                           "provider": "db"})
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_an_api_reply_carries_the_token_users_authorship_and_sets_the_first_response(client):
    ticket_id = _fresh_ticket()
    headers = _api_headers(client, "operator")
    answered = client.post(f"/api/v1/ticket/{ticket_id}/replies", json={"body": "On it."}, headers=headers)
    assert answered.status_code == 201, answered.get_json()
    assert answered.get_json()["author_id"] == _user("operator").id
    assert answered.get_json()["first_response_at"]
    [message] = _messages(ticket_id)
    assert message.author_id == _user("operator").id
    assert _first_response(ticket_id) is not None
    forged = client.post(f"/api/v1/ticket/{ticket_id}/replies",
                         json={"body": "x", "author_id": _user("pro-co-owner").id}, headers=headers)
    assert forged.status_code == 400 and "author_id" in forged.get_json()["message"]


def test_an_api_client_reply_is_theirs_and_not_a_first_response(client):
    ticket_id = _fresh_ticket()
    headers = _api_headers(client, "pro-co-owner")
    answered = client.post(f"/api/v1/ticket/{ticket_id}/replies", json={"body": "Still blank.",
                                                                        "internal": True}, headers=headers)
    assert answered.status_code == 201, answered.get_json()
    [message] = _messages(ticket_id)
    assert message.author_id == _user("pro-co-owner").id and not message.internal
    assert _first_response(ticket_id) is None
    other = _fresh_ticket("enterprise-co")
    assert client.post(f"/api/v1/ticket/{other}/replies", json={"body": "hi"}, headers=headers).status_code == 404


def test_a_cli_reply_carries_its_named_author_and_sets_the_first_response(app):
    ticket_id = _fresh_ticket()
    result = run_cli(app, "tickets", "reply", str(ticket_id), "--as", "operator", "--body", "Fixed, please check.")
    assert result.exit_code == 0, result.output
    assert "first response" in result.output
    [message] = _messages(ticket_id)
    assert message.author_id == _user("operator").id
    assert _first_response(ticket_id) is not None


def test_a_message_without_an_author_is_refused_outside_a_request(app):
    import pytest

    from app.errors import InvalidInput

    ticket_id = _fresh_ticket()
    db.session.add(m.TicketMessage(ticket_id=ticket_id, body="who wrote this?"))
    with pytest.raises(InvalidInput) as refused:
        db.session.flush()
    db.session.rollback()
    assert refused.value.field == "author"
    assert _messages(ticket_id) == []


def test_an_incident_update_is_written_by_the_signed_in_person_not_a_picked_user(client):
    """The incident-update form has no Author picker (it listed every user, clients
    included); the update is the signed-in staff member's, whatever is posted."""
    import re

    incident = db.session.execute(sa.select(m.Incident).order_by(m.Incident.id)).scalars().first()
    login(client, "operator")
    html = client.get("/incidentupdateview/add").get_data(as_text=True)
    assert not re.search(r'<(select|input|textarea)[^>]*name="author"', html)
    forged = _user("pro-co-owner")
    answered = client.post("/incidentupdateview/add", data={
        "csrf_token": csrf_token(client, "/incidentupdateview/add"), "incident": str(incident.id),
        "status": "investigating", "message": "Looking into the 502s.", "at": "2026-12-01 10:00:00",
        "author": str(forged.id)})
    assert answered.status_code == 302, answered.get_data(as_text=True)[:800]
    db.session.expire_all()
    update = db.session.execute(sa.select(m.IncidentUpdate).filter_by(message="Looking into the 502s.")).scalar_one()
    assert update.author_id == _user("operator").id
