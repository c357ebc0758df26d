"""The web door of impersonation ("view as", SPEC §5) and the request identity.

- ``/impersonate/new/<user_id>`` (GET): the form (reason, mode) behind the "View as"
  button; ``/impersonate/start/<user_id>`` (POST with CSRF only) starts;
  ``/impersonate/end`` (POST) ends and returns the staff user to the page they started
  from. The rules are ``services.impersonation``.
- ``before_request`` (after Flask-AppBuilder has set ``g.user``): binds the request's
  identity (``services.identity``); while impersonating it ends an expired session,
  refuses every non-GET request of a read-only session and the password, profile and
  user-management screens, with a message saying why.
- A "view as" session is a server-side session of its own (``services.sessions``,
  ``kind = view-as``): start puts its token in a new cookie (nothing of the old one is
  carried over), End and expiry end that row and hand the browser a new token of the
  staff member's sign-in. A cookie kept from the view-as session is refused afterwards
  (``app.views.sessions``), and one whose impersonation record ended elsewhere (the
  clean-up job, a deactivation) is sent to sign in.
- A 403 answered to a signed-in user is recorded as a ``permission.denied`` event.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import abort, current_app, flash, g, redirect, request, session, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _
from markupsafe import Markup

from app.extensions import db
from app.models import ClientMember, ImpersonationEnd, ImpersonationMode, SessionEnd, SessionKind, User
from app.models.base import utcnow
from app.services import audit, identity, sessions
from app.services import impersonation as service
from app.errors import AtriumError
from app.views.forms import safe_return
from app.views.sessions import end_on_logout, new_cookie, switch_user

log = logging.getLogger(__name__)

RETURN_KEY = "atrium_impersonation_return"
# Screens a viewed-as session never reaches: passwords, profile, users and roles, API keys.
BLOCKED_VIEWS = ("ResetMyPasswordView", "ResetPasswordView", "UserInfoEditView", "UserDBModelView",
                 "RoleModelView", "PermissionModelView", "ViewMenuModelView", "PermissionViewModelView",
                 "UserStatsChartView", "RegisterUserModelView", "GroupModelView", "ImpersonationView")
# Requests a read-only session may still make: ending it, signing out.
ALWAYS_ALLOWED = ("ImpersonationEndView.end", "AuthDBView.logout", "static", "appbuilder.static")


_SESSION_END = {ImpersonationEnd.ENDED: SessionEnd.VIEW_AS_ENDED, ImpersonationEnd.EXPIRED: SessionEnd.EXPIRED,
                ImpersonationEnd.LOGOUT: SessionEnd.LOGOUT}


def _finish(view_as, row, how: ImpersonationEnd) -> str | None:
    """End the view-as session ``view_as`` (record ``row``): back to the staff member's
    sign-in under a new token (new cookie), or, after a logout or when that sign-in is
    over, signed out. Records the end; returns where to go (``None``: sign in)."""
    return_to = session.get(RETURN_KEY)
    staff = db.session.get(User, row.staff_user_id)
    parent = view_as.parent
    g.user = staff  # the end is recorded on the staff user's behalf (staff scope)
    identity.bind_request()
    sessions.end(db.session, view_as, _SESSION_END[how])
    if how == ImpersonationEnd.LOGOUT:
        sessions.end(db.session, parent, SessionEnd.LOGOUT)
    back = (how != ImpersonationEnd.LOGOUT and staff is not None and staff.is_active and parent is not None
            and sessions.judge(parent, staff.id, active=True).ok)
    token = sessions.rotate(db.session, parent) if back else None
    service.end(db.session, row, how)
    if how == ImpersonationEnd.LOGOUT:
        audit.record(db.session, "logout", details={"during_impersonation": row.id})
    db.session.commit()
    new_cookie()
    if not back:
        return None
    switch_user(staff, token)
    g.atrium_user_session = parent
    return safe_return(return_to)


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
            parent = g.get("atrium_user_session")
            if parent is None or parent.kind != SessionKind.SIGN_IN:
                raise AtriumError(_("Sign in again before viewing as another user."))
            view_as, token = sessions.view_as(db.session, parent, row)
            sessions.rotate(db.session, parent)  # the cookie from before the start stops working
            db.session.commit()
        except AtriumError as exc:
            db.session.rollback()
            flash(exc.message, "danger")
            if exc.status == 422:
                return self.new(user_id), 422
            return redirect(safe_return(request.form.get("return_to"))), exc.status
        new_cookie(**{RETURN_KEY: safe_return(request.form.get("return_to"))})
        switch_user(target, token)
        flash(_("You are viewing Atrium as %(user)s (full).", user=target.username) if row.mode == ImpersonationMode.FULL
              else _("You are viewing Atrium as %(user)s (read-only).", user=target.username), "info")
        return redirect(url_for("PortalDashboardView.show"))


class ImpersonationEndView(BaseView):
    """End the current "view as" session (whoever is being viewed as)."""

    route_base = "/impersonate"
    class_permission_name = "ImpersonationEnd"
    base_permissions = []

    @expose("/end", methods=["POST"])
    def end(self):
        view_as = g.get("atrium_user_session")
        if view_as is None or view_as.kind != SessionKind.VIEW_AS:
            flash(_("There is no view-as session to end."), "warning")
            return redirect(current_app.appbuilder.get_url_for_index)
        row = view_as.impersonation_session
        target = row.target_user.username if row.target_user else None
        destination = _finish(view_as, row, ImpersonationEnd.ENDED)
        flash(_("You stopped viewing as %(user)s.", user=target) if target else _("You stopped viewing as the user."),
              "info")
        return redirect(destination or current_app.appbuilder.get_url_for_login)


def _endpoint_view(endpoint: str) -> str:
    return endpoint.split(".", 1)[0] if endpoint else ""


def _before_request():
    endpoint = request.endpoint or ""
    if endpoint in ("static", "appbuilder.static") or endpoint.startswith("health."):
        return None
    view_as = g.get("atrium_user_session")  # judged live by ``app.views.sessions``
    if view_as is None or view_as.kind != SessionKind.VIEW_AS:
        identity.bind_request()
        if endpoint == "AuthDBView.logout" and view_as is not None:
            end_on_logout(view_as)
        return None
    row = view_as.impersonation_session
    if row.ended_at is not None:  # ended elsewhere (clean-up job, deactivation): sign in again
        g.user = db.session.get(User, row.staff_user_id)
        identity.bind_request()
        sessions.end(db.session, view_as, _SESSION_END.get(row.end_reason, SessionEnd.VIEW_AS_ENDED))
        db.session.commit()
        new_cookie()
        flash(_("Your view-as session has ended. Please sign in again."), "warning")
        return redirect(current_app.appbuilder.get_url_for_login)
    if service.is_expired(row) or utcnow() >= view_as.expires_at:
        target = row.target_user.username
        destination = _finish(view_as, row, ImpersonationEnd.EXPIRED)
        flash(_("Your view-as session of %(user)s expired and was ended.", user=target), "warning")
        return redirect(destination or current_app.appbuilder.get_url_for_login)
    who = identity.bind_request(row)
    g.atrium_impersonation = row
    if endpoint == "AuthDBView.logout":
        _finish(view_as, row, ImpersonationEnd.LOGOUT)
        return redirect(current_app.appbuilder.get_url_for_index)
    if _endpoint_view(endpoint) in BLOCKED_VIEWS and endpoint not in ALWAYS_ALLOWED:
        abort(403, description=_("This screen is not available while viewing as another user."))
    if who.read_only and request.method not in ("GET", "HEAD", "OPTIONS") and endpoint not in ALWAYS_ALLOWED:
        abort(403, description=_("Read-only view: you are viewing as %(user)s and cannot make changes. End the "
                                 "session to make changes as yourself.", user=row.target_user.username))
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
    return Markup('<a class="btn btn-sm btn-default atrium-view-as" href="{}" title="{}">'
                  '<i class="fa fa-user-secret"></i> {}</a>').format(
        url_for("ImpersonationView.new", user_id=int(user_id)), _("View Atrium as this user"), _("View as"))


def init_app(app) -> None:
    app.before_request(_before_request)
    app.after_request(_after_request)
    app.context_processor(_banner_context)
    app.jinja_env.globals["view_as_button"] = view_as_button


def register(appbuilder) -> None:
    appbuilder.add_view_no_menu(ImpersonationView)
    appbuilder.add_view_no_menu(ImpersonationEndView)
