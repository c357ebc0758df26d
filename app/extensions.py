"""Flask extension singletons, created unbound and initialised in ``create_app``.

``db`` is Flask-AppBuilder's SQLA over FAB's declarative ``Model`` so that the ``ab_*``
security tables and Atrium's tables share one metadata (Flask-Migrate sees both).
No configuration or business rule lives here.
"""

from flask_appbuilder.models.sqla import Model
import sqlalchemy as sa
from flask_appbuilder.models.sqla.base import SQLA
from flask_migrate import Migrate
from flask_wtf.csrf import CSRFProtect

import app.models.base  # noqa: F401  (sets the metadata naming convention first)

db = SQLA(model_class=Model)
migrate = Migrate(compare_type=True, render_as_batch=True)
# CSRF on every form POST, including FAB's delete and action forms; FAB exempts its
# JWT-authenticated REST APIs itself.
csrf = CSRFProtect()
# The AppBuilder is created per application in create_app (``current_app.appbuilder``):
# FAB keeps its registered views on the instance, so one instance serves one app.
# The rate limiter is per application as well: the security manager makes it through
# FAB's ``create_limiter`` hook (``app.security.limits``), so FAB's views and ours share one.


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_enforces_foreign_keys(dbapi_connection, connection_record):
    """SQLite ignores foreign keys unless asked on each connection; PostgreSQL always checks."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()
