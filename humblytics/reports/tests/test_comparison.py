"""Every KPI card shows the change against the previous period or the same period last year."""

import datetime as dt

import pytest

from humblytics.reports import query as rq
from humblytics.reports.tests.test_dashboard import WEEK, by_id, page
from humblytics.reports.tests.test_widgets import make_payment, make_session
from revenue.models import StripeConnection


def test_the_previous_period_is_as_long_and_ends_the_day_before(site):
    q = rq.parse_query(site, {"period": "custom", "from": "2025-03-01", "to": "2025-03-07"})
    previous = rq.comparison_query(q, "previous")
    assert (previous.start, previous.end) == (dt.date(2025, 2, 22), dt.date(2025, 2, 28))
    year = rq.comparison_query(q, "year")
    assert (year.start, year.end) == (dt.date(2024, 3, 1), dt.date(2024, 3, 7))
    assert rq.comparison_query(q, "off") is None


def test_a_year_before_29_february_is_the_28th(site):
    q = rq.parse_query(site, {"period": "custom", "from": "2024-02-29", "to": "2024-02-29"})
    assert rq.comparison_query(q, "year").start == dt.date(2023, 2, 28)


@pytest.fixture
def two_weeks(site):
    StripeConnection.objects.create(site=site, secret_key="sk_test_" + "x" * 20, key_hint="sk_test_…xxxx")
    for i in range(2):
        make_session(site, f"old{i}", [(f"2025-02-2{3 + i} 10:00", "/")], channel="Email")
    for i in range(3):
        make_session(site, f"new{i}", [(f"2025-03-0{2 + i} 10:00", "/"), (f"2025-03-0{2 + i} 10:01", "/a")])
    make_payment(site, "ch_old", "2025-02-24 10:00", 1000)
    make_payment(site, "ch_new", "2025-03-03 10:00", 500)


def test_kpi_cards_show_the_change_against_the_previous_period(client_as_owner, site, two_weeks):
    html = page(client_as_owner, site, WEEK)
    assert by_id(html, "kpi-visitors-change") == "▲ 50%"  # 3 against 2
    assert by_id(html, "kpi-revenue-change") == "▼ 50%"  # $5 against $10
    assert by_id(html, "kpi-bounce-rate-change") == "▼ 100.0 pts"  # no bounce against all bounces
    assert 'class="delta down good"' in html  # a falling bounce rate is good news
    assert "Feb 22, 2025 \u2013 Feb 28, 2025" in by_id(html, "compare-range")


def test_last_year_and_off(client_as_owner, site, two_weeks):
    html = page(client_as_owner, site, WEEK + "&compare=year")
    assert by_id(html, "kpi-visitors-change") == "▲ new"
    assert "Mar 1, 2024" in by_id(html, "compare-range")
    assert "compare=year" in by_id_attr(html, "7 days")
    html = page(client_as_owner, site, WEEK + "&compare=off")
    assert "kpi-visitors-change" not in html and "compare-range" not in html


def test_a_bad_comparison_is_a_notice(client_as_owner, site, two_weeks):
    html = page(client_as_owner, site, WEEK + "&compare=decade")
    assert "previous period, the same period last year, or nothing" in by_id(html, "notices")
    assert by_id(html, "kpi-visitors-change") == "▲ 50%"


def test_comparison_costs_a_constant_number_of_queries(
    client_as_owner, site, two_weeks, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as off:
        page(client_as_owner, site, WEEK + "&compare=off")
    with CaptureQueriesContext(connection) as on:
        page(client_as_owner, site, WEEK)
    assert len(on) - len(off) <= 12


def by_id_attr(html: str, link_text: str) -> str:
    import re

    return re.search(rf'<a href="([^"]*)"[^>]*>{link_text}</a>', html).group(1)
