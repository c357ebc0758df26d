"""``flask`` commands (SPEC §8): roles, seed, audit, jobs, members, reports, backup, gdpr.
Thin doors over ``app.services``.

Errors a person can cause exit non-zero with a one-line message (``click.ClickException``).
``flask db ...`` comes from Flask-Migrate and ``flask fab ...`` from Flask-AppBuilder.
"""

from __future__ import annotations

import datetime as dt
import json

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import AppGroup

from config import DEV_DEMO_PASSWORD
from workers.schedule import SCHEDULES, configured  # the schedule table (read only: `flask jobs list`)

from .errors import AtriumError, InvalidInput, NotFound
from .extensions import db
from . import models as m
from .models import Client, JobRun, Report, Ticket, User
from .security.manager import sync_roles
from .services import (
    audit,
    audit_chain,
    audit_checkpoints,
    backup,
    backup_restore,
    db_roles,
    gdpr,
    jobs_overview,
    report_data,
    reports,
    team,
    tickets,
)
from . import tenancy
from .services.demo import seed_demo as run_seed
from .services.identity import ensure_system_user
from .services.jobs import enqueue, load_jobs

class SystemGroup(AppGroup):
    """A command group whose commands act as the system: the tenancy scope is bound
    explicitly (``tenancy.acting_as``), since an operator at the shell acts for the agency
    on every client's rows. Commands outside these groups (``flask shell``, ``flask db``)
    bind nothing, so tenant rows are refused there until the code says whom it acts for."""

    def invoke(self, ctx):
        with tenancy.acting_as(tenancy.SYSTEM):
            return super().invoke(ctx)


roles_cli = SystemGroup("roles", help="Roles and permissions (SPEC §1).")
seed_cli = SystemGroup("seed", help="Demo data.")
audit_cli = SystemGroup("audit", help="The audit trail (SPEC §6).")
jobs_cli = SystemGroup("jobs", help="Background jobs (SPEC §7).")
members_cli = SystemGroup("members", help="A client's portal users (staff offboarding and role changes).")


@roles_cli.command("sync")
@click.option("--verbose", is_flag=True, help="Also Flask-AppBuilder's line per permission, and the grants per role.")
def roles_sync(verbose):
    """Create every permission and apply the role table exactly (idempotent); one
    summary line."""
    report = sync_roles(current_app.appbuilder, verbose=verbose)
    ensure_system_user(db.session)
    db.session.commit()
    if verbose:
        for role, n in report["roles"].items():
            click.echo(f"{role}: {n} permissions")
    click.echo(f"Roles synced: {report['added']} grants added, {report['removed']} removed, {report['kept']} kept "
               f"({len(report['roles'])} roles, {report['permissions']} permissions).")


@seed_cli.command("demo")
@click.option("--password", default=None, help="Password for every demo user (required in production).")
@click.option("--scale", default=1, show_default=True, type=click.IntRange(1, 100000),
              help="Multiply the per-client ticket volume (benchmarks).")
@click.option("--client-language", default="pt_BR", show_default=True, type=click.Choice(["pt_BR", "en", "none"]),
              help="The demo clients' language (none: each browser's own).")
def seed_demo(password, scale, client_language):
    """Create demo users, four clients (one per tier) and their data (idempotent)."""
    if password is None:
        if current_app.config["ENV_NAME"] == "production":
            raise click.ClickException("--password is required in production.")
        password = current_app.config.get("DEMO_PASSWORD") or DEV_DEMO_PASSWORD
        click.echo(f"No --password given: demo users get the development password {password!r}.")
    elif len(password) < 8:
        raise click.ClickException("--password must be at least 8 characters.")
    result = run_seed(current_app.appbuilder, db.session, password=password, scale=scale,
                      upload_dir=current_app.config["UPLOAD_DIR"],
                      language=None if client_language == "none" else client_language)
    created = ", ".join(result["created"]) or "none (all demo clients already existed)"
    click.echo(f"Demo data ready. Clients created: {created}.")
    click.echo("Logins: admin, operator, developer, <slug>-owner, <slug>-viewer for "
               "free-co, basic-co, pro-co, enterprise-co.")


@audit_cli.command("verify")
def audit_verify():
    """Check the chain, its head row and the newest signed checkpoint; exit 1 naming the problem."""
    try:
        checkpoint = audit_checkpoints.latest(current_app.config)
    except audit_checkpoints.CheckpointProblem as exc:
        raise click.ClickException(str(exc)) from None
    ok, message, _ = audit_chain.verify(db.session, checkpoint=checkpoint)
    owner = _audit_table_owner()
    db.session.rollback()
    if owner:
        click.echo(f"warning: the app's database role {owner} owns audit_events, so it can turn off the log's "
                   "triggers and row-level security; give the schema to an owner role (README \"Running in "
                   "production\").", err=True)
    if not ok:
        raise click.ClickException(message)
    click.echo(message)


def _audit_table_owner() -> str | None:
    """PostgreSQL: the connected role's name when it owns ``audit_events`` (a setup the
    README warns against), else ``None``."""
    if db.session.get_bind().dialect.name != "postgresql":
        return None
    return db.session.execute(sa.text(
        "SELECT current_user FROM pg_tables WHERE schemaname = 'public' AND tablename = 'audit_events' "
        "AND tableowner = current_user")).scalar()


def write_checkpoint() -> tuple[str, int]:
    """Verify the chain and sign its head (``services.audit_checkpoints.sign_head``)."""
    return audit_checkpoints.sign_head(db.session, current_app.config)


@audit_cli.command("checkpoint")
def audit_checkpoint():
    """Verify the chain and write a signed checkpoint of its head to AUDIT_CHECKPOINT_DIR."""
    try:
        path, seq = write_checkpoint()
    except AtriumError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Checkpoint of event seq {seq} signed and written to {path}.")


@audit_cli.command("keygen")
def audit_keygen():
    """Print a new Ed25519 signing key for AUDIT_SIGNING_KEY and its public key."""
    private = audit_checkpoints.new_private_text()
    click.echo(f"AUDIT_SIGNING_KEY={private}")
    click.echo(f"public key: {audit_checkpoints.public_text(audit_checkpoints.private_key(private))}")


@audit_cli.command("public-key")
def audit_public_key():
    """Print the public key of AUDIT_SIGNING_KEY (for AUDIT_TRUSTED_KEYS after a rotation)."""
    click.echo(audit_checkpoints.public_text(audit_checkpoints.private_key(current_app.config["AUDIT_SIGNING_KEY"])))


def _as_owner(work):
    """``work()`` as the owner role (DATABASE_OWNER_URL); a refusal of the database names the setting."""
    with db_roles.as_owner(db) as owner:
        try:
            return work()
        except sa.exc.ProgrammingError as exc:
            db.session.rollback()
            if "permission denied" in str(exc.orig) or "must be owner" in str(exc.orig):
                hint = "" if owner else " Set DATABASE_OWNER_URL to the owner role's URL."
                raise click.ClickException(f"The database refused: {str(exc.orig).splitlines()[0]}.{hint}") from None
            raise


@audit_cli.command("rekey")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def audit_rekey(yes):
    """Rotate AUDIT_HMAC_KEY: verify with AUDIT_HMAC_OLD_KEY, re-hash every event with
    AUDIT_HMAC_KEY (as the owner role), then write a signed checkpoint."""
    old = current_app.config.get("AUDIT_HMAC_OLD_KEY")
    if not old:
        raise click.ClickException("Set AUDIT_HMAC_OLD_KEY to the key the chain is hashed with now.")
    if old == current_app.config["AUDIT_HMAC_KEY"]:
        raise click.ClickException("AUDIT_HMAC_OLD_KEY is AUDIT_HMAC_KEY: nothing to rotate.")
    if not yes:
        click.confirm("Re-hash the whole audit chain with the new key?", abort=True)

    def work():
        count = audit_chain.rehash(db.session, old, current_app.config["AUDIT_HMAC_KEY"], checkpoint=checkpoint)
        db.session.commit()
        return count

    try:
        checkpoint = audit_checkpoints.latest(current_app.config)
        count = _as_owner(work)
        path, seq = audit_checkpoints.sign_head(db.session, current_app.config, against_latest=False)
    except audit_checkpoints.CheckpointProblem as exc:
        raise click.ClickException(str(exc)) from None
    except AtriumError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Re-hashed {count} events with the new key; checkpoint of seq {seq} written to {path}.")


@audit_cli.command("prune")
@click.option("--before", required=True, type=click.DateTime(formats=["%Y-%m-%d"]),
              help="Delete events that occurred before this date (UTC), YYYY-MM-DD.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def audit_prune(before, yes):
    """Retention: delete old events (as the owner role), leaving a checkpoint so the chain still verifies."""
    cutoff = before.replace(tzinfo=dt.UTC)
    if cutoff > dt.datetime.now(dt.UTC) - dt.timedelta(days=30):
        raise click.ClickException("--before must be at least 30 days ago: recent events are never pruned.")
    if not yes:
        click.confirm(f"Delete every audit event before {cutoff:%Y-%m-%d}?", abort=True)

    def work():
        deleted = audit.prune(db.session, cutoff)
        db.session.commit()
        return deleted

    deleted = _as_owner(work)
    click.echo(f"Pruned {deleted} events before {cutoff:%Y-%m-%d}; checkpoint recorded.")


def _job_argument(text: str) -> tuple[str, object]:
    key, sep, raw = text.partition("=")
    if not sep or not key.isidentifier():
        raise click.BadParameter(f"{text!r}: expected KEY=VALUE, e.g. monitor_id=3", param_hint="--arg")
    try:
        return key, json.loads(raw)
    except ValueError:
        return key, raw


@jobs_cli.command("list")
def jobs_list():
    """Print the schedule (SPEC §7): name, when, queue, job, last and next run."""
    jobs = load_jobs()
    rows = jobs_overview.schedule(db.session, [configured(s, current_app.config) for s in SCHEDULES], jobs)
    click.echo(f"{'schedule':<17} {'when':<27} {'queue':<12} {'job':<29} {'last run':<24} next run")
    for row in rows:
        click.echo(f"{row['name']:<17} {row['when']:<27} {row['queue']:<12} {row['job']:<29} "
                   f"{row['last_run']:<24} {row['next_run']}")


@jobs_cli.command("run")
@click.argument("name")
@click.option("--arg", "arguments", multiple=True, metavar="KEY=VALUE",
              help="A keyword argument of the job (VALUE is read as JSON when it can be: 3, true, [1,2]).")
def jobs_run(name, arguments):
    """Run job NAME now, in this process (recorded as a JobRun, as the system user)."""
    kwargs = dict(_job_argument(a) for a in arguments)

    try:
        run_id = enqueue(name, inline=True, **kwargs)
    except AtriumError as exc:
        if isinstance(exc, (InvalidInput, NotFound)):  # refused before anything ran
            raise click.ClickException(exc.message) from None
        raise click.ClickException(f"{name} failed: {type(exc).__name__}: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - the JobRun holds the traceback
        raise click.ClickException(f"{name} failed: {type(exc).__name__}: {exc}") from None
    run = db.session.get(JobRun, run_id)
    click.echo(f"{name}: {run.status} in {run.duration_ms} ms (JobRun {run_id}) {json.dumps(run.result or {})}")


def _member_command(work):
    """Run ``work(session, staff scope)`` for a members command; refusals exit 1 with their message."""
    try:
        message = work(db.session, tenancy.SYSTEM)
        db.session.commit()
    except AtriumError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    click.echo(message)


@members_cli.command("add")
@click.option("--client", "slug", required=True, help="The client's slug, e.g. pro-co.")
@click.option("--username", required=True)
@click.option("--email", required=True)
@click.option("--first-name", required=True)
@click.option("--last-name", required=True)
@click.option("--role", required=True, type=click.Choice(["admin", "member", "viewer"]))
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True,
              help="The first password (at least 10 characters); asked for when omitted.")
def members_add(slug, username, email, first_name, last_name, role, password):
    """Give a client a new portal user (within the plan's team-member limit)."""
    def work(session, _staff):
        client = session.query(Client).filter_by(slug=slug).one_or_none()
        if client is None:
            raise NotFound(f"No client has the slug {slug!r}.")
        scope = tenancy.Scope(is_staff=True, client_id=client.id)
        member = team.add_member(session, current_app.appbuilder.sm, scope, username=username, email=email,
                                 first_name=first_name, last_name=last_name, role=role, password=password)
        return f"{member.user.username} ({role}) can now sign in to {client.name}'s portal."

    _member_command(work)


@members_cli.command("role")
@click.option("--client", "slug", required=True, help="The client's slug, e.g. pro-co.")
@click.option("--user", "username", required=True, help="The member's username.")
@click.option("--role", required=True, type=click.Choice(["admin", "member", "viewer"]))
def members_role(slug, username, role):
    """Change a member's role (the owner is changed in the console)."""
    def work(session, staff):
        member = team.change_role(session, staff, team.find_member(session, slug, username), role)
        return f"{username} is now {member.role} at {member.client.name}."

    _member_command(work)


@members_cli.command("remove")
@click.option("--client", "slug", required=True, help="The client's slug, e.g. pro-co.")
@click.option("--user", "username", required=True, help="The member's username.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def members_remove(slug, username, yes):
    """Remove a member from a client and deactivate their account (offboarding)."""
    if not yes:
        click.confirm(f"Remove {username} from {slug} and deactivate the account?", abort=True)

    def work(session, staff):
        member = team.find_member(session, slug, username)
        client_name = member.client.name
        team.remove_member(session, staff, member)
        return f"{username} was removed from {client_name}; the account is deactivated."

    _member_command(work)


reports_cli = SystemGroup("reports", help="Monthly client reports (SPEC §3, §7).")


@reports_cli.command("generate")
@click.option("--client", "slug", required=True, help="The client's slug, e.g. pro-co.")
@click.option("--month", default=None, metavar="YYYY-MM", help="The month to report on (default: last month).")
def reports_generate(slug, month):
    """Render a client's monthly PDF report now (recorded as a JobRun); print its path."""
    try:  # refused before anything is written: no client, a malformed or unfinished month
        client = reports.client_by_slug(db.session, slug)
        period = report_data.check_reportable(report_data.parse_month(month) if month else report_data.last_complete_month())
    except AtriumError as exc:
        raise click.ClickException(exc.message) from None
    client_id, label = client.id, f"{client.name}, {report_data.month_label(period)}"
    try:
        run_id = enqueue("reports.generate", inline=True, client_id=client_id, month=f"{period:%Y-%m}")
    except Exception as exc:  # noqa: BLE001 - the JobRun and the Report row hold the error
        raise click.ClickException(f"The report of {label} failed: {getattr(exc, 'message', exc)}") from None
    db.session.expire_all()
    report = db.session.execute(sa.select(Report).where(Report.client_id == client_id, Report.period == period)
                                ).scalar_one()
    click.echo(f"Report of {label}: {reports.file_of(report, current_app.config)} (JobRun {run_id})")


backup_cli = SystemGroup("backup", help="Client backups (SPEC §7): export and restore one client.")
gdpr_cli = SystemGroup("gdpr", help="A client user's personal data: export and erase (SPEC §8).")


@backup_cli.command("export")
@click.option("--client", "slug", required=True, help="The client's slug, e.g. pro-co.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The file to write (a secret: it holds password hashes).")
@click.option("--with-files", is_flag=True, help="Include the stored files' bytes (base64).")
def backup_export(slug, out, with_files):
    """Write one client, its users and every row that belongs to it as a JSON backup."""
    try:
        result = backup.write_export(db.session, slug, out, with_files=with_files,
                                     upload_dir=current_app.config.get("UPLOAD_DIR"))
    except AtriumError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    click.echo(f"Backup of {slug}: {sum(result['rows'].values())} rows in {len(result['rows'])} tables"
               f"{' with file contents' if with_files else ''} written to {result['path']}.")


@backup_cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
def backup_restore_command(file):
    """Create the client of backup FILE, with its users and rows (all or nothing)."""
    try:
        with open(file, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise click.ClickException(f"{file} cannot be read: {exc.strerror}.") from None
    try:
        document = backup_restore.read_document(raw, source=file)
        result = backup_restore.restore(db.session, document, migrations_dir=current_app.extensions["migrate"].directory,
                                upload_dir=current_app.config.get("UPLOAD_DIR"), source=file)
    except AtriumError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Restored {document['client']} (client id {result['client_id']}): "
               f"{sum(result['rows'].values())} rows in {len(result['rows'])} tables.")
    if result["ids_remapped"]:
        click.echo("Ids already taken here were given new ones: " + ", ".join(
            f"{table} {n}" for table, n in sorted(result["ids_remapped"].items())) + ".")
    if result["staff_created"]:
        click.echo("Staff missing here were created inactive, without roles: "
                   + ", ".join(result["staff_created"]) + ".")
    if result["files_missing"]:
        click.echo(f"{result['files_missing']} stored files are neither in the backup nor under UPLOAD_DIR: "
                   "restore UPLOAD_DIR from the file-system backup.")


@gdpr_cli.command("export")
@click.option("--user", "email", required=True, help="The person's email address.")
@click.option("--out", "out", default=None, type=click.Path(dir_okay=False, writable=True),
              help="Write to this file instead of standard output.")
def gdpr_export(email, out):
    """Every piece of personal data held about one user, as JSON."""
    try:
        document = gdpr.export_user(db.session, email)
        text = json.dumps(document, indent=2, ensure_ascii=False, default=str)
        if out:
            with open(out, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        db.session.commit()
    except AtriumError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    except OSError as exc:
        db.session.rollback()
        raise click.ClickException(f"{out} cannot be written: {exc.strerror}.") from None
    if out:
        click.echo(f"Personal data of {email} written to {out}.")
    else:
        click.echo(text)


@gdpr_cli.command("erase")
@click.option("--user", "email", required=True, help="The person's email address.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def gdpr_erase(email, yes):
    """Anonymise a client user: account, their traces in texts and in the audit trail."""
    try:
        user = gdpr.find_user(db.session, email)
        gdpr.check_erasable(db.session, user)
        if not yes:
            click.confirm(f"Erase {user.username} <{user.email}> for good? This cannot be undone.", abort=True)
        db.session.rollback()

        def work():  # as the owner role: the one that may redact audit events
            erased = gdpr.erase_user(db.session, email)
            db.session.commit()
            return erased

        result = _as_owner(work)
    except AtriumError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    if result["already_erased"]:
        click.echo(f"User {result['user_id']} was already erased; nothing to do.")
        return
    click.echo(f"User {result['user_id']} erased: " + ", ".join(
        f"{table} {n}" for table, n in sorted(result["rows"].items()))
        + f"; {result['redacted_events']} audit events redacted.")


tickets_cli = SystemGroup("tickets", help="Support tickets.")


def _ticket_change(ticket_id: int, change):
    """Load ticket ``ticket_id``, run ``change(ticket)`` and commit; a refusal is the
    command's error (exit 1) and nothing is written. Returns the ticket."""
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        raise click.ClickException(f"No ticket #{ticket_id}.")
    try:
        result = change(ticket)
        db.session.commit()
    except AtriumError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    return ticket, result


def _user_named(username: str):
    user = db.session.query(User).filter_by(username=username).one_or_none()
    if user is None or not user.active:
        raise click.ClickException(f"No active user {username!r}.")
    return user


@tickets_cli.command("reply")
@click.argument("ticket_id", type=int)
@click.option("--as", "username", required=True, help="The person writing the reply (their username).")
@click.option("--body", required=True, help="The reply's text.")
@click.option("--internal", is_flag=True, help="An internal note, never shown to the client.")
def tickets_reply(ticket_id, username, body, internal):
    """Reply to a ticket as a named person (the author; a public staff reply is the
    ticket's first response when it has none yet)."""
    author = _user_named(username)
    _, (message, ticket) = _ticket_change(
        ticket_id, lambda t: tickets.reply(db.session, t, author, body, internal=internal))
    click.echo(f"Reply {message.id} on ticket #{ticket.id} by {author.username}"
               + (f"; first response {ticket.first_response_at:%Y-%m-%d %H:%M} UTC" if ticket.first_response_at else ""))


@tickets_cli.command("move")
@click.argument("ticket_id", type=int)
@click.argument("move", type=click.Choice(list(tickets.MOVES)))
def tickets_move(ticket_id, move):
    """Move a ticket (wait on the client, resolve, close, reopen, start work): the same
    move as the ticket page's buttons and the API's."""
    ticket, _ = _ticket_change(ticket_id, lambda t: tickets.move(t, move))
    click.echo(f"Ticket #{ticket.id}: {m.LABELS[ticket.status]}; SLA {m.LABELS[ticket.sla_state]}"
               + (f"; resolved {ticket.resolved_at:%Y-%m-%d %H:%M} UTC" if ticket.resolved_at else ""))


@tickets_cli.command("assign")
@click.argument("ticket_id", type=int)
@click.argument("username")
def tickets_assign(ticket_id, username):
    """Hand a ticket to a staff member (their username; ``-`` for nobody)."""
    assignee = None if username == "-" else _user_named(username)
    ticket, _ = _ticket_change(ticket_id, lambda t: tickets.assign(db.session, t, assignee.id if assignee else None))
    click.echo(f"Ticket #{ticket.id} assigned to {assignee.username if assignee else 'nobody'}.")


def register_cli(app) -> None:
    app.cli.add_command(roles_cli)
    app.cli.add_command(tickets_cli)
    app.cli.add_command(seed_cli)
    app.cli.add_command(audit_cli)
    app.cli.add_command(jobs_cli)
    app.cli.add_command(members_cli)
    app.cli.add_command(reports_cli)
    app.cli.add_command(backup_cli)
    app.cli.add_command(gdpr_cli)
