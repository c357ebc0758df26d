"""Demo data for ``flask seed demo`` (SPEC §8): staff users, one client per tier with
owner and viewer users, and realistic projects, milestones, domains with DNS records,
tickets with threads (some internal), campaigns with 90 days of metrics, monitors,
incidents with updates, network usage and performance metrics.

Idempotent: users are matched by username (their password is reset to the one given),
clients by slug; a client that already exists keeps its data untouched, so running the
seed twice leaves the same row counts. ``scale`` multiplies the per-client volume of
tickets (with their messages) and is applied when a client is first created; the bulk
rows are written with Core inserts, their derived fields computed by the same services.
Data is generated from a fixed random seed, relative to the day it runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import random
from decimal import Decimal
from types import SimpleNamespace

import sqlalchemy as sa

from app import models as m
from app.models import ImpersonationEnd
from app.models.base import utcnow
from app.services import bi, impersonation, notifications, tiers
from app import roles as role_table
from app.services import tickets as ticket_rules
from app.services.passwords import hash_password

STAFF = [
    ("admin", "Ana", "Admin", role_table.ADMIN),
    ("operator", "Otávio", "Operator", role_table.OPERATOR),
    ("developer", "Débora", "Developer", role_table.DEVELOPER),
]

CLIENTS = [
    # slug, name, tier, projects, domains, campaigns (platforms)
    ("free-co", "Free Co", m.Tier.FREE, 1, 1, []),
    ("basic-co", "Basic Co", m.Tier.BASIC, 2, 2, [m.AdPlatform.GOOGLE_ADS]),
    ("pro-co", "Pro Co", m.Tier.PRO, 3, 3, [m.AdPlatform.GOOGLE_ADS, m.AdPlatform.META_ADS]),
    ("enterprise-co", "Enterprise Co", m.Tier.ENTERPRISE, 4, 4,
     [m.AdPlatform.GOOGLE_ADS, m.AdPlatform.META_ADS, m.AdPlatform.LINKEDIN_ADS]),
]

PROJECT_NAMES = ["Institutional website", "E-commerce store", "Customer app", "Landing pages",
                 "Intranet portal"]
MILESTONES = ["Discovery workshop", "Design approved", "Development complete", "Go-live"]
TICKET_SUBJECTS = [
    "Contact form not sending emails", "Update the team page photos", "Checkout slow on mobile",
    "Add new product category", "SSL warning on the blog", "Change opening hours in the footer",
    "Google Analytics numbers look off", "Request: new landing page for campaign",
    "Images not loading in Safari", "Add LGPD cookie banner", "Newsletter signup returns error",
    "Translate the home page to English",
]
# Contact people shown to the client on projects and domains (no random numbers used,
# so the rest of the seed stays as it was).
CONTACT_PEOPLE = ["Mariana Souza", "Rafael Lima", "Beatriz Costa", "Thiago Alves", "Camila Rocha"]
CLIENT_LINES = ["Hi team, could you take a look at this?", "This is affecting our customers today.",
                "Thanks! Let us know if you need anything from us.", "Any update on this one?"]
STAFF_LINES = ["Thanks for reporting, we are looking into it.", "Fixed and deployed, please confirm.",
               "We need the new copy from you to continue.", "Scheduled for this week's release."]
INTERNAL_LINES = ["Internal: caused by the SMTP relay quota, raise it.", "Internal: client is on the "
                  "old theme, estimate 3h.", "Internal: check with the designer before replying."]


# Canned replies (``services.ticket_macros``): name, body, the status the reply also sets.
MACROS = (
    ("Acknowledge", "Hi {requester_first_name},\n\nThanks for telling us. I am looking into {ticket_number} now "
                    "and will update you here.\n\n{agent_name}", "in_progress"),
    ("Need more information", "Hi {requester_first_name},\n\nTo move {ticket_number} forward we need a little more "
                              "from {client_name}: the page address and a screenshot of what you see.\n\n{agent_name}",
     "waiting_client"),
    ("Fixed", "Hi {requester_first_name},\n\nThis is fixed on our side. If anything still looks wrong, reply here "
              "within 7 days and the ticket reopens.\n\n{agent_name}", "resolved"),
)


def ensure_user(sm, username, first, last, email, role_name, password):
    role = sm.find_role(role_name)
    user = sm.find_user(username=username)
    if user is None:
        user = sm.add_user(username, first, last, email, role, password=password)
        if not user:
            raise RuntimeError(f"could not create user {username}")
    else:
        user.password = hash_password(password)
        user.roles = [role]
        user.active = True
    return user


def seed_demo(appbuilder, session, password: str, scale: int = 1, today: dt.date | None = None,
              upload_dir: str | None = None, language: str | None = "pt_BR") -> dict:
    """The demo agency: staff, four Brazilian clients (one per tier; ``language`` is their
    users' default, None for each browser's own) and their history. Idempotent."""
    if scale < 1:
        raise ValueError("scale must be 1 or more")

    with notifications.suppressed():  # the demo's history tells nobody
        return _seed(appbuilder, session, password, scale, today, upload_dir, language)


def _seed(appbuilder, session, password, scale, today, upload_dir, language) -> dict:
    appbuilder.sm.sync_roles()
    sm = appbuilder.sm
    staff = {u: ensure_user(sm, u, f, la, f"{u}@atrium.example", r, password) for u, f, la, r in STAFF}
    for name, body, status in MACROS:
        if session.execute(sa.select(m.TicketMacro.id).where(m.TicketMacro.name == name)).first() is None:
            session.add(m.TicketMacro(name=name, body=body, set_status=status))
    session.commit()
    created = []
    for slug, name, tier, n_projects, n_domains, platforms in CLIENTS:
        owner = ensure_user(sm, f"{slug}-owner", name.split()[0], "Owner", f"owner@{slug}.example",
                            role_table.CLIENT, password)
        viewer = ensure_user(sm, f"{slug}-viewer", name.split()[0], "Viewer", f"viewer@{slug}.example",
                             role_table.CLIENT, password)
        client = session.execute(sa.select(m.Client).where(m.Client.slug == slug)).scalar_one_or_none()
        if client is None:
            rng = random.Random(f"atrium-demo-{slug}")
            client = _create_client(session, rng, slug, name, tier, n_projects, n_domains, platforms,
                                    staff, owner, viewer, scale, today or utcnow().date())
            client.language = language
            _create_files_reports_billing(session, client, owner, upload_dir, today or utcnow().date())
            created.append(slug)
            if slug == "basic-co":
                _record_view_as_session(session, staff["operator"], owner)
        session.commit()
    bi.seed_history(session, today)  # 90 days of DailyAnalytics (missing days only) for the BI dashboard
    session.commit()
    return {"created": created, "users": len(STAFF) + 2 * len(CLIENTS)}


def _record_view_as_session(session, operator, target) -> None:
    """A finished "view as" session, through the same service staff use, so the audit
    screens and the client's activity show one."""
    started = utcnow() - dt.timedelta(days=2)
    row = impersonation.start(session, operator, target.id, "Client reported the dashboard charts look empty",
                              now=started)
    impersonation.end(session, row, ImpersonationEnd.ENDED, now=started + dt.timedelta(minutes=7))


def _create_client(session, rng, slug, name, tier, n_projects, n_domains, platforms, staff, owner, viewer,
                   scale, today):
    now = utcnow()
    client = m.Client(name=name, slug=slug, tier=tier, status=m.ClientStatus.ACTIVE,
                      contact_email=f"contact@{slug}.example", timezone="America/Sao_Paulo",
                      subscription_status=None if tier == m.Tier.FREE else m.SubscriptionStatus.ACTIVE,
                      internal_notes=f"Account opened {today.year - 1}. Prefers WhatsApp for urgent issues.")
    if tier == m.Tier.ENTERPRISE:
        client.brand_primary_color = "#0b5394"
    session.add(client)
    session.flush()
    # Demo users: the owner and a read-only viewer (the seed is staff-side, so the
    # team-member limit of the free plan is lifted by an explicit override).
    session.add_all([m.ClientMember(client=client, user=owner, role=m.MemberRole.OWNER),
                     m.ClientMember(client=client, user=viewer, role=m.MemberRole.VIEWER)])
    limit = tiers.limit_for(client, "team_members")
    if limit is not None and limit < 2:
        client.limit_overrides = {"team_members": 2}
        client.limit_overrides_set_by_id = staff["admin"].id
        client.limit_overrides_set_at = now

    projects = []
    statuses = [m.ProjectStatus.LIVE, m.ProjectStatus.DEVELOPMENT, m.ProjectStatus.TESTING,
                m.ProjectStatus.MAINTENANCE, m.ProjectStatus.DISCOVERY]
    for i in range(n_projects):
        status = statuses[i % len(statuses)]
        start = today - dt.timedelta(days=rng.randint(120, 400))
        budget = Decimal(rng.choice([8000, 15000, 24000, 48000, 90000]))
        completion = 100 if status in (m.ProjectStatus.LIVE, m.ProjectStatus.MAINTENANCE) else rng.randint(10, 85)
        p = m.Project(
            client=client, name=PROJECT_NAMES[i], status=status, completion_percent=completion,
            description=f"{PROJECT_NAMES[i]} for {name}.", start_date=start,
            estimated_delivery=start + dt.timedelta(days=rng.randint(60, 180)),
            actual_delivery=(start + dt.timedelta(days=rng.randint(60, 150))) if completion == 100 else None,
            budget_total=budget, budget_used=(budget * Decimal(completion) / 100).quantize(Decimal("0.01")),
            manager=staff["operator"], team=[staff["developer"]],
            site_url=f"https://{'www' if i == 0 else 'p' + str(i)}.{slug}.example",
            internal_notes="Margin 32 %. Hosting resold at cost + 20 %.",
            **_contact(CONTACT_PEOPLE[i % len(CONTACT_PEOPLE)], slug, i),
        )
        session.add(p)
        projects.append(p)
        for j, title in enumerate(MILESTONES):
            due = start + dt.timedelta(days=30 * (j + 1))
            done = completion == 100 or j < completion // 30
            p.milestones.append(m.Milestone(
                title=title, due_date=due,
                completed_at=dt.datetime.combine(due, dt.time(17), dt.UTC) if done else None,
                deliverable=f"https://drive.example/{slug}/{j}"))
        p.infrastructure = m.Infrastructure(
            hosting_provider=rng.choice(["AWS", "DigitalOcean", "Hostinger", "Vercel"]),
            hosting_plan=rng.choice(["t3.small", "Basic droplet", "Business", "Pro"]),
            hosting_status=m.HostingStatus.ONLINE, hosting_monthly_cost=Decimal(rng.choice([49, 120, 340])),
            cdn_provider="Cloudflare", cdn_bandwidth_gb=Decimal(rng.randint(20, 900)),
            cdn_cache_hit_rate=Decimal(rng.randint(70, 98)), db_provider="PostgreSQL (managed)",
            db_size_mb=rng.randint(50, 8000), db_backup_status=m.BackupStatus.OK,
            db_last_backup_at=now - dt.timedelta(hours=rng.randint(1, 20)))
    session.flush()

    for i in range(n_domains):
        dname = f"{slug}{'' if i == 0 else '-' + str(i)}.com.br"
        session.add(m.Domain(
            client=client, project=projects[i % len(projects)], name=dname, status=m.DomainStatus.ACTIVE,
            nameservers=["ns1.cloudflare.com", "ns2.cloudflare.com"],
            dns_records=[
                {"type": "A", "name": "@", "value": f"203.0.113.{10 + i}", "ttl": 3600},
                {"type": "CNAME", "name": "www", "value": dname, "ttl": 3600},
                {"type": "MX", "name": "@", "value": "mx.mail.example.net", "ttl": 3600, "priority": 10},
                {"type": "TXT", "name": "@", "value": "v=spf1 include:mail.example.net ~all", "ttl": 3600},
            ],
            ssl_status=m.SSLStatus.ACTIVE, ssl_issuer="Let's Encrypt R11",
            ssl_expires_at=now + dt.timedelta(days=rng.choice([12, 25, 60, 80])),
            registrar="Registro.br", registered_on=today - dt.timedelta(days=rng.randint(400, 2000)),
            renewal_date=today + dt.timedelta(days=rng.choice([20, 45, 120, 300])), auto_renew=True,
            **_contact(CONTACT_PEOPLE[(i + 1) % len(CONTACT_PEOPLE)], slug, 10 + i)))

    for p in projects:
        monitor = m.Monitor(project=p, url=(p.site_url or "https://example.com") + "/health", expected_status=200,
                            timeout_seconds=10, enabled=True, state=m.MonitorState.UP,
                            last_checked_at=now - dt.timedelta(minutes=1), consecutive_successes=12)
        session.add(monitor)
        for k in range(3):
            session.add(m.MonitorCheck(monitor=monitor, checked_at=now - dt.timedelta(minutes=5 * k), ok=True,
                                       status_code=200, latency_ms=rng.randint(80, 450)))
        started = now - dt.timedelta(days=rng.randint(3, 40), hours=rng.randint(0, 23))
        inc = m.Incident(project=p, monitor=monitor, title=f"{p.name} unreachable",
                         description="Uptime check failed twice in a row.", severity=m.Severity.HIGH,
                         status=m.IncidentStatus.RESOLVED, started_at=started,
                         resolved_at=started + dt.timedelta(minutes=rng.randint(4, 95)),
                         affected_users=rng.randint(10, 900), revenue_impact=Decimal(rng.randint(0, 2500)),
                         root_cause="Hosting provider network maintenance.",
                         resolution_notes="Provider restored the network; no action needed.",
                         source=m.IncidentSource.MONITOR)
        session.add(inc)
        for k, (st, msg) in enumerate([(m.IncidentStatus.INVESTIGATING, "We are looking into reports of downtime."),
                                       (m.IncidentStatus.IDENTIFIED, "The hosting provider confirmed a network issue."),
                                       (m.IncidentStatus.RESOLVED, "Service restored.")]):
            inc.updates.append(m.IncidentUpdate(status=st, message=msg, author=staff["developer"],
                                                at=started + dt.timedelta(minutes=2 + 10 * k)))
        for d in range(30):
            day = today - dt.timedelta(days=d + 1)
            total = rng.randint(2000, 60000)
            e4, e5 = int(total * rng.uniform(0.01, 0.05)), int(total * rng.uniform(0.0, 0.01))
            session.add(m.NetworkUsage(
                project=p, date=day, bandwidth_gb=Decimal(str(round(total * 0.0004, 3))), requests_total=total,
                requests_2xx=total - e4 - e5, requests_4xx=e4, requests_5xx=e5,
                geo_distribution=[{"country": "BR", "requests": int(total * 0.85), "bandwidth_gb": 1.0},
                                  {"country": "PT", "requests": int(total * 0.1), "bandwidth_gb": 0.1},
                                  {"country": "US", "requests": total - int(total * 0.85) - int(total * 0.1),
                                   "bandwidth_gb": 0.05}],
                peak_at=dt.datetime.combine(day, dt.time(rng.randint(10, 21)), dt.UTC),
                peak_rps=rng.randint(5, 120)))
        for w in range(6):
            session.add(m.PerformanceMetric(
                project=p, measured_at=now - dt.timedelta(days=7 * w), lcp_s=Decimal(str(round(rng.uniform(1.2, 4.5), 2))),
                inp_ms=rng.randint(80, 450), cls=Decimal(str(round(rng.uniform(0.01, 0.3), 3))),
                lighthouse_performance=rng.randint(55, 99), lighthouse_accessibility=rng.randint(75, 100),
                lighthouse_best_practices=rng.randint(70, 100), lighthouse_seo=rng.randint(80, 100)))
    session.flush()

    for k, platform in enumerate(platforms):
        camp = m.Campaign(client=client, project=projects[0], name=f"{name} — {platform.value.split('_')[0].title()} "
                          f"{'Search' if k == 0 else 'Awareness'}", platform=platform,
                          external_id=f"{slug}-{platform.value}-{1000 + k}", status=m.CampaignStatus.ACTIVE,
                          budget_daily=Decimal(rng.choice([900, 1000, 1200])), start_date=today - dt.timedelta(days=120))
        camp.budget_total = camp.budget_daily * 150
        session.add(camp)
        session.flush()
        rows = []
        for d in range(90):
            day = today - dt.timedelta(days=d + 1)
            impressions = rng.randint(2000, 25000)
            clicks = int(impressions * rng.uniform(0.01, 0.06))
            conversions = Decimal(int(clicks * rng.uniform(0.02, 0.09)))
            cost = (Decimal(clicks) * Decimal(str(round(rng.uniform(0.6, 3.2), 2)))).quantize(Decimal("0.01"))
            revenue = (cost * Decimal(str(round(rng.uniform(0.8, 5.5), 2)))).quantize(Decimal("0.01"))
            rows.append(dict(client_id=client.id, campaign_id=camp.id, date=day, impressions=impressions,
                             clicks=clicks, conversions=conversions, cost=cost, revenue=revenue,
                             created_at=now, updated_at=now))
        session.execute(sa.insert(m.CampaignMetric), rows)
        camp.last_synced_at = now

    _create_tickets(session, rng, client, projects, staff, owner, scale, now)
    return client


def _contact(person: str, slug: str, n: int) -> dict:
    first = person.split()[0].lower()
    return {"contact_name": person, "contact_email": f"{first}@{slug}.example",
            "contact_phone": f"+55 11 9{4000 + n:04d}-{1000 + 37 * n:04d}"}


def _create_files_reports_billing(session, client, owner, upload_dir, today):
    """Folders with a brief on disk, last month's report (queued for the report job) and,
    for paying clients, the Stripe event that put them on their plan."""
    now = utcnow()
    root = m.StorageFolder(client=client, name="Briefs", path="/briefs")
    assets = m.StorageFolder(client=client, name="Brand assets", path="/brand-assets")
    session.add_all([root, assets])
    content = (f"Project brief for {client.name}\n\nGoals: more qualified leads, faster site.\n"
               f"Audience: small businesses in Brazil.\n").encode()
    stored = f"{client.slug}/briefs/project-brief.txt"
    if upload_dir:
        path = os.path.join(upload_dir, stored)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(content)
    session.add(m.StorageFile(client=client, folder=root, file_name="project-brief.txt", stored_path=stored,
                              mime_type="text/plain", size_bytes=len(content),
                              sha256=hashlib.sha256(content).hexdigest(), uploaded_by=owner, tags=["brief"]))
    last_month = (today.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    session.add(m.Report(client=client, period=last_month, status=m.ReportStatus.QUEUED))
    if client.tier != m.Tier.FREE:
        event_id = f"evt_demo_{client.slug}"
        client.stripe_customer_id = f"cus_demo_{client.slug.replace('-', '')}"
        client.stripe_subscription_id = f"sub_demo_{client.slug.replace('-', '')}"
        client.current_period_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        client.current_period_end = client.current_period_start + dt.timedelta(days=30)
        session.add(m.BillingEvent(
            provider_event_id=event_id, type="customer.subscription.updated", client_id=client.id,
            payload={"id": event_id, "type": "customer.subscription.updated",
                     "data": {"object": {"id": client.stripe_subscription_id, "customer": client.stripe_customer_id,
                                         "status": "active", "items": {"data": [{"price": {"id": f"price_{client.tier}"}}]}}}},
            received_at=now - dt.timedelta(days=20), processed_at=now - dt.timedelta(days=20),
            outcome=f"subscription active, tier {client.tier}"))


def _create_tickets(session, rng, client, projects, staff, owner, scale, now):
    """Tickets with threads; the first few through the ORM, the scaled bulk via Core."""
    per_client = 8 * scale
    this_month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    span_days = max(120, min(730, per_client // 20))
    ticket_rows, message_plan = [], []
    for n in range(per_client):
        if n < 3:  # a few tickets this month, well within every plan's monthly limit
            opened = this_month + (now - this_month) * rng.uniform(0.05, 0.95)
        else:
            opened = this_month - dt.timedelta(days=rng.uniform(1, span_days))
        subject = TICKET_SUBJECTS[n % len(TICKET_SUBJECTS)]
        status = (rng.choice([m.TicketStatus.OPEN, m.TicketStatus.IN_PROGRESS, m.TicketStatus.WAITING_CLIENT])
                  if n < 5 else rng.choice([m.TicketStatus.RESOLVED, m.TicketStatus.CLOSED]))
        t = SimpleNamespace(created_at=opened, status=status, first_response_at=None, resolved_at=None,
                            sla_paused_since=None)
        ticket_rules.start_clock(t, client, opened_at=opened)
        answered = n % 7 != 0 or status in (m.TicketStatus.RESOLVED, m.TicketStatus.CLOSED)
        if answered:
            window = (t.sla_hours or 48) * 60
            t.first_response_at = opened + dt.timedelta(minutes=rng.randint(5, int(window * 1.1)))
        if status in (m.TicketStatus.RESOLVED, m.TicketStatus.CLOSED):
            t.resolved_at = (t.first_response_at or opened) + dt.timedelta(hours=rng.randint(1, 72))
        if status == m.TicketStatus.WAITING_CLIENT:
            t.sla_paused_since = (t.first_response_at or opened) + dt.timedelta(minutes=5)
        t.sla_state = ticket_rules.sla_state(t, now=now)
        ticket_rows.append(dict(
            client_id=client.id, project_id=projects[n % len(projects)].id, subject=subject,
            description=f"{subject}. Reported by {owner.first_name} from {client.name}.",
            priority=rng.choice(list(m.TicketPriority)), status=status,
            assignee_id=rng.choice([staff["operator"].id, staff["developer"].id]),
            sla_hours=t.sla_hours, first_response_due_at=t.first_response_due_at,
            first_response_at=t.first_response_at, resolved_at=t.resolved_at, sla_state=t.sla_state,
            sla_paused_since=t.sla_paused_since, sla_paused_seconds=0, opened_by_id=owner.id,
            created_at=opened, updated_at=t.resolved_at or t.first_response_at or opened))
        message_plan.append((opened, t.first_response_at, n))
    ticket_table = m.Ticket.__table__
    batch = 5000
    for start in range(0, len(ticket_rows), batch):
        chunk = ticket_rows[start:start + batch]
        ids = session.execute(
            sa.insert(ticket_table).returning(ticket_table.c.id, sort_by_parameter_order=True), chunk
        ).scalars().all()
        messages = []
        for tid, (opened, responded, n) in zip(ids, message_plan[start:start + batch]):
            messages.append(dict(client_id=client.id, ticket_id=tid, author_id=owner.id,
                                 body=CLIENT_LINES[n % len(CLIENT_LINES)], internal=False,
                                 created_at=opened, updated_at=opened))
            if n % 3 == 0:
                at = opened + dt.timedelta(minutes=3)
                messages.append(dict(client_id=client.id, ticket_id=tid, author_id=staff["developer"].id,
                                     body=INTERNAL_LINES[n % len(INTERNAL_LINES)], internal=True,
                                     created_at=at, updated_at=at))
            if responded is not None:
                messages.append(dict(client_id=client.id, ticket_id=tid, author_id=staff["operator"].id,
                                     body=STAFF_LINES[n % len(STAFF_LINES)], internal=False,
                                     created_at=responded, updated_at=responded))
        session.execute(sa.insert(m.TicketMessage.__table__), messages)
