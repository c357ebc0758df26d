"""What several staff views share: the percent and money validators, and the staff a
ticket can be assigned to."""

from __future__ import annotations

import sqlalchemy as sa

from app import models as m
from app import tenancy
from app.extensions import db
from app.services import validation
from app.views.forms import service_validator

PERCENT = service_validator(validation.percent)
MONEY = service_validator(validation.money)


def staff_choices() -> list:
    """``(id, first name, last name)`` of every active staff member, by name: the assignee
    drop-downs (never a client user)."""
    return db.session.execute(sa.select(m.User.id, m.User.first_name, m.User.last_name)
                              .where(tenancy.staff_users_condition(m.User))
                              .order_by(m.User.first_name, m.User.last_name)).all()
