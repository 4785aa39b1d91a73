"""Funnels over ``test_goals_panel``'s shop: steps in order within one visit, the page and its access.

Pricing → Checkout: S3 (v2) and S5 (v4) view /pricing then /checkout; S0 (v5, its /pricing at 00:01 in
the week), S1 and S2 (v1) stop at /pricing. Checkout → Pricing: nobody views /pricing after /checkout.
Pricing → Signed up: S1 and S2 (v1) send Signup a minute after /pricing.
"""

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from humblytics.reports import funnels
from humblytics.reports.tests.test_dashboard import by_id
from humblytics.reports.tests.test_goals_panel import WEEK, build_goal_shop, event, make_funnel
from humblytics.reports.tests.test_widgets import make_session, week_of_shop
from tracking.models import Funnel, Goal


@pytest.fixture
def goal_shop(site):
    return build_goal_shop(site)


def figures(q, *goals):
    return [
        (row["visitors"], row["sessions"], row["dropoff"], row["dropoff_rate"], row["conversion_rate"])
        for row in funnels.funnel_report(q, list(goals))
    ]


def test_steps_count_visits_that_did_them_in_order(site, goal_shop):
    q = week_of_shop(site)
    assert figures(q, goal_shop.pricing, goal_shop.checkout) == [
        (4, 5, None, None, 1.0),
        (2, 2, 2, 0.5, 0.5),
    ]
    assert figures(q, goal_shop.pricing, goal_shop.signed_up) == [
        (4, 5, None, None, 1.0),
        (1, 2, 3, 0.75, 0.25),
    ]


def test_a_step_done_before_the_previous_one_does_not_count(site, goal_shop):
    q = week_of_shop(site)
    # Both checkout visits viewed /pricing before /checkout, never after.
    assert figures(q, goal_shop.checkout, goal_shop.pricing) == [(2, 2, None, None, 1.0), (0, 0, 2, 1.0, 0.0)]
    # Done again after the previous step, it counts: v7 checks out, then looks at pricing.
    make_session(site, "v7", [("2025-03-04 10:00", "/pricing"), ("2025-03-04 10:01", "/checkout"),
                              ("2025-03-04 10:02", "/pricing")])  # fmt: skip
    assert figures(q, goal_shop.checkout, goal_shop.pricing) == [
        (3, 3, None, None, 1.0),
        (1, 1, 2, 2 / 3, 1 / 3),
    ]


def test_steps_must_happen_within_one_visit(site, goal_shop):
    # v8 views /pricing in one visit and checks out in the next: no visit went through both.
    make_session(site, "v8", [("2025-03-04 10:00", "/pricing")])
    make_session(site, "v8", [("2025-03-04 12:00", "/checkout")])
    assert figures(week_of_shop(site), goal_shop.pricing, goal_shop.checkout)[1][:2] == (2, 2)


def test_one_hit_moves_a_visit_one_step(site, goal_shop):
    # Two steps whose goals the same page view completes: the second needs another view after it.
    any_page = Goal.objects.create(site=site, name="Any pricing", kind="page", page_pattern="/pri*")
    q = week_of_shop(site)
    assert [row[0] for row in figures(q, goal_shop.pricing, any_page)] == [4, 0]
    s = make_session(site, "v9", [("2025-03-04 10:00", "/pricing"), ("2025-03-04 10:05", "/pricing")])
    event(site, s, "Signup", "2025-03-04 10:06")
    assert [row[0] for row in figures(q, goal_shop.pricing, any_page, goal_shop.signed_up)] == [5, 1, 1]


def test_funnels_follow_the_range_and_filters(site, goal_shop):
    q = week_of_shop(site, filter="channel:Email")
    assert figures(q, goal_shop.pricing, goal_shop.checkout) == [(1, 1, None, None, 1.0), (1, 1, 0, 0.0, 1.0)]
    q = week_of_shop(site, start="2025-03-04")
    assert figures(q, goal_shop.pricing, goal_shop.checkout) == [(1, 1, None, None, 1.0), (1, 1, 0, 0.0, 1.0)]
    assert figures(
        week_of_shop(site, start="2025-03-08", end="2025-03-09"), goal_shop.pricing, goal_shop.checkout
    ) == [
        (0, 0, None, None, None),
        (0, 0, 0, None, None),
    ]


def test_the_step_hits_are_one_query(site, goal_shop, django_assert_num_queries):
    q = week_of_shop(site)
    goals = [goal_shop.pricing, goal_shop.signed_up, goal_shop.checkout, goal_shop.refund]
    with django_assert_num_queries(1):
        funnels.funnel_report(q, goals)


def url(site, funnel, query=WEEK):
    return f"/sites/{site.public_id}/funnels/{funnel.pk}/{query}"


def test_the_funnel_page_shows_each_step(client_as_owner, site, goal_shop):
    funnel = make_funnel(site, "Buy", goal_shop.pricing, goal_shop.checkout)
    response = client_as_owner.get(url(site, funnel))
    assert response.status_code == 200
    html = response.content.decode()
    step1, step2 = by_id(html, "step-1"), by_id(html, "step-2")
    assert "1. Pricing" in step1 and "4 visitors · 5 visits" in step1 and "100.0% of step 1" in step1
    assert "2. Checkout" in step2 and "2 visitors" in step2 and "\u22122 (50.0%) dropped off" in step2
    assert 'style="width: 50%"' in html
    assert "within that one visit" in html and 'id="funnel-empty"' not in html
    assert 'id="period"' in html and 'id="compare"' not in html  # a period to pick, nothing to compare
    assert f'href="/sites/{site.public_id}/settings/goals/"' in html


def test_a_period_without_step_one_shows_the_empty_state(client_as_owner, site, goal_shop):
    funnel = make_funnel(site, "Buy", goal_shop.pricing, goal_shop.checkout)
    html = client_as_owner.get(
        url(site, funnel, "?period=custom&from=2024-01-01&to=2024-01-31")
    ).content.decode()
    assert "No visit completed “Pricing”" in by_id(html, "funnel-empty")


def test_a_bad_period_is_a_notice(client_as_owner, site, goal_shop):
    funnel = make_funnel(site, "Buy", goal_shop.pricing, goal_shop.checkout)
    response = client_as_owner.get(url(site, funnel, "?period=forever"))
    assert response.status_code == 200 and 'id="notices"' in response.content.decode()


def test_another_sites_funnel_or_site_is_not_found(client_as_owner, site, goal_shop, other_site):
    theirs = Goal.objects.create(site=other_site, name="A", kind="page", page_pattern="/a")
    their_funnel = make_funnel(
        other_site,
        "Theirs",
        theirs,
        Goal.objects.create(site=other_site, name="B", kind="page", page_pattern="/b"),
    )
    mine = make_funnel(site, "Buy", goal_shop.pricing, goal_shop.checkout)
    assert client_as_owner.get(url(site, their_funnel)).status_code == 404  # another site's funnel
    assert client_as_owner.get(url(other_site, their_funnel)).status_code == 404  # another's site
    assert client_as_owner.get(url(other_site, mine)).status_code == 404
    assert client_as_owner.get(f"/sites/{site.public_id}/funnels/999999/").status_code == 404
    assert Funnel.objects.count() == 2


def test_the_funnel_page_needs_login_and_get(client, client_as_owner, site, goal_shop):
    funnel = make_funnel(site, "Buy", goal_shop.pricing, goal_shop.checkout)
    assert client_as_owner.post(url(site, funnel)).status_code == 405
    client.logout()
    response = client.get(url(site, funnel))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_a_funnel_of_eight_steps(site, goal_shop, django_assert_num_queries):
    goals = [
        Goal.objects.create(site=site, name=f"s{n}", kind="page", page_pattern=f"/s{n}") for n in range(8)
    ]
    base = dt.datetime(2025, 3, 4, 10, 0)
    views = [((base + dt.timedelta(minutes=n)).isoformat(sep=" "), f"/s{n}") for n in range(8)]
    make_session(site, "all8", views)
    make_session(site, "five", views[:5])
    make_session(site, "skip", views[:3] + views[4:])  # skipped step 4: stops at 3
    assert [row[0] for row in figures(week_of_shop(site), *goals)] == [3, 3, 3, 2, 2, 1, 1, 1]


PARAMS = st.sampled_from(["period", "from", "to", "filter", "compare"])
VALUES = st.one_of(
    st.sampled_from(
        ["goal:Pricing", "goal:Signed up", "goal:", "goal:Nope", "goal:\x00", "7d", "2025-03-01"]
    ),
    st.text(max_size=30),
)


@pytest.mark.parametrize("path", ["funnels/{funnel}/", ""])
def test_no_query_of_the_funnel_page_or_a_goal_filter_answers_5xx(client_as_owner, site, goal_shop, path):
    funnel = make_funnel(site, "Buy", goal_shop.pricing, goal_shop.signed_up)
    client_as_owner.raise_request_exception = False
    page_url = f"/sites/{site.public_id}/" + path.format(funnel=funnel.pk)

    @given(query=st.dictionaries(PARAMS, st.one_of(VALUES, st.lists(VALUES, max_size=3)), max_size=4))
    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(query):
        assert client_as_owner.get(page_url, query).status_code == 200, query

    check()
