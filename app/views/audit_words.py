"""The audit trail in words (issue 21): record types, fields and actions as a person
names them, not as the code does (``OutboxEmail`` → "Outbox e-mail", ``sla_paused_since``
→ "SLA paused since", ``login.success`` → "Signed in"). Used by the audit list, its
filters, and every record page's History. Fields are the columns' labels
(``app.views.labels``), the one table of them. The words are lazy translations, read in
the language of the page showing them; the CSV keeps the stored names."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l

from app.services.identity import SYSTEM_USERNAME
from app.views.labels import column_label

ACTIONS = {
    "create": _l("Created"), "update": _l("Changed"), "delete": _l("Deleted"),
    "bulk_create": _l("Created (in bulk)"), "bulk_update": _l("Changed (in bulk)"),
    "bulk_delete": _l("Deleted (in bulk)"),
    "login.success": _l("Signed in"), "login.failed": _l("Sign-in refused"), "logout": _l("Signed out"),
    "password.change": _l("Password changed"), "user.deactivate": _l("Account deactivated"),
    "export": _l("Exported a list"), "audit.export": _l("Exported the audit log"),
    "audit.checkpoint": _l("Audit checkpoint"),
    "impersonation.start": _l("View-as started"), "impersonation.end": _l("View-as ended"),
    "permission.denied": _l("Refused (no permission)"), "limit_override.set": _l("Plan limit override set"),
    "gdpr.export": _l("Personal data exported"), "gdpr.erase": _l("Personal data erased"),
    "backup.export": _l("Backup written"), "backup.restore": _l("Backup restored"),
    "analytics.recompute": _l("Business figures recomputed"),
    "campaign.metrics_imported": _l("Campaign metrics imported"),
    "job.triggered": _l("Job started by hand"), "job.cancelled": _l("Job cancelled"),
}
RECORD_TYPES = {
    "OutboxEmail": _l("Outbox e-mail"), "User": _l("User account"), "ClientMember": _l("Team member"),
    "StorageFile": _l("File"), "StorageFolder": _l("Folder"), "TicketMacro": _l("Macro"), "JobRun": _l("Job run"),
    "DailyAnalytics": _l("Daily business figures"), "ImpersonationSession": _l("View-as session"),
    "AuditChainHead": _l("Audit chain head"), "AuditEvent": _l("Audit event"), "BillingEvent": _l("Billing event"),
    "Campaign": _l("Campaign"), "CampaignMetric": _l("Campaign metric"), "Client": _l("Client"),
    "Domain": _l("Domain"), "Incident": _l("Incident"), "IncidentUpdate": _l("Incident update"),
    "Infrastructure": _l("Infrastructure"), "Milestone": _l("Milestone"), "Monitor": _l("Monitor"),
    "MonitorCheck": _l("Monitor check"), "NetworkUsage": _l("Network usage"),
    "PerformanceMetric": _l("Performance metric"), "Project": _l("Project"), "Report": _l("Report"),
    "Role": _l("Role"), "StaffAlert": _l("Staff alert"), "Ticket": _l("Ticket"),
    "TicketMessage": _l("Ticket message"), "TicketPresence": _l("Ticket presence"),
    "UserPreference": _l("User preference"), "UserSession": _l("User session"),
}


def action_words(action: str | None):
    if not action:
        return "—"
    return ACTIONS.get(action) or (action.replace(".", ": ").replace("_", " ").capitalize())


def record_type_words(name: str | None):
    if not name:
        return "—"
    return RECORD_TYPES.get(name) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).capitalize()


def field_words(name: str):
    """A changed field of the History, by its column's label."""
    return column_label(name)


def person_words(user):
    """Who did it, as a person reads it: their name; the system's own work (jobs, the
    CLI, the seed) as "Automatic", which names no agency (white-label portals show it)."""
    if user is None:
        return "—"
    if user.username == SYSTEM_USERNAME:
        return _l("Automatic")
    return user.get_full_name().strip() or user.username
