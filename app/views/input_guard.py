"""The door's input guard: what no request may carry, refused before any view runs.

One mechanism for every form, query string and JSON body (HTML views and the API alike),
so no field has to remember it:

- **Text** (``check_text``, first of all ``before_request`` hooks): query arguments,
  URL-encoded and multipart form fields, uploaded file names and every string of a JSON
  body must be Unicode text a database can hold: valid UTF-8, no NUL character, no lone
  UTF-16 surrogate (``"\\ud800"`` in JSON). Werkzeug would otherwise keep an invalid
  byte sequence as its literal ``%FF`` escape, and PostgreSQL refuses NUL (a 500).
  A JSON body nested deeper than ``MAX_JSON_DEPTH`` levels, or not JSON at all, is
  refused here too (the parser would otherwise recurse until ``RecursionError``). The
  webhook's body is left to the webhook, which checks Stripe's signature over the raw
  bytes first (``RAW_BODY_DOORS``).
- **Orderings and actions** (``check_orderings_and_actions``, first step of every model
  view's endpoints, after all hooks):
  once the person is known to hold the permission of the page they asked for, an
  ordering column (``_oc_<View>``) the view does not offer, an action name it does not
  have, or a selected row id its key cannot hold is a 400 naming it. Without the
  permission the request goes on to the view's own check (a 403 or the sign-in page),
  so nothing is revealed to someone who may not use the page.

Each refusal is ``abort(400, description=...)``: ``app.views.errors`` renders it in the
layout, or as ``{"message": ...}`` under ``/api/``. No rule about what a field means
lives here (that is ``services.validation``); only what no field may hold.
"""

from __future__ import annotations

import functools
import json
import urllib.parse

from flask import abort, current_app, request
from flask_appbuilder.baseviews import BaseModelView
from flask_babel import gettext as _

from app.models.base import integer_range

MAX_JSON_DEPTH = 32
# Doors that authenticate the raw bytes of their body before reading it (the Stripe
# webhook's signature) and answer a bad body themselves: only their address is checked.
RAW_BODY_DOORS = ("/webhooks/",)
_SURROGATES = range(0xD800, 0xE000)


def _name(raw) -> str:
    """A field name fit to quote in a message (printable, at most 60 characters)."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    text = "".join(ch if ch.isprintable() and ord(ch) not in _SURROGATES else "?" for ch in text)
    return text[:60] + ("…" if len(text) > 60 else "")


def _check_string(field, value: str) -> None:
    if "\x00" in value:
        abort(400, description=_("“%(field)s” contains a NUL character (\\0), which is not text. Remove it and "
                                 "try again.", field=_name(field)))
    if any(ord(ch) in _SURROGATES for ch in value):
        abort(400, description=_("“%(field)s” contains an unpaired UTF-16 surrogate (\\ud800–\\udfff), which is "
                                 "not text. Remove it and try again.", field=_name(field)))


def _check_urlencoded(raw: bytes, in_form: bool) -> None:
    """Each ``name=value`` pair of a query string or URL-encoded body: valid UTF-8 once
    percent-decoded, and no NUL."""
    for part in raw.split(b"&"):
        if not part:
            continue
        key, _eq, value = part.partition(b"=")
        key = urllib.parse.unquote_to_bytes(key.replace(b"+", b" "))
        value = urllib.parse.unquote_to_bytes(value.replace(b"+", b" "))
        for chunk in (key, value):
            try:
                text = chunk.decode("utf-8")
            except UnicodeDecodeError:
                abort(400, description=_("“%(field)s” (in the form) is not valid UTF-8 text. Remove it and try "
                                         "again.", field=_name(key)) if in_form else
                      _("“%(field)s” (in the address) is not valid UTF-8 text. Remove it and try again.",
                        field=_name(key)))
            _check_string(key, text)


def _check_json(raw: bytes) -> None:
    if not raw.strip():
        return
    try:
        document = json.loads(raw)
    except RecursionError:
        abort(400, description=_("The JSON body is nested too deeply (at most %(num)d levels).", num=MAX_JSON_DEPTH))
    except UnicodeDecodeError:
        abort(400, description=_("The request body is not valid UTF-8 text."))
    except ValueError as exc:
        abort(400, description=_("The request body is not valid JSON: %(problem)s.",
                                 problem=getattr(exc, "msg", "unreadable")))
    stack = [(document, 1, "body")]
    while stack:
        value, depth, field = stack.pop()
        if depth > MAX_JSON_DEPTH:
            abort(400, description=_("The JSON body is nested too deeply (at most %(num)d levels).",
                                     num=MAX_JSON_DEPTH))
        if isinstance(value, str):
            _check_string(field, value)
        elif isinstance(value, dict):
            for key, item in value.items():
                _check_string(key, key)
                stack.append((item, depth + 1, key))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, field) for item in value)


def check_text() -> None:
    """Refuse text no field may hold (see the module docstring)."""
    if "\x00" in request.path:
        abort(400, description=_("The address contains a NUL character."))
    if request.query_string:
        _check_urlencoded(request.query_string, in_form=False)
    if request.method in ("GET", "HEAD", "OPTIONS") or request.path.startswith(RAW_BODY_DOORS):
        return
    mimetype = request.mimetype
    if mimetype == "application/x-www-form-urlencoded":
        _check_urlencoded(request.get_data(cache=True), in_form=True)
    elif mimetype == "multipart/form-data":  # text parts are decoded leniently (U+FFFD); NUL stays
        for key, value in request.form.items(multi=True):
            _check_string(key, key)
            _check_string(key, value)
        for key, upload in request.files.items(multi=True):
            _check_string(key, upload.filename or "")
    elif request.is_json:
        _check_json(request.get_data(cache=True))


# --------------------------------------------------------------------------- after the permission check


def _view_and_method():
    """The registered view serving this request and the name of its method."""
    endpoint = request.endpoint or ""
    blueprint, _dot, method = endpoint.rpartition(".")
    if not blueprint:
        return None, None
    views = current_app.extensions.get("atrium_views_by_endpoint")
    if views is None:
        views = {view.endpoint: view for view in current_app.appbuilder.baseviews}
        current_app.extensions["atrium_views_by_endpoint"] = views
    return views.get(blueprint), method


def _permitted(view, method: str) -> bool:
    """What FAB's ``has_access`` asks before running ``view.method``."""
    try:
        permission = "can_" + view.get_method_permission(method)
    except AttributeError:
        return False
    return permission in (view.base_permissions or ()) and current_app.appbuilder.sm.has_access(
        permission, view.class_permission_name)


def _views_by_name():
    views = current_app.extensions.get("atrium_views_by_name")
    if views is None:
        views = {type(view).__name__: view for view in current_app.appbuilder.baseviews}
        current_app.extensions["atrium_views_by_name"] = views
    return views


def _key_range(view):
    datamodel = getattr(view, "datamodel", None)
    try:
        column = datamodel.list_columns[datamodel.get_pk_name()]
    except (AttributeError, KeyError, TypeError):
        return None
    return integer_range(column.type)


def _check_ids(view, values) -> None:
    allowed = _key_range(view)
    if allowed is None:
        return
    for value in values:
        text = str(value).strip()
        if not (text.isascii() and text.lstrip("-").isdigit()) or int(text) not in allowed or int(text) < 1:
            abort(400, description=_("“%(value)s” is not the id of a record.", value=_name(value)))


def _may_use_actions(view) -> bool:
    """The permission of a view's actions form: what ``method_permission_name`` gives
    ``action_post`` (Atrium's views: ``write``), else (FAB's own views, which check each
    action by its own permission) holding the permission of at least one action."""
    if (view.method_permission_name or {}).get("action_post"):
        return _permitted(view, "action_post")
    for name in getattr(view, "actions", None) or {}:
        try:
            permission = view.get_action_permission_name(name)
        except (AttributeError, KeyError):
            continue
        if current_app.appbuilder.sm.has_access(permission, view.class_permission_name):
            return True
    return False


def check_orderings_and_actions() -> None:
    """Unknown ordering columns, action names and row ids: 400, for those who may use the page."""
    view, method = _view_and_method()
    if view is None or getattr(view, "datamodel", None) is None or not hasattr(view, "get_method_permission"):
        return
    if method in ("action_post", "action"):
        # FAB reads the action's own permission from the action, so an unknown name used to
        # fail before any check: the permission of the actions form comes first here.
        if not _may_use_actions(view):
            abort(403, description=_("You may not change these records."))
        _check_action(view, method)
        return
    if not _permitted(view, method):
        return  # the view's own permission check answers (403 or sign-in)
    for key, column in request.args.items(multi=True):
        if not key.startswith("_oc_"):
            continue
        ordered = _views_by_name().get(key[4:])
        # Declared and visible: an ordering column the list does not show would order the
        # rows by a value the person cannot see (FAB's groups list offered "description").
        shown = set(getattr(ordered, "list_columns", None) or []) if ordered is not None else set()
        offered = [c for c in (getattr(ordered, "order_columns", None) or []) if c in shown] \
            if ordered is not None else []
        if column not in offered:
            choices = ", ".join(offered) or _("none")
            abort(400, description=_("This list cannot be ordered by “%(column)s” (choose one of: %(choices)s).",
                                     column=_name(column), choices=choices))
        direction = request.args.get("_od_" + key[4:], "asc")
        if direction not in ("asc", "desc"):
            abort(400, description=_("The order direction is “asc” or “desc”."))


def _check_action(view, method: str) -> None:
    name = request.form.get("action", "") if method == "action_post" else (request.view_args or {}).get("name", "")
    actions = getattr(view, "actions", None) or {}
    if name not in actions:
        choices = ", ".join(sorted(actions)) or _("none")
        abort(400, description=_("There is no action “%(action)s” here (actions: %(choices)s).", action=_name(name),
                                 choices=choices))
    rows = request.form.getlist("rowid") if method == "action_post" else [(request.view_args or {}).get("pk")]
    _check_ids(view, rows)


def _checked(function):
    @functools.wraps(function)
    def view(*args, **kwargs):
        check_orderings_and_actions()
        return function(*args, **kwargs)

    return view


def init_app(app) -> None:
    """``check_text`` before every other hook (CSRF reads the form first otherwise);
    ``check_orderings_and_actions`` as the first step of every model view's endpoints,
    so every ``before_request`` hook (identity, view-as, the portal's membership guard)
    has answered first. Call after the views are registered."""
    app.before_request_funcs.setdefault(None, []).insert(0, check_text)
    prefixes = tuple(view.endpoint + "." for view in app.appbuilder.baseviews if isinstance(view, BaseModelView))
    for endpoint, function in list(app.view_functions.items()):
        if endpoint.startswith(prefixes):
            app.view_functions[endpoint] = _checked(function)
