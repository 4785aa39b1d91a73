"""Measuring a stored test: the currency rule and orders, from views and payments in the database."""

import datetime as dt
import itertools
import json

import pytest
from django.utils import timezone

from revenue.models import Payment
from splittests.lifecycle import create_test, launch_test
from splittests.results import results_for
from splittests.tests.test_end_to_end import CHROME
from tracking import ingest, visitors
from tracking.models import View

_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def _fresh_caches():
    ingest._site_cache.clear()
    visitors._cache.clear()


def expose(client, site, n, page, variant) -> View:
    view_id = f"meas{n:018d}"
    client.post(
        "/api/event",
        json.dumps(
            {
                "site": site.public_id,
                "view_id": view_id,
                "url": f"https://example.com{page}",
                "variant": variant,
            }
        ),
        content_type="text/plain",
        HTTP_USER_AGENT=CHROME,
        REMOTE_ADDR=f"10.1.{n // 250}.{n % 250}",
    )
    return View.objects.get(view_id=view_id)


def pay(site, view: View | None, net: int, currency: str = "usd", *, refunded: int = 0) -> Payment:
    return Payment.objects.create(
        site=site,
        stripe_id=f"ch_{next(_ids)}",
        created_at=(view.created_at if view else timezone.now()) + dt.timedelta(milliseconds=1),
        amount=net + refunded,
        currency=currency,
        settlement_amount=net + refunded,
        settlement_currency=currency,
        refunded=refunded,
        net=net,
        session=view.session if view else None,
        matched_view=view,
    )


@pytest.fixture
def exposed(client, site, running_test):
    # Currency and orders here, not capping: every amount counts in full.
    running_test.cap_percentile = None
    running_test.currency = "usd"  # as launched on a site that already takes USD
    running_test.save()
    views = {"control": [], "b": []}
    for n in range(20):
        key, page = ("control", "/pricing") if n % 2 == 0 else ("b", "/pricing-b")
        views[key].append(expose(client, site, n, page, key))
    return views


def test_payments_in_another_currency_are_counted_as_excluded_never_added(site, running_test, exposed):
    pay(site, exposed["b"][0], 2000)
    pay(site, exposed["b"][1], 3000)
    for view in exposed["b"][2:5]:
        pay(site, view, 99_999, "eur")
    results, currency = results_for(running_test)
    assert currency == "usd"
    assert results.variant("b").revenue == 5000
    assert results.excluded_payments == {"eur": 3}
    assert results.to_dict()["excluded_payments"] == {"eur": 3}


def test_the_excluded_payments_are_shown_on_the_page(client_as_owner, site, running_test, exposed):
    pay(site, exposed["b"][0], 2000)
    for view in exposed["b"][1:4]:
        pay(site, view, 5000, "eur")
    page = client_as_owner.get(f"/sites/{site.public_id}/split-tests/{running_test.pk}/").content.decode()
    assert "3 payments in EUR not included" in page


def test_the_currency_is_fixed_at_launch_so_an_unrelated_payment_cannot_flip_it(client, site, make_spec):
    pay(site, None, 1000, "usd")
    test = launch_test(create_test(site, make_spec(cap_percentile=None)))
    assert test.currency == "usd"
    control = expose(client, site, 1, "/pricing", "control")
    b = expose(client, site, 2, "/pricing-b", "b")
    pay(site, control, 1500)
    pay(site, b, 2500)
    # An unrelated EUR payment, larger than every USD payment together, flips the site's report
    # currency but not the test's.
    pay(site, None, 10_000_000, "eur")
    results, currency = results_for(test)
    assert currency == "usd"
    assert (results.control.revenue, results.variant("b").revenue) == (1500, 2500)


def test_a_test_launched_before_any_payment_takes_the_currency_of_its_own_revenue(client, site, running_test):
    assert running_test.currency == ""
    control = expose(client, site, 1, "/pricing", "control")
    pay(site, control, 1500, "gbp")
    pay(site, None, 10_000_000, "eur")
    results, currency = results_for(running_test)
    assert currency == "gbp" and results.control.revenue == 1500
    assert results.excluded_payments == {}


def test_average_order_is_revenue_over_orders(client, site, running_test, exposed):
    # Two buyers: one pays 10.00 then 20.00, the other 30.00: 60.00 over 3 orders = 20.00 (not 30.00
    # per buyer). A fully refunded payment is no order.
    pay(site, exposed["b"][0], 1000)
    pay(site, exposed["b"][0], 2000)
    pay(site, exposed["b"][1], 3000)
    pay(site, exposed["b"][2], 0, refunded=4000)
    results, _ = results_for(running_test)
    b = results.variant("b")
    assert (b.revenue, b.orders, b.conversions) == (6000, 3, 2)
    assert b.average_order_value == 2000
