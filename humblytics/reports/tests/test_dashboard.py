"""The dashboard page: the figures of ``test_widgets``'s shop, formatted, and how the page reacts to input."""

import re
from html import unescape

import pytest

from humblytics.reports.tests.test_widgets import build_berlin_shop, build_shop
from tracking.models import Session, View

WEEK = "?period=custom&from=2025-03-01&to=2025-03-07"


@pytest.fixture
def shop(site):
    return build_shop(site)


def page(client, site, query=WEEK) -> str:
    response = client.get(f"/sites/{site.public_id}/{query}")
    assert response.status_code == 200
    return response.content.decode()


def by_id(html: str, element_id: str) -> str:
    """The text inside the element with that id (no nested element of the same tag assumed)."""
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no element with id {element_id}"
    return unescape(re.sub(r"<[^>]+>", "", match.group(2))).strip()


def table_rows(html: str, dimension: str) -> list[list[str]]:
    section = re.search(rf'id="breakdown-{dimension}".*?</section>', html, re.S).group(0)
    rows = re.findall(r"<tr>(.*?)</tr>", section.split("<tbody>")[1], re.S)
    return [
        [
            unescape(re.sub(r"<[^>]+>", "", cell)).strip()
            for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        for row in rows
    ]


def test_it_shows_the_weeks_figures_formatted(client_as_owner, site, shop):
    html = page(client_as_owner, site)
    assert by_id(html, "kpi-visitors") == "4"
    assert by_id(html, "kpi-sessions") == "5"
    assert by_id(html, "kpi-pageviews") == "10"
    assert by_id(html, "kpi-views-per-session") == "1.80"
    assert by_id(html, "kpi-bounce-rate") == "40.0%"
    assert by_id(html, "kpi-duration") == "1m 36s"  # 96 seconds
    assert by_id(html, "kpi-revenue") == "$245.00"  # 24500 cents
    assert by_id(html, "kpi-gross") == "$290.00"
    assert by_id(html, "kpi-refunded") == "$45.00"
    assert by_id(html, "kpi-payments") == "6"
    assert by_id(html, "kpi-conversion") == "75.0%"
    assert by_id(html, "kpi-rpv") == "$46.25"  # 4625 cents
    assert by_id(html, "kpi-attributed") == "75.5%"  # 18500 / 24500
    assert f'href="/sites/{site.public_id}/settings/revenue/#troubleshooting"' in html
    assert by_id(html, "range") == "Mar 1, 2025 \u2013 Mar 7, 2025 · UTC"


def test_breakdown_tables_show_revenue_columns(client_as_owner, site, shop):
    html = page(client_as_owner, site)
    assert table_rows(html, "channel") == [
        ["Organic Search", "2", "$100.00", "1", "50.0%", "$50.00"],
        ["Direct", "1", "$0.00", "0", "0.0%", "$0.00"],
        ["Email", "1", "$30.00", "1", "100.0%", "$30.00"],
        ["Referral", "1", "$15.00", "1", "100.0%", "$15.00"],
        ["Organic Social ↺", "0", "$40.00", "1", "—", "—"],  # paid through a visit before the week
    ]
    assert table_rows(html, "referrer")[0][0] == "Direct / none"  # "" sorts before Google (2 visitors each)
    assert ["(none)", "1", "$15.00", "1", "100.0%", "$15.00"] in table_rows(html, "country")
    for dimension in (
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "entry_page",
        "page",
        "browser",
        "os",
        "device",
    ):
        assert table_rows(html, dimension), dimension


def test_sorting_by_revenue_reorders_every_table(client_as_owner, site, shop):
    html = page(client_as_owner, site, WEEK + "&sort=revenue")
    assert [row[0] for row in table_rows(html, "channel")] == [
        "Organic Search",
        "Organic Social ↺",
        "Email",
        "Referral",
        "Direct",
    ]
    assert [row[0] for row in table_rows(html, "page")] == ["/pricing", "/checkout", "/", "/blog"]
    # Links keep the sort.
    assert "sort=revenue" in re.search(r'<a href="([^"]*)"[^>]*>7 days</a>', html).group(1)


def test_clicking_a_row_filters_the_whole_dashboard(client_as_owner, site, shop):
    html = page(client_as_owner, site)
    link = unescape(re.search(r'<a href="([^"]*)"[^>]*>Organic Search</a>', html).group(1))
    assert link == "?period=custom&from=2025-03-01&to=2025-03-07&filter=channel%3AOrganic+Search"
    filtered = page(client_as_owner, site, link)
    assert by_id(filtered, "kpi-visitors") == "2"
    assert by_id(filtered, "kpi-revenue") == "$100.00"
    assert by_id(filtered, "kpi-conversion") == "50.0%"
    assert "Channel is Organic Search" in by_id(filtered, "filters")
    # The chip removes the filter, keeping the period.
    chip = unescape(re.search(r'<a class="chip" href="([^"]*)"', filtered).group(1))
    assert chip == "?period=custom&from=2025-03-01&to=2025-03-07"
    # The custom period form carries the filter along.
    assert '<input type="hidden" name="filter" value="channel:Organic Search">' in filtered


def test_an_empty_referrer_filters_direct_traffic(client_as_owner, site, shop):
    html = page(client_as_owner, site, WEEK + "&filter=referrer:")
    assert by_id(html, "kpi-visitors") == "2"
    assert "Referrer is Direct / none" in by_id(html, "filters")


def test_two_chips_each_remove_their_own_filter(client_as_owner, site, shop):
    html = page(client_as_owner, site, WEEK + "&filter=device:mobile&filter=channel:Referral")
    assert by_id(html, "kpi-visitors") == "1"  # S5
    chips = [unescape(href) for href in re.findall(r'<a class="chip" href="([^"]*)"', html)]
    assert chips == [
        "?period=custom&from=2025-03-01&to=2025-03-07&filter=channel%3AReferral",
        "?period=custom&from=2025-03-01&to=2025-03-07&filter=device%3Amobile",
    ]
    assert 'href="?period=custom&amp;from=2025-03-01&amp;to=2025-03-07">Clear all' in html


def test_the_chart_switches_between_visitors_and_revenue(client_as_owner, site, shop):
    html = page(client_as_owner, site)
    assert by_id(html, "chart-title") == "Visitors per day"
    assert "<title>Mar 1, 2025: 1 visitor</title>" in html
    assert "<title>Mar 4, 2025: 0 visitors</title>" in html
    assert html.count('class="bucket"') == 7
    revenue = page(client_as_owner, site, WEEK + "&metric=revenue")
    assert by_id(revenue, "chart-title") == "Revenue per day"
    assert "<title>Mar 1, 2025: $100.00</title>" in revenue
    assert "<title>Mar 6, 2025: $60.00</title>" in revenue
    # Axis: $100 is the largest day, so ticks go 0, $50, $100 (1-2-5 steps of at least a quarter).
    assert [
        unescape(t)
        for t in re.findall(r'<text class="axis"[^>]*text-anchor="end"[^>]*>([^<]*)</text>', revenue)
    ] == [
        "$0",
        "$50",
        "$100",
    ]


def test_today_is_charted_by_the_hour_in_the_sites_timezone(client_as_owner, owner, db, settings):
    berlin = build_berlin_shop(owner)
    html = page(client_as_owner, berlin, "?period=custom&from=2025-03-30&to=2025-03-30")
    assert html.count('class="bucket"') == 23  # the DST day
    assert "<title>Mar 30, 00:00: 1 visitor</title>" in html
    assert by_id(html, "kpi-revenue") == "¥8,000"
    assert by_id(html, "kpi-rpv") == "¥2,500"
    assert by_id(html, "range") == "Sun, Mar 30, 2025 · Europe/Berlin"


def test_period_links_and_the_default(client_as_owner, site, shop):
    html = page(client_as_owner, site, "")
    assert re.search(r'<a href="\?period=30d" aria-current="page">30 days</a>', html)
    for key in ("today", "7d", "90d", "12mo"):
        assert f'href="?period={key}"' in html


def test_without_any_view_it_shows_the_snippet(client_as_owner, site):
    html = page(client_as_owner, site, "")
    assert "No page view has arrived yet" in html
    assert f"/hmbl.min.js?id={site.public_id}" in html
    assert 'id="kpis"' not in html


def test_when_views_exist_but_not_in_range_it_says_so(client_as_owner, site, shop):
    html = page(client_as_owner, site, "?period=custom&from=2024-01-01&to=2024-01-31")
    assert "No page views between Jan 1, 2024 and Jan 31, 2024" in by_id(html, "no-data-in-range")
    assert by_id(html, "kpi-visitors") == "0"
    assert by_id(html, "kpi-bounce-rate") == "—"
    assert by_id(html, "kpi-revenue") == "$0.00"
    assert 'id="chart"' not in html


def test_a_site_without_payments_shows_no_revenue_yet(client_as_owner, site):
    session = Session.objects.create(
        site=site,
        visitor_hash="x",
        started_at="2025-03-02T10:00:00Z",
        last_seen_at="2025-03-02T10:00:00Z",
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )
    View.objects.create(
        site=site,
        session=session,
        view_id="x" * 20,
        created_at=session.started_at,
        hostname="example.com",
        page="/",
    )
    html = page(client_as_owner, site)
    assert by_id(html, "kpi-visitors") == "1"
    assert by_id(html, "kpi-revenue") == "—"
    assert "Connect Stripe" in html
    assert by_id(html, "kpi-attributed") == "—"
    assert "troubleshooting-link" not in html


@pytest.mark.parametrize(
    ("query", "notice"),
    [
        (
            "?period=custom&from=2025-03-07&to=2025-03-01",
            "The end date is before the start date, so the dashboard shows the last 30 days instead.",
        ),
        ("?period=forever", "Unknown period 'forever'"),
        (
            "?period=custom&from=tomorrow&to=2025-03-01",
            "The start date is not a date (dates look like 2025-01-31)",
        ),
        ("?period=custom&to=2025-03-01", "A custom period needs a start date"),
        ("?period=custom&from=2020-01-01&to=2025-03-01", "longer than 3 years"),
        ("?period=7d&timezone=Nowhere/Land", "Unknown time zone"),
        ("?period=7d&filter=planet:Mars", "unknown filter dimension 'planet'"),
        ("?period=7d&filter=nonsense", "must look like dimension:value"),
        ("?metric=pageviews", "The chart shows visitors or revenue"),
        ("?sort=bounce", "Tables sort by visitors or revenue"),
    ],
)
def test_bad_parameters_get_a_message_not_an_error(client_as_owner, site, shop, query, notice):
    html = page(client_as_owner, site, query)
    assert notice in by_id(html, "notices")
    assert 'id="kpis"' in html


def test_a_bad_filter_keeps_the_period_and_a_bad_period_keeps_the_filters(client_as_owner, site, shop):
    html = page(client_as_owner, site, WEEK + "&filter=planet:Mars")
    assert by_id(html, "kpi-visitors") == "4"
    assert "could not be used (unknown filter dimension 'planet'" in by_id(html, "notices")
    assert "so the dashboard shows everything" in by_id(html, "notices")
    html = page(client_as_owner, site, "?period=forever&filter=channel:Email")
    assert "Channel is Email" in by_id(html, "filters")


def test_dashboard_requires_login(client, site):
    response = client.get(f"/sites/{site.public_id}/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_another_users_site_is_not_found(client_as_owner, other_site):
    assert client_as_owner.get(f"/sites/{other_site.public_id}/").status_code == 404
    assert client_as_owner.get("/sites/nosuchs/").status_code == 404


def test_dashboard_only_answers_get(client_as_owner, site):
    assert client_as_owner.post(f"/sites/{site.public_id}/").status_code == 405


def test_dashboard_query_count_stays_flat(client_as_owner, site, shop, django_assert_max_num_queries):
    # Auth 3, has_views, currency; summary 3, timeseries 3; 11 breakdowns of at most 4 (traffic, revenue,
    # revenue-only fill-up, page views by session value; pages count views in the traffic query): 54.
    # The Goals panel: the site's goals, custom events by name, funnels (test_goals_panel: with goals).
    with django_assert_max_num_queries(59):
        page(client_as_owner, site)
