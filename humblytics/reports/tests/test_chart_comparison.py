"""The chart's comparison: the previous period (or last year) as lighter bars behind, bucket by bucket."""

import re

from django.db import connection
from django.test.utils import CaptureQueriesContext

from humblytics.reports.tests.test_comparison import two_weeks  # noqa: F401 (fixture)
from humblytics.reports.tests.test_dashboard import WEEK, page
from humblytics.templatetags.humblytics_tags import bar_chart

ROWS = [{"date": f"2025-03-0{d}", "visitors": v, "revenue": 0} for d, v in ((1, 2), (2, 4))]
BEFORE = [{"date": f"2025-02-2{d}", "visitors": v, "revenue": 0} for d, v in ((2, 8), (3, 0))]


def test_previous_bars_share_the_scale_and_say_their_day():
    chart = bar_chart(ROWS, "visitors", None, "day", BEFORE)
    first, second = chart["bars"]
    assert first["previous_height"] > first["height"] * 3  # 8 against 2, on one scale
    assert second["previous_height"] == 0
    assert first["title"] == "Mar 1, 2025: 2 visitors"
    assert first["previous_title"] == "Feb 22, 2025: 8 visitors"
    assert chart["ticks"][-1]["label"] == "8"  # the axis reaches the taller previous bar
    assert chart["has_previous"]


def test_without_comparison_the_chart_is_as_before():
    chart = bar_chart(ROWS, "visitors", None, "day")
    assert not chart["has_previous"]
    assert all(bar["previous_height"] is None for bar in chart["bars"])
    assert chart["bars"][0]["previous_title"] is None


def test_a_shorter_previous_period_leaves_later_buckets_alone():
    chart = bar_chart(ROWS, "visitors", None, "day", BEFORE[:1])
    assert chart["bars"][1]["previous_height"] is None


def test_the_dashboard_draws_the_previous_period_behind(client_as_owner, site, two_weeks):  # noqa: F811
    html = page(client_as_owner, site, WEEK)
    assert len(re.findall(r'<rect class="bar previous"', html)) == 2  # Feb 23 and 24
    assert "previous period, behind" in html
    assert "Feb 23, 2025: 1 visitor" in html
    year = page(client_as_owner, site, WEEK + "&compare=year")
    assert "same period last year" in year and 'class="bar previous"' not in year  # nothing then
    off = page(client_as_owner, site, WEEK + "&compare=off")
    assert "chart-legend" not in off


def test_it_costs_a_constant_number_of_queries(client_as_owner, site, two_weeks):  # noqa: F811
    with CaptureQueriesContext(connection) as off:
        page(client_as_owner, site, WEEK + "&compare=off")
    with CaptureQueriesContext(connection) as on:
        page(client_as_owner, site, WEEK)
    assert len(on) - len(off) <= 20
