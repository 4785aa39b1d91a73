"""Property-based run of the REST API against its own OpenAPI schema: no input gives a 500.

Schemathesis generates requests for every operation of /api/v1/schema/ (the test checks none is left
out); they go through the WSGI application with a valid key for the site (and sometimes another or a
malformed site id), and no answer may be a server error.
"""

from collections import Counter

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from splittests.lifecycle import create_test
from splittests.tests.conftest import spec
from tracking.apikeys import create_api_key
from tracking.goals import FunnelSpec, GoalSpec, save_funnel, save_goal


@pytest.fixture
def api_schema(db):
    # Like Django's test client: keep the test's database connection open across WSGI requests.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", get_wsgi_application())
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


STATUSES = []


def fuzz(operation, site, key, ids):
    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case):
        if "site_id" in (case.path_parameters or {}) and not case.path_parameters["site_id"].startswith("x"):
            # Mostly the caller's own site, so requests get past authorisation into the handlers.
            case.path_parameters["site_id"] = site.public_id
        for name, existing in ids.items():
            requested = (case.path_parameters or {}).get(name)
            if isinstance(requested, int) and requested % 4:
                # Mostly an existing object (split test, goal, funnel), so the handlers (not only the
                # 404) are exercised.
                case.path_parameters[name] = existing
        response = case.call(headers={"Authorization": f"Bearer {key}"})
        STATUSES.append((operation.label, response.status_code))
        assert response.status_code < 500, (operation.label, case.query, case.body, response.text[:300])
        case.validate_response(response, checks=[not_a_server_error])

    return check


def test_the_api_never_answers_500(api_schema, site, other_site):
    key = create_api_key(site, "schemathesis")[1]
    signup = save_goal(site, GoalSpec("Signup", "event", event="Signup"))
    thanks = save_goal(site, GoalSpec("Thanks", "page", page="/thanks*"))
    ids = {
        "test_id": create_test(site, spec()).pk,
        "goal_id": thanks.pk,
        "funnel_id": save_funnel(site, FunnelSpec("Signup to thanks", (signup.pk, thanks.pk))).pk,
    }
    operations = [result.ok() for result in api_schema.get_all_operations()]
    documented = {
        (method.upper(), path)
        for path, item in api_schema.raw_schema["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"} and path != "/api/v1/schema/"
    }  # the schema document is loaded above; schemathesis leaves it out of the operations
    assert {(operation.method.upper(), operation.path) for operation in operations} == documented
    assert len(operations) >= 8
    for operation in operations:
        fuzz(operation, site, key, ids)()
    print(Counter(STATUSES))
    assert {label for label, _ in STATUSES} == {operation.label for operation in operations}
