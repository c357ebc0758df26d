"""``create_app()``: configuration, extensions, security, views, APIs and CLI.

The only place that wires Atrium together. No business rule lives here.

Its imports of the doors and the session hooks sit inside the functions that wire them
(each marked "wired here"): this file runs whenever any ``app.*`` module is imported
(migrations, workers, a script reading models), and those should not load every view,
template hook and CLI group, nor see them half-imported while this package initialises.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_appbuilder import AppBuilder

from config import BASE_DIR, load_config

from .extensions import csrf, db, migrate


def create_app(config_name: str | None = None, overrides: dict | None = None) -> Flask:
    app = Flask(
        __name__,
        template_folder=str(BASE_DIR / "templates"),
        static_folder="static",
        instance_path=str(BASE_DIR / "instance"),
    )
    app.config.update(load_config(config_name))
    app.config.update(overrides or {})
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from .security import headers  # wired here (see the module docstring)

    headers.init_app(app)  # first: its after_request hook runs last, on every response
    db.init_app(app)
    csrf.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"))

    from .services import pipeline  # wired here

    pipeline.register()  # tenancy guard, derived values, limits, notifications, audit: in its order

    with app.app_context():
        from .tenancy.database import watch_connections  # wired here

        watch_connections(db.engine, app.config.get("DATABASE_STAFF_ROLE"))  # staff transactions: SET LOCAL ROLE
        appbuilder = AppBuilder(update_perms=False)
        appbuilder.init_app(app, db.session)
        _register_views(appbuilder)
    from .views.forms import format_time  # wired here

    app.jinja_env.globals["format_time"] = format_time  # times in the viewer's timezone
    from .views.interface import menu_title  # wired here

    app.jinja_env.globals["menu_title"] = menu_title  # a page's title when its view gives none
    # Browsers ask for /favicon.ico on every site (a 404 and a console error before).
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.ico"))

    from . import observability  # wired here

    observability.init_app(app)  # log lines (JSON or text), one access line per request, Sentry

    from .views import errors, impersonation, input_guard, language, sessions  # wired here

    language.init_app(app)  # the locale selector (user, client, browser), the language menu

    sessions.init_app(app)  # after FAB's own before_request, which sets g.user: refuses ended sessions
    impersonation.init_app(app)  # after the session gate: "view as" runs only through a live row
    input_guard.init_app(app)  # text before every hook; orderings/actions in each model view, after them
    errors.init_app(app)

    from .views.health import bp as health_bp  # wired here

    app.register_blueprint(health_bp)

    from .views import webhooks  # wired here

    webhooks.init_app(app)  # /webhooks/stripe: no login, no CSRF (Stripe's signature instead)

    from . import instrumentation  # wired here

    instrumentation.init_app(app, db)

    from .cli import register_cli  # wired here

    register_cli(app)
    _trust_proxies(app)
    return app


def _trust_proxies(app: Flask) -> None:
    """Behind ``TRUSTED_PROXY_HOPS`` load balancers, the client's address and scheme come
    from X-Forwarded-For/-Proto (set by those proxies; never trusted without them)."""
    hops = app.config.get("TRUSTED_PROXY_HOPS", 0)
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix  # only behind trusted proxies

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=0, x_port=0, x_prefix=0)


def _register_views(appbuilder) -> None:
    from . import api  # wired here
    from flask_babel import lazy_gettext as _l
    from .views import audit, bi, campaign_import, dashboard, impersonation, jobs, portal, staff  # wired here

    # A menu entry's name is its permission (English, unchanged); its label is what people read.
    appbuilder.add_view(dashboard.DashboardView, "Dashboard", label=_l("Dashboard"), icon="fa-dashboard")
    appbuilder.add_view(bi.AnalyticsView, "Business", label=_l("Business"), icon="fa-bar-chart")  # the BI dashboard
    staff.register(appbuilder)
    portal.register(appbuilder)
    audit.register(appbuilder)
    impersonation.register(appbuilder)
    api.register(appbuilder)
    campaign_import.register(appbuilder)
    jobs.register(appbuilder)
