"""Atrium's Flask-AppBuilder security manager and ``sync_roles`` (``flask roles sync``).

Permissions are never created at web start-up (``FAB_UPDATE_PERMS = False``): the table
in ``app.roles`` is applied here, idempotently.

Performance: FAB asks the database once per permission check (the menu alone makes
dozens). Here a request loads the acting user with roles and groups in one statement,
together with a version of all roles' grants; the (permission, view) pairs of the
user's roles come from a per-process copy while that version is unchanged (one more
statement otherwise), and every check is answered from that set. ``has_access`` itself
(menu, buttons, the view's own check) answers a signed-in browser user from that set
directly instead of re-resolving the user, its roles and its detached state on every
call, and the navbar menu, which depends only on that set, is rendered once per set.
"""

from __future__ import annotations

import functools
import logging
from contextlib import contextmanager
from dataclasses import replace

import sqlalchemy as sa
from flask import current_app, g, has_app_context, has_request_context, request, session
from flask_appbuilder.api import expose, safe
from flask_babel import get_locale
from flask_appbuilder.const import API_SECURITY_PROVIDER_DB
from flask_appbuilder.security import api as fab_security_api
from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import (
    Group,
    Permission,
    PermissionView,
    ViewMenu,
    assoc_permissionview_role,
)
from flask_login import current_user
from sqlalchemy.orm import joinedload
from werkzeug.local import LocalProxy

from app.services import audit, identity, sessions
from app.roles import ADMIN, ROLE_GRANTS, SELF_SERVICE, allowed
from app.tenancy import estimates

from app.i18n import N_

from . import limits


# Entries of Flask-AppBuilder's own Security menu that its pt_BR catalogue lacks: kept in
# Atrium's catalogue so the menu reads in one language (the navbar shows ``_(label)``).
FAB_MENU_WORDS = (N_("List Groups"),)


class SecurityApi(fab_security_api.SecurityApi):
    """FAB's REST login (same name, so the same endpoint and resource), with ``provider``
    optional as its OpenAPI document says: it defaults to ``db``, the only sign-in Atrium
    offers. FAB's own ``login`` reads ``payload["provider"]`` unchecked and answers a
    body without it with a 500 (found by the API fuzz test)."""

    @expose("/login", methods=["POST"])
    @safe
    def login(self):
        payload = request.get_json(silent=True)  # cached: FAB's ``request.json`` is this dict
        if isinstance(payload, dict):
            payload.setdefault("provider", API_SECURITY_PROVIDER_DB)
        return super().login()


class AtriumSecurityManager(SecurityManager):
    """FAB's SQLA security manager with per-request permission caching."""

    security_api = SecurityApi
    # FAB's "User's Statistics" chart loads Google Charts from another origin: blank
    # offline, and against the CSP's promise that nothing is loaded from elsewhere.
    userstatschartview = None

    # The version of all roles' grants: the number of (role, permission-view) rows and
    # their highest id. FAB and ``sync_roles`` only insert and delete those rows (the
    # ORM manages the association; rows are never updated in place), and on PostgreSQL
    # ids come from a sequence, never handed out twice: so every grant or revocation,
    # for any role, changes the pair, and the same pair means the same rows. (SQLite
    # reuses the highest id after a delete, so there the pair is no proof and the
    # process-wide copy is not used.) Read with the user and with the pairs, in the
    # same statements.
    _grants_version_columns = (
        sa.select(sa.func.count()).select_from(assoc_permissionview_role).scalar_subquery(),
        sa.select(sa.func.max(assoc_permissionview_role.c.id)).scalar_subquery(),
    )

    _permission_pairs_statement = (
        sa.select(Permission.name, ViewMenu.name, *_grants_version_columns)
        .select_from(PermissionView)
        .join(Permission, PermissionView.permission_id == Permission.id)
        .join(ViewMenu, PermissionView.view_menu_id == ViewMenu.id)
        .join(assoc_permissionview_role, assoc_permissionview_role.c.permission_view_id == PermissionView.id)
        .where(assoc_permissionview_role.c.role_id.in_(sa.bindparam("role_ids", expanding=True)))
    )

    # The statements every signed-in page runs, built once: SQLAlchemy then reuses
    # their compiled form and cache key instead of rebuilding them per request.
    @functools.cached_property
    def _user_by_id_statement(self):
        user = self.user_model
        return (sa.select(user, *self._grants_version_columns)
                .options(joinedload(user.roles), joinedload(user.groups).joinedload(Group.roles))
                .where(user.id == sa.bindparam("pk")))

    @functools.cached_property
    def _grants_versioned(self) -> bool:
        """Whether the grants version identifies the grants (ids never reused)."""
        return self.session.get_bind().dialect.name == "postgresql"

    @functools.cached_property
    def _session_user_statement(self):
        user = self.user_model
        return (sessions.lookup_statement(user).add_columns(*self._grants_version_columns)
                .options(joinedload(user.roles), joinedload(user.groups).joinedload(Group.roles)))

    def load_user(self, pk):
        """The user a browser's session cookie names, only while the server-side session
        its token names is live for that user (``services.sessions``): read with the
        user, its roles and the grants version in the one statement every signed-in
        request already made. A refusal is left on ``g`` for the web door
        (``app.views.sessions``), which clears the cookie and sends the browser to sign in."""
        if not has_request_context():
            return super().load_user(pk)

        token = session.get(sessions.COOKIE_KEY)
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            pk = None
        row = None
        if pk is not None and isinstance(token, str) and token:
            row = self.session.execute(self._session_user_statement,
                                       {"pk": pk, "token_hash": sessions.token_hash(token)}).unique().one_or_none()
        if row is None:
            g.atrium_session_refused = sessions.judge(None, pk, active=False).reason
            return None
        user, user_session = row[0], row[1]
        _set_grants_version((row[2], row[3]))
        verdict = sessions.judge(user_session, user.id, active=bool(user.is_active))
        if not verdict.ok:
            g.atrium_session_refused = verdict.reason
            return None
        g.atrium_user_session = user_session
        return user

    def load_user_jwt(self, _jwt_header, jwt_data):
        """FAB's JWT user lookup (the REST API), by id alone: a token is not a browser
        session, so the cookie check of ``load_user`` does not apply."""
        user = self.get_user_by_id(int(jwt_data["sub"]))
        if user is not None and user.is_active:
            g.user = user
            return user
        return None

    def get_user_by_id(self, pk):
        row = self.session.execute(self._user_by_id_statement, {"pk": pk}).unique().one_or_none()
        if row is None:
            return None
        _set_grants_version((row[1], row[2]))
        return row[0]

    def _role_permission_pairs(self, role_ids) -> frozenset:
        """The (permission, view) pairs of these roles: once per request at most, and
        from the process-wide copy when the grants version read with this request's
        user (``get_user_by_id``) is the one that copy was loaded with (the pairs and
        their version come from one statement, so a copy is exactly that version's)."""
        key = tuple(sorted(role_ids))
        cache = g.setdefault("_atrium_permissions", {}) if has_app_context() else {}
        if key not in cache:
            version = _grants_version()
            shared = self.__dict__.setdefault("_atrium_shared_grants", {})
            known = shared.get(key)
            if version is not None and known is not None and known[0] == version and self._grants_versioned:
                cache[key] = known[1]
            else:
                rows = self.session.execute(self._permission_pairs_statement, {"role_ids": list(key)}).all()
                cache[key] = frozenset((p, v) for p, v, _, _ in rows)
                if rows and self._grants_versioned:
                    if len(shared) >= 256:
                        shared.clear()
                    shared[key] = ((rows[0][2], rows[0][3]), cache[key])
        return cache[key]

    def has_access(self, permission_name, view_name) -> bool:
        grants = self._browser_user_grants()
        if grants is None:
            return super().has_access(permission_name, view_name)
        return (permission_name, view_name) in grants

    def _browser_user_grants(self):
        """The (permission, view) pairs of the signed-in session user of this request, or
        ``None`` where FAB's own check applies (outside a request, API keys, JWT,
        anonymous/public, built-in roles).

        Same answer as FAB's ``has_access`` for that user: an inactive user has no
        access; roles come from the user and their groups. Memoised on ``g`` for the same
        user objects, role ids and active flag, so a login, logout or role change within
        a request is seen at once.
        """
        if not has_request_context():
            return None
        state = g._get_current_object()  # one context lookup instead of one per attribute
        if state.get("_api_key_user"):
            return None
        session_user = current_user._get_current_object()
        if session_user is None or not session_user.is_authenticated:
            return None
        user = state.get("user")  # FAB checks g.user once the session user is authenticated
        if isinstance(user, LocalProxy):
            user = user._get_current_object()
        if user is None:
            return None
        role_ids = [r.id for r in self.get_user_roles(user)]
        active = bool(user.is_active)
        cached = state.get("_atrium_grants")
        if (cached is not None and cached[0] is session_user and cached[1] is user
                and cached[2] == role_ids and cached[3] == active):
            return cached[4]
        if any(r.name in self.builtin_roles for r in self.get_user_roles(user)):
            return None
        safe = self._get_safe_user(user)
        if safe is None or not safe.is_active:
            grants = frozenset()
        else:
            safe_role_ids = [r.id for r in self.get_user_roles(safe)]
            grants = self._role_permission_pairs(safe_role_ids) if safe_role_ids else frozenset()
        state._atrium_grants = (session_user, user, role_ids, active, grants)
        return grants

    def cached_menu(self, caller):
        """The navbar menu's markup (``templates/appbuilder/navbar_menu.html`` wraps FAB's
        in ``{% call %}``), rendered once per process for each permission set.

        What FAB's menu shows depends only on the signed-in user's permissions (each
        entry is checked with ``has_access("menu_access", name)``), the URL prefix and
        the language; the same grants give the same markup, so it is kept, keyed on
        exactly those. A permission change gives a different set, hence a fresh render.
        Users answered by FAB's own check (anonymous, API keys, built-in roles) get a
        fresh render every time.
        """
        grants = self._browser_user_grants()
        if grants is None:
            return caller()
        key = (grants, request.script_root, str(get_locale()))
        cache = self.__dict__.setdefault("_atrium_menu_html", {})
        html = cache.get(key)
        if html is None:
            html = caller()
            if len(cache) >= 64:  # a handful of role sets in practice; stay bounded anyway
                cache.clear()
            cache[key] = html
        return html

    def sync_roles(self) -> dict:
        """``sync_roles`` for this app (services call it here: they import no door)."""
        return sync_roles(self.appbuilder)

    def forget_database_state(self) -> None:
        """Drop what this process keeps of the database's contents: the grants and menus
        above, the API plans of ``app.security.limits``, the system user's id and the
        table figures behind "about N" counts (``app.tenancy.estimates``).
        For when the database behind a running process is replaced by another (a test's
        fresh copy; a restore): the grants version identifies grants within one database
        only, since a copy hands out the same ids again."""
        self.__dict__.pop("_atrium_shared_grants", None)
        self.__dict__.pop("_atrium_menu_html", None)
        limits.forget(current_app)
        identity.forget_system_user()
        estimates.forget()

    def exist_permission_on_roles(self, view_name, permission_name, role_ids) -> bool:
        return (permission_name, view_name) in self._role_permission_pairs(role_ids)

    def _get_user_permission_view_menus(self, user, permission_name, view_menus_name):
        roles = [self.get_public_role()] if user is None else self.get_user_roles(user)
        role_ids = [r.id for r in roles if r is not None and r.name not in self.builtin_roles]
        pairs = self._role_permission_pairs(role_ids) if role_ids else frozenset()
        wanted = set(view_menus_name)
        return {v for p, v in pairs if p == permission_name and v in wanted}


    def create_limiter(self, app):
        """Atrium's rate limiter (``app.security.limits``) in place of FAB's bare one."""
        return limits.create_limiter(app)

    def register_views(self):
        """FAB's security views, then the failed-sign-in limit on both login doors."""
        super().register_views()

        limits.throttle_logins(self)

    def auth_user_db(self, username, password):
        """FAB's password check, plus the audit events of SPEC §6: ``login.success`` or
        ``login.failed`` with the username tried (never the password), for the HTML form
        and the REST login alike. A failure counts against the address's sign-in limit."""
        user = super().auth_user_db(username, password)
        if user is None:
            limits.login_failed()
        who = identity.current()
        if user is not None:
            who = replace(who, actor_id=user.id, true_user_id=user.id)
        audit.record(self.session, "login.success" if user else "login.failed", commit=True,
                     resource_type="User", resource_id=getattr(user, "id", None),
                     details={"username": (username or "")[:150]}, who=who)
        return user


_GRANTS_VERSION = "atrium.grants_version"


def _set_grants_version(version) -> None:
    """Remember the grants version read with the user, for this request only (in the
    WSGI environ: an app context, and its ``g``, can outlive one request)."""
    if has_request_context():
        request.environ[_GRANTS_VERSION] = version
    elif has_app_context():
        g._atrium_grants_version = version


def _grants_version():
    if has_request_context():
        return request.environ.get(_GRANTS_VERSION)
    return g.get("_atrium_grants_version") if has_app_context() else None


def _resource_permissions(appbuilder) -> dict[tuple[str, str], str]:
    """Map (permission name, view menu) of every registered view to read/write."""
    mapping = {}
    for view in appbuilder.baseviews:
        resource = getattr(view, "class_permission_name", None)
        for perm in getattr(view, "base_permissions", None) or []:
            action = perm.removeprefix("can_")
            if action in ("read", "write"):
                mapping[(perm, resource)] = action
    return mapping


def _menu_resources(appbuilder) -> dict[str, set[str]]:
    """Menu entry name → resources it shows (categories: all their children's)."""
    result: dict[str, set[str]] = {}
    for category in appbuilder.menu.get_list():
        for item in category.childs or []:
            if item.name == "-" or item.baseview is None:
                continue
            resource = item.baseview.class_permission_name
            result.setdefault(item.name, set()).add(resource)
            result.setdefault(category.name, set()).add(resource)
        if category.baseview is not None:
            result.setdefault(category.name, set()).add(category.baseview.class_permission_name)
    return result


@contextmanager
def _fab_quiet(verbose: bool):
    """FAB logs every permission it creates or keeps (hundreds of lines on a first sync):
    only its errors unless ``verbose``."""
    logger = logging.getLogger("flask_appbuilder")
    level = logger.level
    if not verbose:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def sync_roles(appbuilder, verbose: bool = False) -> dict:
    """Create every permission, then set each role's grants exactly as the table says.
    Returns ``{"roles": {role: grants}, "added": n, "removed": n, "kept": n,
    "permissions": n}`` (grants added, removed and kept over every role)."""
    with _fab_quiet(verbose):
        return _sync_roles(appbuilder)


def _sync_roles(appbuilder) -> dict:
    sm = appbuilder.sm
    session = sm.session
    before = {r.name: {p.id for p in r.permissions} for r in session.query(sm.role_model).all()}
    # FAB grants each new permission to the Admin role as it creates it: on an empty
    # database that role must exist first, or every permission logs an error.
    sm.find_role(ADMIN) or sm.add_role(ADMIN)
    appbuilder.add_permissions(update_perms=True)
    sm.security_cleanup(appbuilder.baseviews, appbuilder.menu)
    resource_perms = _resource_permissions(appbuilder)
    menus = _menu_resources(appbuilder)
    all_pvms = session.query(PermissionView).all()
    counts = {}
    for role_name in [ADMIN, *ROLE_GRANTS]:
        role = sm.find_role(role_name) or sm.add_role(role_name)
        wanted = []
        for pvm in all_pvms:
            if pvm.permission is None or pvm.view_menu is None:
                continue
            key = (pvm.permission.name, pvm.view_menu.name)
            if key in SELF_SERVICE:
                ok = True
            elif key in resource_perms:
                ok = allowed(role_name, key[1], resource_perms[key])
            elif key[0] == "menu_access":
                ok = any(allowed(role_name, res, "read") for res in menus.get(key[1], ()))
            else:  # FAB's own screens (users, roles, ...): Admin's alone
                ok = role_name == ADMIN
            if ok:
                wanted.append(pvm)
        role.permissions = wanted
        counts[role_name] = len(wanted)
    session.commit()
    after = {name: {p.id for p in sm.find_role(name).permissions} for name in counts}
    report = {"roles": counts, "permissions": len(all_pvms),
              "added": sum(len(after[n] - before.get(n, set())) for n in after),
              "removed": sum(len(before.get(n, set()) - after[n]) for n in after),
              "kept": sum(len(after[n] & before.get(n, set())) for n in after)}
    sm.__dict__.pop("_atrium_shared_grants", None)  # grants changed: drop this process's copy
    if has_app_context():
        g.pop("_atrium_permissions", None)  # ... and this request's caches
        g.pop("_atrium_grants", None)
        _set_grants_version(None)
    return report
