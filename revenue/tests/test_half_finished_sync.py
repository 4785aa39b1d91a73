"""A sync that stopped before its attribution step (a database outage, a kill) leaves payments with no
verdict yet: the Revenue tab must not present them as unattributed, nor a share computed over them."""

import datetime as dt

from revenue.models import Payment, StripeConnection
from revenue.reports import connection_health, latest_unattributed


def payment(site, charge: str, *, reason: str, net: int = 1000) -> Payment:
    return Payment.objects.create(
        site=site,
        stripe_id=charge,
        created_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
        amount=net,
        currency="usd",
        settlement_amount=net,
        settlement_currency="usd",
        net=net,
        unattributed_reason=reason,
    )


def test_payments_without_a_verdict_are_pending_not_unattributed(site):
    payment(site, "ch_decided", reason=Payment.Unattributed.NO_VIEW_ID)
    payment(site, "ch_pending_1", reason="")
    payment(site, "ch_pending_2", reason="")
    health = connection_health(site, None)
    assert (health.payments, health.unattributed, health.pending) == (3, 1, 2)
    assert health.attributed_share is None
    assert [p.stripe_id for p in latest_unattributed(site)] == ["ch_decided"]


def test_once_attribution_ran_the_share_is_shown(site):
    payment(site, "ch_decided", reason=Payment.Unattributed.NO_VIEW_ID)
    health = connection_health(site, None)
    assert (health.unattributed, health.pending, health.attributed_share) == (1, 0, 0.0)


def test_the_revenue_tab_says_attribution_is_pending(client_as_owner, site):
    StripeConnection.objects.create(site=site, secret_key="sk_test_" + "x" * 24, key_hint="sk_test_…xxxx")
    payment(site, "ch_pending", reason="")
    html = client_as_owner.get(f"/sites/{site.public_id}/settings/revenue/").content.decode()
    assert 'id="attribution-pending"' in html
    assert "1 payment imported by a sync that stopped before attributing it" in html
    assert "ch_pending" not in html
