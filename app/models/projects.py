"""Delivery work for a client: ``Project`` with its ``Milestone``s, its one
``Infrastructure`` record, daily ``NetworkUsage`` and ``PerformanceMetric`` samples.

Child rows carry ``client_id`` themselves (copied from their project by
``app.tenancy``) so the tenancy filter and PostgreSQL row-level security need
no join. The performance grade is derived by ``app.services.performance``.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from flask_babel import gettext as _
from sqlalchemy.orm import relationship

from .base import ContactMixin, JSONType, TimestampMixin, UTCDateTime, client_fk, enum_column, money_column, user_fk


class ProjectStatus(enum.StrEnum):
    DISCOVERY = "discovery"
    DEVELOPMENT = "development"
    TESTING = "testing"
    STAGING = "staging"
    LIVE = "live"
    MAINTENANCE = "maintenance"


class HostingStatus(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    MAINTENANCE = "maintenance"


class BackupStatus(enum.StrEnum):
    OK = "ok"
    PENDING = "pending"
    FAILED = "failed"


class Grade(enum.StrEnum):
    A_PLUS = "A+"
    A = "A"
    B = "B"
    C = "C"
    D = "D"
    F = "F"


project_team = sa.Table(
    "project_team",
    Model.metadata,
    sa.Column("project_id", sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True),
)


class Project(TimestampMixin, ContactMixin, Model):
    __tablename__ = "projects"
    __table_args__ = (
        sa.UniqueConstraint("client_id", "name"),
        sa.CheckConstraint("completion_percent BETWEEN 0 AND 100", name="completion_percent_range"),
        sa.CheckConstraint("budget_total >= 0 AND budget_used >= 0", name="budget_not_negative"),
        sa.Index("ix_projects_status_updated", "status", "updated_at"),
    )

    client_id = client_fk()
    name = sa.Column(sa.String(200), nullable=False)
    description = sa.Column(sa.Text, nullable=True)
    status = enum_column(ProjectStatus, name="status", default=ProjectStatus.DISCOVERY)
    completion_percent = sa.Column(sa.Integer, nullable=False, default=0)
    start_date = sa.Column(sa.Date, nullable=True)
    estimated_delivery = sa.Column(sa.Date, nullable=True)
    actual_delivery = sa.Column(sa.Date, nullable=True)
    budget_total = money_column(nullable=False, default=0)
    budget_used = money_column(nullable=False, default=0)
    manager_id = user_fk()
    site_url = sa.Column(sa.String(500), nullable=True)
    internal_notes = sa.Column(sa.Text, nullable=True)

    client = relationship("Client")
    manager = relationship("User", foreign_keys=[manager_id])
    team = relationship("User", secondary=project_team)
    milestones = relationship("Milestone", back_populates="project", cascade="all, delete-orphan",
                              order_by="Milestone.due_date")
    infrastructure = relationship("Infrastructure", back_populates="project", uselist=False,
                                  cascade="all, delete-orphan")

    def __str__(self) -> str:
        return self.name


class Milestone(TimestampMixin, Model):
    __tablename__ = "milestones"
    __tenant_parent__ = "project"

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, index=True)
    title = sa.Column(sa.String(200), nullable=False)
    due_date = sa.Column(sa.Date, nullable=True)
    completed_at = sa.Column(UTCDateTime(), nullable=True)
    deliverable = sa.Column(sa.Text, nullable=True)

    project = relationship("Project", back_populates="milestones")

    def __str__(self) -> str:
        return self.title


class Infrastructure(TimestampMixin, Model):
    __tablename__ = "infrastructure"
    __tenant_parent__ = "project"
    __table_args__ = (
        sa.CheckConstraint("cdn_cache_hit_rate IS NULL OR cdn_cache_hit_rate BETWEEN 0 AND 100",
                           name="cache_hit_rate_range"),
        sa.CheckConstraint("hosting_monthly_cost IS NULL OR hosting_monthly_cost >= 0", name="cost_not_negative"),
    )

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False, unique=True)
    hosting_provider = sa.Column(sa.String(100), nullable=True)
    hosting_plan = sa.Column(sa.String(100), nullable=True)
    hosting_status = enum_column(HostingStatus, name="hosting_status", default=HostingStatus.ONLINE)
    hosting_monthly_cost = money_column()
    cdn_provider = sa.Column(sa.String(100), nullable=True)
    cdn_bandwidth_gb = sa.Column(sa.Numeric(12, 2), nullable=True)
    cdn_cache_hit_rate = sa.Column(sa.Numeric(5, 2), nullable=True)
    db_provider = sa.Column(sa.String(100), nullable=True)
    db_size_mb = sa.Column(sa.Integer, nullable=True)
    db_backup_status = enum_column(BackupStatus, name="db_backup_status", default=BackupStatus.PENDING)
    db_last_backup_at = sa.Column(UTCDateTime(), nullable=True)

    project = relationship("Project", back_populates="infrastructure")

    def __str__(self) -> str:
        provider = self.hosting_provider or _("hosting")
        return f"{provider} / {self.hosting_plan or '-'}"


class NetworkUsage(TimestampMixin, Model):
    __tablename__ = "network_usage"
    __tenant_parent__ = "project"
    __table_args__ = (
        sa.UniqueConstraint("project_id", "date"),
        sa.CheckConstraint("requests_total >= 0 AND requests_2xx >= 0 AND requests_4xx >= 0 "
                           "AND requests_5xx >= 0 AND bandwidth_gb >= 0", name="counts_not_negative"),
    )

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    date = sa.Column(sa.Date, nullable=False)
    bandwidth_gb = sa.Column(sa.Numeric(12, 3), nullable=False, default=0)
    requests_total = sa.Column(sa.BigInteger, nullable=False, default=0)
    requests_2xx = sa.Column(sa.BigInteger, nullable=False, default=0)
    requests_4xx = sa.Column(sa.BigInteger, nullable=False, default=0)
    requests_5xx = sa.Column(sa.BigInteger, nullable=False, default=0)
    geo_distribution = sa.Column(JSONType, nullable=True)  # [{country, requests, bandwidth_gb}]
    peak_at = sa.Column(UTCDateTime(), nullable=True)
    peak_rps = sa.Column(sa.Integer, nullable=True)

    project = relationship("Project")

    def __str__(self) -> str:
        return f"{self.project} {self.date}"


class PerformanceMetric(TimestampMixin, Model):
    __tablename__ = "performance_metrics"
    __tenant_parent__ = "project"
    __table_args__ = (
        sa.CheckConstraint(
            "lighthouse_performance BETWEEN 0 AND 100 AND lighthouse_accessibility BETWEEN 0 AND 100 "
            "AND lighthouse_best_practices BETWEEN 0 AND 100 AND lighthouse_seo BETWEEN 0 AND 100",
            name="lighthouse_range",
        ),
        sa.Index("ix_performance_metrics_project_measured", "project_id", "measured_at"),
    )

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="CASCADE"), nullable=False)
    domain_id = sa.Column(sa.Integer, sa.ForeignKey("domains.id", ondelete="SET NULL"), nullable=True)
    measured_at = sa.Column(UTCDateTime(), nullable=False)
    lcp_s = sa.Column(sa.Numeric(6, 2), nullable=True)
    inp_ms = sa.Column(sa.Integer, nullable=True)
    fid_ms = sa.Column(sa.Integer, nullable=True)  # kept for history; INP replaced it
    cls = sa.Column(sa.Numeric(6, 3), nullable=True)
    lighthouse_performance = sa.Column(sa.Integer, nullable=False)
    lighthouse_accessibility = sa.Column(sa.Integer, nullable=False)
    lighthouse_best_practices = sa.Column(sa.Integer, nullable=False)
    lighthouse_seo = sa.Column(sa.Integer, nullable=False)
    grade = enum_column(Grade, name="grade", nullable=False)  # derived: services.performance

    project = relationship("Project")
    domain = relationship("Domain")

    def __str__(self) -> str:
        return f"{self.project} {self.measured_at:%Y-%m-%d} {self.grade}"
