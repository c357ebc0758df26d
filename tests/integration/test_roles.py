"""The role matrix of SPEC §1: every role × every registered staff view and REST API,
allowed or refused exactly as ``app.roles`` says. Views and APIs are taken
from the registry, so a new one is covered without editing this file."""

import pytest
from flask_appbuilder.api import ModelRestApi

from app.roles import allowed
from app.tenancy import Scope, may_write
from app.views.base import AtriumModelView
from app.views.portal.base import PortalModelView
from tests.conftest import PASSWORD, login

USERS = {"admin": "Admin", "operator": "Operator", "developer": "Developer", "free-co-owner": "Client",
         "pro-co-viewer": "Client"}


def _can_write(view):
    return "can_write" in (view.base_permissions or [])


@pytest.mark.parametrize("username", sorted(USERS))
def test_every_staff_view_obeys_the_role_table(app, client, username):
    role = USERS[username]
    login(client, username)
    wrong = []
    for view in app.appbuilder.baseviews:
        if not isinstance(view, AtriumModelView):
            continue
        resource, base = view.class_permission_name, view.route_base
        checks = [("read", f"{base}/list/"), ("read", f"{base}/show/1")]
        routed = {endpoint for endpoint in ("add", "edit")
                  if f"{view.__class__.__name__}.{endpoint}" in app.view_functions}
        if _can_write(view) and view.add_columns and "add" in routed:
            checks.append(("write", f"{base}/add"))
        if _can_write(view) and view.edit_columns and "edit" in routed:
            checks.append(("write", f"{base}/edit/1"))
        for action, path in checks:
            status = client.get(path).status_code
            expected_ok = allowed(role, resource, action)
            if expected_ok and action == "write" and isinstance(view, PortalModelView):
                # The membership role narrows the Client role's grant (403 with a reason).
                member = Scope(is_staff=False, client_id=1, member_role=username.rsplit("-", 1)[1])
                expected_ok = may_write(member, view.datamodel.obj.__name__, "create" if "/add" in path else "update")
            ok = status == 200 or (status == 404 and "/list/" not in path)  # passed, no such row
            refused = status in (302, 403)
            if (expected_ok and not ok) or (not expected_ok and not refused):
                wrong.append(f"{path}: {status} (expected {'200' if expected_ok else 'refusal'})")
    dashboard = client.get("/dashboard/").status_code
    if (role == "Client") != (dashboard in (302, 403)):
        wrong.append(f"/dashboard/: {dashboard}")
    analytics = client.get("/analytics/").status_code  # the business dashboard (a page, not a model view)
    if (analytics == 200) != allowed(role, "Analytics", "read") or analytics not in (200, 302, 403):
        wrong.append(f"/analytics/: {analytics}")
    assert not wrong, f"{username} ({role}):\n" + "\n".join(wrong)


@pytest.mark.parametrize("username", ["operator", "developer", "pro-co-owner"])
def test_only_admin_manages_users_and_roles(app, client, username):
    login(client, username)
    for path in ("/users/list/", "/users/add", "/roles/list/", "/roles/add"):
        assert client.get(path).status_code in (302, 403), f"{username} reached {path}"
    client.get("/logout/")
    login(client, "admin")
    assert client.get("/users/list/").status_code == 200 and client.get("/roles/list/").status_code == 200


def test_a_refused_write_changes_nothing(app, client):
    from app import models as m
    from app.extensions import db
    from tests.conftest import csrf_token

    login(client, "developer")  # may read clients, not change them
    token = csrf_token(client, "/projectview/list/")
    response = client.post("/clientview/add", data={"name": "Sneaky", "slug": "sneaky", "tier": "enterprise",
                                                     "status": "active", "contact_email": "a@b.example",
                                                     "timezone": "UTC", "csrf_token": token})
    assert response.status_code in (302, 403)
    assert db.session.query(m.Client).filter_by(slug="sneaky").count() == 0


def _token(client, username):
    response = client.post("/api/v1/security/login",
                           json={"username": username, "password": PASSWORD, "provider": "db"})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["access_token"]


@pytest.mark.parametrize("username", sorted(USERS))
def test_every_api_obeys_the_role_table(app, client, username):
    role = USERS[username]
    headers = {"Authorization": f"Bearer {_token(client, username)}"}
    wrong = []
    for api in app.appbuilder.baseviews:
        if not isinstance(api, ModelRestApi) or not api.__class__.__module__.startswith("app."):
            continue
        status = client.get(f"/api/v1/{api.resource_name}/", headers=headers).status_code
        if (status == 200) != allowed(role, api.class_permission_name, "read"):
            wrong.append(f"GET {api.resource_name}: {status}")
        status = client.post(f"/api/v1/{api.resource_name}/", json={}, headers=headers).status_code
        if allowed(role, api.class_permission_name, "write"):
            if status not in (400, 422):  # allowed, and the empty body is refused as invalid
                wrong.append(f"POST {api.resource_name}: {status}")
        elif status != 403:
            wrong.append(f"POST {api.resource_name}: {status} (expected 403)")
    assert not wrong, f"{username} ({role}):\n" + "\n".join(wrong)


@pytest.mark.parametrize("username", ["admin", "operator", "developer"])
def test_staff_navigation_has_no_portal_entries(app, client, username):
    """The portal's menu entries are labelled like the console's ("Projects", "Tickets");
    staff must see only the console's."""
    from tests.conftest import login

    login(client, username)
    html = client.get("/dashboard/").get_data(as_text=True)
    assert "/ticketview/list/" in html or username == "developer" and "/projectview/list/" in html
    assert "/portal/" not in html
