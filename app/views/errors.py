"""Error pages: 4xx (and 503) answers a person sees inside the console's layout
(navigation, the view-as banner with its End button, flashed messages), and as JSON under
``/api/``. A 429 (``app.security.limits``) says which limit and when to retry; as JSON it
also carries ``retry_after`` (seconds).

Only the rendering lives here; who may do what is decided elsewhere (security,
impersonation, services), which raise ``abort(4xx, description=...)`` with a message
written for the person. 500s are left to Flask (and Sentry).
"""

from __future__ import annotations

from flask import current_app, g, jsonify, render_template, request
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from app.i18n import N_
from app.security.limits import retry_after_seconds

HANDLED = (400, 403, 404, 405, 413, 422, 429, 503)
# The status lines' names (Werkzeug's English) in the reader's language.
TITLES = {400: _l("Bad Request"), 403: _l("Forbidden"), 404: _l("Not Found"), 405: _l("Method Not Allowed"),
          413: _l("Request Entity Too Large"), 422: _l("Unprocessable Entity"), 429: _l("Too Many Requests"),
          503: _l("Service Unavailable")}


# Messages written by libraries (Werkzeug's defaults for ``abort(code)`` without a
# description, Flask-WTF's CSRF refusals), by their English text: shown translated.
LIBRARY_MESSAGES = frozenset((
    N_("The browser (or proxy) sent a request that this server could not understand."),
    N_("You don't have the permission to access the requested resource. It is either read-protected or not "
       "readable by the server."),
    N_("The requested URL was not found on the server. If you entered the URL manually please check your "
       "spelling and try again."),
    N_("The method is not allowed for the requested URL."),
    N_("The data value transmitted exceeds the capacity limit."),
    N_("The request was well-formed but was unable to be followed due to semantic errors."),
    N_("This user has exceeded an allotted request count. Try again later."),
    N_("The server is temporarily unable to service your request due to maintenance downtime or capacity "
       "problems. Please try again later."),
    N_("The CSRF token is missing."), N_("The CSRF session token is missing."), N_("The CSRF token has expired."),
    N_("The CSRF token is invalid."), N_("The CSRF tokens do not match."), N_("The referrer header is missing."),
    N_("The referrer does not match the host."),
))


def _handle(error: HTTPException):
    message = error.description or error.name
    if message in LIBRARY_MESSAGES:
        message = _(message)
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        body = {"message": message}
        if error.code == 429:  # a rate limit (``app.security.limits``); Retry-After says it too

            body["retry_after"] = retry_after_seconds()
        return jsonify(body), error.code
    if "user" not in g:  # refused before Flask-AppBuilder's own hook set it (CSRF runs first)
        g.user = current_user._get_current_object()
    appbuilder = current_app.appbuilder
    return render_template("atrium/error.html", appbuilder=appbuilder, base_template=appbuilder.base_template,
                           code=error.code, title=TITLES.get(error.code, error.name), message=message), error.code


def init_app(app) -> None:
    for code in HANDLED:
        app.register_error_handler(code, _handle)
