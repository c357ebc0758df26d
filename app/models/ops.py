"""Operations records: ``Report`` (monthly PDFs), ``BillingEvent`` (Stripe webhooks),
``JobRun`` (durable history of background work) and ``DailyAnalytics`` (the agency's
business figures per day). Producing them is the workers' and services' job.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import relationship

from .base import JSONType, TimestampMixin, UTCDateTime, client_fk, enum_column, money_column, user_fk


class ReportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class JobStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class EmailStatus(enum.StrEnum):
    QUEUED = "queued"
    SENT = "sent"
    FAILED = "failed"


class OutboxEmail(TimestampMixin, Model):
    """An email to send (SPEC §7 notifications): written in the same transaction as the
    change it reports, sent over SMTP by a worker (``workers.maintenance``). ``dedupe_key``
    makes a notification idempotent ("sla:ticket:12:breached" is written once)."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        sa.Index("ix_email_outbox_status_created", "status", "created_at"),
        # No RETURNING on insert: a client user's transaction may queue, never read back.
        {"implicit_returning": False},
    )

    dedupe_key = sa.Column(sa.String(200), nullable=True, unique=True)
    kind = sa.Column(sa.String(50), nullable=False)  # ticket_reply, sla_at_risk, incident_opened ...
    to_address = sa.Column(sa.String(254), nullable=False)
    subject = sa.Column(sa.String(300), nullable=False)
    body = sa.Column(sa.Text, nullable=False)
    client_id = sa.Column(sa.Integer, sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True, index=True)
    status = enum_column(EmailStatus, name="status", default=EmailStatus.QUEUED)
    attempts = sa.Column(sa.Integer, nullable=False, default=0, server_default="0")
    sent_at = sa.Column(UTCDateTime(), nullable=True)
    last_error = sa.Column(sa.Text, nullable=True)

    def __str__(self) -> str:
        return f"{self.kind} to {self.to_address}"


class Report(TimestampMixin, Model):
    __tablename__ = "reports"
    __table_args__ = (sa.UniqueConstraint("client_id", "period"),)

    client_id = client_fk()
    period = sa.Column(sa.Date, nullable=False)  # first day of the reported month
    status = enum_column(ReportStatus, name="status", default=ReportStatus.QUEUED)
    file_path = sa.Column(sa.String(1000), nullable=True)
    generated_at = sa.Column(UTCDateTime(), nullable=True)
    error = sa.Column(sa.Text, nullable=True)

    client = relationship("Client")

    def __str__(self) -> str:
        return f"{self.client} {self.period:%Y-%m}"


class BillingEvent(TimestampMixin, Model):
    __tablename__ = "billing_events"

    provider_event_id = sa.Column(sa.String(255), nullable=False, unique=True)
    type = sa.Column(sa.String(100), nullable=False)
    payload = sa.Column(JSONType, nullable=False)
    client_id = sa.Column(sa.Integer, sa.ForeignKey("clients.id", ondelete="SET NULL"), nullable=True, index=True)
    received_at = sa.Column(UTCDateTime(), nullable=False)
    processed_at = sa.Column(UTCDateTime(), nullable=True)
    outcome = sa.Column(sa.String(200), nullable=True)

    def __str__(self) -> str:
        return f"{self.type} {self.provider_event_id}"


class JobRun(TimestampMixin, Model):
    __tablename__ = "job_runs"
    __table_args__ = (sa.Index("ix_job_runs_name_enqueued", "job_name", "enqueued_at"),)

    job_name = sa.Column(sa.String(100), nullable=False)
    arguments = sa.Column(JSONType, nullable=True)
    queue = sa.Column(sa.String(32), nullable=False)
    rq_job_id = sa.Column(sa.String(64), nullable=True, index=True)
    status = enum_column(JobStatus, name="status", default=JobStatus.QUEUED)
    enqueued_at = sa.Column(UTCDateTime(), nullable=False)
    started_at = sa.Column(UTCDateTime(), nullable=True)
    finished_at = sa.Column(UTCDateTime(), nullable=True)
    duration_ms = sa.Column(sa.Integer, nullable=True)
    error = sa.Column(sa.Text, nullable=True)
    traceback = sa.Column(sa.Text, nullable=True)
    attempts = sa.Column(sa.Integer, nullable=False, default=0, server_default="0")
    result = sa.Column(JSONType, nullable=True)  # the job's summary ({"checked": 12, ...})
    triggered_by_id = user_fk()  # the person who asked for it; None: the schedule

    triggered_by = relationship("User")

    def __str__(self) -> str:
        return f"{self.job_name} {self.status}"


class DailyAnalytics(TimestampMixin, Model):
    __tablename__ = "daily_analytics"

    date = sa.Column(sa.Date, nullable=False, unique=True)
    clients_by_tier = sa.Column(JSONType, nullable=False, default=dict)
    mrr_by_tier = sa.Column(JSONType, nullable=False, default=dict)
    mrr_total = money_column(nullable=False, default=0)
    tickets_opened = sa.Column(sa.Integer, nullable=False, default=0)
    tickets_resolved = sa.Column(sa.Integer, nullable=False, default=0)
    sla_compliance_pct = sa.Column(sa.Numeric(5, 2), nullable=True)
    incidents = sa.Column(sa.Integer, nullable=False, default=0)
    downtime_minutes = sa.Column(sa.Integer, nullable=False, default=0)
    ad_spend = money_column(nullable=False, default=0)
    ad_revenue = money_column(nullable=False, default=0)

    def __str__(self) -> str:
        return str(self.date)
