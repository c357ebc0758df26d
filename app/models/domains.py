"""``Domain``: a client's domain name with its DNS records, registration and TLS state.

Name normalisation (lower-case IDNA) and DNS record validation live in
``app.services.validation``; TLS/RDAP refreshes belong to the workers.
"""

from __future__ import annotations

import enum

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import relationship

from .base import ContactMixin, JSONType, TimestampMixin, UTCDateTime, client_fk, enum_column


class DomainStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    PENDING = "pending"
    SUSPENDED = "suspended"


class SSLStatus(enum.StrEnum):
    ACTIVE = "active"
    EXPIRED = "expired"
    PENDING = "pending"
    NONE = "none"


class Domain(TimestampMixin, ContactMixin, Model):
    __tablename__ = "domains"
    __table_args__ = (
        sa.Index("ix_domains_ssl_expires_at", "ssl_expires_at"),
        sa.Index("ix_domains_renewal_date", "renewal_date"),
    )

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True, index=True)
    name = sa.Column(sa.String(253), nullable=False, unique=True)
    status = enum_column(DomainStatus, name="status", default=DomainStatus.PENDING)
    nameservers = sa.Column(JSONType, nullable=False, default=list)
    dns_records = sa.Column(JSONType, nullable=False, default=list)  # [{type,name,value,ttl,priority?}]
    ssl_status = enum_column(SSLStatus, name="ssl_status", default=SSLStatus.NONE)
    ssl_issuer = sa.Column(sa.String(200), nullable=True)
    ssl_expires_at = sa.Column(UTCDateTime(), nullable=True)
    ssl_checked_at = sa.Column(UTCDateTime(), nullable=True)
    ssl_error = sa.Column(sa.Text, nullable=True)  # the last handshake's failure, if any
    ssl_warning_days = sa.Column(sa.Integer, nullable=True)  # last expiry warning given: 21, 7 or 1
    registrar = sa.Column(sa.String(100), nullable=True)
    registered_on = sa.Column(sa.Date, nullable=True)
    renewal_date = sa.Column(sa.Date, nullable=True)  # registration expiry (RDAP)
    registration_checked_at = sa.Column(UTCDateTime(), nullable=True)
    registration_warning_days = sa.Column(sa.Integer, nullable=True)  # last warning given: 60, 30 or 7
    auto_renew = sa.Column(sa.Boolean, nullable=False, default=True)
    internal_notes = sa.Column(sa.Text, nullable=True)

    client = relationship("Client")
    project = relationship("Project")

    def __str__(self) -> str:
        return self.name
