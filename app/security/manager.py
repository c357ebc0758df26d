"""Atrium's Flask-AppBuilder security manager and ``sync_roles`` (``flask roles sync``).

Permissions are never created at web start-up (``FAB_UPDATE_PERMS = False``): the table
in ``app.security.roles`` is applied here, idempotently.
"""

from __future__ import annotations

from flask_appbuilder.security.sqla.manager import SecurityManager
from flask_appbuilder.security.sqla.models import PermissionView

from .roles import ADMIN, ROLE_GRANTS, SELF_SERVICE, allowed


class AtriumSecurityManager(SecurityManager):
    """FAB's SQLA security manager; Atrium hooks (audit, impersonation) attach here."""


def _resource_permissions(appbuilder) -> dict[str, str]:
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


def sync_roles(appbuilder) -> dict[str, int]:
    """Create every permission, then set each role's grants exactly as the table says."""
    sm = appbuilder.sm
    session = sm.session
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
            if role_name == ADMIN:
                ok = True
            elif key in SELF_SERVICE:
                ok = True
            elif key in resource_perms:
                ok = allowed(role_name, key[1], resource_perms[key])
            elif key[0] == "menu_access":
                ok = any(allowed(role_name, res, "read") for res in menus.get(key[1], ()))
            else:
                ok = False
            if ok:
                wanted.append(pvm)
        role.permissions = wanted
        counts[role_name] = len(wanted)
    session.commit()
    return counts
