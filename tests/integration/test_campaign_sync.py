"""Campaign and network-usage sync through their doors (SPEC §7): the ``sync.*`` jobs
(inline and on a real RQ worker) against a loopback server answering the documented
Google Ads, Meta and hosting payloads, and the staff CSV import form with CSRF on."""

import dataclasses
import datetime as dt
import re
import time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from app.integrations.platform_http import AuthenticationFailed
from tests.conftest import csrf_token, login, work_off
from tests.support.fake_platforms import FakePlatforms
from app.services.jobs import JOBS, enqueue, load_jobs

TODAY = dt.datetime.now(dt.UTC).date()


def _days(n):
    """The last ``n`` days up to today, oldest first."""
    return [TODAY - dt.timedelta(days=k) for k in range(n - 1, -1, -1)]


@pytest.fixture
def platforms(app):
    with FakePlatforms() as fake:
        app.config.update(fake.config())
        yield fake


def _campaign(slug, platform):
    return db.session.execute(sa.select(m.Campaign).join(m.Client).where(
        m.Client.slug == slug, m.Campaign.platform == platform).order_by(m.Campaign.id).limit(1)).scalar_one()


def _prepare(campaign, external_id, account_id="123-456-7890"):
    """Give a seeded campaign the numeric ids a platform uses."""
    db.session.execute(sa.update(m.Campaign).where(m.Campaign.id == campaign.id)
                       .values(external_id=external_id, account_id=account_id))
    db.session.commit()
    return campaign.id


def _metrics(campaign_id):
    db.session.expire_all()
    rows = db.session.execute(sa.select(m.CampaignMetric).where(m.CampaignMetric.campaign_id == campaign_id)
                              .order_by(m.CampaignMetric.date)).scalars()
    return {r.date: (r.id, r.impressions, r.clicks, Decimal(r.conversions).quantize(Decimal("0.01")),
                     Decimal(r.cost).quantize(Decimal("0.01")), Decimal(r.revenue).quantize(Decimal("0.01")))
            for r in rows}


def _runs(name):
    db.session.expire_all()
    return list(db.session.execute(sa.select(m.JobRun).filter_by(job_name=name).order_by(m.JobRun.id)).scalars())


def _google_day(k):
    return {"impressions": 1000 + k, "clicks": 40 + k, "conversions": 2.5, "cost_micros": 12_345_678 + k,
            "conversions_value": 310.75}


# --------------------------------------------------------------------------- Google Ads


def test_google_ads_sync_upserts_the_window_and_a_second_run_changes_nothing(app, platforms):
    campaign_id = _prepare(_campaign("pro-co", "google_ads"), "111222333")
    window = _days(8)  # CAMPAIGN_SYNC_WINDOW_DAYS=7 before today, and today
    platforms.google["111222333"] = {day: _google_day(k) for k, day in enumerate(window)}
    platforms.google["111222333"][window[2]] = {"impressions": 7}  # zero fields are left out of the JSON
    before = _metrics(campaign_id)
    older = {d: v for d, v in before.items() if d < window[0]}

    run_id = enqueue("sync.campaign", campaign_id=campaign_id)  # no REDIS_URL: inline, same JobRun

    run = db.session.get(m.JobRun, run_id)
    assert run.status == "succeeded" and run.attempts == 1, run.error
    assert run.result["from"] == window[0].isoformat() and run.result["to"] == TODAY.isoformat()
    assert run.result["fetched_days"] == 8 and run.result["created"] == 1 and run.result["updated"] == 7
    after = _metrics(campaign_id)
    assert after[window[0]][1:] == (1000, 40, Decimal("2.50"), Decimal("12.35"), Decimal("310.75"))
    assert after[window[2]][1:] == (7, 0, Decimal("0.00"), Decimal("0.00"), Decimal("0.00"))
    assert after[TODAY][1:] == (1007, 47, Decimal("2.50"), Decimal("12.35"), Decimal("310.75"))
    # updated in place (same row ids), older days untouched
    assert all(after[d][0] == before[d][0] for d in window if d in before)
    assert {d: after[d] for d in older} == older
    campaign = db.session.get(m.Campaign, campaign_id)
    assert campaign.last_synced_at is not None and campaign.last_synced_at > dt.datetime.now(dt.UTC) - \
        dt.timedelta(minutes=1)
    # KPIs derive from the stored figures through services.campaign_metrics
    metric = db.session.execute(sa.select(m.CampaignMetric).filter_by(campaign_id=campaign_id, date=TODAY)
                                ).scalar_one()
    assert metric.ctr == Decimal("4.67") and metric.cpc == Decimal("0.26") and metric.roas == Decimal("25.1619")

    # what reached "Google": the documented request
    [call] = [r for r in platforms.requests if r["path"].endswith("googleAds:searchStream")]
    assert call["path"] == "/v21/customers/1234567890/googleAds:searchStream"
    assert call["headers"]["Authorization"] == "Bearer google-token"
    assert call["headers"]["developer-token"] == "dev-token" and call["headers"]["login-customer-id"] == "9990001111"
    assert "metrics.cost_micros" in call["body"].decode() and "campaign.id = 111222333" in call["body"].decode()

    second = enqueue("sync.campaign", campaign_id=campaign_id)
    assert db.session.get(m.JobRun, second).result["unchanged"] == 8
    assert _metrics(campaign_id) == after  # same rows, same ids, same figures


def test_restated_conversions_are_updated_on_the_next_run(app, platforms):
    campaign_id = _prepare(_campaign("basic-co", "google_ads"), "444555666")
    platforms.google["444555666"] = {day: _google_day(k) for k, day in enumerate(_days(8))}
    enqueue("sync.campaign", campaign_id=campaign_id)
    three_days_ago = TODAY - dt.timedelta(days=3)
    platforms.google["444555666"][three_days_ago] = {**_google_day(0), "conversions": 4.0, "conversions_value": 500}
    run_id = enqueue("sync.campaign", campaign_id=campaign_id)
    assert db.session.get(m.JobRun, run_id).result["updated"] == 1
    assert _metrics(campaign_id)[three_days_ago][3:] == (Decimal("4.00"), Decimal("12.35"), Decimal("500.00"))


# --------------------------------------------------------------------------- Meta


def test_meta_sync_follows_paging_and_counts_each_conversion_once(app, platforms):
    campaign_id = _prepare(_campaign("pro-co", "meta_ads"), "2384000111", account_id="act_777")
    window = _days(8)
    platforms.meta["2384000111"] = {day: {
        "impressions": 5000 + k, "clicks": 90, "spend": "45.67",
        # omni_purchase already includes the pixel purchases: counted once, plus the leads
        "actions": {"link_click": 80, "omni_purchase": 3, "offsite_conversion.fb_pixel_purchase": 3, "lead": 2},
        "action_values": {"omni_purchase": "199.90", "offsite_conversion.fb_pixel_purchase": "199.90"},
    } for k, day in enumerate(window)}

    run_id = enqueue("sync.campaign", campaign_id=campaign_id)

    run = db.session.get(m.JobRun, run_id)
    assert run.status == "succeeded", run.error
    assert run.result["fetched_days"] == 8
    pages = [r for r in platforms.requests if r["path"].endswith("/insights")]
    assert len(pages) == 3  # 3 + 3 + 2 rows, following paging.next
    assert all(p["headers"]["Authorization"] == "Bearer meta-token" for p in pages)
    assert "level=campaign" in pages[0]["query"] and "time_increment=1" in pages[0]["query"]
    rows = _metrics(campaign_id)
    assert all(rows[day][1:] == (5000 + k, 90, Decimal("5.00"), Decimal("45.67"), Decimal("199.90"))
               for k, day in enumerate(window))
    enqueue("sync.campaign", campaign_id=campaign_id)
    assert _metrics(campaign_id) == rows


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize("platform, setting, slug", [
    ("google_ads", "GOOGLE_ADS_ACCESS_TOKEN", "pro-co"),
    ("meta_ads", "META_ACCESS_TOKEN", "pro-co"),
])
def test_rejected_credentials_fail_the_run_inline_with_a_clear_message(app, platforms, platform, setting, slug):
    campaign_id = _prepare(_campaign(slug, platform), "900900900")
    before = _metrics(campaign_id)
    app.config[setting] = "expired-token"
    with pytest.raises(AuthenticationFailed):
        enqueue("sync.campaign", campaign_id=campaign_id)
    [run] = _runs("sync.campaign")
    assert run.status == "failed" and run.attempts == 1
    assert "authentication failed" in run.error and setting in run.error and "not retried" in run.error
    assert _metrics(campaign_id) == before


def _short_retries(monkeypatch, name, retries):
    load_jobs()
    monkeypatch.setitem(JOBS, name, dataclasses.replace(JOBS[name], retries=retries))


def test_a_transient_5xx_is_retried_by_the_worker_then_succeeds(rq_app, platforms, monkeypatch):
    _short_retries(monkeypatch, "sync.campaign", (1, 1))
    campaign_id = _prepare(_campaign("pro-co", "google_ads"), "111222333")
    platforms.google["111222333"] = {day: _google_day(k) for k, day in enumerate(_days(8))}
    platforms.fail("/v21/customers/", 503)

    run_id = enqueue("sync.campaign", campaign_id=campaign_id)
    work_off(rq_app)
    run = db.session.get(m.JobRun, run_id)
    db.session.refresh(run)
    assert run.status == "queued" and run.attempts == 1  # RQ scheduled the retry
    assert "PlatformUnavailable" in run.error and "HTTP 503" in run.error
    assert TODAY not in _metrics(campaign_id)

    time.sleep(1.2)
    work_off(rq_app)
    db.session.refresh(run)
    assert run.status == "succeeded" and run.attempts == 2 and run.result["fetched_days"] == 8
    assert _metrics(campaign_id)[TODAY][1:3] == (1007, 47)


def test_an_auth_error_on_the_worker_fails_at_once_without_retries(rq_app, platforms, monkeypatch):
    _short_retries(monkeypatch, "sync.campaign", (1, 1, 1))
    campaign_id = _prepare(_campaign("pro-co", "google_ads"), "111222333")
    rq_app.config["GOOGLE_ADS_DEVELOPER_TOKEN"] = "not-approved"
    run_id = enqueue("sync.campaign", campaign_id=campaign_id)
    work_off(rq_app)
    time.sleep(1.2)
    work_off(rq_app)  # nothing was scheduled for a retry
    run = db.session.get(m.JobRun, run_id)
    db.session.refresh(run)
    assert run.status == "failed" and run.attempts == 1
    assert run.error.startswith("AuthenticationFailed: Google Ads authentication failed (HTTP 401")
    assert len([r for r in platforms.requests if "googleAds" in r["path"]]) == 1


# --------------------------------------------------------------------------- the daily run


def test_daily_run_fans_out_to_due_campaigns_by_tier_rules(app, platforms):
    # Pro Co moved down to Basic: its Meta campaign no longer syncs (Google still does).
    db.session.execute(sa.update(m.Client).where(m.Client.slug == "pro-co").values(tier="basic"))
    campaigns = db.session.execute(sa.select(m.Campaign).order_by(m.Campaign.id)).scalars().all()
    for campaign in campaigns:
        _prepare(campaign, str(700000 + campaign.id))
    db.session.execute(sa.update(m.Campaign).values(last_synced_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=2)))
    db.session.commit()
    expected = {c.id for c in campaigns if (c.client.slug, c.platform) in {
        ("basic-co", "google_ads"), ("pro-co", "google_ads"), ("enterprise-co", "google_ads"),
        ("enterprise-co", "meta_ads")}}
    for campaign in campaigns:
        platforms.google[campaign.external_id] = {TODAY: _google_day(1)}
        platforms.meta[campaign.external_id] = {TODAY: {"impressions": 10, "clicks": 1, "spend": "1.00"}}

    run_id = enqueue("sync.campaigns")

    run = db.session.get(m.JobRun, run_id)
    assert run.status == "succeeded", run.error
    assert run.result["due"] == len(expected) and "failed" not in run.result
    skipped = run.result["skipped"]
    assert any("Basic plan syncs Google Ads only" in reason for reason in skipped)
    assert any("no LinkedIn Ads adapter" in reason for reason in skipped)
    synced = {r.arguments["campaign_id"] for r in _runs("sync.campaign") if r.status == "succeeded"}
    assert synced == expected
    assert all(TODAY in _metrics(cid) for cid in expected)

    # run again at once: nothing is due (synced minutes ago), nothing fetched twice
    calls = len(platforms.requests)
    again = enqueue("sync.campaigns")
    assert db.session.get(m.JobRun, again).result["due"] == 0 and len(platforms.requests) == calls


def test_an_explicit_sync_of_a_campaign_outside_the_plan_is_refused(app, platforms):
    from app.services.campaign_sync import SyncRefused

    campaign_id = _prepare(_campaign("pro-co", "meta_ads"), "2384000111")
    db.session.execute(sa.update(m.Client).where(m.Client.slug == "pro-co").values(tier="basic"))
    db.session.commit()
    with pytest.raises(SyncRefused):
        enqueue("sync.campaign", campaign_id=campaign_id)
    [run] = _runs("sync.campaign")
    assert run.status == "failed" and "Basic plan syncs Google Ads only" in run.error
    assert platforms.requests == []


# --------------------------------------------------------------------------- network usage


def _traffic(total):
    return {"requests": {"all": total, "2xx": total - 30, "4xx": 20, "5xx": 10},
            "bandwidth": {"all": total * 250_000},
            "countries": [{"country": "BR", "requests": total - 100, "bytes": (total - 100) * 250_000},
                          {"country": "PT", "requests": 100, "bytes": 100 * 250_000}],
            "peak": {"at": f"{TODAY.isoformat()}T18:05:00Z", "rps": 42}}


def test_network_usage_sync_upserts_by_project_and_date(app, platforms):
    project = db.session.execute(sa.select(m.Project).join(m.Client).where(m.Client.slug == "pro-co")
                                 .order_by(m.Project.id).limit(1)).scalar_one()
    zone = project.site_url.split("//", 1)[1].split("/")[0]
    yesterday = TODAY - dt.timedelta(days=1)
    platforms.hosting[zone] = {yesterday: _traffic(12000), TODAY: _traffic(4000)}
    old_row = db.session.execute(sa.select(m.NetworkUsage).filter_by(project_id=project.id, date=yesterday)
                                 ).scalar_one()

    run_id = enqueue("sync.network_usage")

    run = db.session.get(m.JobRun, run_id)
    assert run.status == "succeeded", run.error
    assert run.result["projects"] == 1 and run.result["created"] == 1 and run.result["updated"] == 1
    from app.services.campaign_sync import network_targets

    others = {t.site_url.split("//", 1)[1].split("/")[0] for t in network_targets(db.session)} - {zone}
    assert others and set(run.result["rejected"]) == others  # sites the CDN does not know: named, skipped
    assert "Unknown zone" in run.result["rejected"][sorted(others)[0]]
    db.session.expire_all()
    rows = {r.date: r for r in db.session.execute(sa.select(m.NetworkUsage).filter_by(project_id=project.id)
                                                  .where(m.NetworkUsage.date >= yesterday)).scalars()}
    assert rows[yesterday].id == old_row.id and rows[yesterday].requests_total == 12000
    assert rows[TODAY].requests_5xx == 10 and Decimal(rows[TODAY].bandwidth_gb) == Decimal("1.000")
    assert rows[TODAY].geo_distribution[0] == {"country": "BR", "requests": 3900, "bandwidth_gb": 0.975}
    assert rows[TODAY].peak_rps == 42 and rows[TODAY].peak_at.hour == 18

    second = enqueue("sync.network_usage")
    assert db.session.get(m.JobRun, second).result["unchanged"] == 2
    assert db.session.execute(sa.select(sa.func.count()).select_from(m.NetworkUsage)
                              .filter_by(project_id=project.id, date=TODAY)).scalar_one() == 1


def test_network_usage_with_a_rejected_token_fails_clearly(app, platforms):
    from app.services.campaign_sync import network_targets

    zone = network_targets(db.session)[0].site_url.split("//", 1)[1]
    platforms.hosting[zone] = {TODAY: _traffic(100)}
    app.config["HOSTING_API_TOKEN"] = "wrong"
    with pytest.raises(AuthenticationFailed):
        enqueue("sync.network_usage")
    [run] = _runs("sync.network_usage")
    assert run.status == "failed" and "authentication failed (HTTP 403" in run.error
    assert "HOSTING_API_TOKEN" in run.error


# --------------------------------------------------------------------------- CSV import


@pytest.fixture
def import_form(app):
    """The staff import form, registered as ``app/__init__.py`` does."""
    from app.views import campaign_import

    if not any(type(v).__name__ == "CampaignImportView" for v in app.appbuilder.baseviews):
        campaign_import.register(app.appbuilder)
    return "/campaigns/import/"


GOOD_GOOGLE_EXPORT = (
    "Campaign performance report\n"
    "All time\n"
    "Day,Campaign ID,Campaign,Impr.,Clicks,Conversions,Cost,Conv. value\n"
    "{d1},{cid},Search,\"1,200\",36,3.00,\"1,045.10\",900.00\n"
    "{d2},{cid},Search,980,21,--,33.45,--\n"
    "Total: Campaign,,,\"2,180\",57,3.00,\"1,078.55\",900.00\n"
)


def test_csv_import_of_a_good_export_upserts_through_the_form(app, client, import_form):
    campaign = _campaign("pro-co", "google_ads")
    d1, d2 = TODAY - dt.timedelta(days=2), TODAY - dt.timedelta(days=1)
    before = _metrics(campaign.id)
    login(client, "operator")
    token = csrf_token(client, import_form + f"?campaign_id={campaign.id}")
    body = GOOD_GOOGLE_EXPORT.format(d1=d1, d2=d2, cid=campaign.external_id).encode()
    from io import BytesIO

    response = client.post(import_form, data={"csrf_token": token, "campaign_id": str(campaign.id),
                                              "file": (BytesIO(body), "report.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302 and f"/campaignview/show/{campaign.id}" in response.headers["Location"]
    after = _metrics(campaign.id)
    assert after[d1][1:] == (1200, 36, Decimal("3.00"), Decimal("1045.10"), Decimal("900.00"))
    assert after[d2][1:] == (980, 21, Decimal("0.00"), Decimal("33.45"), Decimal("0.00"))
    assert after[d1][0] == before[d1][0]  # the seeded day was updated in place
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Imported 2 day(s)" in page
    event = db.session.execute(sa.select(m.AuditEvent).filter_by(action="campaign.metrics_imported")).scalar_one()
    assert event.details["rows"] == 2 and event.details["file"] == "report.csv"


def test_csv_import_of_a_bad_export_writes_nothing_and_names_each_line(app, client, import_form):
    from io import BytesIO

    campaign = _campaign("pro-co", "meta_ads")
    before = _metrics(campaign.id)
    tomorrow = TODAY + dt.timedelta(days=1)
    d1 = TODAY - dt.timedelta(days=3)
    body = ("Reporting starts,Campaign ID,Impressions,Link clicks,Results,Amount spent (BRL)\n"
            f"{d1},{campaign.external_id},5000,80,3,45.67\n"  # good, but must not be written alone
            f"{d1},{campaign.external_id},5000,80,3,45.67\n"
            f"31/02/2024,{campaign.external_id},5000,eighty,3,45.67\n"
            f"{tomorrow},{campaign.external_id},5000,80,3,-1\n"
            f"{TODAY},someone-else,5000,80,3,4\n").encode()
    login(client, "operator")
    token = csrf_token(client, import_form)
    response = client.post(import_form, data={"csrf_token": token, "campaign_id": str(campaign.id),
                                              "file": (BytesIO(body), "meta.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Nothing was imported: 4 problems in the file" in html
    errors = re.findall(r"<li>(Line \d+: .*?)</li>", html)
    assert errors[0].startswith("Line 3: date ") and "appears twice (also on line 2)" in errors[0]
    assert errors[1].startswith("Line 4: date &#39;31/02/2024&#39; is not a date") and "clicks &#39;eighty&#39;" \
        in errors[1]
    assert errors[2].startswith("Line 5:") and "in the future" in errors[2] and "cost &#39;-1&#39; is negative" \
        in errors[2]
    assert errors[3].startswith("Line 6: campaign id &#39;someone-else&#39; is not this campaign")
    assert _metrics(campaign.id) == before
    assert db.session.execute(sa.select(m.AuditEvent).filter_by(action="campaign.metrics_imported")
                              ).first() is None


def test_csv_import_refuses_missing_parts_and_other_roles(app, client, import_form):
    from io import BytesIO

    campaign = _campaign("pro-co", "google_ads")
    login(client, "operator")
    token = csrf_token(client, import_form)
    response = client.post(import_form, data={"csrf_token": token, "campaign_id": str(campaign.id)},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose the CSV file to import." in response.get_data(as_text=True)
    response = client.post(import_form, data={"csrf_token": token, "campaign_id": "99999999999999999999",
                                              "file": (BytesIO(b"date,cost\n"), "x.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose the campaign" in response.get_data(as_text=True)
    response = client.post(import_form, data={"csrf_token": token, "campaign_id": str(campaign.id),
                                              "file": (BytesIO(b"hello,world\n1,2\n"), "x.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 422 and "No header line found" in response.get_data(as_text=True)
    client.get("/logout/")
    login(client, "developer")  # reads campaigns, may not change them
    assert client.get(import_form).status_code in (302, 403)
    assert client.post(import_form, data={"csrf_token": csrf_token(client, "/resetmypassword/form"), "campaign_id": str(campaign.id)}
                       ).status_code in (302, 403)


def test_csv_import_without_a_csrf_token_is_refused(app, client, import_form):
    from io import BytesIO

    campaign = _campaign("pro-co", "google_ads")
    login(client, "operator")
    response = client.post(import_form, data={"campaign_id": str(campaign.id),
                                              "file": (BytesIO(GOOD_GOOGLE_EXPORT.encode()), "x.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 400
    assert db.session.execute(sa.select(m.AuditEvent).filter_by(action="campaign.metrics_imported")).first() is None


def test_a_utf16_tab_separated_google_export_imports(app, client, import_form):
    """Google Ads' "Excel .csv" download: UTF-16 with BOM, tab-separated, title lines."""
    from io import BytesIO

    campaign = _campaign("basic-co", "google_ads")
    day = TODAY - dt.timedelta(days=4)
    text = ("Campaign report\n\"1 March 2026 - 31 March 2026\"\n"
            "Day\tCampaign\tImpr.\tClicks\tConversions\tCost\n"
            f"{day}\tSearch\t2,500\t75\t4.50\tR$ 123.40\n")
    login(client, "operator")
    token = csrf_token(client, import_form)
    response = client.post(import_form, data={"csrf_token": token, "campaign_id": str(campaign.id),
                                              "file": (BytesIO(text.encode("utf-16")), "report.csv")},
                           content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    assert _metrics(campaign.id)[day][1:] == (2500, 75, Decimal("4.50"), Decimal("123.40"), Decimal("0.00"))


# --------------------------------------------------------------------------- passing faults


def test_meta_rate_limits_and_timeouts_are_passing_faults(app, platforms):
    """Meta says "slow down" with HTTP 400 and code 17; a platform that does not answer in
    time is the same kind of fault: both retried, neither taken for bad credentials."""
    from types import SimpleNamespace

    import httpx

    from app.integrations.campaign_sources import MetaAdsSource
    from app.integrations.platform_http import PlatformUnavailable

    campaign_id = _prepare(_campaign("pro-co", "meta_ads"), "2384000111")
    platforms.meta_error = {"message": "(#17) User request limit reached", "type": "OAuthException", "code": 17,
                            "is_transient": True, "fbtrace_id": "Z"}
    with pytest.raises(PlatformUnavailable):
        enqueue("sync.campaign", campaign_id=campaign_id)
    [run] = _runs("sync.campaign")
    assert run.status == "failed"  # inline: no retries here; on a worker RQ retries it
    assert run.error.startswith("PlatformUnavailable: Meta Ads asked us to retry later (HTTP 400, code 17")

    platforms.delay = 0.5
    source = MetaAdsSource(platforms.url, "v21.0", "meta-token", timeout=httpx.Timeout(0.2))
    with pytest.raises(PlatformUnavailable, match="did not answer in time"):
        source.fetch_daily(SimpleNamespace(name="M", external_id="2384000111"), TODAY, TODAY)


def test_the_daily_run_on_a_real_worker_fans_out_and_syncs(rq_app, platforms):
    campaign_id = _prepare(_campaign("basic-co", "google_ads"), "555000555")
    db.session.execute(sa.update(m.Campaign).where(m.Campaign.id == campaign_id)
                       .values(last_synced_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=1)))
    db.session.commit()
    platforms.google["555000555"] = {TODAY: _google_day(3)}

    run_id = enqueue("sync.campaigns")
    assert work_off(rq_app)  # the fan-out, then the campaign jobs it queued

    run = db.session.get(m.JobRun, run_id)
    db.session.refresh(run)
    assert run.status == "succeeded" and run.result["due"] == 1, run.result
    [child] = [r for r in _runs("sync.campaign")]
    assert child.id in run.result["queued_runs"] and child.status == "succeeded" and child.rq_job_id
    assert child.arguments == {"campaign_id": campaign_id}
    assert _metrics(campaign_id)[TODAY][1:3] == (1003, 43)


def test_flask_jobs_run_syncs_one_campaign_and_reports_refusals(app, platforms):
    from tests.conftest import run_cli

    campaign_id = _prepare(_campaign("pro-co", "google_ads"), "111222333")
    platforms.google["111222333"] = {TODAY: _google_day(0)}
    result = run_cli(app, "jobs", "run", "sync.campaign", "--arg", f"campaign_id={campaign_id}")
    assert result.exit_code == 0 and "succeeded" in result.output, result.output
    assert _metrics(campaign_id)[TODAY][1] == 1000
    app.config["GOOGLE_ADS_ACCESS_TOKEN"] = None
    result = run_cli(app, "jobs", "run", "sync.campaign", "--arg", f"campaign_id={campaign_id}")
    assert result.exit_code != 0 and "Google Ads sync is not configured" in result.output
    assert "GOOGLE_ADS_ACCESS_TOKEN" in result.output
