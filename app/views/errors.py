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
from flask_login import current_user
from werkzeug.exceptions import HTTPException

from app.security.limits import retry_after_seconds

HANDLED = (400, 403, 404, 405, 413, 422, 429, 503)


def _handle(error: HTTPException):
    message = error.description or error.name
    if request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json":
        body = {"message": message}
        if error.code == 429:  # a rate limit (``app.security.limits``); Retry-After says it too

            body["retry_after"] = retry_after_seconds()
        return jsonify(body), error.code
    if "user" not in g:  # refused before Flask-AppBuilder's own hook set it (CSRF runs first)
        g.user = current_user._get_current_object()
    appbuilder = current_app.appbuilder
    return render_template("atrium/error.html", appbuilder=appbuilder, base_template=appbuilder.base_template,
                           code=error.code, title=error.name, message=message), error.code


def init_app(app) -> None:
    for code in HANDLED:
        app.register_error_handler(code, _handle)
