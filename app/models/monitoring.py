"""Uptime and incidents: ``Monitor``, ``MonitorCheck``, ``Incident``, ``IncidentUpdate``.

Downtime minutes are derived by ``app.services.incidents``; the check loop belongs to
the workers.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import relationship

from .base import TimestampMixin, UTCDateTime, client_fk, enum_column, money_column, user_fk


class MonitorState(enum.StrEnum):
    UP = "up"
    DOWN = "down"
    UNKNOWN = "unknown"


class HttpMethod(enum.StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"


class Severity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class IncidentStatus(enum.StrEnum):
    INVESTIGATING = "investigating"
    IDENTIFIED = "identified"
    MONITORING = "monitoring"
    RESOLVED = "resolved"


class IncidentSource(enum.StrEnum):
    MANUAL = "manual"
    MONITOR = "monitor"


class Monitor(TimestampMixin, Model):
    __tablename__ = "monitors"
    __tenant_parent__ = "project"
    __table_args__ = (
        sa.CheckConstraint("expected_status BETWEEN 100 AND 599", name="expected_status_range"),
        sa.CheckConstraint("timeout_seconds > 0 AND timeout_seconds <= 120", name="timeout_range"),
        sa.CheckConstraint("interval_seconds IS NULL OR interval_seconds >= 30", name="interval_min"),
        sa.Index("ix_monitors_enabled_state", "enabled", "state"),
    )

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    url = sa.Column(sa.String(2000), nullable=False)
    method = enum_column(HttpMethod, name="method", default=HttpMethod.GET)
    expected_status = sa.Column(sa.Integer, nullable=False, default=200)
    keyword = sa.Column(sa.String(200), nullable=True)
    timeout_seconds = sa.Column(sa.Integer, nullable=False, default=10)
    interval_seconds = sa.Column(sa.Integer, nullable=True)  # None: the tier's interval
    enabled = sa.Column(sa.Boolean, nullable=False, default=True)
    consecutive_failures = sa.Column(sa.Integer, nullable=False, default=0)
    consecutive_successes = sa.Column(sa.Integer, nullable=False, default=0)
    state = enum_column(MonitorState, name="state", default=MonitorState.UNKNOWN)
    last_checked_at = sa.Column(UTCDateTime(), nullable=True)

    project = relationship("Project")

    def __str__(self) -> str:
        return self.url


class MonitorCheck(TimestampMixin, Model):
    __tablename__ = "monitor_checks"
    __tenant_parent__ = "monitor"
    __table_args__ = (sa.Index("ix_monitor_checks_monitor_checked", "monitor_id", "checked_at"),
                      sa.Index("ix_monitor_checks_checked_at", "checked_at"))

    client_id = client_fk()
    monitor_id = sa.Column(sa.Integer, sa.ForeignKey("monitors.id", ondelete="CASCADE"), nullable=False)
    checked_at = sa.Column(UTCDateTime(), nullable=False)
    ok = sa.Column(sa.Boolean, nullable=False)
    status_code = sa.Column(sa.Integer, nullable=True)
    latency_ms = sa.Column(sa.Integer, nullable=True)
    error = sa.Column(sa.Text, nullable=True)

    monitor = relationship("Monitor")

    def __str__(self) -> str:
        return f"{self.monitor} {self.checked_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'fail'}"


class Incident(TimestampMixin, Model):
    __tablename__ = "incidents"
    __tenant_parent__ = "project"
    __table_args__ = (
        sa.Index("ix_incidents_status_started", "status", "started_at"),
        sa.Index("ix_incidents_project_started", "project_id", "started_at"),
        sa.CheckConstraint("resolved_at IS NULL OR resolved_at >= started_at", name="resolved_after_start"),
        sa.CheckConstraint("affected_users IS NULL OR affected_users >= 0", name="affected_users_not_negative"),
        sa.CheckConstraint("revenue_impact IS NULL OR revenue_impact >= 0", name="revenue_impact_not_negative"),
    )

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    monitor_id = sa.Column(sa.Integer, sa.ForeignKey("monitors.id", ondelete="SET NULL"), nullable=True)
    title = sa.Column(sa.String(200), nullable=False)
    description = sa.Column(sa.Text, nullable=True)
    severity = enum_column(Severity, name="severity", default=Severity.MEDIUM)
    status = enum_column(IncidentStatus, name="status", default=IncidentStatus.INVESTIGATING)
    started_at = sa.Column(UTCDateTime(), nullable=False)
    resolved_at = sa.Column(UTCDateTime(), nullable=True)
    downtime_minutes = sa.Column(sa.Integer, nullable=True)  # derived: services.incidents
    affected_users = sa.Column(sa.Integer, nullable=True)
    revenue_impact = money_column()
    root_cause = sa.Column(sa.Text, nullable=True)
    resolution_notes = sa.Column(sa.Text, nullable=True)
    source = enum_column(IncidentSource, name="source", default=IncidentSource.MANUAL)

    client = relationship("Client")
    project = relationship("Project")
    monitor = relationship("Monitor")
    updates = relationship("IncidentUpdate", back_populates="incident", cascade="all, delete-orphan",
                           order_by="IncidentUpdate.at")

    def __str__(self) -> str:
        return self.title


class IncidentUpdate(TimestampMixin, Model):
    __tablename__ = "incident_updates"
    __tenant_parent__ = "incident"

    client_id = client_fk()
    incident_id = sa.Column(sa.Integer, sa.ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False, index=True)
    status = enum_column(IncidentStatus, name="status")
    message = sa.Column(sa.Text, nullable=False)
    author_id = user_fk()
    at = sa.Column(UTCDateTime(), nullable=False)

    incident = relationship("Incident", back_populates="updates")
    author = relationship("User")

    def __str__(self) -> str:
        return f"{self.status}: {(self.message or '')[:40]}"
