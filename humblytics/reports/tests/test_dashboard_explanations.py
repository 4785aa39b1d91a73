"""Numbers that would look wrong without a word: conversion without Stripe, and revenue credited to
visits before the period."""

from humblytics.reports.tests.test_dashboard import WEEK, by_id, page, table_rows
from humblytics.reports.tests.test_widgets import make_payment, make_session
from revenue.models import StripeConnection


def test_without_stripe_conversion_is_a_dash_not_zero(client_as_owner, site):
    make_session(site, "v1", [("2025-03-02 10:00", "/")], channel="Email")
    html = page(client_as_owner, site, WEEK)
    assert by_id(html, "kpi-conversion") == "—"
    assert by_id(html, "kpi-rpv") == "—"
    assert "0.0%" not in table_rows(html, "channel")[0]
    assert table_rows(html, "channel")[0][4] == "—"


def test_with_stripe_connected_and_no_payments_conversion_is_zero(client_as_owner, site):
    make_session(site, "v1", [("2025-03-02 10:00", "/")], channel="Email")
    StripeConnection.objects.create(site=site, secret_key="sk_test_x" * 3, key_hint="sk_test_…xxxx")
    assert by_id(page(client_as_owner, site, WEEK), "kpi-conversion") == "0.0%"


def test_revenue_from_an_earlier_visit_is_marked_and_explained(client_as_owner, site):
    # A visit in February bought in March (a renewal credited to it); March's own Email visitor did not pay.
    february = make_session(site, "v0", [("2025-02-10 10:00", "/")], channel="Referral", referrer="GitHub")
    make_session(site, "v1", [("2025-03-02 10:00", "/")], channel="Email")
    earlier_email = make_session(site, "v2", [("2025-02-11 10:00", "/")], channel="Email")
    make_payment(site, "ch_renewal", "2025-03-03 10:00", 2900, session=february, page="/")
    make_payment(site, "ch_later", "2025-03-04 10:00", 4900, session=earlier_email, page="/")
    html = page(client_as_owner, site, WEEK)
    rows = {row[0]: row for row in table_rows(html, "channel")}
    assert rows["Referral ↺"][1] == "0" and rows["Referral ↺"][2] == "$29.00"
    assert rows["Email ↺"][1] == "1" and rows["Email ↺"][4] == "0.0%"
    section = html[html.index('id="breakdown-channel"') :].split("</section>")[0]
    assert "renewals and later purchases are credited to the visit that started them" in section


def test_rows_whose_visitors_paid_carry_no_mark(client_as_owner, site):
    march = make_session(site, "v1", [("2025-03-02 10:00", "/")], channel="Email")
    make_payment(site, "ch_now", "2025-03-02 10:05", 2900, session=march, page="/")
    html = page(client_as_owner, site, WEEK)
    assert table_rows(html, "channel")[0][0] == "Email"
    assert "↺" not in html[html.index('id="breakdown-channel"') :].split("</section>")[0]
