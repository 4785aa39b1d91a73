"""Traffic split across variants → tagged payments in the fake Stripe → sync → results page and API."""

import json

import pytest

from revenue import sync
from revenue.connections import connect_stripe
from revenue.tests.conftest import FULL_KEY
from splittests.results import results_for
from tracking import ingest, visitors

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


@pytest.fixture(autouse=True)
def _fresh_caches():
    ingest._site_cache.clear()
    visitors._cache.clear()


def visit(client, site, n, page, variant):
    view_id = f"view{n:018d}"
    response = client.post(
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
        REMOTE_ADDR=f"10.0.{n // 250}.{n % 250}",
    )
    assert response.json() == {"ok": True}
    return view_id


@pytest.fixture
def experiment(client, site, running_test, fake_stripe):
    # 20 control visitors, 20 on variant b. 2 control buyers pay 10.00; 5 b buyers pay 20.00, one of
    # whom is refunded in full. One b buyer paid before being exposed? No: all pay after exposure.
    views = {"control": [], "b": []}
    for n in range(40):
        key, page = ("control", "/pricing") if n % 2 == 0 else ("b", "/pricing-b")
        views[key].append(visit(client, site, n, page, key))
    for view_id in views["control"][:2]:
        fake_stripe.create_payment(1000, "usd", metadata={"humblytics_view_id": view_id})
    charges = [
        fake_stripe.create_payment(2000, "usd", metadata={"humblytics_view_id": view_id})["charge"]
        for view_id in views["b"][:5]
    ]
    fake_stripe.refund(charges[0])
    # An untagged payment belongs to nobody.
    fake_stripe.create_payment(9999, "usd")
    connection = connect_stripe(site, FULL_KEY)
    assert sync.sync_connection(connection.pk).status == "ok"
    return running_test


def test_results_follow_the_payments(experiment):
    outcome, currency = results_for(experiment)
    control, b = outcome.variants
    assert currency == "usd"
    assert (control.key, control.visitors, control.conversions, control.revenue) == ("control", 20, 2, 2000)
    # Five b buyers, one fully refunded: 4 conversions, 8,000 net.
    assert (b.key, b.visitors, b.conversions, b.revenue) == ("b", 20, 4, 8000)
    assert control.revenue_per_visitor == 100.0 and b.revenue_per_visitor == 400.0
    assert b.lift == pytest.approx(3.0)
    assert 0 <= b.confidence < 1 and 0 < b.chance_to_beat_control < 1
    assert outcome.srm_warning is False


def test_results_page_and_api_agree(client_as_owner, site, experiment):
    page = client_as_owner.get(f"/sites/{site.public_id}/split-tests/{experiment.pk}/").content.decode()
    assert "$80.00" in page and "$20.00" in page and "$4.00" in page and "$1.00" in page
    assert "Race to the Best" in page and "Session-level" in page and "Any Revenue" in page
    body = client_as_owner.get(f"/api/v1/sites/{site.public_id}/split-tests/{experiment.pk}").json()
    by_key = {v["key"]: v for v in body["results"]["variants"]}
    assert (by_key["b"]["visitors"], by_key["b"]["conversions"], by_key["b"]["revenue"]) == (20, 4, 8000)
    assert (by_key["control"]["revenue"], by_key["control"]["conversion_rate"]) == (2000, 0.1)
    assert by_key["b"]["revenue_per_visitor"] == 400.0
    assert body["results"]["status"] == "running" and "srm_p_value" in body["results"]
    assert body["results"]["winner"] is None


def test_a_revenue_target_counts_only_big_spenders(experiment):
    experiment.revenue_target = 1500
    experiment.save()
    outcome, _ = results_for(experiment)
    control, b = outcome.variants
    assert (control.conversions, b.conversions) == (0, 4)
