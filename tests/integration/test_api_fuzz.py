"""OpenAPI-driven fuzzing of /api/v1 (issue 7): schemathesis reads the document FAB
serves and generates requests for every operation, valid and invalid, signed in as an
Admin (the widest permissions, so writes and deletes are exercised too). Whatever
arrives, the API answers without a server error: bad input is a 4xx with a message.

One database per backend for the whole module (the operations run against the demo
data and may change it); ``ATRIUM_FUZZ_EXAMPLES`` sets the examples per operation
(25; about half a minute per backend). A failing example is reported as generated, with
its curl line (no shrinking: it multiplies the run time by ten or more).

Found and fixed so far: ids and integers beyond their column's range (SQLite overflow),
and a REST login without ``provider`` (FAB's KeyError).
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from app.extensions import db
from tests.conftest import PASSWORD, backend_or_skip, primary_backend, seeded_app

EXAMPLES = int(os.environ.get("ATRIUM_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module", params=[primary_backend()])  # the API is the same on both
def fuzz_app(request, backends):
    with seeded_app(backend_or_skip(request.param, backends)) as application:
        yield application


@pytest.fixture(scope="module")
def admin_headers(fuzz_app):
    response = fuzz_app.test_client().post(
        "/api/v1/security/login", json={"username": "admin", "password": PASSWORD, "provider": "db"})
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.get_json()['access_token']}"}


@pytest.fixture(scope="module")
def api_schema(fuzz_app, admin_headers):
    return schemathesis.openapi.from_wsgi("/api/v1/_openapi", fuzz_app, headers=admin_headers)


def test_api_never_answers_a_server_error(api_schema, admin_headers):
    # schemathesis' own pytest plugin (``from_fixture``) needs pytest < 9; the loop below
    # drives the same strategies with Hypothesis directly, one operation at a time.
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 30  # every resource's list/get/post/put/delete/info
    problems: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate])
        def exercise(case):
            response = case.call(headers=admin_headers)
            content_type = {k.lower(): v for k, v in response.headers.items()}.get("content-type", [""])
            content_type = content_type[0] if isinstance(content_type, list) else content_type
            if response.status_code >= 500:
                raise AssertionError(f"{case.method} {case.formatted_path} answered {response.status_code}: "
                                     f"{response.text[:300]}\n  {case.as_curl_command(headers=admin_headers)}")
            if response.status_code >= 400 and not content_type.startswith("application/json"):
                raise AssertionError(f"{case.method} {case.formatted_path} refused ({response.status_code}) "
                                     f"without a JSON message: {response.text[:200]}")

        try:
            exercise()
        except (AssertionError, ExceptionGroup) as failure:
            problems.append(str(failure).splitlines()[0] + "\n" + "\n".join(str(failure).splitlines()[1:3]))
        finally:
            db.session.rollback()
    assert not problems, "\n".join(problems)
