"""``filter=goal:NAME``: the dashboard and every report restricted to visits that completed the goal, and
the Properties breakdown of a selected event goal. Figures from ``test_goals_panel``'s shop."""

import datetime as dt
from dataclasses import replace

import pytest

from humblytics.reports import query as rq
from humblytics.reports import widgets
from humblytics.reports.tests.test_dashboard import by_id, page, table_rows
from humblytics.reports.tests.test_goals_panel import WEEK, build_goal_shop
from humblytics.reports.tests.test_widgets import week_of_shop
from tracking import rollups
from tracking.models import Goal


@pytest.fixture
def goal_shop(site):
    return build_goal_shop(site)


def test_a_goal_filter_keeps_the_visits_that_completed_it(site, goal_shop):
    q = week_of_shop(site, filter="goal:Signed up")
    assert q.filters == (("goal", "Signed up"),) and q.goals["Signed up"] == goal_shop.signed_up
    summary = widgets.summary(q)
    # S1, S2 (v1) and S4 (v3): 4 page views; P1 (S1) is their only payment.
    assert (summary["visitors"], summary["sessions"], summary["pageviews"]) == (2, 3, 4)
    assert (summary["revenue"], summary["payments"], summary["conversion_rate"]) == (10000, 1, 0.5)
    pages = {row["value"]: row["pageviews"] for row in widgets.breakdown(q, "page")}
    assert pages == {"/": 2, "/pricing": 2}


def test_a_page_goal_filter_and_a_dimension_filter_combine(site, goal_shop):
    q = week_of_shop(site, filter=["goal:Checkout", "device:mobile"])
    summary = widgets.summary(q)
    assert (summary["visitors"], summary["sessions"], summary["revenue"]) == (1, 1, 1500)  # S5, v4, P6


def test_payments_count_when_their_visit_completed_the_goal_at_any_time(site, goal_shop):
    # S0 (v5) viewed /pricing on 03-01, inside the week; its payment P3 on 03-04 counts under the filter,
    # like a page filter. A week that starts after the visit still counts the payment.
    q = week_of_shop(site, start="2025-03-04", filter="goal:Pricing")
    assert widgets.summary(q)["revenue"] == 4000 + 1500  # P3 (S0) and P6 (S5)


def test_the_filter_reads_raw_and_agrees_with_the_reference(site, goal_shop):
    rollups.roll_up_site(site.pk, rollups.local_midnight(dt.date(2025, 3, 12), site.tzinfo))
    assert week_of_shop(site).built_through is not None
    q = week_of_shop(site, filter="goal:Signed up")
    assert q.built_through is None
    assert widgets.overview(replace(q)) == widgets.overview(replace(q, rollups=False))


def test_an_unknown_goal_is_a_query_error_naming_it(site, goal_shop, other_site):
    with pytest.raises(rq.QueryError) as error:
        week_of_shop(site, filter="goal:Nope")
    assert error.value.param == "filter" and "unknown goal 'Nope'" in error.value.message
    # Goal names belong to a site: another site's goal is unknown here.
    Goal.objects.create(site=other_site, name="Theirs", kind="page", page_pattern="/")
    with pytest.raises(rq.QueryError):
        week_of_shop(site, filter="goal:Theirs")


def test_the_dashboard_under_a_goal_filter(client_as_owner, site, goal_shop):
    html = page(client_as_owner, site, WEEK + "&filter=goal:Signed+up")
    assert by_id(html, "kpi-visitors") == "2" and by_id(html, "kpi-sessions") == "3"
    assert "Completed goal Signed up" in by_id(html, "filters")
    assert table_rows(html, "channel")[0][:2] == ["Organic Search", "2"]
    # An event goal selected: its properties, counted in the visits that completed it (E4 has none).
    properties = table_rows(html.replace('id="properties"', 'id="breakdown-properties"'), "properties")
    assert properties == [["plan", "pro", "2", "2"], ["plan", "free", "1", "1"]]


def test_a_page_goal_has_no_properties_panel(client_as_owner, site, goal_shop):
    html = page(client_as_owner, site, WEEK + "&filter=goal:Pricing")
    assert by_id(html, "kpi-visitors") == "3"  # v1, v2, v4 started visits with /pricing; S0 began earlier
    assert 'id="properties"' not in html


def test_an_unknown_goal_on_the_dashboard_is_a_notice(client_as_owner, site, goal_shop):
    html = page(client_as_owner, site, WEEK + "&filter=goal:Gone")
    assert "unknown goal 'Gone'" in by_id(html, "notices")
    assert by_id(html, "kpi-visitors") == "4"  # shown without the filter


def test_the_details_page_names_the_goal_filter(client_as_owner, site, goal_shop):
    response = client_as_owner.get(f"/sites/{site.public_id}/details/channel/{WEEK}&filter=goal:Checkout")
    assert "completed goal Checkout" in response.content.decode()
