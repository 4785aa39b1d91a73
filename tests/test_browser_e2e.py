"""The whole product in a browser: a visit on a customer's page, a tagged Stripe payment, the sync, and the
dashboard showing the revenue under that visit's referrer and browser."""

import io
from pathlib import Path

import pytest
import stripe
from django.core.management import call_command

from revenue.connections import connect_stripe
from revenue.fakestripe import FakeStripe, FakeStripeServer
from revenue.models import Payment
from revenue.sync import sync_connection
from tests.test_browser_tracking import current_view_id, wait_for_rows
from tracking.models import Membership, Site, View

KEY = "sk_test_endtoend4242"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>Pricing</title>
<script defer data-allow-local src="{src}"></script>
</head><body><h1>Pro plan</h1><button id="buy">Buy</button></body></html>
"""


@pytest.fixture
def shop(owner):
    site = Site.objects.create(name="Local shop", domain="localhost", timezone="UTC")
    Membership.objects.create(user=owner, site=site, role=Membership.Role.OWNER)
    return site


@pytest.fixture
def fake_stripe(settings):
    state = FakeStripe(keys={KEY: None})
    with FakeStripeServer(state) as server:
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_REQUESTS_PER_SECOND_TEST = 1000
        yield server


def log_in(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_tagged_payment_appears_under_its_visits_referrer_and_browser(
    live_server, static_page_server, browser_context, shop, fake_stripe
):
    static_page_server.serve(
        "/pricing", PAGE.format(src=f"{live_server.url}/hmbl.min.js?id={shop.public_id}")
    )
    page = browser_context.new_page()
    console = []
    page.on("console", lambda message: console.append(message.text))
    with page.expect_response(lambda r: r.url == f"{live_server.url}/api/event") as beacon:
        page.goto(
            static_page_server.url("/pricing?utm_source=hn&utm_campaign=launch"),
            referer="https://news.ycombinator.com/item?id=1",
        )
    assert beacon.value.status == 202, console
    view_id = current_view_id(page)
    wait_for_rows(View.objects.filter(site=shop), 1)

    # What the merchant's server does at checkout: a PaymentIntent tagged with the view id.
    client = stripe.StripeClient(KEY, base_addresses={"api": fake_stripe.url})
    intent = client.v1.payment_intents.create(
        params={
            "amount": 4900,
            "currency": "usd",
            "confirm": True,
            "payment_method": "pm_card_visa",
            "metadata": {"humblytics_view_id": view_id},
        }
    )
    assert intent.status == "succeeded"

    connection = connect_stripe(shop, KEY)
    assert sync_connection(connection.pk).status == "ok"
    payment = Payment.objects.get(site=shop)
    assert (payment.view_id, payment.view_id_source, payment.net) == (view_id, "payment_intent", 4900)

    log_in(page, live_server)
    page.goto(f"{live_server.url}/sites/{shop.public_id}/?period=7d")
    referrers = page.locator("#breakdown-referrer tbody tr", has_text="Hacker News")
    assert "$49.00" in referrers.inner_text()
    browsers = page.locator("#breakdown-browser tbody tr", has_text="Chrome")
    assert "$49.00" in browsers.inner_text()
    assert "$49.00" in page.locator("#revenue-kpis").inner_text()

    page.goto(f"{live_server.url}/sites/{shop.public_id}/payments/")
    row = page.locator("tbody tr", has_text=payment.stripe_id)
    text = row.inner_text()
    assert "Hacker News" in text and "Chrome" in text and "PaymentIntent" in text


SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_demo_dashboard_and_split_test_screenshots(live_server, browser, settings):
    """Builds a small demo (traffic through ingest, payments through the fake Stripe and the sync, a
    running split test), checks the pages a new user sees, and refreshes the README's screenshots."""
    from humblytics import demo
    from splittests.models import SplitTest

    state = FakeStripe(keys={demo.DEMO_STRIPE_KEY: None})
    with FakeStripeServer(state) as server:
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_REQUESTS_PER_SECOND_TEST = 1000
        call_command("demo", days=45, scale=0.8, stripe_url=server.url, stdout=io.StringIO())
    site = Site.objects.get(name=demo.DEMO_SITE_NAME)
    test = SplitTest.objects.get(site=site)
    assert Payment.objects.filter(site=site, session__isnull=False).exists()

    context = browser.new_context(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
    try:
        page = context.new_page()
        page.goto(f"{live_server.url}/accounts/login/")
        page.fill("#id_username", demo.DEMO_USERNAME)
        page.fill("#id_password", demo.DEMO_PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live_server.url}/")

        page.goto(f"{live_server.url}/sites/{site.public_id}/?period=30d&sort=revenue")
        kpis = page.locator("#revenue-kpis").inner_text()
        assert "$" in kpis
        assert page.locator("#breakdown-channel tbody tr").count() >= 3
        # The demo's visitors sign up and reach the thank-you page: its goals show figures, not "No goals".
        goal_visitors = page.locator("#goals tbody tr td:nth-child(2)").all_inner_texts()
        assert len(goal_visitors) == 2 and "0" not in goal_visitors
        assert page.locator("#events tbody tr").count() == 3
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

        page.goto(f"{live_server.url}/sites/{site.public_id}/split-tests/{test.pk}/")
        results = page.locator("#results").inner_text()
        assert "control" in results.lower() and "Race to the Best" in page.content()
        page.screenshot(path=str(SCREENSHOTS / "split-test.png"), full_page=True)
    finally:
        context.close()
    assert (SCREENSHOTS / "dashboard.png").stat().st_size > 10_000
