"""The audit trail in words (issue 21): record types, fields and actions as a person
names them, not as the code does (``OutboxEmail`` → "Outbox e-mail", ``sla_paused_since``
→ "SLA paused since", ``login.success`` → "Signed in"). Used by the audit list, its
filters' display, and every record page's History."""

from __future__ import annotations

import re

ACTIONS = {
    "create": "Created", "update": "Changed", "delete": "Deleted",
    "bulk_create": "Created (in bulk)", "bulk_update": "Changed (in bulk)", "bulk_delete": "Deleted (in bulk)",
    "login.success": "Signed in", "login.failed": "Sign-in refused", "logout": "Signed out",
    "password.change": "Password changed", "user.deactivate": "Account deactivated",
    "export": "Exported a list", "audit.export": "Exported the audit log", "audit.checkpoint": "Audit checkpoint",
    "impersonation.start": "View-as started", "impersonation.end": "View-as ended",
    "permission.denied": "Refused (no permission)", "limit_override.set": "Plan limit override set",
    "gdpr.export": "Personal data exported", "gdpr.erase": "Personal data erased",
    "backup.export": "Backup written", "backup.restore": "Backup restored",
    "analytics.recompute": "Business figures recomputed", "campaign.metrics_imported": "Campaign metrics imported",
    "job.triggered": "Job started by hand", "job.cancelled": "Job cancelled",
}
RECORD_TYPES = {"OutboxEmail": "Outbox e-mail", "User": "User account", "ClientMember": "Team member",
                "StorageFile": "File", "StorageFolder": "Folder", "TicketMacro": "Macro", "JobRun": "Job run",
                "DailyAnalytics": "Daily business figures", "ImpersonationSession": "View-as session"}
ACRONYMS = {"sla": "SLA", "ssl": "SSL", "url": "URL", "ip": "IP", "cdn": "CDN", "ctr": "CTR", "roas": "ROAS",
            "cpc": "CPC", "cpa": "CPA", "dns": "DNS", "api": "API", "id": "id", "lcp": "LCP", "inp": "INP",
            "cls": "CLS", "seo": "SEO", "mrr": "MRR"}
FIELDS = {"client_id": "Client", "project_id": "Project", "assignee_id": "Assignee", "opened_by_id": "Opened by",
          "author_id": "Author", "ticket_id": "Ticket", "user_id": "User", "campaign_id": "Campaign",
          "monitor_id": "Monitor", "incident_id": "Incident", "folder_id": "Folder", "follows_id": "Follows ticket",
          "uploaded_by_id": "Uploaded by", "first_response_due_at": "First response due",
          "first_response_at": "First response", "set_status": "Sets status", "set_priority": "Sets priority"}


def action_words(action: str | None) -> str:
    if not action:
        return "—"
    return ACTIONS.get(action) or (action.replace(".", ": ").replace("_", " ").capitalize())


def record_type_words(name: str | None) -> str:
    if not name:
        return "—"
    return RECORD_TYPES.get(name) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name).capitalize()


def field_words(name: str) -> str:
    if name in FIELDS:
        return FIELDS[name]
    words = [ACRONYMS.get(w, w) for w in name.split("_")]
    text = " ".join(words)
    return text[0].upper() + text[1:] if text else text
