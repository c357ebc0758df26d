"""The web door of impersonation ("view as", SPEC §5) and the request identity.

- ``/impersonate/new/<user_id>`` (GET): the form (reason, mode) behind the "View as"
  button; ``/impersonate/start/<user_id>`` (POST with CSRF only) starts;
  ``/impersonate/end`` (POST) ends and returns the staff user to the page they started
  from. The rules are ``services.impersonation``.
- ``before_request`` (after Flask-AppBuilder has set ``g.user``): binds the request's
  identity (``services.identity``); while impersonating it ends an expired session,
  refuses every non-GET request of a read-only session and the password, profile and
  user-management screens, with a message saying why.
- The session id (``atrium_sid``) is regenerated at start and at end: the whole signed
  cookie is replaced, nothing of the old session is carried over but the login.
- A 403 answered to a signed-in user is recorded as a ``permission.denied`` event.
"""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_login import login_user
from markupsafe import Markup

from app.extensions import db
from app.models import ClientMember, ImpersonationEnd, User
from app.services import audit, identity
from app.services import impersonation as service
from app.services.errors import AtriumError

log = logging.getLogger(__name__)

SESSION_KEY = "atrium_impersonation"
RETURN_KEY = "atrium_impersonation_return"
SID_KEY = "atrium_sid"
# Screens a viewed-as session never reaches: passwords, profile, users and roles, API keys.
BLOCKED_VIEWS = ("ResetMyPasswordView", "ResetPasswordView", "UserInfoEditView", "UserDBModelView",
                 "RoleModelView", "PermissionModelView", "ViewMenuModelView", "PermissionViewModelView",
                 "UserStatsChartView", "RegisterUserModelView", "GroupModelView", "ImpersonationView")
# Requests a read-only session may still make: ending it, signing out.
ALWAYS_ALLOWED = ("ImpersonationEndView.end", "AuthDBView.logout", "static", "appbuilder.static")


def rotate_session(**keep) -> None:
    """A new session: everything cleared (CSRF token included) and a new ``atrium_sid``."""
    session.clear()
    session[SID_KEY] = secrets.token_urlsafe(24)
    session.update(keep)


def _login_as(user) -> None:
    login_user(user, remember=False)
    g.user = user


def _safe_return(url: str | None) -> str:
    """A local path to come back to: a path of this site (a full URL of this host, as a
    browser's Referer gives it, is cut to its path); anything else goes to the index."""
    if url:
        parts = urlsplit(url)
        if parts.scheme in ("http", "https") and parts.netloc == request.host:
            url = parts.path + (f"?{parts.query}" if parts.query else "")
        if url.startswith("/") and not url.startswith("//") and "\\" not in url:
            return url
    return current_app.appbuilder.get_url_for_index


def _finish(row, how: ImpersonationEnd):
    """End ``row``: back to the staff user (new session), then record the end."""
    return_to = session.get(RETURN_KEY)
    staff = db.session.get(User, row.staff_user_id)
    rotate_session()
    g.user = staff  # the end is recorded on the staff user's behalf (staff scope)
    if staff is not None and staff.is_active and how != ImpersonationEnd.LOGOUT:
        _login_as(staff)
    identity.bind_request()
    service.end(db.session, row, how)
    if how == ImpersonationEnd.LOGOUT:
        audit.record(db.session, "logout", details={"during_impersonation": row.id})
    db.session.commit()
    return _safe_return(return_to)


class ImpersonationView(BaseView):
    """Start a "view as" session (Admin, Operator)."""

    route_base = "/impersonate"
    class_permission_name = "Impersonation"
    method_permission_name = {"new": "write", "start": "write"}
    base_permissions = ["can_write"]
    default_view = "new"

    @expose("/new/<int:user_id>")
    @has_access
    def new(self, user_id):
        target = db.session.get(User, user_id)
        if target is None:
            abort(404)
        return self.render_template("impersonation/start.html", target=target,
                                    full_allowed=service.may_use_full_mode(g.user),
                                    minutes=current_app.config["IMPERSONATION_MAX_MINUTES"],
                                    return_to=request.referrer or "")

    @expose("/start/<int:user_id>", methods=["POST"])
    @has_access
    def start(self, user_id):
        staff = g.user
        try:
            row = service.start(db.session, staff, user_id, request.form.get("reason", ""),
                                request.form.get("mode", "read-only"),
                                already_active=identity.current().impersonating, ip=request.remote_addr,
                                max_minutes=current_app.config["IMPERSONATION_MAX_MINUTES"])
            target = row.target_user
            db.session.commit()
        except AtriumError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            if exc.status == 422:
                return self.new(user_id), 422
            return redirect(_safe_return(request.form.get("return_to"))), exc.status
        rotate_session(**{SESSION_KEY: row.id, RETURN_KEY: _safe_return(request.form.get("return_to"))})
        _login_as(target)
        flash(f"You are viewing Atrium as {target.username} ({row.mode}).", "info")
        return redirect(url_for("PortalDashboardView.show"))


class ImpersonationEndView(BaseView):
    """End the current "view as" session (whoever is being viewed as)."""

    route_base = "/impersonate"
    class_permission_name = "ImpersonationEnd"
    base_permissions = []

    @expose("/end", methods=["POST"])
    def end(self):
        row = service.active(db.session, session.get(SESSION_KEY))
        if row is None or row.ended_at is not None:
            flash("There is no view-as session to end.", "warning")
            return redirect(current_app.appbuilder.get_url_for_index)
        target = row.target_user.username if row.target_user else "the user"
        destination = _finish(row, ImpersonationEnd.ENDED)
        flash(f"You stopped viewing as {target}.", "info")
        return redirect(destination)


def _endpoint_view(endpoint: str) -> str:
    return endpoint.split(".", 1)[0] if endpoint else ""


def _before_request():
    endpoint = request.endpoint or ""
    if endpoint in ("static", "appbuilder.static") or endpoint.startswith("health."):
        return None
    row = service.active(db.session, session.get(SESSION_KEY))
    if row is None:
        identity.bind_request()
        if endpoint == "AuthDBView.logout" and getattr(g.user, "is_authenticated", False):
            audit.record(db.session, "logout", commit=True)
        return None
    if row.ended_at is not None:
        return _forget()  # an old cookie naming a finished session
    if getattr(g.user, "id", None) != row.target_user_id:
        return redirect(_finish(row, ImpersonationEnd.ENDED))  # the login changed under it
    if service.is_expired(row):
        target = row.target_user.username
        destination = _finish(row, ImpersonationEnd.EXPIRED)
        flash(f"Your view-as session of {target} expired and was ended.", "warning")
        return redirect(destination)
    who = identity.bind_request(row)
    g.atrium_impersonation = row
    if endpoint == "AuthDBView.logout":
        _finish(row, ImpersonationEnd.LOGOUT)
        return redirect(current_app.appbuilder.get_url_for_index)
    if _endpoint_view(endpoint) in BLOCKED_VIEWS and endpoint not in ALWAYS_ALLOWED:
        abort(403, description="This screen is not available while viewing as another user.")
    if who.read_only and request.method not in ("GET", "HEAD", "OPTIONS") and endpoint not in ALWAYS_ALLOWED:
        abort(403, description=f"Read-only view: you are viewing as {row.target_user.username} and cannot make "
                               "changes. End the session to make changes as yourself.")
    return None


def _forget():
    """The browser names a session that has already ended: drop it from the cookie."""
    session.pop(SESSION_KEY, None)
    session.pop(RETURN_KEY, None)
    identity.bind_request()
    return None


def _after_request(response):
    if response.status_code == 403 and request.endpoint not in (None, "static"):
        user = getattr(g, "user", None)
        if getattr(user, "is_authenticated", False):
            try:
                db.session.rollback()
                audit.record(db.session, "permission.denied", commit=True,
                             details={"method": request.method, "path": request.path,
                                      "endpoint": request.endpoint})
            except Exception:  # noqa: BLE001 - the refusal itself must still reach the user
                db.session.rollback()
                log.exception("could not record a permission denial")
    return response


def _banner_context():
    row = g.get("atrium_impersonation")
    if row is None or row.ended_at is not None:
        return {"impersonation": None}
    return {"impersonation": {
        "target": row.target_user.username, "staff": row.staff_user.username, "mode": row.mode,
        "minutes_left": service.minutes_left(row), "expires_at": row.expires_at, "reason": row.reason}}


def view_as_button(user_id=None, member_id=None) -> Markup:
    """The staff console's "View as" button for a client user (by user id, or by the id
    of their ``ClientMember`` row): a link to the start form, which asks for the reason
    and mode; shown only to those who may start one."""
    if not current_app.appbuilder.sm.has_access("can_write", "Impersonation"):
        return Markup("")
    if member_id is not None:
        user_id = db.session.execute(sa.select(ClientMember.user_id).where(ClientMember.id == int(member_id))
                                     ).scalar_one_or_none()
    if user_id is None:
        return Markup("")
    return Markup('<a class="btn btn-sm btn-default atrium-view-as" href="{}" title="View Atrium as this user">'
                  '<i class="fa fa-user-secret"></i> View as</a>').format(
        url_for("ImpersonationView.new", user_id=int(user_id)))


def init_app(app) -> None:
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.context_processor(_banner_context)
    app.jinja_env.globals["view_as_button"] = view_as_button


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ImpersonationView)
    appbuilder.add_view_no_menu(ImpersonationEndView)
