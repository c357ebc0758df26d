"""A staff member's own settings (``UserPreference``): the timezone times are shown in.

Client users see their client's timezone (``Client.timezone``); staff choose theirs on
"My settings" (``app.views.staff.preferences``), UTC until they do. Staff-only.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model


class UserPreference(Model):
    __tablename__ = "user_preferences"

    user_id = sa.Column(sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    timezone = sa.Column(sa.String(64), nullable=False, default="UTC")
