"""Every Atrium model, importable from one place (``from app.models import Ticket``).

One module per area; FAB's security models (``User``, ``Role``) come from
Flask-AppBuilder and share the same metadata.
"""

from flask_appbuilder.security.sqla.models import Role, User  # noqa: F401

from .audit import AuditChainHead, AuditEvent, ImpersonationEnd, ImpersonationMode, ImpersonationSession  # noqa: F401
from .campaigns import AdPlatform, Campaign, CampaignMetric, CampaignStatus  # noqa: F401
from .clients import Client, ClientMember, ClientStatus, MemberRole, SubscriptionStatus, Tier  # noqa: F401
from .domains import Domain, DomainStatus, SSLStatus  # noqa: F401
from .monitoring import (  # noqa: F401
    HttpMethod, Incident, IncidentSource, IncidentStatus, IncidentUpdate, Monitor, MonitorCheck,
    MonitorState, Severity,
)
from .ops import (  # noqa: F401
    BillingEvent, DailyAnalytics, EmailStatus, JobRun, JobStatus, OutboxEmail, Report, ReportStatus,
)
from .preferences import UserPreference  # noqa: F401
from .projects import (  # noqa: F401
    BackupStatus, Grade, HostingStatus, Infrastructure, Milestone, NetworkUsage, PerformanceMetric,
    Project, ProjectStatus, project_team,
)
from .sessions import SessionEnd, SessionKind, UserSession  # noqa: F401
from .storage import StorageFile, StorageFolder  # noqa: F401
from .tickets import (  # noqa: F401
    LABELS, Satisfaction, SLAState, StaffAlert, Ticket, TicketMacro, TicketMessage, TicketPresence, TicketPriority,
    TicketStatus, value_labels,
)

TENANT_MODELS = (
    ClientMember, Project, Milestone, Infrastructure, NetworkUsage, PerformanceMetric, Domain,
    StorageFolder, StorageFile, Ticket, TicketMessage, Monitor, MonitorCheck, Incident,
    IncidentUpdate, Campaign, CampaignMetric, Report,
)
