"""Monitoring through its doors (``flask jobs run``, ``enqueue`` + a real RQ worker)
against real servers on loopback: uptime checks that open and resolve incidents, check
outcomes (timeouts, redirects, keyword, expected status), a TLS handshake with a test CA
and a certificate expiring in 5 days, RDAP answers in the documented shape, retention.

The seeded demo monitors point at non-loopback addresses: every test disables them
first (``_only``), so nothing here leaves the machine.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import run_cli, work_off
from tests.support.certs import make_pki
from tests.support.loopback import LoopbackServer, rdap_domain
from app.services.jobs import enqueue

pytestmark = pytest.mark.both_backends

OWNER = "owner@pro-co.example"


@pytest.fixture
def server():
    with LoopbackServer() as running:
        yield running


def _client(slug="pro-co"):
    return db.session.execute(sa.select(m.Client).filter_by(slug=slug)).scalar_one()


def _project(slug="pro-co"):
    return db.session.execute(sa.select(m.Project).join(m.Client).where(m.Client.slug == slug)
                              .order_by(m.Project.id).limit(1)).scalar_one()


def _only(*monitors):
    """Disable every other monitor (the seed's point at the internet)."""
    ids = [mon.id for mon in monitors]
    db.session.execute(sa.update(m.Monitor).where(m.Monitor.id.not_in(ids)).values(enabled=False))
    db.session.commit()


def _monitor(url, slug="pro-co", **fields):
    fields.setdefault("timeout_seconds", 2)
    monitor = m.Monitor(project=_project(slug), url=url, enabled=True, state=m.MonitorState.UNKNOWN, **fields)
    db.session.add(monitor)
    db.session.commit()
    return monitor


def _run(app, name, **kwargs):
    args = ["jobs", "run", name]
    for key, value in kwargs.items():
        args += ["--arg", f"{key}={json.dumps(value)}"]
    result = run_cli(app, *args)
    db.session.expire_all()
    return result


def _last_run(name):
    db.session.expire_all()
    return db.session.execute(sa.select(m.JobRun).filter_by(job_name=name).order_by(m.JobRun.id.desc())
                              .limit(1)).scalar_one()


def _checks(monitor):
    db.session.expire_all()
    return list(db.session.execute(sa.select(m.MonitorCheck).filter_by(monitor_id=monitor.id)
                                   .order_by(m.MonitorCheck.checked_at, m.MonitorCheck.id)).scalars())


def _incidents(monitor):
    db.session.expire_all()
    return list(db.session.execute(sa.select(m.Incident).filter_by(monitor_id=monitor.id)
                                   .order_by(m.Incident.id)).scalars())


def _emails(kind):
    db.session.expire_all()
    return list(db.session.execute(sa.select(m.OutboxEmail).filter_by(kind=kind).order_by(m.OutboxEmail.id)).scalars())


# --------------------------------------------------------------------------- uptime


def test_an_outage_opens_an_incident_after_two_failures_and_resolves_it_after_two_successes(app, server):
    monitor = _monitor(server.url("/ok"))
    _only(monitor)

    assert _run(app, "monitoring.uptime_dispatch").exit_code == 0
    assert _last_run("monitoring.uptime_dispatch").result["due"] == 1
    [first] = _checks(monitor)
    assert first.ok and first.status_code == 200 and first.latency_ms is not None
    assert db.session.get(m.Monitor, monitor.id).state == "up"

    server.stop()  # the site goes down
    check_once = lambda: _run(app, "monitoring.uptime_check", monitor_id=monitor.id)  # noqa: E731
    assert check_once().exit_code == 0
    failed = _checks(monitor)[-1]
    assert not failed.ok and failed.error == "connection refused" and failed.status_code is None
    mon = db.session.get(m.Monitor, monitor.id)
    assert (mon.state, mon.consecutive_failures, mon.consecutive_successes) == ("up", 1, 0)
    assert _incidents(monitor) == [] and _emails("incident_opened") == []
    # ten minutes pass before the next check
    for check in _checks(monitor):
        check.checked_at -= dt.timedelta(minutes=10)
    db.session.commit()

    assert check_once().exit_code == 0
    [incident] = _incidents(monitor)
    first_failure = _checks(monitor)[1]
    assert first_failure.id == failed.id
    assert incident.status == "investigating" and incident.source == "monitor" and incident.resolved_at is None
    assert incident.started_at == first_failure.checked_at  # downtime counts from the first failed check
    assert incident.project_id == monitor.project_id and incident.client_id == _client().id
    assert [(u.status, "failed 2 times in a row" in u.message) for u in incident.updates] == [("investigating", True)]
    assert db.session.get(m.Monitor, monitor.id).state == "down"
    opened = _emails("incident_opened")
    assert [e.to_address for e in opened] == [OWNER] and monitor.url in opened[0].subject
    assert f"#{incident.id}" in opened[0].body and opened[0].status == "queued"

    assert check_once().exit_code == 0  # still down: no second incident, nobody told twice
    assert len(_incidents(monitor)) == 1 and len(_emails("incident_opened")) == 1

    server.start()  # back on the same port
    assert check_once().exit_code == 0
    recovered = _checks(monitor)[-1]
    assert recovered.ok
    mon = db.session.get(m.Monitor, monitor.id)
    assert (mon.state, mon.consecutive_successes) == ("down", 1)  # one success is not yet a recovery
    assert _incidents(monitor)[0].status == "investigating"

    assert check_once().exit_code == 0
    [incident] = _incidents(monitor)
    assert incident.status == "resolved" and incident.resolved_at == recovered.checked_at
    expected = math.ceil((recovered.checked_at - first_failure.checked_at).total_seconds() / 60)
    assert incident.downtime_minutes == expected and expected >= 11
    assert [u.status for u in incident.updates] == ["investigating", "resolved"]
    assert f"Downtime: {expected} minutes" in incident.updates[-1].message
    assert db.session.get(m.Monitor, monitor.id).state == "up"
    resolved = _emails("incident_resolved")
    assert [e.to_address for e in resolved] == [OWNER] and f"{expected} minutes" in resolved[0].body

    assert check_once().exit_code == 0  # up and staying up: nothing more happens
    assert len(_emails("incident_resolved")) == 1 and len(_incidents(monitor)) == 1
    runs = db.session.execute(sa.select(m.JobRun.status).filter_by(job_name="monitoring.uptime_check")).scalars().all()
    assert runs == ["succeeded"] * 7  # the dispatched one and six by hand


def test_check_outcomes_timeouts_redirects_keyword_and_expected_status(app, server):
    cases = {
        "ok": _monitor(server.url("/ok")),
        "slow": _monitor(server.url("/slow/3"), timeout_seconds=1),
        "redirects": _monitor(server.url("/redirect/3")),
        "redirect_expected": _monitor(server.url("/redirect/1"), expected_status=302),
        "error_503": _monitor(server.url("/status/503")),
        "expects_503": _monitor(server.url("/status/503"), expected_status=503),
        "keyword_found": _monitor(server.url("/keyword/Atrium"), keyword="Welcome to Atrium"),
        "keyword_missing": _monitor(server.url("/ok"), keyword="Checkout"),
        "head": _monitor(server.url("/ok"), method="HEAD"),
        "post": _monitor(server.url("/ok"), method="POST"),
    }
    _only(*cases.values())
    started = time.perf_counter()
    result = _run(app, "monitoring.uptime_check", monitor_ids=[mon.id for mon in cases.values()])
    elapsed = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    assert elapsed < 2.8  # checked concurrently: the slow one does not hold up the rest
    got = {name: _checks(mon)[-1] for name, mon in cases.items()}
    assert {name: c.ok for name, c in got.items()} == {
        "ok": True, "slow": False, "redirects": True, "redirect_expected": True, "error_503": False,
        "expects_503": True, "keyword_found": True, "keyword_missing": False, "head": True, "post": True}
    assert got["slow"].error == "timed out after 1 s" and 950 <= got["slow"].latency_ms < 2500
    assert got["redirects"].status_code == 200 and got["redirect_expected"].status_code == 302
    assert got["error_503"].error == "expected status 200, got 503" and got["error_503"].status_code == 503
    assert got["keyword_missing"].error == "keyword 'Checkout' not found in the response"
    assert "HEAD /ok" in server.hits and "POST /ok" in server.hits
    assert server.hits.count("GET /redirect/3") == 1 and "GET /redirect/2" in server.hits
    summary = _last_run("monitoring.uptime_check").result
    assert (summary["checked"], summary["ok"], summary["failed"]) == (10, 7, 3)


def test_concurrency_is_bounded_by_the_setting(app, server):
    monitors = [_monitor(server.url("/slow/0.4")) for _ in range(3)]
    _only(*monitors)
    app.config["MONITOR_CONCURRENCY"] = 1
    started = time.perf_counter()
    assert _run(app, "monitoring.uptime_check", monitor_ids=[mon.id for mon in monitors]).exit_code == 0
    assert time.perf_counter() - started >= 1.2  # one at a time
    assert all(_checks(mon)[-1].ok for mon in monitors)


def test_dispatch_queues_due_monitors_and_a_real_worker_checks_them(rq_app, server):
    now = dt.datetime.now(dt.UTC)
    pro_due = _monitor(server.url("/ok"))  # never checked
    pro_fresh = _monitor(server.url("/ok"), last_checked_at=now - dt.timedelta(seconds=20))  # Pro: every minute
    free_not_yet = _monitor(server.url("/ok"), slug="free-co", last_checked_at=now - dt.timedelta(minutes=6))
    free_due = _monitor(server.url("/ok"), slug="free-co", last_checked_at=now - dt.timedelta(minutes=16))
    # a Basic monitor cannot buy itself a shorter interval than its plan (5 min) ...
    basic_short = _monitor(server.url("/ok"), slug="basic-co", interval_seconds=60,
                           last_checked_at=now - dt.timedelta(minutes=2))
    # ... but may be checked less often
    pro_long = _monitor(server.url("/ok"), interval_seconds=3600, last_checked_at=now - dt.timedelta(minutes=30))
    enterprise_custom = _monitor(server.url("/ok"), slug="enterprise-co", interval_seconds=30,
                                 last_checked_at=now - dt.timedelta(seconds=40))
    _only(pro_due, pro_fresh, free_not_yet, free_due, basic_short, pro_long, enterprise_custom)

    run_id = enqueue("monitoring.uptime_dispatch")
    assert db.session.get(m.JobRun, run_id).status == "queued"
    assert work_off(rq_app)
    dispatch = _last_run("monitoring.uptime_dispatch")
    assert dispatch.status == "succeeded" and dispatch.result["due"] == 3 and dispatch.result["jobs"] == 1
    check_run = _last_run("monitoring.uptime_check")
    assert check_run.status == "succeeded" and check_run.rq_job_id is not None
    assert sorted(check_run.arguments["monitor_ids"]) == sorted([pro_due.id, free_due.id, enterprise_custom.id])
    checked = {mon.id for mon in (pro_due, pro_fresh, free_not_yet, free_due, basic_short, pro_long,
                                  enterprise_custom) if _checks(mon)}
    assert checked == {pro_due.id, free_due.id, enterprise_custom.id}


def test_uptime_check_refuses_bad_arguments(app):
    count = lambda: db.session.execute(sa.select(sa.func.count()).select_from(m.MonitorCheck)).scalar_one()  # noqa: E731
    before = count()
    result = _run(app, "monitoring.uptime_check")
    assert result.exit_code != 0 and "Give either monitor_id" in result.output
    result = _run(app, "monitoring.uptime_check", monitor_id=987654)
    assert result.exit_code != 0 and "There is no monitor with id 987654" in result.output
    result = _run(app, "monitoring.uptime_check", monitor_ids=["seven"])
    assert result.exit_code != 0 and "must be a list of monitor ids" in result.output
    assert count() == before


def test_old_checks_are_pruned_past_retention(app):
    monitor = _monitor("http://127.0.0.1:9/ok")
    now = dt.datetime.now(dt.UTC)
    for days in (45, 31, 29, 1):
        db.session.add(m.MonitorCheck(monitor=monitor, checked_at=now - dt.timedelta(days=days), ok=True,
                                      status_code=200, latency_ms=50))
    db.session.commit()
    app.config["MONITOR_CHECK_RETENTION_DAYS"] = 30
    assert _run(app, "maintenance.cleanup").exit_code == 0  # the nightly cleanup prunes checks
    assert _last_run("maintenance.cleanup").result["monitor_checks_pruned"] >= 2  # ours plus seeded ones
    left = sorted((now - c.checked_at).days for c in _checks(monitor))
    assert left == [1, 29]
    assert _run(app, "maintenance.cleanup").exit_code == 0
    assert _last_run("maintenance.cleanup").result["monitor_checks_pruned"] == 0


# --------------------------------------------------------------------------- TLS


def _domain(name, slug="pro-co"):
    domain = m.Domain(client=_client(slug), name=name, status=m.DomainStatus.ACTIVE)
    db.session.add(domain)
    db.session.commit()
    return domain


@pytest.fixture
def tls_site(tmp_path, app):
    """An HTTPS server for shop.atrium-test.com.br whose certificate expires in 5 days."""
    pki = make_pki(tmp_path / "pki", "shop.atrium-test.com.br", expires_in=dt.timedelta(days=5))
    with LoopbackServer(ssl_context=pki.server_context()) as site:
        app.config.update(TLS_CHECK_ADDRESS="127.0.0.1", TLS_CHECK_PORT=site.port, TLS_CA_BUNDLE=str(pki.ca_file))
        yield pki, site


def test_tls_check_of_a_certificate_expiring_in_5_days_warns_at_7_days_once(app, tls_site):
    pki, _site = tls_site
    domain = _domain("shop.atrium-test.com.br")
    assert _run(app, "monitoring.tls_check", domain_id=domain.id).exit_code == 0
    domain = db.session.get(m.Domain, domain.id)
    assert domain.ssl_status == "active" and domain.ssl_error is None
    assert domain.ssl_issuer == "Atrium Test CA (Atrium Tests)"
    assert domain.ssl_expires_at == pki.not_after and domain.ssl_checked_at is not None
    assert domain.ssl_warning_days == 7
    [warning] = _emails("ssl_expiring")
    assert warning.to_address == OWNER and "expires in 4 days" in warning.subject
    assert domain.name in warning.body and warning.client_id == domain.client_id
    checked_at = domain.ssl_checked_at

    assert _run(app, "monitoring.tls_check", domain_id=domain.id).exit_code == 0  # next day's run
    domain = db.session.get(m.Domain, domain.id)
    assert domain.ssl_checked_at > checked_at and domain.ssl_warning_days == 7
    assert len(_emails("ssl_expiring")) == 1  # warned once per threshold


def test_tls_check_refuses_an_untrusted_or_misnamed_certificate(app, tls_site):
    _pki, _site = tls_site
    wrong_name = _domain("other.atrium-test.com.br")
    assert _run(app, "monitoring.tls_check", domain_id=wrong_name.id).exit_code == 0
    wrong_name = db.session.get(m.Domain, wrong_name.id)
    assert wrong_name.ssl_status == "none" and "Hostname mismatch" in wrong_name.ssl_error
    assert wrong_name.ssl_expires_at is None

    app.config["TLS_CA_BUNDLE"] = None  # our test CA is not a public root
    good_name = _domain("shop.atrium-test.com.br")
    assert _run(app, "monitoring.tls_check", domain_id=good_name.id).exit_code == 0
    good_name = db.session.get(m.Domain, good_name.id)
    assert good_name.ssl_status == "none" and "unable to get local issuer certificate" in good_name.ssl_error
    assert _emails("ssl_expiring") == []

    app.config["TLS_CHECK_PORT"] = 9  # nothing listens there: the status says nothing new
    good_name.ssl_status = "active"
    db.session.commit()
    assert _run(app, "monitoring.tls_check", domain_id=good_name.id).exit_code == 0
    good_name = db.session.get(m.Domain, good_name.id)
    assert good_name.ssl_status == "active" and "could not connect" in good_name.ssl_error
    assert _last_run("monitoring.tls_check").result["valid"] == 0


def test_tls_check_of_every_domain_records_each_result(app, tls_site):
    shop = _domain("shop.atrium-test.com.br")
    others = db.session.execute(sa.select(m.Domain.id).where(m.Domain.id != shop.id,
                                                             m.Domain.status.in_(["active", "pending"]))).scalars().all()
    assert others  # the seeded domains: every one reaches our server here, under a name it does not carry
    assert _run(app, "monitoring.tls_check").exit_code == 0
    summary = _last_run("monitoring.tls_check").result
    assert summary["checked"] == len(others) + 1 and summary["valid"] == 1
    assert db.session.get(m.Domain, shop.id).ssl_status == "active"
    assert {db.session.get(m.Domain, i).ssl_status for i in others} == {"none"}
    assert all("Hostname mismatch" in db.session.get(m.Domain, i).ssl_error for i in others)
    assert len(_emails("ssl_expiring")) == 1


# --------------------------------------------------------------------------- RDAP


def test_rdap_lookup_updates_the_renewal_date_and_warns_at_30_days_once(app, server):
    domain = _domain("loja-rdap.com.br")
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(days=25)).replace(microsecond=0)
    server.rdap_answers["loja-rdap.com.br"] = rdap_domain(
        "loja-rdap.com.br", expires.strftime("%Y-%m-%dT%H:%M:%SZ"), registered="2019-03-04T10:00:00Z",
        registrar="Registro.br Test")
    app.config["RDAP_BASE_URL"] = server.url("/rdap")
    assert _run(app, "monitoring.domain_expiry", domain_id=domain.id).exit_code == 0
    domain = db.session.get(m.Domain, domain.id)
    assert domain.renewal_date == expires.date() and domain.registered_on == dt.date(2019, 3, 4)
    assert domain.registrar == "Registro.br Test" and domain.registration_checked_at is not None
    assert domain.registration_warning_days == 30
    [warning] = _emails("domain_expiring")
    assert warning.to_address == OWNER and "loja-rdap.com.br expires in 25 days" in warning.subject
    assert "GET /rdap/domain/loja-rdap.com.br" in server.hits

    assert _run(app, "monitoring.domain_expiry", domain_id=domain.id).exit_code == 0
    assert len(_emails("domain_expiring")) == 1

    # renewed: the next lookup moves the date and clears the warning state
    later = expires + dt.timedelta(days=365)
    server.rdap_answers["loja-rdap.com.br"] = rdap_domain("loja-rdap.com.br", later.strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert _run(app, "monitoring.domain_expiry", domain_id=domain.id).exit_code == 0
    domain = db.session.get(m.Domain, domain.id)
    assert domain.renewal_date == later.date() and domain.registration_warning_days is None


@pytest.mark.parametrize("answer, message", [
    (None, "RDAP: the registry has no record of loja-rdap.com.br (404)"),
    (503, "RDAP server error for loja-rdap.com.br: HTTP 503"),
    (b"{not json", "RDAP answer for loja-rdap.com.br is not valid JSON"),
    ({"objectClassName": "domain", "events": [{"eventAction": "registration", "eventDate": "2020-01-01T00:00:00Z"}]},
     "RDAP answer for loja-rdap.com.br has no expiration event"),
])
def test_rdap_failures_are_clear_and_change_nothing(app, server, answer, message):
    domain = _domain("loja-rdap.com.br")
    before = (domain.renewal_date, domain.registration_checked_at)
    if answer is not None:
        server.rdap_answers["loja-rdap.com.br"] = answer
    app.config["RDAP_BASE_URL"] = server.url("/rdap")
    result = _run(app, "monitoring.domain_expiry", domain_id=domain.id)
    assert result.exit_code != 0 and message in result.output
    run = _last_run("monitoring.domain_expiry")
    assert run.status == "failed" and message in run.error
    domain = db.session.get(m.Domain, domain.id)
    assert (domain.renewal_date, domain.registration_checked_at) == before


def test_rdap_for_every_domain_reports_each_failure_and_goes_on(app, server):
    app.config["RDAP_BASE_URL"] = server.url("/rdap")
    domains = db.session.execute(sa.select(m.Domain).where(m.Domain.status.in_(["active", "pending"]))
                                 .order_by(m.Domain.id)).scalars().all()
    known = domains[0].name
    server.rdap_answers[known] = rdap_domain(known, "2031-05-06T00:00:00Z")
    assert _run(app, "monitoring.domain_expiry").exit_code == 0
    summary = _last_run("monitoring.domain_expiry").result
    assert summary["checked"] == len(domains) and summary["updated"] == 1
    assert set(summary["errors"]) == {d.name for d in domains[1:]}
    assert db.session.get(m.Domain, domains[0].id).renewal_date == dt.date(2031, 5, 6)
