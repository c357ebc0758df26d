"""What several staff views share: the percent and money validators."""

from __future__ import annotations

from app.services import validation
from app.views.forms import service_validator

PERCENT = service_validator(validation.percent)
MONEY = service_validator(validation.money)
