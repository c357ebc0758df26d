"""Every staff add and edit form takes back what it rendered (issue 16 item 7).

Generated from the registered views (``appbuilder.baseviews``, not a hand list): as
Admin, Operator and Developer, every add and edit form the role can open is submitted
exactly as rendered (inputs, checked boxes, selected options, textareas). An edit form of
an existing row saves, lands on that record's page and leaves its stored times as they
were (they round-trip); an add form either saves or names the required fields left
empty, never complains about a value the form itself rendered. Nothing answers >= 500 or
shows database text.
"""
from __future__ import annotations

import datetime as dt
import re
from html.parser import HTMLParser
from urllib.parse import urlparse

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models.base import UTCDateTime
from app.views.base import AtriumModelView
from tests.conftest import login

pytestmark = pytest.mark.both_backends

STAFF = ("admin", "operator", "developer")
RAW_ERRORS = ("IntegrityError", "Traceback", "sqlite3.", "psycopg", "DetachedInstance", "Not a valid datetime")


class FormParser(HTMLParser):
    """The page's record form (the ``<form>`` with the most fields): what a browser would
    submit unchanged."""

    def __init__(self):
        super().__init__()
        self.forms: list[tuple[list, set]] = []
        self.fields: list[tuple[str, str]] = []
        self.empty: set[str] = set()
        self.errors: list[str] = []
        self._in_form = False
        self._done = False
        self._select = None
        self._select_value = None
        self._option_value = None
        self._textarea = None
        self._text = []
        self._error_depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form" and (a.get("action") or "").endswith("/language"):
            return  # the navbar's language menu, on every page
        if tag == "form":
            self._in_form = True
            self.fields, self.empty = [], set()
        if not self._in_form:
            return
        if tag == "input" and a.get("name"):
            kind = (a.get("type") or "text").lower()
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio"):
                if "checked" in a:
                    self.fields.append((a["name"], a.get("value") or "y"))
                return
            self.fields.append((a["name"], a.get("value") or ""))
            if not a.get("value"):
                self.empty.add(a["name"])
        elif tag == "select" and a.get("name"):
            self._select, self._select_value = a["name"], None
        elif tag == "option" and self._select:
            if "selected" in a:
                self._select_value = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], []

    def handle_endtag(self, tag):
        if tag == "form" and self._in_form:
            self._in_form = False
            self.forms.append((self.fields, self.empty))
        if not self._in_form:
            return
        if tag == "select" and self._select:
            value = self._select_value or ""
            self.fields.append((self._select, value))
            if not value:
                self.empty.add(self._select)
            self._select = None
        elif tag == "textarea" and self._textarea:
            text = "".join(self._text)
            text = text[1:] if text.startswith("\n") else text
            self.fields.append((self._textarea, text))
            if not text:
                self.empty.add(self._textarea)
            self._textarea = None

    def handle_data(self, data):
        if self._textarea:
            self._text.append(data)

    def close(self):
        super().close()
        if self.forms:
            self.fields, self.empty = max(self.forms, key=lambda f: len(f[0]))


def _field_errors(html: str) -> dict[str, str]:
    """Field name -> the error text FAB's form template shows under it
    (``<div class="alert alert-danger">`` in the field's cell); ``""`` for the page's
    flashed messages."""
    import re

    found = {}
    for row in re.split(r"<tr>", html):
        name = re.search(r'name="([^"]+)"', row)
        errors = re.findall(r'<div class="alert alert-danger">\s*(.*?)\s*</div>', row, re.S)
        if name and errors:
            found[name.group(1)] = " ".join(errors)
    flashed = re.findall(r'alert-danger[^>]*>(?:\s*<button.*?</button>)?\s*([^<]+)', html, re.S)
    if flashed and not found:
        found[""] = " ".join(f.strip() for f in flashed)
    return found


def _staff_views(app):
    views = [v for v in app.appbuilder.baseviews
             if isinstance(v, AtriumModelView) and not v.route_base.startswith("/portal")]
    assert len(views) > 10
    return views


def _first_pk(view):
    model = view.datamodel.obj
    pk = sa.inspect(model).primary_key[0]
    return db.session.execute(sa.select(pk).order_by(pk).limit(1)).scalar()


def _times(model, pk):
    row = db.session.get(model, pk)
    return {c.key: getattr(row, c.key) for c in model.__table__.columns
            if isinstance(c.type, UTCDateTime) and c.key not in ("updated_at",)}


def _submit(client, path):
    page = client.get(path)
    if page.status_code != 200:
        return None, None, page.status_code
    parser = FormParser()
    parser.feed(page.get_data(as_text=True))
    parser.close()
    assert any(name == "csrf_token" for name, _ in parser.fields), path
    from werkzeug.datastructures import MultiDict

    return client.post(path, data=MultiDict(parser.fields)), parser, 200


@pytest.mark.parametrize("username", STAFF)
def test_every_staff_edit_form_saves_unchanged_and_lands_on_the_record(app, client, username):
    login(client, username)
    reached = []
    for view in _staff_views(app):
        if "edit" in (view.exclude_route_methods or ()):
            continue
        pk = _first_pk(view)
        if pk is None:
            continue
        path = f"{view.route_base}/edit/{pk}"
        before = _times(view.datamodel.obj, pk)
        db.session.expire_all()
        answered, parser, status = _submit(client, path)
        if answered is None:
            assert status in (302, 403, 404), (path, status)
            continue
        reached.append(path)
        body = answered.get_data(as_text=True)
        assert answered.status_code == 302, (username, path, answered.status_code, _field_errors(body) or body[-1500:])
        assert urlparse(answered.headers["Location"]).path == f"{view.route_base}/show/{pk}", (path, answered.headers["Location"])
        db.session.expire_all()
        assert _times(view.datamodel.obj, pk) == before, path  # times round-trip
    assert reached, username


@pytest.mark.one_backend  # what a form asks for is the view's; the dates' round trip is tested on both
@pytest.mark.parametrize("username", STAFF)
def test_every_staff_add_form_as_rendered_saves_or_names_its_required_fields(app, client, username):
    login(client, username)
    reached = []
    for view in _staff_views(app):
        if "add" in (view.exclude_route_methods or ()):
            continue
        path = f"{view.route_base}/add"
        answered, parser, status = _submit(client, path)
        if answered is None:
            assert status in (302, 403, 404), (path, status)
            continue
        reached.append(path)
        body = answered.get_data(as_text=True)
        assert answered.status_code in (302, 422), (path, answered.status_code, body[-1000:])
        assert not any(raw in body for raw in RAW_ERRORS), (path, body[-1500:])
        if answered.status_code == 302:
            location = urlparse(answered.headers["Location"]).path
            assert location.startswith(f"{view.route_base}/show/"), (path, location)
            continue
        errors = _field_errors(body)
        # Only fields the form rendered empty may be refused, and as required/missing.
        for name, text in errors.items():
            assert name in parser.empty, (path, name, text)
    assert reached, username


def test_a_time_typed_in_the_form_is_stored_and_shown_back(app, client):
    from app import models as m

    login(client, "operator")
    pk = db.session.execute(sa.select(m.Incident.id).order_by(m.Incident.id).limit(1)).scalar()
    path = f"/incidentview/edit/{pk}"
    page = client.get(path)
    parser = FormParser()
    parser.feed(page.get_data(as_text=True))
    parser.close()
    data = dict(parser.fields)
    data["started_at"], data["resolved_at"] = "2026-03-01 08:15", "2026-03-01 09:45:30"
    answered = client.post(path, data=data)
    assert answered.status_code == 302, _field_errors(answered.get_data(as_text=True))
    db.session.expire_all()
    row = db.session.get(m.Incident, pk)
    assert row.started_at == dt.datetime(2026, 3, 1, 8, 15, tzinfo=dt.UTC)
    assert row.resolved_at == dt.datetime(2026, 3, 1, 9, 45, 30, tzinfo=dt.UTC)
    assert 'value="2026-03-01 08:15:00"' in client.get(path).get_data(as_text=True)


# --------------------------------------------------------------------------- ordering (item 9)

def _list_views(app):
    return [v for v in app.appbuilder.baseviews
            if getattr(v, "datamodel", None) is not None and hasattr(v, "list_columns")
            and not v.route_base.startswith(("/api", "/portal"))]


@pytest.mark.one_backend  # which columns sort is the views' declaration, not SQL
@pytest.mark.parametrize("username", ["admin", "operator"])
def test_staff_lists_order_only_by_declared_visible_columns(app, client, username):
    """Generated from the registered views: ordering by each model column, each
    relation's columns and nonsense answers 200 only for a column the list declares as
    orderable and shows, 400 otherwise, never 500."""
    login(client, username)
    checked = 0
    for view in _list_views(app):
        name = view.__class__.__name__
        path = f"{view.route_base}/list/"
        if client.get(path).status_code != 200:
            continue
        model = view.datamodel.obj
        mapper = sa.inspect(model)
        candidates = set(model.__table__.columns.keys()) | {"nope", "password", "__class__"}
        for rel in mapper.relationships:
            candidates |= {f"{rel.key}.{c}" for c in rel.mapper.class_.__table__.columns.keys()}
        candidates |= set(view.order_columns or [])
        allowed = {c for c in (view.order_columns or []) if c in (view.list_columns or [])}
        for column in sorted(candidates):
            answered = client.get(f"{path}?_oc_{name}={column}&_od_{name}=asc")
            assert answered.status_code < 500, (path, column)
            assert answered.status_code == (200 if column in allowed else 400), (path, column, answered.status_code)
            checked += 1
    assert checked > 100


# --------------------------------------------------------------------------- refusals (items 6, 7)

def test_an_integrity_error_is_a_message_on_the_field_and_the_typed_values_stay(app, client):
    """A domain name differing only in case passes the form's uniqueness check, and is
    normalised to lower case on flush, where the database's unique constraint refuses it:
    the form says so on the Name field, keeps what was typed, writes nothing, and shows
    no database text."""
    from app import models as m

    enterprise = db.session.execute(sa.select(m.Client.id).filter_by(slug="enterprise-co")).scalar_one()
    existing = db.session.execute(sa.select(m.Domain).filter_by(client_id=enterprise)  # no plan limit in the way
                                  .order_by(m.Domain.id).limit(1)).scalar_one()
    before = db.session.execute(sa.select(sa.func.count()).select_from(m.Domain)).scalar_one()
    login(client, "operator")
    page = client.get("/domainview/add")
    parser = FormParser()
    parser.feed(page.get_data(as_text=True))
    parser.close()
    data = dict(parser.fields)
    data.update(name=existing.name.upper(), client=str(existing.client_id), registrar="Typed Registrar Ltd")
    answered = client.post("/domainview/add", data=data)
    body = answered.get_data(as_text=True)
    assert answered.status_code == 422, _field_errors(body)
    assert not any(raw in body for raw in (*RAW_ERRORS, "UNIQUE constraint", "duplicate key", "INSERT INTO"))
    errors = _field_errors(body)
    assert "name" in errors and "already" in errors["name"], errors
    assert "Typed Registrar Ltd" in body  # what was typed is still on the form
    db.session.expire_all()
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.Domain)).scalar_one() == before


# --------------------------------------------------------------------------- buttons (item 5)

_BUTTON_HREF = re.compile(r'href="([^"#]+)"')


@pytest.mark.one_backend  # which buttons answer is the views' and the role table's
@pytest.mark.parametrize("username", STAFF)
def test_every_button_a_staff_list_shows_opens_for_that_person(app, client, username):
    """Generated from the registered views: on every staff list the role can open, each
    "+", magnifier, pencil and Export CSV link it is shown answers 2xx for that person
    (a dead button, one that ends in 403 or 404, is a defect)."""
    login(client, username)
    checked = 0
    for view in _staff_views(app):
        listing = client.get(f"{view.route_base}/list/")
        if listing.status_code != 200:
            continue
        html = listing.get_data(as_text=True)
        hrefs = {h.replace("&amp;", "&") for h in _BUTTON_HREF.findall(html)
                 if h.startswith(view.route_base + "/")}
        by_kind: dict[str, str] = {}
        for href in sorted(hrefs):
            kind = urlparse(href).path[len(view.route_base) + 1:].split("/", 1)[0]
            if kind in ("add", "show", "edit", "export.csv"):
                by_kind.setdefault(kind, href)  # one of each kind per list is enough
        for kind, href in by_kind.items():
            answer = client.get(href)
            assert 200 <= answer.status_code < 300, (username, view.route_base, kind, href, answer.status_code)
            checked += 1
    assert checked > 20
