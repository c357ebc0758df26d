"""``/health`` (process alive) and ``/health/ready`` (database and Redis reachable).

Plain Flask routes: load balancers call them without a session or CSRF.
"""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify

from app.extensions import db
from app.services import jobs_overview

bp = Blueprint("health", __name__)


@bp.get("/health")
def health():
    return jsonify(status="ok")


@bp.get("/health/ready")
def ready():
    checks, degraded = {}, []
    try:
        db.session.execute(db.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        db.session.rollback()
        checks["database"] = f"error: {exc.__class__.__name__}"
        degraded.append("database")
    redis_url = current_app.config.get("REDIS_URL")
    if redis_url:
        try:
            checks["queues"] = jobs_overview.queue_depths()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"error: {exc.__class__.__name__}"
            degraded.append("redis")
    else:
        checks["redis"] = "not configured (jobs run inline)"
    status = 503 if degraded else 200
    return jsonify(status="degraded" if degraded else "ok", degraded=degraded, checks=checks), status
