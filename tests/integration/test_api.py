"""The REST API under /api/v1: JWT login, lists with client_id, writes validated by the
same rules as the forms, errors as 4xx JSON."""

import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import PASSWORD


def _headers(client, username="operator"):
    response = client.post("/api/v1/security/login",
                           json={"username": username, "password": PASSWORD, "provider": "db"})
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


def test_login_returns_a_jwt_and_refuses_bad_passwords(client):
    ok = client.post("/api/v1/security/login", json={"username": "admin", "password": PASSWORD, "provider": "db"})
    assert ok.status_code == 200 and ok.get_json()["access_token"].count(".") == 2
    bad = client.post("/api/v1/security/login", json={"username": "admin", "password": "nope", "provider": "db"})
    assert bad.status_code == 401


def test_lists_need_a_token(client):
    assert client.get("/api/v1/ticket/").status_code == 401


def test_tenant_lists_include_client_id(client):
    headers = _headers(client)
    slugs = dict(db.session.execute(sa.select(m.Client.id, m.Client.slug)).all())
    for resource in ("project", "domain", "ticket", "campaign", "incident", "monitor"):
        body = client.get(f"/api/v1/{resource}/?q=(page_size:100)", headers=headers).get_json()
        assert body["count"] > 0, resource
        assert all(row["client_id"] in slugs for row in body["result"]), resource


def test_ticket_list_is_newest_first(client):
    rows = client.get("/api/v1/ticket/", headers=_headers(client)).get_json()["result"]
    stamps = [r["created_at"] for r in rows]
    assert stamps == sorted(stamps, reverse=True)


def test_create_project_and_derived_client_on_incident(client):
    headers = _headers(client, "operator")
    pro = db.session.execute(sa.select(m.Client.id).filter_by(slug="pro-co")).scalar_one()
    created = client.post("/api/v1/project/", headers=headers, json={
        "client_id": pro, "name": "API project", "status": "discovery", "completion_percent": 5,
        "budget_total": "100.00", "budget_used": "0"})
    assert created.status_code == 201, created.get_json()
    project_id = created.get_json()["id"]
    incident = client.post("/api/v1/incident/", headers=headers, json={
        "project_id": project_id, "title": "API outage", "severity": "high", "status": "resolved",
        "started_at": "2026-11-01T10:00:00+00:00", "resolved_at": "2026-11-01T10:31:00+00:00"})
    assert incident.status_code == 201, incident.get_json()
    shown = client.get(f"/api/v1/incident/{incident.get_json()['id']}", headers=headers).get_json()["result"]
    assert shown["client_id"] == pro and shown["downtime_minutes"] == 31


def test_invalid_writes_are_422_with_a_message_and_write_nothing(client):
    headers = _headers(client, "admin")
    pro = db.session.execute(sa.select(m.Client.id).filter_by(slug="pro-co")).scalar_one()
    before = db.session.execute(sa.select(sa.func.count()).select_from(m.Domain)).scalar_one()
    bad_name = client.post("/api/v1/domain/", headers=headers, json={"client_id": pro, "name": "nope nope"})
    assert bad_name.status_code == 422 and "not a valid domain name" in str(bad_name.get_json())
    bad_dns = client.post("/api/v1/domain/", headers=headers, json={
        "client_id": pro, "name": "fine.com.br",
        "dns_records": [{"type": "CNAME", "name": "www", "value": "not a host", "ttl": 300}]})
    assert bad_dns.status_code == 422 and "host name" in str(bad_dns.get_json())
    duplicate = client.post("/api/v1/domain/", headers=headers, json={"client_id": pro, "name": "pro-co.com.br"})
    assert duplicate.status_code == 422
    bad_percent = client.post("/api/v1/project/", headers=headers, json={
        "client_id": pro, "name": "P", "completion_percent": 150})
    assert bad_percent.status_code == 422 and "between 0 and 100" in str(bad_percent.get_json())
    bad_enum = client.post("/api/v1/ticket/", headers=headers, json={
        "client_id": pro, "subject": "S", "description": "D", "priority": "whenever"})
    assert bad_enum.status_code == 422
    missing_client = client.post("/api/v1/campaign/", headers=headers, json={
        "client_id": 99999, "name": "Ghost", "platform": "google_ads", "external_id": "g-1"})
    assert missing_client.status_code == 422
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Domain)).scalar_one() == before


def test_openapi_document_is_served(client):
    spec = client.get("/api/v1/_openapi", headers=_headers(client, "admin"))
    assert spec.status_code == 200
    assert "/api/v1/ticket/" in spec.get_json()["paths"]


def test_ids_beyond_64_bits_are_not_found_not_a_server_error(client):
    # found by the schemathesis fuzz test (test_api_fuzz.py): SQLite overflowed on them
    headers = _headers(client, "admin")
    for method in ("get", "put", "delete"):
        response = getattr(client, method)("/api/v1/campaign/9223372036854775808", headers=headers,
                                           **({"json": {"name": "x"}} if method == "put" else {}))
        assert response.status_code == 404, (method, response.status_code)
        assert response.get_json()["message"]


def test_rest_login_without_provider_signs_in_with_the_password(client):
    # ``provider`` is optional in FAB's OpenAPI document; FAB itself answered 500 without it
    ok = client.post("/api/v1/security/login", json={"username": "admin", "password": PASSWORD})
    assert ok.status_code == 200 and ok.get_json()["access_token"]
    bad = client.post("/api/v1/security/login", json={"username": "admin", "password": "nope"})
    assert bad.status_code == 401


def test_integers_beyond_their_column_are_a_422_naming_the_field(client):
    headers = _headers(client, "admin")
    response = client.post("/api/v1/ticket/", headers=headers,
                           json={"subject": "Overflow", "description": "x", "client_id": 2**70})
    assert response.status_code == 422 and "client_id" in response.get_json()["message"]
