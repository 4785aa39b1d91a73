"""Revenue figures behind the dashboard and API (``humblytics.reports.revenue``) and the Revenue tab.

June 2025, site in UTC, settling in GBP:

    session  visitor  started (UTC)   channel       views
    A        h1       06-02 10:00     Paid Search   /pricing
    B        h1       06-20 10:00     Email         /, /buy
    C        h2       05-30 10:00     Paid Search   /pricing    (before the range)
    D        h2       06-05 10:00     Direct        /
    E        h3       06-07 10:00     Paid Search   /pricing

    payment  created (UTC)  settlement  refunded               net   session (view)
    X1       06-02 10:10    2000 gbp    0                      2000  A (/pricing)
    X2       06-21 09:00    3000 gbp    3000 refund in July       0  B (/buy)
    X3       06-10 12:00    5000 gbp    0                      5000  C (/pricing): a May visit
    X4       06-15 08:00    1200 gbp    1200 lost dispute         0  none
    X5       06-16 08:00     800 gbp    0                       800  none
    X6       06-03 08:00    5000 eur    0                      5000  E: another currency
    X7       07-01 00:00     400 gbp    0                       400  E: after the range
"""

import datetime as dt
from dataclasses import replace

import pytest

from humblytics.reports import query as rq
from humblytics.reports import revenue as reports
from humblytics.reports import widgets
from humblytics.reports.tests.test_widgets import at, make_payment, make_session
from revenue.models import Dispute, Payment, Refund
from revenue.reports import connection_health, latest_unattributed, report_currency
from tracking.models import CustomEvent, Goal, Site


@pytest.fixture
def june(site):
    a = make_session(site, "h1", [("2025-06-02 10:00", "/pricing")], channel="Paid Search")
    b = make_session(site, "h1", [("2025-06-20 10:00", "/"), ("2025-06-20 10:03", "/buy")], channel="Email")
    c = make_session(site, "h2", [("2025-05-30 10:00", "/pricing")], channel="Paid Search")
    make_session(site, "h2", [("2025-06-05 10:00", "/")], channel="Direct")
    e = make_session(site, "h3", [("2025-06-07 10:00", "/pricing")], channel="Paid Search")
    make_payment(site, "ch_x1", "2025-06-02 10:10", 2000, currency="gbp", session=a, page="/pricing")
    x2 = make_payment(
        site,
        "ch_x2",
        "2025-06-21 09:00",
        3000,
        refunded=3000,
        currency="gbp",
        session=b,
        page="/buy",
        status=Payment.Status.REFUNDED,
    )
    Refund.objects.create(
        payment=x2,
        stripe_id="re_x2",
        created_at=at("2025-07-04 09:00"),
        amount=3000,
        currency="gbp",
        settlement_amount=3000,
        status="succeeded",
    )
    make_payment(site, "ch_x3", "2025-06-10 12:00", 5000, currency="gbp", session=c, page="/pricing")
    x4 = make_payment(
        site,
        "ch_x4",
        "2025-06-15 08:00",
        1200,
        refunded=1200,
        currency="gbp",
        status=Payment.Status.DISPUTE_LOST,
    )
    Dispute.objects.create(
        payment=x4,
        stripe_id="dp_x4",
        created_at=at("2025-06-25 08:00"),
        amount=1200,
        currency="gbp",
        settlement_amount=1200,
        status="lost",
    )
    make_payment(site, "ch_x5", "2025-06-16 08:00", 800, currency="gbp")
    make_payment(site, "ch_x6", "2025-06-03 08:00", 5000, currency="eur", session=e, page="/pricing")
    make_payment(site, "ch_x7", "2025-07-01 00:00", 400, currency="gbp", session=e, page="/pricing")
    return site


def june_query(site, **extra) -> rq.Query:
    return rq.parse_query(site, {"start": "2025-06-01", "end": "2025-06-30", **extra})


def test_report_currency_holds_the_most_net_revenue(june):
    assert report_currency(june) == "gbp"  # 2000 + 0 + 5000 + 0 + 800 + 400 = 8200 against eur 5000


def test_report_currency_breaks_ties_by_code_and_is_none_without_payments(site):
    assert report_currency(site) is None
    make_payment(site, "ch_1", "2025-06-01 00:00", 700, currency="usd")
    make_payment(site, "ch_2", "2025-06-01 00:00", 700, currency="eur")
    assert report_currency(site) == "eur"


def test_revenue_summary_nets_refunds_and_disputes_and_skips_other_currencies(june):
    q = june_query(june)
    assert reports.revenue_summary(q, 3) == {
        "revenue": 7800,  # X1 2000 + X2 0 + X3 5000 + X4 0 + X5 800; the refund of X2 in July still counts
        "gross_revenue": 12000,  # 2000 + 3000 + 5000 + 1200 + 800
        "refunded": 4200,  # X2 3000 + X4 1200
        "payments": 5,  # X6 is eur, X7 is July
        "conversion_rate": 2 / 3,  # h1 (X1, X2: once) and h2 (X3, through May's session) of h1, h2, h3
        "revenue_per_visitor": 7000 / 3,  # attributed 2000 + 0 + 5000
        "attributed_share": 7000 / 7800,
        "currency": "gbp",
    }


def test_revenue_summary_under_a_filter_counts_matching_attributed_payments(june):
    q = june_query(june, filter="channel:Paid Search")
    assert reports.revenue_summary(q, 2) == {
        "revenue": 7000,  # X1 (A) 2000 + X3 (C) 5000
        "gross_revenue": 7000,
        "refunded": 0,
        "payments": 2,
        "conversion_rate": 0.5,  # h1 of h1, h3: h2 visited in June only through Direct
        "revenue_per_visitor": 3500.0,  # 7000 / 2
        "attributed_share": 1.0,
        "currency": "gbp",
    }


def test_revenue_summary_without_visitors_has_null_ratios(june):
    q = rq.parse_query(june, {"start": "2025-06-15", "end": "2025-06-16"})
    figures = reports.revenue_summary(q, 0)
    assert (figures["revenue"], figures["payments"]) == (800, 2)  # X4 0 + X5 800
    assert figures["conversion_rate"] is None
    assert figures["revenue_per_visitor"] is None
    assert figures["attributed_share"] == 0.0  # neither is attributed


def test_revenue_by_dimension_counts_row_visitors_who_paid(june):
    q = june_query(june)
    assert reports.revenue_by_dimension(q, "channel") == {
        # X1 (h1, who has a June Paid Search session) + X3 (h2, whose only Paid Search session is May).
        "Paid Search": {"revenue": 7000, "payments": 2, "converters": 1},
        "Email": {"revenue": 0, "payments": 1, "converters": 1},  # X2 fully refunded, h1 via B
    }
    assert reports.revenue_by_dimension(q, "page") == {
        # X1 on A's /pricing, X3 on C's /pricing; h1 viewed /pricing in June, h2 did not.
        "/pricing": {"revenue": 7000, "payments": 2, "converters": 1},
        "/buy": {"revenue": 0, "payments": 1, "converters": 1},
    }


def test_revenue_by_dimension_selects_values(june):
    q = june_query(june)
    assert list(reports.revenue_by_dimension(q, "channel", limit=1)) == ["Paid Search"]
    assert list(reports.revenue_by_dimension(q, "channel", values=["Email", "Direct"])) == ["Email"]
    assert list(reports.revenue_by_dimension(q, "channel", exclude=["Paid Search"])) == ["Email"]


def test_revenue_timeseries_is_keyed_by_local_bucket_start(june):
    assert reports.revenue_timeseries(june_query(june), "week") == {
        dt.datetime(2025, 6, 2): {"revenue": 2000, "payments": 1},  # X1
        dt.datetime(2025, 6, 9): {"revenue": 5000, "payments": 2},  # X3, X4 (Sunday 06-15)
        dt.datetime(2025, 6, 16): {"revenue": 800, "payments": 2},  # X5, X2 (Saturday 06-21)
    }


def test_payments_in_range_use_the_query_timezone(june):
    # In Auckland (UTC+12 in June) X7 (07-01 00:00Z) is 07-01 noon and X1 (06-02 10:10Z) 06-02 22:10.
    q = june_query(june, timezone="Pacific/Auckland")
    assert sorted(p.stripe_id for p in reports.payments_in_range(q)) == [
        "ch_x1",
        "ch_x2",
        "ch_x3",
        "ch_x4",
        "ch_x5",
    ]
    q = rq.parse_query(june, {"start": "2025-07-01", "end": "2025-07-01", "timezone": "America/Los_Angeles"})
    assert list(reports.payments_in_range(q)) == []  # 07-01 00:00Z is 06-30 17:00 in Los Angeles


def test_connection_health_still_reports_every_currency(june):
    health = connection_health(june, None)
    assert (health.payments, health.attributed, health.unattributed) == (7, 5, 2)
    assert (health.refunds, health.disputes) == (1, 1)
    assert health.net_by_currency == {"eur": 5000, "gbp": 8200}
    assert health.attributed_share == 7400 / 8200  # X1 2000 + X2 0 + X3 5000 + X7 400, all time
    assert [p.stripe_id for p in latest_unattributed(june)] == ["ch_x5", "ch_x4"]


def test_another_sites_payments_never_count(june, other_site):
    make_payment(other_site, "ch_other", "2025-06-10 00:00", 99999, currency="gbp")
    assert reports.revenue_summary(june_query(june), 3)["revenue"] == 7800
    assert report_currency(Site.objects.get(pk=other_site.pk)) == "gbp"


def test_a_debit_that_failed_after_succeeding_counts_nowhere(site):
    paid = make_session(site, "d1", [("2025-06-03 10:00", "/pricing")], channel="Email")
    bounced = make_session(site, "d2", [("2025-06-04 10:00", "/pricing")], channel="Paid Search")
    make_payment(site, "ch_ok", "2025-06-03 10:05", 5000, session=paid, page="/pricing")
    make_payment(
        site,
        "ch_sepa",
        "2025-06-04 10:05",
        7000,
        refunded=7000,
        session=bounced,
        page="/pricing",
        status=Payment.Status.FAILED,
    )
    q = june_query(site)
    figures = reports.revenue_summary(q, 2)
    assert (figures["payments"], figures["gross_revenue"], figures["revenue"]) == (1, 5000, 5000)
    assert figures["conversion_rate"] == 0.5
    assert list(reports.revenue_by_dimension(q, "channel")) == ["Email"]


@pytest.mark.parametrize(
    ("filters", "visitors", "conversion_rate"),
    [(["channel:Email"], 2, 0.5), (["page:/pricing"], 1, 0.0), (["channel:Email", "page:/pricing"], 1, 0.0)],
)
def test_the_dashboards_payment_frame_equals_the_per_widget_queries_under_filters(
    site, filters, visitors, conversion_rate
):
    """A payment's own session in range counts its payer as a visitor of the range under filters on
    session values, not under a page filter: the payment matches ``page:`` by a view at any time, the
    traffic only by a view in range. Here the session's /pricing view is just after the range, so under
    ``page:/pricing`` the payer h1 is no visitor of the range; h2 is."""
    late = make_session(
        site, "h1", [("2025-06-30 23:50", "/"), ("2025-07-01 00:10", "/pricing")], channel="Email"
    )
    make_session(site, "h2", [("2025-06-30 10:00", "/pricing")], channel="Email")
    make_payment(site, "ch_late", "2025-06-30 23:55", 2500, currency="gbp", session=late, page="/")
    q = june_query(site, filter=filters)
    overview = widgets.overview(q)  # revenue from the dashboard's one pass over the payments
    assert overview == widgets.overview(replace(q, rollups=False))
    assert overview.summary["revenue"] == 2500
    assert overview.summary["visitors"] == visitors
    assert overview.summary["conversion_rate"] == conversion_rate


@pytest.mark.parametrize("by", ["page", "page goal", "event goal"])
def test_a_payers_own_visit_counts_under_a_page_or_goal_filter_only_with_its_hit_in_range(site, by):
    """The frame counts a payer without a lookup when its own visit is in range and the filter's hit is
    in range too. Payers whose hit was outside the range (hb's first visit, after it) or whose visit
    started before it (hc) are looked up; both ways must give the per-widget queries' figures.

        visitor  visit started (UTC)  views                        payment (view)
        ha       06-10 10:00          / then /pricing              ch_a 06-10 (/)
        hb       06-30 23:50          / then /pricing 07-01        ch_b 06-30 23:55 (/)
        hb       06-12 09:00          /pricing
        hc       05-31 23:50          / then /pricing 06-01        ch_c 06-01 00:20 (/pricing)
        hd       06-14 10:00          /pricing                     none (a visitor only)
    """
    goal = "Pricing"
    if by == "page goal":
        Goal.objects.create(site=site, name=goal, kind=Goal.Kind.PAGE, page_pattern="/pric*")
    elif by == "event goal":
        Goal.objects.create(site=site, name=goal, kind=Goal.Kind.EVENT, event_name="Pricing seen")
    sessions = [
        make_session(
            site, "ha", [("2025-06-10 10:00", "/"), ("2025-06-10 10:05", "/pricing")], channel="Email"
        ),
        make_session(
            site, "hb", [("2025-06-30 23:50", "/"), ("2025-07-01 00:10", "/pricing")], channel="Email"
        ),
        make_session(site, "hb", [("2025-06-12 09:00", "/pricing")], channel="Direct"),
        make_session(
            site, "hc", [("2025-05-31 23:50", "/"), ("2025-06-01 00:05", "/pricing")], channel="Email"
        ),
        make_session(site, "hd", [("2025-06-14 10:00", "/pricing")], channel="Direct"),
    ]
    # The event goal's hits: an event on each /pricing view, and ha's twice.
    for i, session in enumerate([*sessions, sessions[0]]):
        view = session.view["/pricing"]
        CustomEvent.objects.create(
            site=site,
            session=session,
            view_id=view.view_id,
            visitor_hash=session.visitor_hash,
            uid=f"u{i}",
            name="Pricing seen",
            created_at=view.created_at,
        )
    make_payment(site, "ch_a", "2025-06-10 10:20", 3000, currency="gbp", session=sessions[0], page="/")
    make_payment(site, "ch_b", "2025-06-30 23:55", 2000, currency="gbp", session=sessions[1], page="/")
    make_payment(site, "ch_c", "2025-06-01 00:20", 1000, currency="gbp", session=sessions[3], page="/pricing")
    q = june_query(site, filter=["page:/pricing" if by == "page" else f"goal:{goal}"])
    overview = widgets.overview(q)
    assert overview == widgets.overview(replace(q, rollups=False))
    summary = overview.summary
    # Visitors ha, hb (its 06-12 visit), hd; payers ha and hb are visitors of the range, hc is not.
    assert (summary["visitors"], summary["revenue"], summary["conversion_rate"]) == (3, 6000, 2 / 3)
    channels = reports.revenue_by_dimension(q, "channel")
    # hb paid from its Email visit but visited the range only by Direct.
    assert channels == {"Email": {"revenue": 6000, "payments": 3, "converters": 1}}
    pages = reports.revenue_by_dimension(q, "page")
    # hc viewed /pricing in range in the visit it paid from; hb viewed no / in range under the filter.
    assert pages == {
        "/": {"revenue": 5000, "payments": 2, "converters": 1},
        "/pricing": {"revenue": 1000, "payments": 1, "converters": 1},
    }
    # The goal's payers ha, hb and hc completed it in range in visits matching the filter; hd paid nothing.
    assert {row["name"]: row["revenue"] for row in overview.goals.goals} == (
        {} if by == "page" else {goal: 6000}
    )
    events = [{"name": "Pricing seen", "visitors": 4, "completions": 5, "is_goal": by == "event goal"}]
    assert overview.goals.events == events  # hb's 07-01 event is after the range
