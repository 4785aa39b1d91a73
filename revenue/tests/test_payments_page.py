import csv
import io

import pytest

from revenue.tests.test_api import make_payment
from tracking.models import Session


@pytest.fixture
def payments(site):
    from django.utils import timezone

    now = timezone.now()
    session = Session.objects.create(
        site=site,
        visitor_hash="c" * 32,
        started_at=now,
        last_seen_at=now,
        entry_page="/",
        exit_page="/",
        channel="Organic Social",
        referrer="Reddit",
        country="CA",
        browser="Safari",
        device="mobile",
    )
    make_payment(site, 1, session=session, currency="jpy", amount=5000, settlement_amount=3350, net=3350)
    make_payment(
        site, 2, view_id="=HYPERLINK(1)", unattributed_reason="unknown_view_id", view_id_source="customer"
    )
    return session


def test_payments_page_lists_payments_with_their_visit(client_as_owner, site, payments):
    body = client_as_owner.get(f"/sites/{site.public_id}/payments/").content.decode()
    assert "ch_0001" in body and "ch_0002" in body
    assert "¥5,000" in body and "$33.50" in body
    assert "Organic Social · Reddit" in body
    assert "unknown_view_id" in body


def test_payments_page_filters(client_as_owner, site, payments):
    body = client_as_owner.get(f"/sites/{site.public_id}/payments/?attributed=false").content.decode()
    assert "ch_0002" in body and "ch_0001" not in body


def test_payments_page_paginates(client_as_owner, site):
    for n in range(1, 56):
        make_payment(site, n)
    first = client_as_owner.get(f"/sites/{site.public_id}/payments/").content.decode()
    second = client_as_owner.get(f"/sites/{site.public_id}/payments/?page=2").content.decode()
    assert "Page 1 of 2" in first and "ch_0050<" in first and "ch_0051<" not in first
    assert "ch_0051<" in second and "ch_0055<" in second


def test_payments_page_empty_state_points_to_stripe(client_as_owner, site):
    body = client_as_owner.get(f"/sites/{site.public_id}/payments/").content.decode()
    assert "Connect Stripe" in body


def test_csv_export_has_every_payment_and_neutralises_formulas(client_as_owner, site, payments):
    response = client_as_owner.get(f"/sites/{site.public_id}/payments.csv")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [r["stripe_id"] for r in rows] == ["ch_0001", "ch_0002"]
    assert (
        rows[0]["channel"] == "Organic Social" and rows[0]["currency"] == "jpy" and rows[0]["net"] == "3350"
    )
    assert rows[1]["view_id"] == "'=HYPERLINK(1)"
    assert rows[1]["channel"] == ""


@pytest.mark.parametrize("path", ["payments/", "payments.csv"])
def test_payments_pages_are_private(client, other_user, site, path):
    assert client.get(f"/sites/{site.public_id}/{path}").status_code == 302
    client.force_login(other_user)
    assert client.get(f"/sites/{site.public_id}/{path}").status_code == 404
    assert client.post(f"/sites/{site.public_id}/{path}").status_code in (404, 405)


def test_net_revenue_is_labelled_in_the_settlement_currency_beside_what_was_charged(
    client_as_owner, site, payments
):
    body = client_as_owner.get(f"/sites/{site.public_id}/payments/").content.decode()
    assert "Charged</th>" in body and "Net revenue</th>" in body
    # ¥5,000 charged, settled as $33.50 in the account's USD balance: both said, each with its currency.
    assert '¥5,000<br><small class="muted">settled as $33.50</small>' in body
    assert '$33.50 <small class="muted">USD</small>' in body


def test_a_refund_is_shown_as_what_the_net_is_after(client_as_owner, site):
    make_payment(site, 3, amount=5000, settlement_amount=5000, refunded=1500, net=3500)
    body = client_as_owner.get(f"/sites/{site.public_id}/payments/").content.decode()
    assert "$35.00" in body and "after \u2212$15.00 refunded" in body
