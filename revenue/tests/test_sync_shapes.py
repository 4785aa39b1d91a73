"""The payment shapes real Stripe produces beyond the simple ones, each through the fake and the sync:
multi-part and charge-paid invoices, the Charge fallback, Payment Links, debits that fail after
succeeding, the dispute lifecycle with appeals, late-paid invoices, deleted customers, bad metadata and
Connect."""

import datetime as dt

import pytest

from revenue import sync
from revenue.connections import connect_stripe
from revenue.models import Dispute, Payment, StripeConnection, SyncRun
from revenue.stripe_client import KeyProblem
from revenue.sync.events import EVENT_TYPES
from revenue.tests.conftest import FULL_KEY
from tracking.apikeys import create_api_key

V1 = "viewAAAAAAAAAAAAAAAAAAAA"
V2 = "viewBBBBBBBBBBBBBBBBBBBB"
DAY = 86400


def tag(view_id):
    return {"humblytics_view_id": view_id}


def run_sync(connection, **kwargs):
    run = sync.sync_connection(connection.pk, **kwargs)
    assert run is not None
    assert run.status == SyncRun.Status.OK, run.error
    return run


def payment_for(charge_id):
    return Payment.objects.get(stripe_id=charge_id)


def list_calls(fake, path):
    return fake.stats()["by_path"].get(path, 0)


# Invoices


def test_every_part_of_a_multi_part_invoice_gets_the_invoice_tag(connection, fake_stripe, make_view):
    make_view(V1)
    customer = fake_stripe.create_customer()["customer"]
    invoice = fake_stripe.create_invoice(customer, 12_000, "usd", invoice_metadata=tag(V1))["invoice"]
    # Twelve parts: more than Stripe embeds in invoice.payments, so the rest must be paged; one part
    # is a Charges-API charge (an InvoicePayment of type charge).
    parts = [fake_stripe.pay_invoice(invoice, amount=1000)["charge"] for _ in range(10)]
    parts.append(fake_stripe.pay_invoice(invoice, amount=1000, with_charge=True)["charge"])
    parts.append(fake_stripe.pay_invoice(invoice)["charge"])
    run_sync(connection)
    for charge in parts:
        payment = payment_for(charge)
        assert (payment.invoice, payment.view_id_source, payment.view_id) == (invoice, "invoice", V1), charge
        assert payment.session_id is not None
    assert Payment.objects.count() == 12


def test_a_part_paid_later_is_linked_through_the_events_feed(connection, fake_stripe, make_view):
    make_view(V1)
    customer = fake_stripe.create_customer()["customer"]
    sub = fake_stripe.create_subscription(customer, 1500, "usd", metadata=tag(V1))["subscription"]
    invoice = fake_stripe.create_invoice(customer, 6000, "usd", invoice_metadata=tag(V2))["invoice"]
    first = fake_stripe.pay_invoice(invoice, amount=2000)["charge"]
    run_sync(connection)
    second = fake_stripe.pay_invoice(invoice, with_charge=True)["charge"]
    run_sync(connection)
    assert payment_for(first).invoice == payment_for(second).invoice == invoice
    assert payment_for(second).view_id == V2
    assert payment_for(second).subscription == ""
    assert sub


def test_an_invoice_created_40_days_before_it_is_paid_is_linked(site, fake_stripe, make_view):
    make_view(V1)
    now = fake_stripe.now()
    customer = fake_stripe.create_customer(created=now - 41 * DAY)["customer"]
    late = fake_stripe.create_invoice(customer, 9900, "usd", invoice_metadata=tag(V1), created=now - 40 * DAY)
    paid = fake_stripe.pay_invoice(late["invoice"], created=now - 2 * DAY)
    connection = connect_stripe(site, FULL_KEY, backfill_days=30)
    run_sync(connection)
    assert (payment_for(paid["charge"]).invoice, payment_for(paid["charge"]).view_id_source) == (
        late["invoice"],
        "invoice",
    )

    # Incrementally: a net-30 invoice paid now is fetched by id, never by re-listing 40 days of invoices.
    later = fake_stripe.create_invoice(
        customer, 5000, "usd", invoice_metadata=tag(V1), created=now - 40 * DAY
    )
    fake_stripe.reset_stats()
    paid_later = fake_stripe.pay_invoice(later["invoice"])
    run = run_sync(connection)
    assert run.kind == SyncRun.Kind.INCREMENTAL
    assert payment_for(paid_later["charge"]).view_id_source == "invoice"
    assert list_calls(fake_stripe, "/v1/invoices") == 0
    assert list_calls(fake_stripe, f"/v1/invoices/{later['invoice']}") == 1


# The Charge fallback and Payment Links


def test_charge_metadata_is_the_last_resort(connection, fake_stripe, make_view):
    make_view(V1)
    make_view(V2)
    bare = fake_stripe.create_charge(2500, "usd", metadata=tag(V1))
    customer = fake_stripe.create_customer(metadata=tag(V2))["customer"]
    shadowed = fake_stripe.create_charge(2500, "usd", customer=customer, metadata=tag(V1))
    run_sync(connection)
    payment = payment_for(bare["charge"])
    assert (payment.payment_intent, payment.view_id, payment.view_id_source) == ("", V1, "charge")
    assert payment.session_id is not None
    # Any of the five objects wins over the Charge.
    assert (payment_for(shadowed["charge"]).view_id, payment_for(shadowed["charge"]).view_id_source) == (
        V2,
        "customer",
    )


def test_a_payment_link_visit_is_attributed_through_client_reference_id(connection, fake_stripe, make_view):
    view = make_view(V1)
    link = {"payment_link": "plink_fk000000000001", "session_metadata": {"campaign": "spring"}}
    ids = fake_stripe.create_checkout_payment(4900, "usd", client_reference_id=V1, **link)
    # A reference that is not a view the tracker saw (a cart id) attributes nothing.
    cart = fake_stripe.create_checkout_payment(4900, "usd", client_reference_id="cart_1234", **link)
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.view_id, payment.view_id_source, payment.session_id) == (
        V1,
        "checkout_session",
        view.session_id,
    )
    assert payment_for(cart["charge"]).unattributed_reason == "no_view_id"


def test_a_session_tag_beats_its_client_reference_id(connection, fake_stripe, make_view):
    make_view(V1)
    make_view(V2)
    ids = fake_stripe.create_checkout_payment(4900, "usd", session_metadata=tag(V2), client_reference_id=V1)
    run_sync(connection)
    assert payment_for(ids["charge"]).view_id == V2


# Debits that fail after succeeding


def test_a_debit_that_fails_after_succeeding_stops_counting(connection, fake_stripe, client, site):
    ids = fake_stripe.create_payment(3000, "usd")
    kept = fake_stripe.create_payment(1000, "usd")
    run_sync(connection)
    assert payment_for(ids["charge"]).net == 3000
    fake_stripe.fail_payment(ids["charge"])
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.status, payment.net, payment.refunded) == ("failed", 0, 3000)
    assert payment_for(kept["charge"]).net == 1000

    key = create_api_key(site, "reports")[1]
    body = client.get(f"/api/v1/sites/{site.public_id}/payments", HTTP_AUTHORIZATION=f"Bearer {key}").json()
    failed = next(p for p in body["results"] if p["stripe_id"] == ids["charge"])
    assert (failed["status"], failed["net"]) == ("failed", 0)


def test_a_failed_debit_is_found_by_reconciliation_and_shown_on_the_payments_page(
    connection, fake_stripe, client_as_owner, site
):
    ids = fake_stripe.create_payment(3000, "usd")
    run_sync(connection)
    fake_stripe.fail_payment(ids["charge"])
    # The change arrives by re-listing, not by the feed: skip the events.
    StripeConnection.objects.filter(pk=connection.pk).update(events_cursor="", events_cursor_at=None)
    run_sync(connection, force_kind=SyncRun.Kind.RECONCILE)
    assert (payment_for(ids["charge"]).status, payment_for(ids["charge"]).net) == ("failed", 0)
    body = client_as_owner.get(f"/sites/{site.public_id}/payments/").content.decode()
    assert "failed after succeeding" in body


# Disputes


def test_an_appealed_loss_stays_lost_until_the_appeal_is_won(connection, fake_stripe):
    ids = fake_stripe.create_payment(5000, "usd")
    dispute = fake_stripe.dispute(ids["charge"])["dispute"]
    run_sync(connection)
    fake_stripe.update_dispute(dispute, "under_review")
    run_sync(connection)
    assert Dispute.objects.get().status == "under_review"
    fake_stripe.close_dispute(dispute, "lost")
    fake_stripe.appeal_dispute(dispute)
    run_sync(connection)
    assert (payment_for(ids["charge"]).status, payment_for(ids["charge"]).net) == ("dispute_lost", 0)
    fake_stripe.update_dispute(dispute, "appeal_under_review")
    run_sync(connection)
    assert Dispute.objects.get().status == "appeal_under_review"
    assert payment_for(ids["charge"]).net == 0
    fake_stripe.close_dispute(dispute, "won")
    run_sync(connection)
    assert (payment_for(ids["charge"]).status, payment_for(ids["charge"]).net) == ("succeeded", 5000)


def test_a_prevented_dispute_keeps_the_revenue(connection, fake_stripe):
    ids = fake_stripe.create_payment(5000, "usd")
    dispute = fake_stripe.dispute(ids["charge"])["dispute"]
    fake_stripe.close_dispute(dispute, "prevented")
    run_sync(connection)
    assert (payment_for(ids["charge"]).status, payment_for(ids["charge"]).net) == ("succeeded", 5000)


def test_an_old_open_dispute_is_reconciled_until_it_closes(connection, fake_stripe):
    start = fake_stripe.now()
    ids = fake_stripe.create_payment(5000, "usd", created=start - 60 * DAY)
    dispute = fake_stripe.dispute(ids["charge"], created=start - 50 * DAY)["dispute"]
    run_sync(connection)
    assert payment_for(ids["charge"]).status == "disputed"
    # 40 days later: the events are gone (stale cursor), the dispute is 90 days old, far outside any
    # re-listed window; it closes as lost.
    later = start + 40 * DAY
    fake_stripe.set_time(later)
    fake_stripe.close_dispute(dispute, "lost")
    run = run_sync(connection, now=dt.datetime.fromtimestamp(later, tz=dt.UTC))
    assert run.kind == SyncRun.Kind.RECONCILE
    assert (payment_for(ids["charge"]).status, payment_for(ids["charge"]).net) == ("dispute_lost", 0)


# Customers and metadata


def test_a_deleted_customer_keeps_its_tag_through_a_stale_reconcile(connection, fake_stripe, make_view):
    make_view(V1)
    start = fake_stripe.now()
    customer = fake_stripe.create_customer(metadata=tag(V1))["customer"]
    first = fake_stripe.create_payment(1000, "usd", customer=customer)
    run_sync(connection)
    later = start + 40 * DAY
    fake_stripe.set_time(later)
    fake_stripe.delete_customer(customer)
    renewal = fake_stripe.create_payment(2000, "usd", customer=None)
    run = run_sync(connection, now=dt.datetime.fromtimestamp(later, tz=dt.UTC))
    assert run.kind == SyncRun.Kind.RECONCILE
    assert (payment_for(first["charge"]).view_id, payment_for(first["charge"]).view_id_source) == (
        V1,
        "customer",
    )
    assert payment_for(renewal["charge"]).unattributed_reason == "no_view_id"


def test_a_customer_deleted_event_keeps_the_tag(connection, fake_stripe, make_view):
    make_view(V1)
    customer = fake_stripe.create_customer(metadata=tag(V1))["customer"]
    first = fake_stripe.create_payment(1000, "usd", customer=customer)
    run_sync(connection)
    fake_stripe.delete_customer(customer)
    run_sync(connection)
    assert payment_for(first["charge"]).view_id_source == "customer"


def test_bad_metadata_is_cleaned_or_skipped_and_never_stops_a_sync(connection, fake_stripe, make_view):
    make_view(V1)
    with_nul = fake_stripe.create_payment(1000, "usd", metadata=tag(V1[:4] + "\x00" + V1[4:]))
    surrogate_customer = fake_stripe.create_customer(metadata=tag("view\ud800BBBBBBBBBBBBBBBBBBB"))[
        "customer"
    ]
    with_surrogate = fake_stripe.create_payment(1000, "usd", customer=surrogate_customer)
    customer = fake_stripe.create_customer()["customer"]
    too_long = fake_stripe.create_invoice_payment(customer, 1000, "usd", invoice_metadata=tag("x" * 500))
    first = run_sync(connection)
    # The PaymentIntent and its Charge (Stripe copies the metadata), the customer, the invoice.
    assert first.skipped_values == 4
    assert (
        payment_for(with_nul["charge"]).view_id,
        payment_for(with_nul["charge"]).session_id is not None,
    ) == (
        V1,
        True,
    )
    assert payment_for(with_surrogate["charge"]).view_id == "viewBBBBBBBBBBBBBBBBBBB"
    assert payment_for(too_long["charge"]).unattributed_reason == "no_view_id"
    again = run_sync(connection, force_kind=SyncRun.Kind.RECONCILE)
    assert again.status == "ok"


# Connect


def test_a_connection_naming_a_connected_account_reads_that_account(site, fake_stripe, make_view):
    make_view(V1)
    account = fake_stripe.create_connected_account()["account"]
    fake_stripe.create_payment(9999, "usd")  # the platform's own payment: not this site's revenue
    theirs = fake_stripe.connected(account).create_payment(700, "usd", metadata=tag(V1))
    connection = connect_stripe(site, FULL_KEY, account_id=account)
    run_sync(connection)
    assert list(Payment.objects.values_list("stripe_id", "net")) == [(theirs["charge"], 700)]
    assert payment_for(theirs["charge"]).view_id_source == "payment_intent"
    later = fake_stripe.connected(account).create_payment(300, "usd")
    run = run_sync(connection)
    assert run.kind == SyncRun.Kind.INCREMENTAL
    assert payment_for(later["charge"]).net == 300


def test_an_account_the_key_cannot_read_is_refused_on_save(site, fake_stripe):
    with pytest.raises(KeyProblem, match="cannot read the account acct_nope"):
        connect_stripe(site, FULL_KEY, account_id="acct_nope")
    assert not StripeConnection.objects.exists()


def test_the_events_feed_asks_for_at_most_20_types():
    assert len(EVENT_TYPES) == len(set(EVENT_TYPES)) <= 20
    assert {"charge.failed", "charge.dispute.updated", "customer.deleted"} <= set(EVENT_TYPES)


def test_a_first_import_resumed_after_its_cursor_expired_starts_over(connection, fake_stripe):
    start = fake_stripe.now()
    fake_stripe.create_payment(1000, "usd")
    fake_stripe.inject_fault(500, count=50, path_prefix="/v1/refunds")
    assert sync.sync_connection(connection.pk).status == "failed"
    fake_stripe.clear_faults()
    later = start + 31 * DAY
    fake_stripe.set_time(later)
    recent = fake_stripe.create_payment(2000, "usd")
    run = run_sync(connection, now=dt.datetime.fromtimestamp(later, tz=dt.UTC))
    assert run.kind == SyncRun.Kind.BACKFILL
    assert payment_for(recent["charge"]).net == 2000
