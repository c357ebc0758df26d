"""Which language a person reads Atrium in (issue 21): their own choice from the navbar,
else their client's default, else their browser's; and what a page then shows."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from flask import g

from app import models as m
from app.extensions import db
from app.tenancy import NotFound
from tests.conftest import PASSWORD, csrf_token, login



def _client(slug):
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _set_client_language(slug, code):
    _client(slug).language = code
    db.session.commit()


def _user_id(username):
    return db.session.execute(sa.select(m.User.id).filter_by(username=username)).scalar_one()


def _saved(username):
    db.session.expire_all()
    row = db.session.get(m.UserPreference, _user_id(username))
    return row.language if row else None


def _page(client, path="/portal/", **headers):
    response = client.get(path, headers=headers, follow_redirects=True)
    assert response.status_code == 200, path
    return response.get_data(as_text=True)


def _choose(client, code, next_path="/portal/"):
    token = csrf_token(client, next_path)
    return client.post("/language", data={"language": code, "next": next_path, "csrf_token": token})


def _language_of(html):
    """The page's language as its ``<html lang>`` declares it (and screen readers read it)."""
    return {"pt-BR": "pt_BR", "en": "en"}[re.search(r'<html lang="([^"]+)"', html).group(1)]


def test_a_client_user_reads_their_clients_language_before_their_browsers(app, client):
    _set_client_language("pro-co", "pt_BR")
    login(client, "pro-co-viewer")
    assert _language_of(_page(client, **{"Accept-Language": "en-US,en;q=0.9"})) == "pt_BR"
    _set_client_language("pro-co", None)
    assert _language_of(_page(client, **{"Accept-Language": "pt-BR,pt;q=0.9"})) == "pt_BR"
    assert _language_of(_page(client, **{"Accept-Language": "en-US"})) == "en"
    assert _language_of(_page(client)) == "en"  # no preference anywhere: English


def test_staff_read_their_browsers_language(app, client):
    login(client, "operator")
    assert _language_of(_page(client, "/", **{"Accept-Language": "pt-BR"})) == "pt_BR"
    assert _language_of(_page(client, "/", **{"Accept-Language": "de-DE, en;q=0.5"})) == "en"


def test_a_users_choice_beats_the_client_and_outlives_the_session(app, client):
    _set_client_language("pro-co", "pt_BR")
    login(client, "pro-co-owner", PASSWORD)
    response = _choose(client, "en", "/portal/?tab=1")
    assert response.status_code == 302 and response.headers["Location"].endswith("/portal/?tab=1")
    assert _language_of(_page(client, **{"Accept-Language": "pt-BR"})) == "en"
    assert _saved("pro-co-owner") == "en"
    client.get("/logout/")
    other_browser = app.test_client()
    login(other_browser, "pro-co-owner", PASSWORD)
    assert _language_of(_page(other_browser, **{"Accept-Language": "pt-BR"})) == "en"
    # Their colleague, who chose nothing, still reads the client's language.
    colleague = app.test_client()
    login(colleague, "pro-co-viewer", PASSWORD)
    assert _language_of(_page(colleague)) == "pt_BR"


def test_a_read_only_viewer_may_choose_their_own_language(app, client):
    login(client, "pro-co-viewer")
    assert _choose(client, "pt_BR").status_code == 302
    assert _saved("pro-co-viewer") == "pt_BR"
    assert _language_of(_page(client)) == "pt_BR"


def test_choosing_nothing_goes_back_to_the_client_and_browser(app, client):
    login(client, "basic-co-owner")
    _choose(client, "pt_BR")
    assert _saved("basic-co-owner") == "pt_BR"
    _choose(client, "")
    assert _saved("basic-co-owner") is None
    assert _language_of(_page(client)) == "en"


def test_an_unknown_language_is_refused_and_nothing_changes(app, client):
    login(client, "pro-co-owner")
    _choose(client, "pt_BR")
    response = _choose(client, "xx_YY")
    assert response.status_code == 422
    assert "Escolha um dos idiomas oferecidos" in response.get_data(as_text=True)  # in the page's language
    assert _saved("pro-co-owner") == "pt_BR"


def test_the_menu_cannot_be_posted_from_another_site(app, client):
    login(client, "pro-co-owner")
    client.get("/portal/")
    response = client.post("/language", data={"language": "pt_BR", "next": "https://evil.example/"})
    assert response.status_code == 400  # no CSRF token
    assert _saved("pro-co-owner") is None
    token = csrf_token(client, "/portal/")
    response = client.post("/language", data={"language": "pt_BR", "next": "https://evil.example/x",
                                              "csrf_token": token})
    assert response.status_code == 302 and "evil.example" not in response.headers["Location"]


def test_a_client_user_sees_and_writes_only_their_own_settings(app):
    for username, code in (("operator", "pt_BR"), ("pro-co-viewer", "en")):
        db.session.add(m.UserPreference(user_id=_user_id(username), language=code))
    db.session.commit()
    owner = db.session.execute(sa.select(m.User).filter_by(username="pro-co-owner")).scalar_one()
    db.session.commit()
    with app.test_request_context():
        g.user = owner
        assert db.session.execute(sa.select(m.UserPreference)).scalars().all() == []
        assert db.session.get(m.UserPreference, _user_id("pro-co-viewer")) is None
        db.session.add(m.UserPreference(user_id=_user_id("pro-co-viewer"), language="pt_BR"))
        with pytest.raises(NotFound):  # the guard refuses before the database would
            db.session.flush()
        db.session.rollback()
    assert _saved("pro-co-viewer") == "en"


def test_a_portuguese_portal_shows_brazilian_dates_money_and_sao_paulo_times(app, client):
    _set_client_language("pro-co", "pt_BR")
    login(client, "pro-co-owner")
    html = _page(client)
    assert 'lang="pt-BR"' in html and "<title>Visão geral · Atrium</title>" in html  # the tab names the page
    money = re.findall(r"R\$\s\d{1,3}(?:\.\d{3})*,\d{2}", html)
    assert money, "no R$ 1.234,56 figure on the overview"
    assert not re.search(r"R\$\s?\d{1,3}(,\d{3})*\.\d{2}(?![\d,])", html)
    tickets = _page(client, "/portal/tickets/list/")
    assert re.search(r"\b\d{2}/\d{2}/\d{4} \d{2}:\d{2} \(UTC-03:00\)", tickets), "no dd/mm/yyyy hh:mm time in São Paulo"
    assert not re.search(r"\b20\d\d-\d\d-\d\d\b", tickets)


def test_a_user_who_chose_english_reads_english_figures(app, client):
    _set_client_language("pro-co", "pt_BR")
    login(client, "pro-co-owner")
    _choose(client, "en")
    html = _page(client)
    assert 'lang="en"' in html
    assert re.search(r"R\$\s\d{1,3}(?:,\d{3})*\.\d{2}", html)
    tickets = _page(client, "/portal/tickets/list/")
    assert re.search(r"\b20\d\d-\d\d-\d\d \d{2}:\d{2} \(UTC-03:00\)", tickets)
