"""The jobs console (SPEC §7, staff): queues with their depth, running/failed/scheduled
counts, failures grouped by exception, the cron schedule with last and next run, JobRun
history with durations and tracebacks, search by job id or function; requeue, cancel
and run-now by POST with CSRF, each audited (``app.services.jobs`` does the work).

"Run now" on a monitor, domain or campaign page posts here too (``RUN_NOW``): it needs
write access to that record's resource and enqueues on the job's queue as the person.

Access: Admin and Developer operate the queues; Operator reads them (resource ``Jobs``).
"""

from __future__ import annotations

from flask import abort, current_app, flash, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose, has_access
from flask_babel import gettext as _, lazy_gettext as _l
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from app.errors import AtriumError
from app.extensions import db
from app.models import JobRun
from app.services import jobs, jobs_overview
from workers import schedule

# Record-level "Run now": button key -> (job, its argument, the resource whose write it needs).
RUN_NOW = {
    "monitor": ("monitoring.uptime_check", "monitor_id", "Monitor"),
    "domain_tls": ("monitoring.tls_check", "domain_id", "Domain"),
    "domain_expiry": ("monitoring.domain_expiry", "domain_id", "Domain"),
    "campaign": ("sync.campaign", "campaign_id", "Campaign"),
    "report": ("reports.generate", "report_id", "Report"),
    "client_report": ("reports.generate", "client_id", "Report"),
}
RUN_NOW_LABELS = {"monitor": _l("Check now"), "domain_tls": _l("Check certificate now"),
                  "domain_expiry": _l("Check registration now"), "campaign": _l("Sync now"),
                  "report": _l("Generate report"), "client_report": _l("Generate last month's report")}
# What "Run now" needs: permission to change the record's kind (by resource).
RUN_NOW_REFUSALS = {
    "Monitor": _l("Running this needs permission to change monitors."),
    "Domain": _l("Running this needs permission to change domains."),
    "Campaign": _l("Running this needs permission to change campaigns."),
    "Report": _l("Running this needs permission to change reports."),
}


def _from_door(action, back: str):
    """Run ``action`` (it enqueues, or runs inline without Redis): ``(result, None)``, or
    ``(None, response)`` when it could not be queued
    (Redis unreachable: the message, back to the page) or ran inline and failed (the
    message; its JobRun has the traceback). A refusal (4xx) aborts with its message."""
    try:
        return action(), None
    except jobs.QueueUnavailable as exc:  # Redis down: back to the page, which says so
        db.session.rollback()
        flash(exc.message, "warning")
        return None, redirect(back)
    except AtriumError as exc:
        db.session.rollback()
        if exc.status < 500:  # refused: the error page (in the layout, with "Go back") says why
            abort(exc.status, description=exc.message)
        flash(_("The job ran and failed: %(error)s. Its run is on the jobs page.", error=exc.message), "danger")
        return None, redirect(back)
    except Exception as exc:  # noqa: BLE001 - an inline run failed: its JobRun has the traceback
        db.session.rollback()
        current_app.logger.warning("job from %s failed: %s", request.path, exc)
        error = f"{type(exc).__name__}: {exc}"
        flash(_("The job ran and failed: %(error)s. Its run is on the jobs page.", error=error), "danger")
        return None, redirect(back)


class JobsView(BaseView):
    route_base = "/jobs"
    class_permission_name = "Jobs"
    method_permission_name = {"index": "read", "run": "read", "requeue": "write", "cancel": "write",
                              "schedule_now": "write"}
    base_permissions = ["can_read", "can_write"]
    default_view = "index"

    @expose("/")
    @has_access
    def index(self):
        connection, queue_rows, problem = None, [], None
        try:
            connection = jobs.redis_connection()
            if connection is not None:
                queue_rows = jobs_overview.queues(connection)
        except Exception as exc:  # noqa: BLE001 - the console still shows the durable history
            problem = _("Redis unavailable: %(error)s", error=exc)
        search = request.args.get("q", "").strip()[:100]
        return self.render_template(
            "jobs/index.html", queues=queue_rows, redis=connection is not None, problem=problem,
            failures=jobs_overview.failures_by_exception(db.session),
            schedule=jobs_overview.schedule(db.session, [schedule.configured(s, current_app.config)
                                                         for s in schedule.SCHEDULES], jobs.load_jobs()),
            runs=jobs_overview.recent_runs(db.session, search=search or None), search=search,
            can_write=self.appbuilder.sm.has_access("can_write", "Jobs"))

    @expose("/run/<int:run_id>")
    @has_access
    def run(self, run_id):
        row = db.session.get(JobRun, run_id)
        if row is None:
            abort(404, description=_("There is no job run %(id)s.", id=run_id))
        return self.render_template("jobs/run.html", run=row,
                                    can_write=self.appbuilder.sm.has_access("can_write", "Jobs"))

    def _act(self, action, success: str, target: str):
        new_id, refused = _from_door(action, target)
        if refused is not None:
            return refused
        flash(success % {"new_id": new_id}, "success")
        return redirect(url_for("JobsView.run", run_id=new_id) if new_id else target)

    @expose("/run/<int:run_id>/requeue", methods=["POST"])
    @has_access
    def requeue(self, run_id):
        return self._act(lambda: jobs.requeue(run_id), _("Queued again as run %(new_id)s."),
                         url_for("JobsView.run", run_id=run_id))

    @expose("/run/<int:run_id>/cancel", methods=["POST"])
    @has_access
    def cancel(self, run_id):
        def cancel_it():
            jobs.cancel(run_id)
            return run_id

        return self._act(cancel_it, _("Cancelled: it will not run."), url_for("JobsView.run", run_id=run_id))

    @expose("/schedule/now", methods=["POST"])
    @has_access
    def schedule_now(self):
        """Run one schedule's job now (on the high queue's worker or inline)."""
        name = request.form.get("schedule", "")
        try:
            plan = schedule.by_name(name)
        except KeyError:
            abort(404, description=_("There is no schedule called %(name)r.", name=name))
        return self._act(lambda: jobs.enqueue(plan.job, **dict(plan.kwargs)), _("Started %(new_id)s."),
                         url_for("JobsView.index"))


class RunNowView(BaseView):
    """``POST /jobs/now/<kind>/<id>``: the record pages' "Run now" buttons."""

    route_base = "/jobs/now"
    class_permission_name = "JobsRunNow"
    base_permissions = []

    @expose("/<kind>/<int:record_id>", methods=["POST"])
    def now(self, kind, record_id):
        if kind not in RUN_NOW:
            abort(404, description=_("Nothing to run for %(kind)r.", kind=kind))
        job_name, argument, resource = RUN_NOW[kind]
        if not getattr(g.user, "is_authenticated", False):
            return redirect(self.appbuilder.get_url_for_login)
        if not self.appbuilder.sm.has_access("can_write", resource):
            abort(403, description=str(RUN_NOW_REFUSALS[resource]))
        back = request.referrer or url_for("JobsView.index")
        run_id, refused = _from_door(lambda: jobs.enqueue(job_name, **{argument: record_id}), back)
        if refused is not None:
            return refused
        row = db.session.get(JobRun, run_id)
        done = row.status == "succeeded"
        sentence = _('%(job)s finished: <a href="%(url)s">run %(id)s</a>.') if done else \
            _('%(job)s queued: <a href="%(url)s">run %(id)s</a>.')
        flash(Markup(sentence) % {"job": job_name, "url": url_for("JobsView.run", run_id=run_id), "id": run_id},
              "success")
        return redirect(back)


def run_now_button(kind: str, record_id) -> Markup:
    """A POST button for a record page; shown only to those who may run it."""
    resource = RUN_NOW[kind][2]
    if record_id is None or not current_app.appbuilder.sm.has_access("can_write", resource):
        return Markup("")
    return Markup('<form method="post" action="{}" class="atrium-inline-form atrium-run-now">'
                  '<input type="hidden" name="csrf_token" value="{}">'
                  '<button type="submit" class="btn btn-sm btn-default"><i class="fa fa-play"></i> {}</button>'
                  '</form>').format(url_for("RunNowView.now", kind=kind, record_id=int(record_id)),
                                    _csrf(), RUN_NOW_LABELS[kind])


def _csrf() -> str:
    return generate_csrf()


def register(appbuilder) -> None:
    appbuilder.add_view(JobsView, "Jobs", label=_l("Jobs"), category="Audit", category_label=_l("Audit"),
                        icon="fa-cogs")
    appbuilder.add_view_no_menu(RunNowView)
    current_app.jinja_env.globals["run_now_button"] = run_now_button
