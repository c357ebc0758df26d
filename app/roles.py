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
    "AuditEvent", "ImpersonationSession", "Impersonation", "Jobs",
    "Analytics",  # the business dashboard (MRR is billing: not Developer)
    "SupportQueue",  # the support queues, one's own alerts and settings (every staff member)
    "TicketMacro",  # canned replies: Admin manages them, staff apply them
)

# Resources of the client portal (``app.views.portal``). Only the ``Client`` role holds
# them: staff see the portal through "view as", never with their own staff scope.
PORTAL_RESOURCES = (
    "PortalDashboard", "PortalProject", "PortalDomain", "PortalInfrastructure", "PortalTicket",
    "PortalFile", "PortalCampaign", "PortalIncident", "PortalReport", "PortalTeam", "PortalActivity",
)

# REST APIs carry their own resource, ``<Resource>Api``: staff hold it exactly as they
# hold the staff view's resource; client users hold what ``CLIENT_API`` says (their rows
# only, by the same tenancy as the portal).
API_SUFFIX = "Api"


def api_resource(resource: str) -> str:
    return resource + API_SUFFIX


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
        # Audit: read the log and view-as sessions; "view as" client users (read-only mode).
        "AuditEvent": READ, "ImpersonationSession": READ, "Impersonation": WRITE,
        "Jobs": READ,  # the jobs console: read; "Sync now" on campaigns needs Campaign write
        "Analytics": READ,  # the business dashboard; "Recompute" is Admin's (write)
        "SupportQueue": READ, "TicketMacro": READ,
    },
    DEVELOPER: {
        "Dashboard": READ,
        "Project": WRITE, "Milestone": WRITE, "Domain": WRITE, "Infrastructure": WRITE,
        "NetworkUsage": WRITE, "PerformanceMetric": WRITE, "Monitor": WRITE,
        "MonitorCheck": READ, "Incident": WRITE, "IncidentUpdate": WRITE,
        "Ticket": WRITE, "TicketMessage": WRITE,
        "Client": READ, "ClientMember": READ, "Campaign": READ, "CampaignMetric": READ,
        "Report": READ, "StorageFolder": READ, "StorageFile": READ,
        "AuditEvent": READ, "ImpersonationSession": READ,  # no "view as" (SPEC §5)
        "Jobs": WRITE,  # engineers operate the queues: requeue, cancel, run a schedule now
        "SupportQueue": READ, "TicketMacro": READ,
    },
    # Client users reach no staff view: only the portal, and the API below. What their
    # membership role (owner/admin/member/viewer) lets them change is decided per write
    # by ``app.tenancy.check_write`` (and, for projects and domains, which fields:
    # the contact data only, ``tenancy.CLIENT_EDITABLE_FIELDS``).
    CLIENT: {
        **{resource: READ for resource in PORTAL_RESOURCES},
        "PortalTicket": WRITE, "PortalFile": WRITE, "PortalTeam": WRITE,
        "PortalProject": WRITE, "PortalDomain": WRITE,
    },
}

CLIENT_API = {"Project": READ, "Domain": READ, "Ticket": WRITE, "Campaign": READ, "Incident": READ,
              "Monitor": READ}


def allowed(role: str, resource: str, action: str) -> bool:
    """May ``role`` do ``action`` ("read"/"write") on ``resource``?"""
    if resource.endswith(API_SUFFIX) and resource.removesuffix(API_SUFFIX) in RESOURCES:
        base = resource.removesuffix(API_SUFFIX)
        if role == CLIENT:
            return action in CLIENT_API.get(base, frozenset())
        return allowed(role, base, action)
    if role == ADMIN:
        return resource not in PORTAL_RESOURCES
    return action in ROLE_GRANTS.get(role, {}).get(resource, frozenset())
