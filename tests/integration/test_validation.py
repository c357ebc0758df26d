"""Invalid input comes back as the form with a message on the field, never a 500 and
never a row written."""

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import csrf_token, login


def _client_id(slug="pro-co"):
    return str(db.session.execute(sa.select(m.Client.id).filter_by(slug=slug)).scalar_one())


def _project_id():
    return str(db.session.execute(sa.select(m.Project.id).order_by(m.Project.id).limit(1)).scalar_one())


def _seeded_report_period():
    return db.session.execute(sa.select(m.Report.period).limit(1)).scalar_one().isoformat()


DOMAIN = {"status": "pending", "ssl_status": "none", "nameservers": "[]", "dns_records": "[]"}
PROJECT = {"name": "Valid name", "status": "discovery", "completion_percent": "10", "budget_total": "100",
           "budget_used": "0"}

CASES = [
    ("domainview", m.Domain, lambda: {**DOMAIN, "client": _client_id(), "name": "not a domain"},
     "is not a valid domain name"),
    ("domainview", m.Domain, lambda: {**DOMAIN, "client": _client_id(), "name": "ok-domain.com",
                                      "dns_records": '[{"type": "A", "name": "@", "value": "999.1.1.1", "ttl": 300}]'},
     "must be an IPv4 address"),
    ("domainview", m.Domain, lambda: {**DOMAIN, "client": _client_id(), "name": "ok-domain.com",
                                      "dns_records": '[{"type": "MX", "name": "@", "value": "mx.example.net", "ttl": 300}]'},
     "priority is required"),
    ("domainview", m.Domain, lambda: {**DOMAIN, "client": _client_id(), "name": "ok-domain.com",
                                      "dns_records": "[{not json"},
     "Not valid JSON"),
    ("domainview", m.Domain, lambda: {**DOMAIN, "client": _client_id(), "name": "pro-co.com.br"},
     "Already exists"),
    ("projectview", m.Project, lambda: {**PROJECT, "client": _client_id(), "completion_percent": "150"},
     "between 0 and 100"),
    ("projectview", m.Project, lambda: {**PROJECT, "client": _client_id(), "budget_total": "-5"},
     "zero or more"),
    ("projectview", m.Project, lambda: {**PROJECT, "client": _client_id(), "start_date": "2026-05-01",
                                        "estimated_delivery": "2026-04-01"},
     "Estimated delivery cannot be before the start date"),
    ("projectview", m.Project, lambda: {**PROJECT, "client": _client_id(), "budget_total": "abc"},
     "Not a valid decimal value"),
    ("campaignview", m.Campaign, lambda: {"client": _client_id(), "name": "C", "platform": "google_ads",
                                          "external_id": "e1", "status": "active", "start_date": "2026-05-01",
                                          "end_date": "2026-04-01"},
     "End date cannot be before the start date"),
    ("campaignview", m.Campaign, lambda: {"client": _client_id(), "name": "C", "platform": "myspace_ads",
                                          "external_id": "e1", "status": "active"},
     "Not a valid choice"),
    ("clientview", m.Client, lambda: {"name": "Pro Co", "slug": "pro-co-2", "tier": "pro", "status": "active",
                                      "contact_email": "a@b.example", "timezone": "UTC"},
     "Already exists"),
    ("clientview", m.Client, lambda: {"name": "X Ltda", "slug": "Bad Slug!", "tier": "pro", "status": "active",
                                      "contact_email": "not-an-email", "timezone": "UTC"},
     "lower-case letters"),
    ("incidentview", m.Incident, lambda: {"project": _project_id(), "title": "T", "severity": "low",
                                          "status": "investigating", "source": "manual",
                                          "started_at": "2026-11-01 10:00:00", "resolved_at": "2026-11-01 09:00:00"},
     "Resolved at cannot be before the start"),
    ("performancemetricview", m.PerformanceMetric,
     lambda: {"project": _project_id(), "measured_at": "2026-01-01 00:00:00", "lighthouse_performance": "101",
              "lighthouse_accessibility": "90", "lighthouse_best_practices": "90", "lighthouse_seo": "90"},
     "between 0 and 100"),
    ("reportview", m.Report, lambda: {"client": _client_id(), "period": _seeded_report_period()},
     "Another record already has this client and period"),
    ("storagefolderview", m.StorageFolder, lambda: {"client": _client_id(), "name": "B", "path": "/briefs"},
     "Another record already has this client and path"),
    ("projectview", m.Project, lambda: {**PROJECT, "client": _client_id(), "name": "Institutional website"},
     "Another record already has this client and name"),
    ("monitorview", m.Monitor, lambda: {"project": _project_id(), "url": "not a url", "method": "GET",
                                        "expected_status": "200", "timeout_seconds": "10"},
     "Enter a full URL"),
]


@pytest.mark.parametrize("route,model,payload,message", CASES, ids=[f"{c[0]}:{c[3][:30]}" for c in CASES])
def test_invalid_input_returns_the_form_with_a_message(app, client, route, model, payload, message):
    login(client, "admin")
    before = db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one()
    data = {**payload(), "csrf_token": csrf_token(client, f"/{route}/add")}
    response = client.post(f"/{route}/add", data=data)
    assert response.status_code == 422  # the form again, its message on the field
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(model)).scalar_one() == before


def test_a_form_without_csrf_token_is_refused(app, client):
    login(client, "admin")
    before = db.session.execute(sa.select(sa.func.count()).select_from(m.Client)).scalar_one()
    response = client.post("/clientview/add", data={"name": "No Token", "slug": "no-token", "tier": "free",
                                                     "status": "active", "contact_email": "a@b.example",
                                                     "timezone": "UTC"})
    assert response.status_code == 400
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Client)).scalar_one() == before


def test_domain_names_are_stored_lower_case_idna(app, client):
    login(client, "admin")
    data = {**DOMAIN, "client": _client_id(), "name": "Café-Aurora.COM.br",
            "csrf_token": csrf_token(client, "/domainview/add")}
    assert client.post("/domainview/add", data=data).status_code == 302
    names = set(db.session.execute(sa.select(m.Domain.name)).scalars())
    assert "xn--caf-aurora-d7a.com.br" in names
