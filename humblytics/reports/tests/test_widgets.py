"""Report figures over a known data set, checked against numbers worked out by hand.

The shop (``site``, UTC) for 2025-03-01..2025-03-07 (2025-03-01 is a Saturday):

    session  visitor  started (UTC)      views (page @ time)                         channel / referrer
    S0       v5       02-28 23:59        / @23:59, /pricing @03-01 00:01             Organic Social / Twitter
    S1       v1       03-01 10:00        / @10:00, /pricing @10:02                   Organic Search / Google
    S2       v1       03-02 09:00        /pricing                                    Direct / ""
    S3       v2       03-03 12:00        /blog @12:00, /pricing @12:01, /checkout @12:05  Email / "" (utm)
    S4       v3       03-05 23:50        /                                           Organic Search / Google
    S5       v4       03-07 08:00        /pricing @08:00, /checkout @08:01           Referral / Hacker News
    S6       v6       03-08 00:00        /                                           Direct (just after the range)

    payment  created (UTC)   settlement      refunded         net    session (view)
    P1       03-01 10:05     10000 usd       0                10000  S1 (/pricing)
    P2       03-03 12:06      5000 usd       2000 refund       3000  S3 (/checkout)
    P3       03-04 15:00      4000 usd       0                 4000  S0 (/pricing): an older visit
    P4       03-05 09:00      2500 usd       2500 lost dispute    0  none (no_view_id)
    P5       03-06 18:00      6000 usd       0                 6000  none (unknown_view_id)
    P6       03-07 08:02      1500 usd       0                 1500  S5 (/checkout)
    P7       03-02 10:00      3000 eur       0                 3000  S2: another currency, never counted
    P8       02-28 12:00      8000 usd       0                 8000  S0: before the range
    P9       03-08 00:00      1000 usd       0                 1000  none: just after the range

The Berlin shop (Europe/Berlin, settles in JPY) around the DST change of 2025-03-30 (02:00 CET → 03:00 CEST):

    session  visitor  started (UTC)   local                      views
    B0       w0       03-29 22:59     03-29 23:59 CET            /
    B1       w1       03-29 23:30     03-30 00:30 CET            /
    B3       w3       03-30 01:15     03-30 03:15 CEST           /a, /b @01:20
    B2       w2       03-30 22:30     03-31 00:30 CEST           /

    payment  created (UTC)  local              amount (jpy)  session
    Q4       03-29 22:30    03-29 23:30 CET    1000          none
    Q1       03-29 23:45    03-30 00:45 CET    5000          B1 (/)
    Q2       03-30 21:30    03-30 23:30 CEST   3000          none
    Q3       03-30 22:10    03-31 00:10 CEST   2000          none
"""

import datetime as dt
import itertools
import zoneinfo
from types import SimpleNamespace

import pytest
from django.http import QueryDict

from humblytics.reports import query as rq
from humblytics.reports import widgets
from revenue.models import Dispute, Payment, Refund
from revenue.reports import report_currency
from tracking.dimensions import DIMENSIONS
from tracking.models import Session, Site, View

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
UTC = zoneinfo.ZoneInfo("UTC")
_view_ids = itertools.count()


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def make_session(site, visitor, views, *, channel="Direct", referrer="", utm=("", "", ""), **client):
    """``views`` is ``[(UTC time, page), ...]``; returns the session and its views by page."""
    times = [at(t) for t, _ in views]
    session = Session.objects.create(
        site=site,
        visitor_hash=visitor,
        started_at=times[0],
        last_seen_at=times[-1],
        pageviews=len(views),
        entry_page=views[0][1],
        exit_page=views[-1][1],
        channel=channel,
        referrer=referrer,
        utm_source=utm[0],
        utm_medium=utm[1],
        utm_campaign=utm[2],
        country=client.get("country", ""),
        browser=client.get("browser", "Chrome"),
        os=client.get("os", "macOS"),
        device=client.get("device", "desktop"),
    )
    made = {}
    for when, page in zip(times, (p for _, p in views), strict=True):
        made[page] = View.objects.create(
            site=site,
            session=session,
            view_id=f"view{next(_view_ids):020d}",
            created_at=when,
            hostname=site.domain,
            page=page,
        )
    session.view = made
    return session


def make_payment(
    site, charge, created, settlement, *, refunded=0, currency="usd", session=None, page=None, **extra
):
    return Payment.objects.create(
        site=site,
        stripe_id=charge,
        created_at=at(created),
        amount=settlement,
        currency=currency,
        settlement_amount=settlement,
        settlement_currency=currency,
        refunded=refunded,
        net=settlement - refunded,
        session=session,
        matched_view=session.view[page] if session and page else None,
        view_id=session.view[page].view_id if session and page else extra.get("view_id", ""),
        unattributed_reason="" if session else extra.get("reason", Payment.Unattributed.NO_VIEW_ID),
        status=extra.get("status", Payment.Status.SUCCEEDED),
    )


def build_shop(site: Site) -> SimpleNamespace:
    s0 = make_session(
        site,
        "v5",
        [("2025-02-28 23:59", "/"), ("2025-03-01 00:01", "/pricing")],
        channel="Organic Social",
        referrer="Twitter",
        country="FR",
    )
    s1 = make_session(
        site,
        "v1",
        [("2025-03-01 10:00", "/"), ("2025-03-01 10:02", "/pricing")],
        channel="Organic Search",
        referrer="Google",
        country="DE",
    )
    s2 = make_session(site, "v1", [("2025-03-02 09:00", "/pricing")], channel="Direct", country="DE")
    s3 = make_session(
        site,
        "v2",
        [("2025-03-03 12:00", "/blog"), ("2025-03-03 12:01", "/pricing"), ("2025-03-03 12:05", "/checkout")],
        channel="Email",
        utm=("newsletter", "email", "launch"),
        country="US",
        browser="Firefox",
        os="Windows",
    )
    s4 = make_session(
        site,
        "v3",
        [("2025-03-05 23:50", "/")],
        channel="Organic Search",
        referrer="Google",
        country="US",
        browser="Safari",
        os="iOS",
        device="mobile",
    )
    s5 = make_session(
        site,
        "v4",
        [("2025-03-07 08:00", "/pricing"), ("2025-03-07 08:01", "/checkout")],
        channel="Referral",
        referrer="Hacker News",
        os="Android",
        device="mobile",
    )
    s6 = make_session(site, "v6", [("2025-03-08 00:00", "/")], channel="Direct")

    p1 = make_payment(site, "ch_p1", "2025-03-01 10:05", 10000, session=s1, page="/pricing")
    p2 = make_payment(site, "ch_p2", "2025-03-03 12:06", 5000, refunded=2000, session=s3, page="/checkout")
    p2.status = Payment.Status.PARTIALLY_REFUNDED
    p2.save()
    Refund.objects.create(
        payment=p2,
        stripe_id="re_p2",
        created_at=at("2025-03-10 09:00"),
        amount=2000,
        currency="usd",
        settlement_amount=2000,
        status="succeeded",
    )
    p3 = make_payment(site, "ch_p3", "2025-03-04 15:00", 4000, session=s0, page="/pricing")
    p4 = make_payment(
        site, "ch_p4", "2025-03-05 09:00", 2500, refunded=2500, status=Payment.Status.DISPUTE_LOST
    )
    Dispute.objects.create(
        payment=p4,
        stripe_id="dp_p4",
        created_at=at("2025-03-20 09:00"),
        amount=2500,
        currency="usd",
        settlement_amount=2500,
        status="lost",
    )
    p5 = make_payment(
        site, "ch_p5", "2025-03-06 18:00", 6000, reason=Payment.Unattributed.UNKNOWN_VIEW_ID, view_id="gone"
    )
    p6 = make_payment(site, "ch_p6", "2025-03-07 08:02", 1500, session=s5, page="/checkout")
    p7 = make_payment(site, "ch_p7", "2025-03-02 10:00", 3000, currency="eur", session=s2, page="/pricing")
    p8 = make_payment(site, "ch_p8", "2025-02-28 12:00", 8000, session=s0, page="/")
    p9 = make_payment(site, "ch_p9", "2025-03-08 00:00", 1000)
    return SimpleNamespace(**{k: v for k, v in locals().items() if k[0] in "sp" and k[1:].isdigit()})


def build_berlin_shop(owner=None) -> Site:
    site = Site.objects.create(name="Berliner Laden", domain="laden.de", timezone="Europe/Berlin")
    if owner is not None:
        site.memberships.create(user=owner)
    make_session(site, "w0", [("2025-03-29 22:59", "/")])
    b1 = make_session(site, "w1", [("2025-03-29 23:30", "/")], channel="Organic Search", referrer="Google")
    make_session(site, "w3", [("2025-03-30 01:15", "/a"), ("2025-03-30 01:20", "/b")])
    make_session(site, "w2", [("2025-03-30 22:30", "/")])
    make_payment(site, "ch_q4", "2025-03-29 22:30", 1000, currency="jpy")
    make_payment(site, "ch_q1", "2025-03-29 23:45", 5000, currency="jpy", session=b1, page="/")
    make_payment(site, "ch_q2", "2025-03-30 21:30", 3000, currency="jpy")
    make_payment(site, "ch_q3", "2025-03-30 22:10", 2000, currency="jpy")
    return site


@pytest.fixture
def shop(site):
    return build_shop(site)


def week_of_shop(site, **extra) -> rq.Query:
    return rq.parse_query(site, {"start": "2025-03-01", "end": "2025-03-07", **extra})


# ---------------------------------------------------------------------------------------------- parsing


def test_it_parses_the_api_form_in_the_sites_timezone(site):
    site.timezone = "Europe/Berlin"
    q = rq.parse_query(site, {"start": "2025-03-30", "end": "2025-03-30"})
    assert (q.start, q.end, q.tz, q.filters, q.period) == (
        dt.date(2025, 3, 30),
        dt.date(2025, 3, 30),
        BERLIN,
        (),
        "custom",
    )
    # Local midnight is 23:00 UTC the day before (CET); the next midnight is CEST: a 23-hour day.
    assert q.bounds() == (at("2025-03-29 23:00"), at("2025-03-30 22:00"))
    assert q.days == 1


def test_the_timezone_parameter_overrides_the_sites(site):
    q = rq.parse_query(site, {"start": "2025-01-01", "end": "2025-01-31", "timezone": "America/New_York"})
    assert q.tz == zoneinfo.ZoneInfo("America/New_York")
    assert q.start_at == at("2025-01-01 05:00")
    assert q.end_at == at("2025-02-01 05:00")


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        ("today", "2025-03-07", "2025-03-07"),
        ("7d", "2025-03-01", "2025-03-07"),  # 7 - 6
        ("30d", "2025-02-06", "2025-03-07"),  # 29 days back
        ("90d", "2024-12-08", "2025-03-07"),  # 89 days back
        ("12mo", "2024-04-01", "2025-03-07"),  # this month and the eleven before
        ("yesterday", "2025-03-06", "2025-03-06"),
        ("month", "2025-03-01", "2025-03-07"),  # this month so far
        ("lastmonth", "2025-02-01", "2025-02-28"),
    ],
)
def test_it_turns_periods_into_dates_ending_today(site, period, start, end):
    q = rq.parse_query(site, {"period": period}, today=dt.date(2025, 3, 7))
    assert (q.start.isoformat(), q.end.isoformat(), q.period) == (start, end, period)


def test_last_month_crosses_a_year_and_this_month_on_the_first_is_one_day(site):
    q = rq.parse_query(site, {"period": "lastmonth"}, today=dt.date(2025, 1, 1))
    assert (q.start, q.end) == (dt.date(2024, 12, 1), dt.date(2024, 12, 31))
    q = rq.parse_query(site, {"period": "month"}, today=dt.date(2025, 1, 1))
    assert (q.start, q.end) == (dt.date(2025, 1, 1), dt.date(2025, 1, 1))


def test_it_defaults_to_the_last_30_days_and_custom_takes_from_and_to(site):
    assert rq.parse_query(site, {}, today=dt.date(2025, 3, 7)).start == dt.date(2025, 2, 6)
    assert rq.parse_query(site, {}, default_period="7d", today=dt.date(2025, 3, 7)).start == dt.date(
        2025, 3, 1
    )
    q = rq.parse_query(site, {"period": "custom", "from": "2024-12-30", "to": "2025-01-02"})
    assert (q.start, q.end, q.period) == (dt.date(2024, 12, 30), dt.date(2025, 1, 2), "custom")


def test_api_dates_win_over_a_period_and_a_missing_end_is_today(site):
    q = rq.parse_query(site, {"period": "7d", "start": "2025-03-01"}, today=dt.date(2025, 3, 10))
    assert (q.start, q.end) == (dt.date(2025, 3, 1), dt.date(2025, 3, 10))


def test_it_reads_repeated_filters_from_a_querydict(site):
    params = QueryDict("period=7d&filter=channel:Organic Search&filter=page:/a:b&filter=referrer:&filter=")
    q = rq.parse_query(site, params)
    assert q.filters == (("channel", "Organic Search"), ("page", "/a:b"), ("referrer", ""))
    assert rq.parse_query(site, {"filter": "country:DE"}).filters == (("country", "DE"),)
    assert rq.parse_query(site, {"filter": ["os:iOS", "os:iOS"]}).filters == (("os", "iOS"),)


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"start": "2025-02-30", "end": "2025-03-01"}, "start", "start must be a date like 2025-01-31"),
        ({"start": "20250301", "end": "2025-03-01"}, "start", "start must be a date like 2025-01-31"),
        ({"start": "2025-03-01", "end": "soon"}, "end", "end must be a date like 2025-01-31"),
        ({"start": "0001-01-01", "end": "0001-01-02"}, "start", "start must be between 1900 and 9998"),
        ({"start": "2025-03-02", "end": "2025-03-01"}, "end", "end is before start"),
        ({"period": "custom", "from": "2025-03-02", "to": "2025-03-01"}, "to", "to is before from"),
        # 2022-01-01..2025-01-01 is 1,097 days.
        (
            {"start": "2022-01-01", "end": "2025-01-01"},
            "start",
            "the range is longer than 3 years (1,096 days)",
        ),
        ({"start": "2025-03-01", "timezone": "Mars/Olympus"}, "timezone", "unknown time zone 'Mars/Olympus'"),
        ({"start": "2025-03-01", "timezone": "../etc/passwd"}, "timezone", "unknown time zone"),
        ({"period": "lastweek"}, "period", "unknown period 'lastweek'"),
        ({"period": "custom", "to": "2025-03-01"}, "from", "from is required for a custom period"),
        ({"period": "custom", "from": "2025-03-01"}, "to", "to is required for a custom period"),
        ({"filter": "planet:Mars"}, "filter", "unknown filter dimension 'planet'"),
        ({"filter": "channel"}, "filter", "must look like dimension:value"),
        ({"filter": ":Email"}, "filter", "must look like dimension:value"),
        ({"filter": [f"page:/{i}" for i in range(11)]}, "filter", "at most 10 filters"),
        ({"filter": "page:/" + "a" * 500}, "filter", "at most 500 characters"),
    ],
)
def test_it_names_the_bad_parameter(site, params, param, message):
    with pytest.raises(rq.QueryError) as caught:
        rq.parse_query(site, params)
    assert caught.value.param == param
    assert message in caught.value.message
    assert isinstance(caught.value, ValueError)


def test_exactly_three_years_is_allowed(site):
    # 2022-01-01..2024-12-31: 365 + 365 + 366 = 1,096 days.
    assert rq.parse_query(site, {"start": "2022-01-01", "end": "2024-12-31"}).days == 1096


def test_widget_parameters_are_checked_too(site):
    q = week_of_shop(site)
    with pytest.raises(rq.QueryError) as caught:
        widgets.breakdown(q, "planet")
    assert caught.value.param == "dimension"
    with pytest.raises(rq.QueryError) as caught:
        widgets.breakdown(q, "channel", order_by="pageviews")
    assert caught.value.param == "order_by"
    with pytest.raises(rq.QueryError) as caught:
        widgets.timeseries(q, "minute")
    assert caught.value.param == "granularity"
    eight_days = rq.parse_query(site, {"start": "2025-03-01", "end": "2025-03-08"})
    with pytest.raises(rq.QueryError, match="7 days or fewer") as caught:
        widgets.timeseries(eight_days, "hour")
    assert caught.value.param == "granularity"
    assert len(widgets.timeseries(q, "hour")) == 7 * 24


# ---------------------------------------------------------------------------------------------- summary


def test_summary_of_the_shops_week(shop, site, django_assert_max_num_queries):
    q = week_of_shop(site)
    # Which days are rolled up, traffic, page views, currency, payments, and the sessions and views in
    # range of payers whose own visit was outside it.
    with django_assert_max_num_queries(7):
        figures = widgets.summary(q)
    assert figures == {
        "visitors": 4,  # v1 (S1, S2), v2, v3, v4; S0 started before, S6 after the range
        "sessions": 5,  # S1..S5
        "pageviews": 10,  # S0's 00:01 view 1 + S1 2 + S2 1 + S3 3 + S4 1 + S5 2
        "bounce_rate": 0.4,  # S2 and S4 have one view: 2 / 5
        "revenue": 24500,  # P1..P6 net: 10000 + 3000 + 4000 + 0 + 6000 + 1500; P7 (eur), P8, P9 left out
        "gross_revenue": 29000,  # 10000 + 5000 + 4000 + 2500 + 6000 + 1500
        "refunded": 4500,  # P2's refund 2000 + P4's lost dispute 2500
        "payments": 6,
        "conversion_rate": 0.75,  # v1 (P1), v2 (P2), v4 (P6) of 4; v5 (P3) is not a visitor this week
        "revenue_per_visitor": 4625.0,  # attributed 10000 + 3000 + 4000 + 1500 = 18500 / 4
        "attributed_share": 18500 / 24500,  # 0.7551...
        "currency": "usd",
        "views_per_session": 1.8,  # (2 + 1 + 3 + 1 + 2) / 5
        "avg_duration_seconds": 96.0,  # (120 + 0 + 300 + 0 + 60) / 5
    }
    assert list(figures)[:12] == [
        "visitors",
        "sessions",
        "pageviews",
        "bounce_rate",
        "revenue",
        "gross_revenue",
        "refunded",
        "payments",
        "conversion_rate",
        "revenue_per_visitor",
        "attributed_share",
        "currency",
    ]


def test_summary_filtered_by_channel_counts_only_matching_sessions_and_payments(shop, site):
    figures = widgets.summary(week_of_shop(site, filter="channel:Organic Search"))
    assert figures == {
        "visitors": 2,  # v1 (S1), v3 (S4)
        "sessions": 2,
        "pageviews": 3,  # S1 2 + S4 1
        "bounce_rate": 0.5,  # S4
        "revenue": 10000,  # P1 only: unattributed P4, P5 cannot match a filter
        "gross_revenue": 10000,
        "refunded": 0,
        "payments": 1,
        "conversion_rate": 0.5,  # v1 of v1, v3
        "revenue_per_visitor": 5000.0,  # 10000 / 2
        "attributed_share": 1.0,
        "currency": "usd",
        "views_per_session": 1.5,  # 3 / 2
        "avg_duration_seconds": 60.0,  # (120 + 0) / 2
    }


def test_summary_filtered_by_page_keeps_sessions_that_viewed_it(shop, site):
    figures = widgets.summary(week_of_shop(site, filter="page:/checkout"))
    assert figures["visitors"] == 2  # v2 (S3), v4 (S5)
    assert figures["sessions"] == 2
    assert figures["pageviews"] == 5  # every view of S3 (3) and S5 (2)
    assert figures["bounce_rate"] == 0.0
    assert figures["revenue"] == 4500  # P2 3000 + P6 1500
    assert figures["gross_revenue"] == 6500  # 5000 + 1500
    assert figures["refunded"] == 2000
    assert figures["payments"] == 2
    assert figures["conversion_rate"] == 1.0  # 2 / 2
    assert figures["revenue_per_visitor"] == 2250.0  # 4500 / 2


def test_page_filter_on_payments_follows_the_session_not_the_range(shop, site):
    # P3 is in range; its session S0 viewed /pricing at 00:01 on 03-01 and / before the range.
    figures = widgets.summary(week_of_shop(site, filter="page:/"))
    # Sessions: S1 and S4 viewed / in range (S0's / view was on 02-28).
    assert (figures["visitors"], figures["sessions"]) == (2, 2)
    # Payments: P1 (S1) 10000 + P3 (S0 has a / view, at any time) 4000.
    assert (figures["revenue"], figures["payments"]) == (14000, 2)
    assert figures["conversion_rate"] == 0.5  # v1 paid; v5 is not a visitor in range


def test_empty_filter_value_matches_direct_traffic(shop, site):
    figures = widgets.summary(week_of_shop(site, filter="referrer:"))
    assert (figures["visitors"], figures["sessions"], figures["pageviews"]) == (2, 2, 4)  # S2 1 + S3 3
    assert (figures["revenue"], figures["payments"]) == (3000, 1)  # P2; P7 on S2 is in eur
    assert figures["conversion_rate"] == 0.5  # v2 of v1, v2


def test_filters_combine_with_and(shop, site):
    figures = widgets.summary(week_of_shop(site, filter=["channel:Organic Search", "country:US"]))
    assert (figures["visitors"], figures["sessions"], figures["pageviews"]) == (1, 1, 1)  # S4
    assert figures["revenue"] == 0
    assert figures["payments"] == 0
    assert figures["attributed_share"] is None  # no revenue
    assert figures["conversion_rate"] == 0.0
    assert figures["revenue_per_visitor"] == 0.0


def test_summary_without_any_data_has_nulls_not_errors(site):
    figures = widgets.summary(week_of_shop(site))
    assert figures == {
        "visitors": 0,
        "sessions": 0,
        "pageviews": 0,
        "bounce_rate": None,
        "revenue": 0,
        "gross_revenue": 0,
        "refunded": 0,
        "payments": 0,
        "conversion_rate": None,
        "revenue_per_visitor": None,
        "attributed_share": None,
        "currency": None,
        "views_per_session": None,
        "avg_duration_seconds": None,
    }


def test_summary_in_a_non_utc_timezone_uses_local_midnights(db):
    berlin = build_berlin_shop()
    figures = widgets.summary(rq.parse_query(berlin, {"start": "2025-03-30", "end": "2025-03-30"}))
    # Local 03-30 is [03-29 23:00Z, 03-30 22:00Z): B1 (23:30Z) and B3 (01:15Z); not B0 (22:59Z), B2 (22:30Z).
    assert (figures["visitors"], figures["sessions"], figures["pageviews"]) == (2, 2, 3)  # B1 1 + B3 2
    # Q1 (23:45Z) 5000 + Q2 (21:30Z) 3000; Q4 (22:30Z) and Q3 (22:10Z) are other local days.
    assert (figures["revenue"], figures["payments"], figures["currency"]) == (8000, 2, "jpy")
    assert figures["attributed_share"] == 0.625  # 5000 / 8000
    assert figures["conversion_rate"] == 0.5  # w1 of w1, w3
    assert figures["revenue_per_visitor"] == 2500.0  # 5000 / 2

    in_utc = widgets.summary(
        rq.parse_query(berlin, {"start": "2025-03-30", "end": "2025-03-30", "timezone": "UTC"})
    )
    assert (in_utc["visitors"], in_utc["revenue"]) == (2, 5000)  # B3, B2; Q2 3000 + Q3 2000


def test_each_site_reports_in_its_own_currency(shop, site):
    berlin = build_berlin_shop()
    assert report_currency(site) == "usd"  # usd net 33500 against eur 3000
    assert report_currency(berlin) == "jpy"
    assert widgets.summary(week_of_shop(berlin))["revenue"] == 0  # the Berlin shop has no March 1-7 data


# -------------------------------------------------------------------------------------------- breakdown


def row(value, visitors, sessions, pageviews, revenue, payments, conversion_rate, revenue_per_visitor):
    return {
        "value": value,
        "visitors": visitors,
        "sessions": sessions,
        "pageviews": pageviews,
        "revenue": revenue,
        "payments": payments,
        "conversion_rate": conversion_rate,
        "revenue_per_visitor": revenue_per_visitor,
    }


CHANNEL_ROWS = {
    # Organic Search: S1 (v1), S4 (v3); views 2 + 1; P1 10000 from v1: 1/2, 10000/2.
    "Organic Search": row("Organic Search", 2, 2, 3, 10000, 1, 0.5, 5000.0),
    # Direct: S2 (v1), 1 view; P7 is eur, so nothing.
    "Direct": row("Direct", 1, 1, 1, 0, 0, 0.0, 0.0),
    # Email: S3 (v2), 3 views; P2 net 3000 from v2.
    "Email": row("Email", 1, 1, 3, 3000, 1, 1.0, 3000.0),
    # Referral: S5 (v4), 2 views; P6 1500.
    "Referral": row("Referral", 1, 1, 2, 1500, 1, 1.0, 1500.0),
    # Organic Social: no session started in range, but S0's 00:01 view and P3 (4000) are in range.
    "Organic Social": row("Organic Social", 0, 0, 1, 4000, 1, None, None),
}


def test_breakdown_by_channel_sorted_by_visitors(shop, site, django_assert_max_num_queries):
    with django_assert_max_num_queries(7):
        rows = widgets.breakdown(week_of_shop(site), "channel")
    # Most visitors first, ties by sessions then value; revenue-only values last.
    order = ["Organic Search", "Direct", "Email", "Referral", "Organic Social"]
    assert rows == [CHANNEL_ROWS[v] for v in order]


def test_breakdown_by_channel_sorted_by_revenue(shop, site):
    rows = widgets.breakdown(week_of_shop(site), "channel", order_by="revenue")
    order = ["Organic Search", "Organic Social", "Email", "Referral", "Direct"]
    assert rows == [CHANNEL_ROWS[v] for v in order]


@pytest.mark.parametrize("order_by", ["visitors", "revenue"])
@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 10])
def test_a_limited_breakdown_is_the_start_of_the_full_one(shop, site, order_by, limit):
    q = week_of_shop(site)
    full = widgets.breakdown(q, "channel", order_by=order_by)
    assert widgets.breakdown(q, "channel", order_by=order_by, limit=limit) == full[:limit]


def test_breakdown_by_page_counts_views_and_the_attributed_views_page(shop, site):
    rows = widgets.breakdown(week_of_shop(site), "page")
    assert rows == [
        # /pricing viewed by S0 (v5, 00:01), S1 (v1), S2 (v1), S3 (v2), S5 (v4): 4 visitors, 5 sessions.
        # P1 (S1's /pricing) 10000 + P3 (S0's /pricing) 4000; v1 and v5 viewed it: 2 / 4; 14000 / 4.
        row("/pricing", 4, 5, 5, 14000, 2, 0.5, 3500.0),
        # / viewed by S1 (v1), S4 (v3); S0's / view was before the range. No payment on a / view.
        row("/", 2, 2, 2, 0, 0, 0.0, 0.0),
        # /checkout viewed by S3 (v2), S5 (v4); P2 3000 + P6 1500 from both: 2 / 2; 4500 / 2.
        row("/checkout", 2, 2, 2, 4500, 2, 1.0, 2250.0),
        row("/blog", 1, 1, 1, 0, 0, 0.0, 0.0),
    ]


def test_breakdown_by_referrer_keeps_empty_values(shop, site):
    rows = widgets.breakdown(week_of_shop(site), "referrer", order_by="revenue")
    assert [(r["value"], r["visitors"], r["revenue"]) for r in rows] == [
        ("Google", 2, 10000),  # S1, S4; P1
        ("Twitter", 0, 4000),  # P3 via S0
        ("", 2, 3000),  # S2, S3; P2
        ("Hacker News", 1, 1500),  # S5; P6
    ]


@pytest.mark.parametrize(
    ("dimension", "expected"),
    [
        ("utm_source", [("", 3, 7, 0), ("newsletter", 1, 3, 3000)]),  # "" has P1 10000, P3 4000, P6 1500
        ("utm_campaign", [("", 3, 7, 0), ("launch", 1, 3, 3000)]),
        ("entry_page", [("/", 2, 4, 0), ("/pricing", 2, 3, 0), ("/blog", 1, 3, 0)]),
        ("country", [("DE", 1, 3, 0), ("US", 2, 4, 0), ("", 1, 2, 0), ("FR", 0, 1, 0)]),
        ("device", [("desktop", 2, 7, 0), ("mobile", 2, 3, 0)]),
    ],
)
def test_breakdown_by_other_dimensions(shop, site, dimension, expected):
    rows = {r["value"]: r for r in widgets.breakdown(week_of_shop(site), dimension)}
    for value, visitors, pageviews, _ in expected:
        assert (rows[value]["visitors"], rows[value]["pageviews"]) == (visitors, pageviews), value


def test_breakdown_revenue_by_session_dimensions(shop, site):
    q = week_of_shop(site)
    revenue = {
        d: {r["value"]: r["revenue"] for r in widgets.breakdown(q, d)}
        for d in ("utm_source", "entry_page", "country", "device")
    }
    # utm_source: P2 (S3, newsletter) 3000; P1 (S1) + P3 (S0) + P6 (S5) have none: 10000 + 4000 + 1500.
    assert revenue["utm_source"] == {"": 15500, "newsletter": 3000}
    # entry_page: S1 and S0 entered on / (P1 10000 + P3 4000), S3 on /blog (3000), S5 on /pricing (1500).
    assert revenue["entry_page"] == {"/": 14000, "/blog": 3000, "/pricing": 1500}
    # country: S1 DE 10000, S0 FR 4000, S3 US 3000, S5 unknown 1500.
    assert revenue["country"] == {"DE": 10000, "FR": 4000, "US": 3000, "": 1500}
    # device: S1, S0, S3 desktop (10000 + 4000 + 3000), S5 mobile 1500.
    assert revenue["device"] == {"desktop": 17000, "mobile": 1500}


def test_breakdown_under_a_filter(shop, site):
    rows = widgets.breakdown(week_of_shop(site, filter="device:mobile"), "channel")
    assert rows == [
        row("Organic Search", 1, 1, 1, 0, 0, 0.0, 0.0),  # S4 (v3) did not pay
        row("Referral", 1, 1, 2, 1500, 1, 1.0, 1500.0),  # S5 (v4), P6
    ]


def test_breakdown_of_an_empty_site_is_empty(site):
    assert widgets.breakdown(week_of_shop(site), "page", limit=10) == []


# ------------------------------------------------------------------------------------------- timeseries


def test_daily_timeseries_fills_empty_days(shop, site, django_assert_max_num_queries):
    with django_assert_max_num_queries(5):
        rows = widgets.timeseries(week_of_shop(site), "day")
    assert [
        (r["date"], r["visitors"], r["sessions"], r["pageviews"], r["revenue"], r["payments"]) for r in rows
    ] == [
        ("2025-03-01", 1, 1, 3, 10000, 1),  # S1; S0's 00:01 view + S1's 2; P1
        ("2025-03-02", 1, 1, 1, 0, 0),  # S2; P7 is eur
        ("2025-03-03", 1, 1, 3, 3000, 1),  # S3; P2 net
        ("2025-03-04", 0, 0, 0, 4000, 1),  # P3
        ("2025-03-05", 1, 1, 1, 0, 1),  # S4 at 23:50; P4 lost its dispute: net 0
        ("2025-03-06", 0, 0, 0, 6000, 1),  # P5
        ("2025-03-07", 1, 1, 2, 1500, 1),  # S5; P6
    ]


def test_weekly_and_monthly_buckets_start_on_monday_and_the_first(shop, site):
    q = week_of_shop(site)
    assert widgets.timeseries(q, "week") == [
        # Mon 02-24 covers 03-01 and 03-02 of the range: S1, S2 (both v1), 3 + 1 views, P1.
        {"date": "2025-02-24", "visitors": 1, "sessions": 2, "pageviews": 4, "revenue": 10000, "payments": 1},
        # Mon 03-03: S3, S4, S5; 3 + 1 + 2 views; P2..P6: 3000 + 4000 + 0 + 6000 + 1500.
        {"date": "2025-03-03", "visitors": 3, "sessions": 3, "pageviews": 6, "revenue": 14500, "payments": 5},
    ]
    assert widgets.timeseries(q, "month") == [
        {"date": "2025-03-01", "visitors": 4, "sessions": 5, "pageviews": 10, "revenue": 24500, "payments": 6}
    ]


def test_timeseries_honours_filters(shop, site):
    rows = widgets.timeseries(week_of_shop(site, filter="channel:Organic Search"), "week")
    assert [(r["visitors"], r["pageviews"], r["revenue"]) for r in rows] == [(1, 2, 10000), (1, 1, 0)]


def test_days_are_bucketed_in_the_query_timezone(db):
    berlin = build_berlin_shop()
    q = rq.parse_query(berlin, {"start": "2025-03-29", "end": "2025-03-31"})
    assert [
        (r["date"], r["visitors"], r["pageviews"], r["revenue"]) for r in widgets.timeseries(q, "day")
    ] == [
        ("2025-03-29", 1, 1, 1000),  # B0 at 23:59 CET; Q4 at 23:30 CET
        ("2025-03-30", 2, 3, 8000),  # B1, B3; Q1 5000 + Q2 3000
        ("2025-03-31", 1, 1, 2000),  # B2 at 00:30 CEST; Q3 at 00:10 CEST
    ]
    in_utc = rq.parse_query(berlin, {"start": "2025-03-29", "end": "2025-03-31", "timezone": "UTC"})
    assert [(r["date"], r["visitors"], r["revenue"]) for r in widgets.timeseries(in_utc, "day")] == [
        ("2025-03-29", 2, 6000),  # B0 22:59Z, B1 23:30Z; Q4 1000 + Q1 5000
        ("2025-03-30", 2, 5000),  # B3, B2; Q2 3000 + Q3 2000
        ("2025-03-31", 0, 0),
    ]


def test_hours_follow_local_clock_across_the_dst_change(db):
    berlin = build_berlin_shop()
    rows = widgets.timeseries(rq.parse_query(berlin, {"start": "2025-03-30", "end": "2025-03-30"}), "hour")
    # 00:00 and 01:00 CET, then 03:00..23:00 CEST: 2 + 21 = 23 hours; 02:00 never happened.
    assert len(rows) == 23
    assert rows[0]["date"] == "2025-03-30T00:00:00+01:00"
    assert rows[1]["date"] == "2025-03-30T01:00:00+01:00"
    assert rows[2]["date"] == "2025-03-30T03:00:00+02:00"
    assert rows[-1]["date"] == "2025-03-30T23:00:00+02:00"
    busy = {
        r["date"][11:16]: (r["visitors"], r["pageviews"], r["revenue"])
        for r in rows
        if any(r[k] for k in ("visitors", "pageviews", "revenue"))
    }
    assert busy == {
        "00:00": (1, 1, 5000),  # B1 at 00:30 CET, Q1 at 00:45 CET
        "03:00": (1, 2, 0),  # B3 at 03:15 CEST with its two views
        "23:00": (0, 0, 3000),  # Q2 at 23:30 CEST
    }


def test_a_repeated_autumn_hour_is_one_bucket(db):
    site = Site.objects.create(name="Autumn", domain="autumn.de", timezone="Europe/Berlin")
    # 2025-10-26: 03:00 CEST falls back to 02:00 CET; 00:30Z is 02:30 CEST and 01:30Z is 02:30 CET.
    make_session(site, "a1", [("2025-10-26 00:30", "/")])
    make_session(site, "a2", [("2025-10-26 01:30", "/")])
    rows = widgets.timeseries(rq.parse_query(site, {"start": "2025-10-26", "end": "2025-10-26"}), "hour")
    assert len(rows) == 24  # a 25-hour day with 02:00 twice on the clock
    assert [(r["date"], r["visitors"]) for r in rows if r["visitors"]] == [("2025-10-26T02:00:00+02:00", 2)]


# -------------------------------------------------------------------------------------------- dashboard


@pytest.mark.parametrize(
    ("days", "granularity"),
    [(1, "hour"), (2, "day"), (90, "day"), (91, "week"), (366, "week"), (367, "month")],
)
def test_dashboard_granularity_grows_with_the_range(site, days, granularity):
    q = rq.Query(site, dt.date(2024, 1, 1), dt.date(2024, 1, 1) + dt.timedelta(days=days - 1), UTC)
    assert widgets.default_granularity(q) == granularity


def test_overview_gathers_every_widget(shop, site):
    result = widgets.overview(week_of_shop(site), order_by="revenue", limit=2)
    assert result.summary["visitors"] == 4
    assert result.granularity == "day"
    assert len(result.timeseries) == 7
    assert list(result.breakdowns) == list(DIMENSIONS)
    assert [r["value"] for r in result.breakdowns["channel"]] == ["Organic Search", "Organic Social"]
