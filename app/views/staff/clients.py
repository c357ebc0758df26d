"""Staff views of clients (menu "Clients"): clients, their members, billing and billing
events."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from wtforms.validators import Email, Length, Regexp, Optional

from app import models as m
from app.views.base import AtriumModelView
from app.views.forms import LimitOverridesField, format_limit_overrides, not_before
from app.views.interface import AtriumInterface
from app.views.impersonation import view_as_button
from app.views.staff.delivery import DomainView, ProjectView
from app.views.staff.marketing import CampaignView, ReportView
from app.views.staff.monitoring import IncidentView
from app.views.staff.support import TicketView


class ClientMemberView(AtriumModelView):
    datamodel = AtriumInterface(m.ClientMember)
    class_permission_name = "ClientMember"
    list_title = _l("Client members")
    list_columns = ["client.name", "user.username", "user.email", "role", "user_id"]
    search_columns = ["client", "user", "role"]
    add_columns = ["client", "user", "role"]
    edit_columns = ["role"]
    base_order = ("client_id", "asc")
    label_columns = {"client.name": _l("Client"), "user.username": _l("User"), "user.email": _l("Email"),
                     "user_id": _l("View as")}
    # "View as" (SPEC §5) on every row and on the member's page, for Admin and Operator.
    formatters_columns = {"user_id": view_as_button}
    show_template = "atrium/client_member_show.html"


class ClientView(AtriumModelView):
    datamodel = AtriumInterface(m.Client)
    class_permission_name = "Client"
    extra_args = {"run_now": ("client_report",)}  # "Generate last month's report" (Report write)
    list_title = _l("Clients")
    list_columns = ["name", "slug", "tier", "status", "contact_email", "created_at"]
    search_columns = ["name", "slug", "tier", "status", "contact_email"]
    add_columns = ["name", "slug", "tier", "status", "contact_email", "timezone",
                   "brand_primary_color", "internal_notes"]
    # A new client starts on its plan; exceptions are set afterwards, on purpose.
    edit_columns = add_columns + ["limit_overrides"]
    edit_form_extra_fields = {"limit_overrides": LimitOverridesField(
        _l("Limit overrides"),
        description=_l("Per-client exceptions to the plan: leave empty for the plan's limit, type a whole number "
                       "(GB for storage) to lift or lower it, or “unlimited”. Who set it and when is recorded."))}
    formatters_columns = {"limit_overrides": format_limit_overrides}
    label_columns = {"limit_overrides_set_by": _l("Overrides set by"), "limit_overrides_set_at": _l("Overrides set at")}
    show_columns = ["name", "slug", "tier", "status", "contact_email", "timezone", "limit_overrides",
                    "limit_overrides_set_by", "limit_overrides_set_at", "subscription_status",
                    "current_period_end", "brand_primary_color", "internal_notes", "created_at", "updated_at"]
    validators_columns = {
        "slug": [Regexp(r"^[a-z0-9][a-z0-9-]{1,62}$",
                        message=_l("Use 2–63 lower-case letters, digits or hyphens (e.g. acme-ltda)."))],
        "contact_email": [Email(message=_l("Enter a valid email address."))],
        "brand_primary_color": [Optional(), Regexp(r"^#[0-9a-fA-F]{6}$", message=_l("Use a colour like #1a73e8."))],
        "timezone": [Length(max=64)],
    }
    related_views = [ClientMemberView, ProjectView, DomainView, TicketView, CampaignView, IncidentView,
                     ReportView]
    base_order = ("name", "asc")


class ClientBillingView(AtriumModelView):
    """Billing fields of a client: Admin only (SPEC §1)."""

    datamodel = AtriumInterface(m.Client)
    class_permission_name = "ClientBilling"
    list_title = _l("Billing")
    list_columns = ["name", "tier", "subscription_status", "stripe_customer_id", "current_period_end"]
    search_columns = ["name", "tier", "subscription_status", "stripe_customer_id"]
    edit_columns = ["stripe_customer_id", "stripe_subscription_id", "subscription_status",
                    "current_period_start", "current_period_end"]
    add_columns = []
    show_columns = ["name", "tier"] + edit_columns
    base_permissions = ["can_read", "can_write"]
    validators_columns = {"current_period_end": [not_before("current_period_start", _l("the period start"),
                                                            _l("Period end"))]}
    base_order = ("name", "asc")


class BillingEventView(AtriumModelView):
    datamodel = AtriumInterface(m.BillingEvent)
    class_permission_name = "BillingEvent"
    list_title = _l("Billing events")
    list_columns = ["received_at", "type", "provider_event_id", "outcome", "processed_at"]
    search_columns = ["type", "provider_event_id", "outcome"]
    base_permissions = ["can_read"]
    base_order = ("received_at", "desc")
