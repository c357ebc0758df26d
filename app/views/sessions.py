"""The web door of server-side sessions (rules: ``app.services.sessions``).

- Signing in (Flask-Login's ``user_logged_in``, sent by the sign-in form) creates the
  sign-in row and puts its token in the cookie; a switch of user made by "view as"
  (``switch_user``) does not.
- ``before_request`` (after Flask-AppBuilder's, which sets ``g.user``): the security
  manager's ``load_user`` has judged the cookie; a refused one (ended, expired, another
  user's, no token) is cleared and the browser is sent to sign in with the reason. The
  request then goes on anonymous: nothing it asks for runs as anybody.
- Signing out ends the row (``app.views.impersonation`` handles a logout while viewing
  as, which ends the staff member's sign-in too).
"""

from __future__ import annotations

import logging

from flask import current_app, flash, g, redirect, request, session
from flask_login import current_user, login_user, user_logged_in

from app.extensions import db
from app.models import SessionEnd
from app.services import audit
from app.services import sessions as service
from app.views.forms import remember_staff_timezone
from app.views.language import remember_language

log = logging.getLogger(__name__)

_SIGN_IN_ENDPOINTS = ("AuthDBView.login", "AuthDBView.logout")


def new_cookie(token: str | None = None, **keep) -> None:
    """Replace the whole cookie (CSRF token included): only ``token`` and ``keep``."""
    session.clear()
    if token:
        session[service.COOKIE_KEY] = token
    session.update(keep)


def switch_user(user, token: str) -> None:
    """Sign the browser in as ``user`` under an existing session's ``token`` (view as,
    and back), without opening a new sign-in session."""
    g.atrium_switching_user = True
    try:
        login_user(user, remember=False)
    finally:
        g.pop("atrium_switching_user", None)
    session[service.COOKIE_KEY] = token
    g.user = user


def _on_signed_in(sender, user, **extra) -> None:
    if g.get("atrium_switching_user"):
        return
    row, token = service.sign_in(
        db.session, user, lifetime=current_app.permanent_session_lifetime,
        ip=request.remote_addr, user_agent=request.user_agent.string)
    db.session.commit()
    for key in list(session.keys()):
        if key.startswith("atrium_") and key != service.COOKIE_KEY:
            session.pop(key)
    session[service.COOKIE_KEY] = token
    remember_staff_timezone(user)
    remember_language(user)
    g.atrium_user_session = row


def _gate():
    endpoint = request.endpoint or ""
    if endpoint in ("static", "appbuilder.static") or endpoint.startswith("health."):
        return None
    current_user._get_current_object()  # loads (and judges) the cookie's session
    reason = g.pop("atrium_session_refused", None)
    if reason is None:
        return None
    log.info("session refused: %s", reason)
    new_cookie()
    if request.path.startswith("/api/"):
        return None  # the API answers with its own 401
    flash(str(reason), "warning")  # str: a lazy string would be kept in the cookie as markup
    if endpoint in _SIGN_IN_ENDPOINTS:
        return None
    appbuilder = current_app.appbuilder
    if request.method == "GET":
        return redirect(appbuilder.get_url_for_login_with(request.full_path.rstrip("?")))
    return redirect(appbuilder.get_url_for_login)


def end_on_logout(user_session) -> None:
    """Signing out: end the row and record it."""
    service.end(db.session, user_session, SessionEnd.LOGOUT)
    audit.record(db.session, "logout", commit=True)


_connected = False


def init_app(app) -> None:
    """Register the gate; call before ``app.views.impersonation.init_app``."""
    global _connected
    app.before_request(_gate)
    if not _connected:
        user_logged_in.connect(_on_signed_in)
        _connected = True
