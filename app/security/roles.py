"""The role → permission table of SPEC §1, in ONE place.

Every staff view and REST API declares ``class_permission_name`` = a resource below and
maps its methods to ``read`` or ``write`` (see ``app.views.base``), so one grant covers
the HTML view and the API alike. ``flask roles sync`` applies this table exactly
(idempotent): it creates missing permissions, grants what is listed, revokes the rest,
and grants ``menu_access`` to the menu entries of readable resources.
"""

from __future__ import annotations

READ = frozenset({"read"})
WRITE = frozenset({"read", "write"})

# Resources (class_permission_name values) of the staff console and API.
RESOURCES = (
    "Dashboard", "Client", "ClientBilling", "ClientMember", "Project", "Milestone",
    "Infrastructure", "NetworkUsage", "PerformanceMetric", "Domain", "StorageFolder",
    "StorageFile", "Ticket", "TicketMessage", "Monitor", "MonitorCheck", "Incident",
    "IncidentUpdate", "Campaign", "CampaignMetric", "Report", "BillingEvent",
)

# FAB's own self-service screens every signed-in user may use (own profile/password).
SELF_SERVICE = {
    ("can_this_form_get", "ResetMyPasswordView"),
    ("can_this_form_post", "ResetMyPasswordView"),
    ("can_this_form_get", "UserInfoEditView"),
    ("can_this_form_post", "UserInfoEditView"),
    ("can_userinfo", "UserDBModelView"),
    ("resetmypassword", "UserDBModelView"),
    ("userinfoedit", "UserDBModelView"),
}

ADMIN = "Admin"
OPERATOR = "Operator"
DEVELOPER = "Developer"
CLIENT = "Client"
STAFF_ROLES = (ADMIN, OPERATOR, DEVELOPER)

# Admin gets every permission that exists (users, roles, billing, audit export, ...).
ROLE_GRANTS: dict[str, dict[str, frozenset]] = {
    OPERATOR: {
        "Dashboard": READ,
        "Client": WRITE, "ClientMember": WRITE, "Project": WRITE, "Milestone": WRITE,
        "Domain": WRITE, "Ticket": WRITE, "TicketMessage": WRITE, "Campaign": WRITE,
        "CampaignMetric": WRITE, "Incident": WRITE, "IncidentUpdate": WRITE, "Report": WRITE,
        "StorageFolder": WRITE, "StorageFile": WRITE,
        "Infrastructure": READ, "NetworkUsage": READ, "PerformanceMetric": READ,
        "Monitor": READ, "MonitorCheck": READ,
    },
    DEVELOPER: {
        "Dashboard": READ,
        "Project": WRITE, "Milestone": WRITE, "Domain": WRITE, "Infrastructure": WRITE,
        "NetworkUsage": WRITE, "PerformanceMetric": WRITE, "Monitor": WRITE,
        "MonitorCheck": READ, "Incident": WRITE, "IncidentUpdate": WRITE,
        "Ticket": WRITE, "TicketMessage": WRITE,
        "Client": READ, "ClientMember": READ, "Campaign": READ, "CampaignMetric": READ,
        "Report": READ, "StorageFolder": READ, "StorageFile": READ,
    },
    # Client users reach no staff view; their portal has its own permissions.
    CLIENT: {},
}


def allowed(role: str, resource: str, action: str) -> bool:
    """May ``role`` do ``action`` ("read"/"write") on ``resource``?"""
    if role == ADMIN:
        return True
    return action in ROLE_GRANTS.get(role, {}).get(resource, frozenset())
