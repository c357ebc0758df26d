"""Client file storage metadata: ``StorageFolder`` and ``StorageFile``.

The bytes live under ``UPLOAD_DIR``; quotas are enforced by ``app.services.tiers``.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model
from sqlalchemy.orm import relationship

from .base import JSONType, TimestampMixin, client_fk, user_fk


class StorageFolder(TimestampMixin, Model):
    __tablename__ = "storage_folders"
    __table_args__ = (sa.UniqueConstraint("client_id", "path"),)

    client_id = client_fk()
    parent_id = sa.Column(sa.Integer, sa.ForeignKey("storage_folders.id", ondelete="CASCADE"), nullable=True)
    name = sa.Column(sa.String(200), nullable=False)
    path = sa.Column(sa.String(1000), nullable=False)

    client = relationship("Client")
    parent = relationship("StorageFolder", remote_side="StorageFolder.id")

    def __str__(self) -> str:
        return self.path


class StorageFile(TimestampMixin, Model):
    __tablename__ = "storage_files"
    __table_args__ = (sa.CheckConstraint("size_bytes >= 0", name="size_not_negative"),)

    client_id = client_fk()
    project_id = sa.Column(sa.Integer, sa.ForeignKey("projects.id", ondelete="SET NULL"), nullable=True)
    folder_id = sa.Column(sa.Integer, sa.ForeignKey("storage_folders.id", ondelete="SET NULL"), nullable=True)
    file_name = sa.Column(sa.String(255), nullable=False)
    stored_path = sa.Column(sa.String(1000), nullable=False, unique=True)
    mime_type = sa.Column(sa.String(127), nullable=False, default="application/octet-stream")
    size_bytes = sa.Column(sa.BigInteger, nullable=False, default=0)
    sha256 = sa.Column(sa.String(64), nullable=False)
    uploaded_by_id = user_fk()
    tags = sa.Column(JSONType, nullable=False, default=list)

    client = relationship("Client")
    project = relationship("Project")
    folder = relationship("StorageFolder")
    uploaded_by = relationship("User")

    def __str__(self) -> str:
        return self.file_name
