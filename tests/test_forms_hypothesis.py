"""Hypothesis over the dashboard filters and every form: whatever is typed or hand-made, the answer is
never a 5xx (a form error, a 400, a 404 or a 429 instead)."""

import pytest
from django.core.cache import cache
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from revenue import views as revenue_views
from revenue.stripe_client import KeyProblem
from splittests.lifecycle import create_test
from splittests.tests.conftest import spec
from tracking.goals import FunnelSpec, GoalSpec, save_funnel, save_goal

NASTY = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "9" * 5000,
        "-1",
        "0",
        "1e400",
        "NaN",
        "Infinity",
        "-inf",
        "99999999999999999999999",
        "1.5",
        "<script>",
        "example.com",
        "https://example.com/x",
        "/pricing",
        "UTC",
        "Europe/Berlin",
        "revenue",
        "target",
        "session",
        "user",
        "on",
        "sk_test_x",
        "acct_1",
        "channel:Email",
        "page:/",
        "event",
        "/thanks*",
        "*",
        "/a?b",
        "today",
        "custom",
        "2026-02-30",
        "0001-01-01",
        "9999-12-31",
    ]
)
VALUES = st.one_of(NASTY, st.text(max_size=40))

FORMS = {
    "/sites/new/": ["name", "domain", "timezone", "retention_days"],
    "/sites/{id}/settings/": ["name", "domain", "timezone", "retention_days"],
    "/sites/{id}/settings/api/": ["name", "key_id", "action"],
    "/sites/{id}/settings/revenue/": ["secret_key", "backfill_days", "account_id"],
    "/sites/{id}/settings/revenue/disconnect/": ["delete_payments", "confirmed"],
    "/sites/{id}/split-tests/new/": [
        "name",
        "page",
        "randomization",
        "goal_type",
        "goal_page",
        "revenue_mode",
        "revenue_target",
        "control_name",
        "control_weight",
        "b_name",
        "b_url",
        "b_weight",
        "c_name",
        "c_url",
        "c_weight",
        "method",
        "minimum_sample",
        "minimum_conversions",
        "auto_stop_days",
        "cap_percentile",
        "canonical_to_control",
        "launch",
    ],
    "/sites/{id}/split-tests/{test}/edit/": ["name", "page", "revenue_target", "b_url", "b_weight"],
    "/sites/{id}/split-tests/calculator/": [
        "baseline",
        "mde",
        "significance",
        "power",
        "daily_visitors",
        "variants",
    ],
    "/sites/{id}/settings/delete/": ["confirm"],
    "/accounts/signup/": ["username", "email", "password1", "password2"],
    "/accounts/login/": ["username", "password"],
    "/sites/{id}/settings/team/": ["who", "role"],
    "/sites/{id}/settings/sharing/": ["name"],
    "/accounts/password_reset/": ["email"],
    "/accounts/password_change/": ["old_password", "new_password1", "new_password2"],
    "/sites/{id}/settings/goals/new/": ["name", "type", "event", "page"],
    "/sites/{id}/settings/goals/{goal}/edit/": ["name", "type", "event", "page"],
    "/sites/{id}/settings/goals/{goal}/delete/": ["confirmed"],
    "/sites/{id}/settings/goals/funnels/new/": ["name"] + [f"step_{n}" for n in range(1, 9)],
    "/sites/{id}/settings/goals/funnels/{funnel}/edit/": ["name", "step_1", "step_2", "step_3"],
    "/sites/{id}/settings/goals/funnels/{funnel}/delete/": ["confirmed"],
}
QUERIES = {
    "/sites/{id}/": ["period", "from", "to", "filter", "compare", "dimension"],
    "/sites/{id}/payments/": ["attributed", "cursor", "page", "limit"],
    "/sites/{id}/split-tests/calculator/": ["baseline", "mde", "significance", "power", "daily_visitors"],
    "/sites/{id}/split-tests/{test}/": ["period"],
    "/sites/{id}/details/page/": ["period", "from", "to", "filter", "q", "page", "sort", "format"],
    "/sites/{id}/export.csv": ["period", "from", "to", "filter", "sort", "compare"],
}


@pytest.fixture
def refusing_stripe(monkeypatch):
    """Saving a key never reaches Stripe here: every key is refused as Stripe would refuse it."""

    def connect_stripe(site, key, **kwargs):
        raise KeyProblem("This key was refused by Stripe.")

    monkeypatch.setattr(revenue_views, "connect_stripe", connect_stripe)


def form_data(fields):
    return st.dictionaries(
        st.sampled_from(fields), st.one_of(VALUES, st.lists(VALUES, max_size=3)), max_size=8
    )


@pytest.mark.parametrize("path", list(FORMS))
def test_no_form_answers_5xx(client_as_owner, site, refusing_stripe, path):
    client_as_owner.raise_request_exception = False
    test = create_test(site, spec())
    signup = save_goal(site, GoalSpec("Signup", "event", event="Signup"))
    thanks = save_goal(site, GoalSpec("Thanks", "page", page="/thanks*"))
    funnel = save_funnel(site, FunnelSpec("Funnel", (signup.pk, thanks.pk)))
    url = path.format(id=site.public_id, test=test.pk, goal=signup.pk, funnel=funnel.pk)

    @given(data=form_data(FORMS[path]))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(data):
        cache.clear()  # throttles would otherwise answer 429 before the form is reached
        response = client_as_owner.post(url, data)
        assert response.status_code < 500, (url, data)

    check()


@pytest.mark.parametrize("path", list(QUERIES))
def test_no_dashboard_filter_or_query_answers_5xx(client_as_owner, site, path):
    client_as_owner.raise_request_exception = False
    test = create_test(site, spec())
    url = path.format(id=site.public_id, test=test.pk)

    @given(query=form_data(QUERIES[path]))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(query):
        response = client_as_owner.get(url, query)
        assert response.status_code < 500, (url, query)

    check()
