"""Rules in app.services, checked with figures a person could verify by hand."""

import datetime as dt
from decimal import Decimal
from types import SimpleNamespace

import pytest

from app.models import Grade, SLAState, Tier, TicketStatus
from app.services import campaign_metrics as kpi
from app.services import incidents, performance, tickets, tiers, validation
from app.errors import InvalidInput

T0 = dt.datetime(2026, 11, 2, 12, 0, tzinfo=dt.UTC)


def test_kpis_are_decimal_and_never_divide_by_zero():
    assert kpi.ctr(25, 1000) == Decimal("2.50")
    assert kpi.cpc(Decimal("50.00"), 25) == Decimal("2.00")
    assert kpi.cpa(Decimal("50.00"), 4) == Decimal("12.50")
    assert kpi.roas(Decimal("150.00"), Decimal("50.00")) == Decimal("3.0000")
    assert kpi.ctr(5, 0) is None and kpi.cpc(10, 0) is None
    assert kpi.cpa(10, 0) is None and kpi.roas(10, 0) is None


@pytest.mark.parametrize("scores,vitals,expected", [
    ((100, 100, 100, 100), (1.8, 150, 0.05), Grade.A_PLUS),
    ((100, 100, 100, 100), (3.0, 150, 0.05), Grade.A),     # LCP "needs improvement": no A+
    ((100, 100, 100, 100), (4.6, 150, 0.05), Grade.C),     # a poor vital caps at C
    ((85, 80, 80, 80), (None, None, None), Grade.B),      # 0.4*85+0.2*240 = 82
    ((60, 70, 70, 70), (None, None, None), Grade.D),      # 66
    ((20, 40, 40, 40), (None, None, None), Grade.F),      # 32
])
def test_performance_grade_rule(scores, vitals, expected):
    assert performance.grade(*scores, *vitals) == expected


def test_downtime_rounds_up_to_whole_minutes_and_is_none_while_open():
    assert incidents.downtime_minutes(T0, T0 + dt.timedelta(minutes=4, seconds=1)) == 5
    assert incidents.downtime_minutes(T0, None) is None


def _ticket(tier):
    client = SimpleNamespace(tier=tier, limit_overrides=None)
    t = SimpleNamespace(created_at=T0, status=TicketStatus.OPEN, first_response_at=None, resolved_at=None,
                        sla_paused_since=None, sla_paused_seconds=0)
    tickets.start_clock(t, client, opened_at=T0)
    return t


@pytest.mark.parametrize("tier,hours", [(Tier.BASIC, 24), (Tier.PRO, 4), (Tier.ENTERPRISE, 1)])
def test_sla_due_time_follows_the_tier(tier, hours):
    t = _ticket(tier)
    assert t.sla_hours == hours
    assert t.first_response_due_at == T0 + dt.timedelta(hours=hours)


def test_free_tier_has_no_sla():
    t = _ticket(Tier.FREE)
    assert t.first_response_due_at is None
    assert tickets.sla_state(t, now=T0 + dt.timedelta(days=30)) == SLAState.OK


def test_sla_states_at_80_percent_and_after_due():
    t = _ticket(Tier.PRO)  # 4 h window
    assert tickets.sla_state(t, now=T0 + dt.timedelta(hours=3, minutes=11)) == SLAState.OK
    assert tickets.sla_state(t, now=T0 + dt.timedelta(hours=3, minutes=13)) == SLAState.AT_RISK
    assert tickets.sla_state(t, now=T0 + dt.timedelta(hours=4, minutes=1)) == SLAState.BREACHED


def test_sla_clock_pauses_while_waiting_on_the_client():
    t = _ticket(Tier.PRO)
    tickets.on_status_change(t, TicketStatus.OPEN, TicketStatus.WAITING_CLIENT, now=T0 + dt.timedelta(hours=1))
    # Waiting two days does not breach the SLA...
    assert tickets.sla_state(t, now=T0 + dt.timedelta(days=2)) == SLAState.OK
    tickets.on_status_change(t, TicketStatus.WAITING_CLIENT, TicketStatus.OPEN, now=T0 + dt.timedelta(hours=6))
    # ...and the due time moved by the 5 hours spent waiting.
    assert t.first_response_due_at == T0 + dt.timedelta(hours=9)
    assert tickets.sla_state(t, now=T0 + dt.timedelta(hours=8, minutes=59)) == SLAState.AT_RISK
    tickets.record_staff_reply(t, at=T0 + dt.timedelta(hours=8, minutes=59))
    assert tickets.sla_state(t, now=T0 + dt.timedelta(days=9)) == SLAState.OK


def test_tier_table_and_override():
    client = SimpleNamespace(tier="basic", limit_overrides=None)
    assert tiers.limit_for(client, "projects") == 3
    assert tiers.limit_for(SimpleNamespace(tier="enterprise", limit_overrides=None), "projects") is None
    client.limit_overrides = {"projects": 5}
    assert tiers.limit_for(client, "projects") == 5


def test_domain_names_normalise_to_lower_case_idna():
    assert validation.domain_name("Padaria-Pão.com.BR") == "xn--padaria-po-n5a.com.br"
    for bad in ("localhost", "exa mple.com", "-bad.com", "1.2.3.4", ""):
        with pytest.raises(InvalidInput):
            validation.domain_name(bad)


def test_dns_records_are_checked_per_type():
    ok = validation.dns_records([
        {"type": "a", "name": "@", "value": "203.0.113.5", "ttl": 300},
        {"type": "MX", "name": "@", "value": "mx.example.net", "ttl": 3600, "priority": 10},
    ])
    assert ok[0]["type"] == "A" and ok[1]["priority"] == 10
    cases = {
        "IPv4": {"type": "A", "name": "@", "value": "not-an-ip", "ttl": 300},
        "IPv6": {"type": "AAAA", "name": "@", "value": "203.0.113.5", "ttl": 300},
        "priority": {"type": "MX", "name": "@", "value": "mx.example.net", "ttl": 300},
        "ttl": {"type": "TXT", "name": "@", "value": "x", "ttl": 5},
        "type must be": {"type": "SPF", "name": "@", "value": "x", "ttl": 300},
    }
    for words, record in cases.items():
        with pytest.raises(InvalidInput, match=words):
            validation.dns_records([record])


def test_percent_and_money_rules():
    assert validation.percent(100) == 100
    with pytest.raises(InvalidInput, match="between 0 and 100"):
        validation.percent(101)
    with pytest.raises(InvalidInput, match="zero or more"):
        validation.money(Decimal("-1"))
    with pytest.raises(InvalidInput, match="two decimal"):
        validation.money(Decimal("1.005"))


def test_incident_resolution_keeps_status_and_time_consistent():
    from app.models import IncidentStatus

    inc = SimpleNamespace(status=IncidentStatus.INVESTIGATING, started_at=T0,
                          resolved_at=T0 + dt.timedelta(minutes=45), downtime_minutes=None)
    incidents.apply_derived(inc)  # a resolution time was typed in
    assert inc.status == IncidentStatus.RESOLVED and inc.downtime_minutes == 45
    inc.status = IncidentStatus.MONITORING
    incidents.apply_derived(inc, status_changed=True)  # re-opened
    assert inc.resolved_at is None and inc.downtime_minutes is None
    inc.status = IncidentStatus.RESOLVED
    incidents.apply_derived(inc, now=T0 + dt.timedelta(minutes=90))
    assert inc.downtime_minutes == 90
