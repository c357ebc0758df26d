"""Create, edit and delete every entity through the staff console's own forms, with
CSRF on, as ``admin``. The views come from the registry: a new view without a payload
here fails the coverage test.
"""

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.views.base import AtriumModelView
from app.views.portal.base import PortalModelView
from tests.conftest import csrf_token, login


def _id(model, **where):
    return str(db.session.execute(sa.select(model.id).filter_by(**where).limit(1)).scalar_one())


def _first(model):
    return str(db.session.execute(sa.select(model.id).order_by(model.id).limit(1)).scalar_one())


def _free_user():
    from flask import current_app

    sm = current_app.appbuilder.sm
    user = sm.add_user("newcomer", "New", "Comer", "newcomer@pro-co.example", sm.find_role("Client"),
                       password="whatever-123")
    return str(user.id)


def _project_without_infrastructure():
    project = m.Project(client_id=int(_id(m.Client, slug="pro-co")), name="Bare project", status="discovery",
                        completion_percent=0, budget_total=0, budget_used=0)
    db.session.add(project)
    db.session.commit()
    return str(project.id)


# view name -> (payload factory, field to edit, new value, model attribute to check)
PAYLOADS = {
    "ClientView": (lambda: {"name": "Acme Ltda", "slug": "acme", "tier": "basic", "status": "active",
                            "contact_email": "ops@acme.example", "timezone": "America/Sao_Paulo"},
                   "contact_email", "finance@acme.example", "contact_email"),
    "ClientMemberView": (lambda: {"client": _id(m.Client, slug="pro-co"), "user": _free_user(), "role": "member"},
                         "role", "admin", "role"),
    "ProjectView": (lambda: {"client": _id(m.Client, slug="pro-co"), "name": "Brand refresh",
                             "status": "discovery", "completion_percent": "10", "budget_total": "12000.00",
                             "budget_used": "0", "start_date": "2026-01-10", "estimated_delivery": "2026-03-01"},
                    "completion_percent", "40", "completion_percent"),
    "MilestoneView": (lambda: {"project": _first(m.Project), "title": "Kick-off", "due_date": "2026-12-01"},
                      "title", "Kick-off meeting", "title"),
    "InfrastructureView": (lambda: {"project": _project_without_infrastructure(), "hosting_provider": "AWS",
                                    "hosting_status": "online", "hosting_monthly_cost": "99.90",
                                    "db_backup_status": "ok", "cdn_cache_hit_rate": "91.5"},
                           "hosting_plan", "t3.medium", "hosting_plan"),
    "NetworkUsageView": (lambda: {"project": _first(m.Project), "date": "2020-02-01", "bandwidth_gb": "1.5",
                                  "requests_total": "1000", "requests_2xx": "950", "requests_4xx": "40",
                                  "requests_5xx": "10"},
                         "peak_rps", "42", "peak_rps"),
    "PerformanceMetricView": (lambda: {"project": _first(m.Project), "measured_at": "2026-01-05 10:00:00",
                                       "lcp_s": "1.9", "inp_ms": "120", "cls": "0.05",
                                       "lighthouse_performance": "98", "lighthouse_accessibility": "97",
                                       "lighthouse_best_practices": "96", "lighthouse_seo": "99"},
                              "lighthouse_performance", "60", "lighthouse_performance"),
    "DomainView": (lambda: {"client": _id(m.Client, slug="pro-co"), "name": "Nova-Loja.com.br",
                            "status": "pending", "ssl_status": "none", "auto_renew": "y",
                            "nameservers": '["ns1.example.net", "ns2.example.net"]',
                            "dns_records": '[{"type": "A", "name": "@", "value": "203.0.113.9", "ttl": 300}]'},
                   "registrar", "Registro.br", "registrar"),
    "TicketView": (lambda: {"client": _id(m.Client, slug="pro-co"), "subject": "Printer on fire",
                            "description": "Please help.", "priority": "high", "status": "open"},
                   "status", "in_progress", "status"),
    "TicketMessageView": (lambda: {"ticket": _first(m.Ticket), "body": "We are on it."},
                          "body", "We are on it, ETA 2h.", "body"),
    "MonitorView": (lambda: {"project": _first(m.Project), "url": "https://shop.example.com/health",
                             "method": "GET", "expected_status": "200", "timeout_seconds": "10", "enabled": "y"},
                    "expected_status", "204", "expected_status"),
    "IncidentView": (lambda: {"project": _first(m.Project), "title": "Checkout down", "severity": "critical",
                              "status": "investigating", "started_at": "2026-11-01 10:00:00",
                              "source": "manual"},
                     "resolved_at", "2026-11-01 10:45:00", "resolved_at"),
    "IncidentUpdateView": (lambda: {"incident": _first(m.Incident), "status": "identified",
                                    "message": "Root cause found.", "at": "2026-11-01 10:20:00"},
                           "message", "Root cause found: DNS.", "message"),
    "CampaignView": (lambda: {"client": _id(m.Client, slug="pro-co"), "name": "Black Friday",
                              "platform": "google_ads", "external_id": "bf-2026", "status": "active",
                              "budget_daily": "150.00", "start_date": "2026-11-01", "end_date": "2026-11-30"},
                     "status", "paused", "status"),
    "CampaignMetricView": (lambda: {"campaign": _first(m.Campaign), "date": "2019-01-01", "impressions": "1000",
                                    "clicks": "20", "conversions": "2", "cost": "30.00", "revenue": "90.00"},
                           "clicks", "25", "clicks"),
    "ReportView": (lambda: {"client": _id(m.Client, slug="pro-co"), "period": "2025-01-01"},
                   "status", "failed", "status"),
    "StorageFolderView": (lambda: {"client": _id(m.Client, slug="pro-co"), "name": "Contracts", "path": "/contracts"},
                          "name", "Creative briefs", "name"),
    "TicketMacroView": (lambda: {"name": "Escalated", "body": "Hi {requester_first_name}, escalated.",
                                 "set_priority": "urgent"},
                        "body", "Hi {requester_first_name}, {agent_name} escalated {ticket_number}.", "body"),
}
# Views whose rows are not typed in (no add form) but can be edited or deleted.
EDIT_ONLY = {"ClientBillingView": ("stripe_customer_id", "cus_TEST123", "stripe_customer_id", m.Client),
             "StorageFileView": None}
READ_ONLY = {"MonitorCheckView", "BillingEventView",
             "AuditEventView", "ImpersonationEventView", "ImpersonationSessionView"}  # no write routes


def _views(app):
    return {v.__class__.__name__: v for v in app.appbuilder.baseviews if isinstance(v, AtriumModelView)
            and not isinstance(v, PortalModelView)}


def test_every_staff_view_is_covered(app):
    assert set(_views(app)) == set(PAYLOADS) | set(EDIT_ONLY) | READ_ONLY


def _post(client, path, data):
    data = {**data, "csrf_token": csrf_token(client, path)}
    return client.post(path, data=data)


def _edit_data(view, row):
    """What the edit form would post: the current values of its columns plus the change."""
    form = view.edit_form(obj=row, meta={"csrf": False})  # what ``refresh`` builds, without its token
    data = {}
    for name in view.edit_columns:
        field = form[name]
        value = field._value() if hasattr(field, "_value") else field.data
        if field.type in ("QuerySelectField",):
            value = str(getattr(row, name).id) if getattr(row, name) is not None else ""
        elif field.type == "QuerySelectMultipleField":
            value = [str(x.id) for x in getattr(row, name)]
        elif field.type == "BooleanField":
            value = "y" if field.data else ""
        elif field.type == "EnumField":
            value = field.data or ""
        data[name] = "" if value is None else value
    return data


@pytest.mark.parametrize("view_name", sorted(PAYLOADS))
def test_create_edit_delete_through_the_form(app, client, view_name):
    view = _views(app)[view_name]
    model = view.datamodel.obj
    base = view.route_base
    login(client, "admin")
    payload_factory, edit_field, new_value, attr = PAYLOADS[view_name]
    payload = payload_factory()
    before = db.session.execute(sa.select(sa.func.max(model.id))).scalar_one() or 0

    response = _post(client, f"{base}/add", payload)
    assert response.status_code == 302, _errors(response)
    db.session.expire_all()
    new_id = db.session.execute(sa.select(sa.func.max(model.id))).scalar_one()
    assert new_id and new_id > before, f"{view_name}: nothing was created"
    row = db.session.get(model, new_id)

    data = _edit_data(view, row)
    data[edit_field] = new_value
    response = _post(client, f"{base}/edit/{new_id}", data)
    assert response.status_code == 302, _errors(response)
    db.session.expire_all()
    value = getattr(db.session.get(model, new_id), attr)
    shown = value.strftime("%Y-%m-%d %H:%M:%S") if hasattr(value, "strftime") else str(value)
    assert shown == new_value, (view_name, value)

    response = client.post(f"{base}/delete/{new_id}", data={"csrf_token": csrf_token(client, f"{base}/list/")})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(model, new_id) is None, f"{view_name}: row survived delete"


def test_billing_fields_are_edited_on_the_billing_view(app, client):
    view = _views(app)["ClientBillingView"]
    login(client, "admin")
    client_row = db.session.execute(sa.select(m.Client).filter_by(slug="pro-co")).scalar_one()
    data = _edit_data(view, client_row)
    data["stripe_customer_id"] = "cus_TEST123"
    response = _post(client, f"{view.route_base}/edit/{client_row.id}", data)
    assert response.status_code == 302, _errors(response)
    db.session.expire_all()
    assert db.session.get(m.Client, client_row.id).stripe_customer_id == "cus_TEST123"


def test_delete_without_csrf_token_changes_nothing(app, client):
    login(client, "admin")
    ticket_id = int(_first(m.Ticket))
    response = client.post(f"/ticketview/delete/{ticket_id}", data={})
    assert response.status_code in (302, 400)
    db.session.expire_all()
    assert db.session.get(m.Ticket, ticket_id) is not None


def _errors(response):
    import re

    html = response.get_data(as_text=True)
    found = re.findall(r'class="help-block"[^>]*>\s*([^<]+)', html) + re.findall(r"alert-danger[^>]*>(.*?)</div>", html, re.S)
    return f"status {response.status_code}; errors: {found[:5]}"


# --------------------------------------------------------------------------- limit overrides

def _client_row(slug):
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _override_form(app, client_row, **inputs):
    """The client edit form as a browser posts it: current values, one input per limit."""
    data = _edit_data(_views(app)["ClientView"], client_row)
    del data["limit_overrides"]
    field = _views(app)["ClientView"].edit_form(obj=client_row, meta={"csrf": False})["limit_overrides"]
    for key in ("projects", "domains", "team_members", "tickets_per_month", "storage_bytes"):
        data[f"limit_overrides-{key}"] = inputs.get(key, field.text_for(key))
    return data


def _add_free_project(client, name):
    return _post(client, "/projectview/add", {
        "client": _id(m.Client, slug="free-co"), "name": name, "status": "discovery",
        "completion_percent": "0", "budget_total": "0", "budget_used": "0"})


@pytest.mark.parametrize("username", ["operator", "admin"])
def test_staff_override_lifts_the_limit_and_is_shown_with_who_and_when(app, client, username):
    free = _client_row("free-co")
    login(client, username)
    refused = _add_free_project(client, "Second site")
    # Refused on the form itself (issue 16 item 7): what was typed is kept, and staff are
    # told the way past the limit (the client's override).
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "Your Free plan allows 1 project; you have 1." in page
    assert "Second site" in page and "limit override" in page and f"/clientview/edit/{free.id}" in page

    form = client.get(f"/clientview/edit/{free.id}").get_data(as_text=True)
    assert 'name="limit_overrides-projects"' in form and 'value="2"' in form  # the seed's team-member override
    data = _override_form(app, free, projects="2", storage_bytes="7.5")
    response = _post(client, f"/clientview/edit/{free.id}", data)
    assert response.status_code == 302, _errors(response)

    db.session.expire_all()
    free = db.session.get(m.Client, free.id)
    user = db.session.execute(sa.select(m.User).filter_by(username=username)).scalar_one()
    assert free.limit_overrides == {"projects": 2, "team_members": 2, "storage_bytes": int(7.5 * 1024 ** 3)}
    assert free.limit_overrides_set_by_id == user.id
    page = client.get(f"/clientview/show/{free.id}").get_data(as_text=True)
    assert "Projects: 2 · Team members: 2 · Storage (GB): 7.5" in page
    assert f"{user.first_name} {user.last_name}" in page
    assert free.limit_overrides_set_at.strftime("%Y-%m-%d %H:%M UTC") in page

    assert _add_free_project(client, "Second site").status_code == 302
    assert db.session.execute(sa.select(m.Project).filter_by(name="Second site")).first() is not None
    third = _add_free_project(client, "Third site")
    assert third.status_code == 422
    assert "Your Free plan allows 2 projects; you have 2." in third.get_data(as_text=True)
    assert db.session.execute(sa.select(m.Project).filter_by(name="Third site")).first() is None


def test_unlimited_and_cleared_overrides(app, client):
    free = _client_row("free-co")
    login(client, "operator")
    response = _post(client, f"/clientview/edit/{free.id}",
                     _override_form(app, free, domains="Unlimited", team_members="3"))
    assert response.status_code == 302, _errors(response)
    db.session.expire_all()
    assert db.session.get(m.Client, free.id).limit_overrides == {"domains": None, "team_members": 3}

    free = db.session.get(m.Client, free.id)
    response = _post(client, f"/clientview/edit/{free.id}", _override_form(app, free, domains="", team_members=""))
    assert response.status_code == 302, _errors(response)
    db.session.expire_all()
    assert db.session.get(m.Client, free.id).limit_overrides is None
    assert "None (the plan&#39;s limits apply)" in client.get(f"/clientview/show/{free.id}").get_data(as_text=True)


@pytest.mark.parametrize("inputs, message", [
    ({"projects": "-1"}, "Projects: enter a whole number (0 or more)"),
    ({"projects": "2.5"}, "Projects: enter a whole number (0 or more)"),
    ({"tickets_per_month": "lots"}, "Tickets per month: enter a whole number (0 or more)"),
    ({"storage_bytes": "nan"}, "Storage (GB): enter a number of GB (0 or more)"),
])
def test_bad_override_comes_back_on_the_form_and_writes_nothing(app, client, inputs, message):
    free = _client_row("free-co")
    before = (free.limit_overrides, free.limit_overrides_set_at, free.contact_email)
    login(client, "operator")
    data = _override_form(app, free, **inputs)
    data["contact_email"] = "changed@free-co.example"
    response = _post(client, f"/clientview/edit/{free.id}", data)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and message in html
    assert 'value="' + list(inputs.values())[0] + '"' in html  # what was typed is shown again
    db.session.expire_all()
    free = db.session.get(m.Client, free.id)
    assert (free.limit_overrides, free.limit_overrides_set_at, free.contact_email) == before


def test_developer_cannot_set_an_override(app, client):
    free = _client_row("free-co")
    login(client, "developer")
    token = csrf_token(client, "/projectview/list/")
    response = client.post(f"/clientview/edit/{free.id}", data={
        "csrf_token": token, "limit_overrides-projects": "50", **{k: v for k, v in _override_form(app, free).items()
                                                                  if not k.startswith("limit_overrides")}})
    assert response.status_code in (302, 403)
    db.session.expire_all()
    assert db.session.get(m.Client, free.id).limit_overrides == {"team_members": 2}
