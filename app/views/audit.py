"""Audit screens (SPEC §6): the audit log, impersonation sessions, the client's activity.

Read-only by construction: these views expose no add, edit or delete route at all (the
methods are replaced by plain ones without a URL), so nobody can change an event from
the UI; the database refuses it as well on PostgreSQL. The CSV export of the log and of
the view-as sessions (Admin) is the base view's (``AtriumModelView.export``): the list's
filters and ordering, itself an audit event. Clients read their own organisation's
activity through the same tenant scoping as everything else (staff-only events and the
per-field changes never reach them).
"""

from __future__ import annotations

from flask import current_app
from flask_appbuilder.fieldwidgets import Select2Widget
from flask_babel import lazy_gettext as _l
from wtforms import SelectField

from app import models as m
from app.extensions import db
from app.services import audit, exports
from app import tenancy
from app.views.audit_words import (ACTIONS, RECORD_TYPES, action_words, field_words, person_words,
                                   record_type_words)
from app.views.base import METHOD_PERMISSIONS, AtriumModelView
from app.views.forms import display_only
from app.views.interface import AtriumInterface
from app.views.portal.base import PortalModelView

_NO_ROUTE = ("add", "edit", "delete", "action", "action_post")


def _not_routed(self, *args, **kwargs):  # pragma: no cover - never reachable by URL
    raise RuntimeError("audit records cannot be changed")


class _NoWriteRoutes:
    """Mixin: list/show only; the write methods are replaced by plain ones without a URL."""

    base_permissions = ["can_read"]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        for name in _NO_ROUTE:  # a method without @expose has no URL
            setattr(cls, name, _not_routed)


class ReadOnlyModelView(_NoWriteRoutes, AtriumModelView):
    """A staff list/show view with no write route."""

    add_columns = edit_columns = []


class ReadOnlyPortalView(_NoWriteRoutes, PortalModelView):
    """A portal list/show view with no write route."""


EVENT_LABELS = {"impersonation_session_id": _l("View-as session id"), "occurred_at": _l("When"),
                "resource_type": _l("Record type"), "resource_id": _l("Record id"), "true_user": _l("True user"),
                "impersonation_session": _l("View-as session"), "seq": "#", "redacted": _l("Redacted (GDPR erase)")}


# ----------------------------------------------------------------------- filters
# The log keeps ids, not foreign keys, but its ``actor``, ``true_user`` and ``client``
# relations (view-only) are what its filters name: a client is chosen by name from FAB's
# drop-down (clients are a lookup list, ``widgets.DROPDOWN_LOOKUPS``); a person by typing
# their name, username or id (users grow: no drop-down of them, ``widgets.id_search_fields``;
# ``interface.FilterRelationIdEqual`` matches the name). Actions and record types
# are chosen by their words; the filter compares the stored name.


def _words_filter(label, words: dict) -> SelectField:
    """A search form's choice of a stored name (an action, a record type) by its words."""
    return SelectField(label, choices=sorted(words.items(), key=lambda item: str(item[1])),
                       widget=Select2Widget())


def event_word_filters() -> dict:
    return {"action": _words_filter(_l("Action"), ACTIONS),
            "resource_type": _words_filter(EVENT_LABELS["resource_type"], RECORD_TYPES)}


class AuditEventView(ReadOnlyModelView):
    datamodel = AtriumInterface(m.AuditEvent)
    class_permission_name = "AuditEvent"
    method_permission_name = {**METHOD_PERMISSIONS, "export": "export"}
    base_permissions = ["can_read", "can_export"]
    list_title = _l("Audit log")
    show_title = _l("Audit event")
    list_columns = ["seq", "occurred_at", "action", "resource_type", "resource_id", "client", "actor",
                    "true_user", "channel"]
    show_columns = ["seq", "occurred_at", "action", "resource_type", "resource_id", "client", "actor",
                    "true_user", "impersonation_session", "channel", "ip", "user_agent", "request_id", "changes",
                    "details", "staff_only", "redacted", "prev_hash", "hash"]
    # Clients are chosen by name, actions and record types by their words (``event_word_filters``).
    search_columns = ["actor", "true_user", "client", "resource_type", "resource_id", "action",
                      "occurred_at", "channel", "impersonation_session_id", "redacted"]
    search_form_extra_fields = event_word_filters()
    base_order = ("seq", "desc")
    label_columns = EVENT_LABELS
    # "Export CSV" (the base view's export, Admin's ``can_export``): the list's filters and
    # ordering, with who/where, the changes and the hash; an ``audit.export`` event.
    export_columns = exports.CSV_COLUMNS
    export_header_labels = False
    export_action = "audit.export"
    # In words on the screen; the CSV keeps the stored names (``display_only``).
    formatters_columns = {"action": display_only(action_words), "resource_type": display_only(record_type_words),
                          "actor": display_only(person_words), "true_user": display_only(person_words)}


class ImpersonationEventView(AuditEventView):
    """The events written during one impersonation session (its related list)."""

    list_title = _l("Events in this session")
    base_permissions = ["can_read"]


class ImpersonationSessionView(ReadOnlyModelView):
    datamodel = AtriumInterface(m.ImpersonationSession)
    class_permission_name = "ImpersonationSession"
    method_permission_name = {**METHOD_PERMISSIONS, "export": "export"}  # audit export: Admin (SPEC §1)
    base_permissions = ["can_read", "can_export"]
    list_title = _l("View-as sessions")
    list_columns = ["started_at", "staff_user", "target_user", "client", "mode", "reason", "ended_at",
                    "end_reason"]
    show_columns = ["staff_user", "target_user", "client", "mode", "reason", "started_at", "expires_at",
                    "ended_at", "end_reason", "ip"]
    search_columns = ["staff_user", "target_user", "client", "mode", "started_at", "end_reason"]
    related_views = [ImpersonationEventView]
    base_order = ("started_at", "desc")
    label_columns = {"staff_user": _l("Staff"), "target_user": _l("Viewed as"), "end_reason": _l("How it ended")}


# --------------------------------------------------------------------------- portal


class PortalActivityView(ReadOnlyPortalView):
    """What happened in the client's organisation, including staff changes and view-as
    sessions on its users. Scoped to the client; staff-only events are not loaded."""

    datamodel = AtriumInterface(m.AuditEvent)
    class_permission_name = "PortalActivity"
    route_base = "/portal/activity"
    list_title = _l("Activity")
    list_columns = ["occurred_at", "action", "resource_type", "resource_id", "actor", "true_user"]
    show_columns = list_columns
    search_columns = ["action", "resource_type", "occurred_at"]
    search_form_extra_fields = event_word_filters()
    base_order = ("seq", "desc")
    label_columns = {**EVENT_LABELS, "actor": _l("By"), "true_user": _l("On behalf of (agency)")}
    formatters_columns = AuditEventView.formatters_columns


class PortalViewAsSessionView(ReadOnlyPortalView):
    datamodel = AtriumInterface(m.ImpersonationSession)
    class_permission_name = "PortalActivity"
    route_base = "/portal/view-as-sessions"
    list_title = _l("Agency view-as sessions")
    list_columns = ["started_at", "staff_user", "target_user", "mode", "reason", "ended_at", "end_reason"]
    show_columns = list_columns
    search_columns = ["mode", "started_at", "end_reason"]
    base_order = ("started_at", "desc")
    label_columns = {"staff_user": _l("Agency staff"), "target_user": _l("Viewed as"), "end_reason": _l("How it ended")}


def history_for(resource_type: str, pk) -> dict:
    """The History list of a record's page (a template global)."""
    events = audit.history(db.session, resource_type, pk)
    return {"events": events, "show_changes": tenancy.current_scope().is_staff}


def register(appbuilder) -> None:
    # Menu names (and categories) are permissions, in English; labels are the words people read.
    audit_menu = _l("Audit")
    appbuilder.add_view(AuditEventView, "Audit log", label=_l("Audit log"), icon="fa-shield", category="Audit",
                        category_label=audit_menu, category_icon="fa-shield")
    appbuilder.add_view(ImpersonationSessionView, "View-as sessions", label=_l("View-as sessions"),
                        icon="fa-user-secret", category="Audit", category_label=audit_menu)
    appbuilder.add_view_no_menu(ImpersonationEventView)
    appbuilder.add_view(PortalActivityView, "Activity", label=_l("Activity"), icon="fa-history",
                        category="Portal people", category_label=_l("Team"), category_icon="fa-users")
    appbuilder.add_view_no_menu(PortalViewAsSessionView)
    current_app.jinja_env.globals["audit_history"] = history_for
    current_app.jinja_env.filters.update(action_words=action_words, field_words=field_words,
                                         record_type_words=record_type_words, person_words=person_words)
