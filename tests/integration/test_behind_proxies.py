"""Behind a load balancer (README "Running in production"): with ``TRUSTED_PROXY_HOPS``
the client's address comes from X-Forwarded-For (what the audit trail records and what
sign-in throttling counts); without it, a forged header is ignored."""

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import csrf_token, make_app


def _failed_login_ip(application, forwarded_for):
    client = application.test_client()
    with application.app_context():
        token = csrf_token(client, "/login/")
        client.post("/login/", data={"csrf_token": token, "username": "operator", "password": "wrong-password"},
                    headers={"X-Forwarded-For": forwarded_for})
        try:
            return db.session.execute(sa.select(m.AuditEvent.ip).where(m.AuditEvent.action == "login.failed")
                                      .order_by(m.AuditEvent.seq.desc()).limit(1)).scalar_one()
        finally:
            db.session.remove()


@pytest.mark.parametrize("hops, expected", [(1, "203.0.113.9"), (0, "127.0.0.1")])
def test_client_address_comes_from_trusted_proxies_only(backend, hops, expected):
    url = backend.new_database(seeded=True)
    try:
        application = make_app(url, TRUSTED_PROXY_HOPS=hops)
        assert _failed_login_ip(application, "203.0.113.9") == expected
    finally:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
        backend.drop(url)
