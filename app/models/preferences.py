"""A user's own settings (``UserPreference``): the language pages are shown in, and for
staff the timezone times are shown in.

Client users see their client's timezone (``Client.timezone``); staff choose theirs on
"My settings" (``app.views.staff.queues``), UTC until they do. Everyone chooses a
language from the navbar (``app.views.language``); none chosen: the client's, else the
browser's. A user reads and writes only their own row (the session guard and the
``atrium_own_row`` policy); staff transactions see every row.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_appbuilder.models.sqla import Model


class UserPreference(Model):
    __tablename__ = "user_preferences"

    user_id = sa.Column(sa.Integer, sa.ForeignKey("ab_user.id", ondelete="CASCADE"), primary_key=True)
    timezone = sa.Column(sa.String(64), nullable=False, default="UTC")
    language = sa.Column(sa.String(8), nullable=True)
