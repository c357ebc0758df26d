"""Behind a load balancer (README "Running in production"): with ``TRUSTED_PROXY_HOPS``
the client's address comes from X-Forwarded-For (what the audit trail records and what
sign-in throttling counts); without it, a forged header is ignored."""

import pytest
import sqlalchemy as sa

from app import models as m
from app.extensions import db
from tests.conftest import csrf_token, seeded_app


def _failed_login_ip(application, forwarded_for):
    client = application.test_client()
    token = csrf_token(client, "/login/")
    client.post("/login/", data={"csrf_token": token, "username": "operator", "password": "wrong-password"},
                headers={"X-Forwarded-For": forwarded_for})
    return db.session.execute(sa.select(m.AuditEvent.ip).where(m.AuditEvent.action == "login.failed")
                              .order_by(m.AuditEvent.seq.desc()).limit(1)).scalar_one()


@pytest.mark.parametrize("hops, expected", [(1, "203.0.113.9"), (0, "127.0.0.1")])
def test_client_address_comes_from_trusted_proxies_only(backend, hops, expected):
    with seeded_app(backend, TRUSTED_PROXY_HOPS=hops) as application:
        assert _failed_login_ip(application, "203.0.113.9") == expected
