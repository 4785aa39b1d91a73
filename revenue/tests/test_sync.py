import pytest
from django.core.management import call_command

from revenue import sync
from revenue.models import Payment, Refund, StripeConnection, StripeObject, SyncRun
from revenue.tests.conftest import FULL_KEY

V1 = "viewAAAAAAAAAAAAAAAAAAAA"
V2 = "viewBBBBBBBBBBBBBBBBBBBB"


def tag(view_id):
    return {"humblytics_view_id": view_id, "order": "42"}


def run_sync(connection):
    run = sync.sync_connection(connection.pk)
    assert run is not None
    assert run.status == SyncRun.Status.OK, run.error
    return run


def payment_for(charge_id):
    return Payment.objects.get(stripe_id=charge_id)


def test_payment_intent_tag_attributes_the_payment(connection, fake_stripe, make_view):
    view = make_view(V1)
    ids = fake_stripe.create_payment(2500, "usd", metadata=tag(V1))
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.view_id, payment.view_id_source, payment.unattributed_reason) == (
        V1,
        "payment_intent",
        "",
    )
    assert payment.session_id == view.session_id and payment.matched_view_id == view.pk
    assert (payment.amount, payment.currency, payment.net, payment.status) == (2500, "usd", 2500, "succeeded")
    assert payment.payment_intent == ids["payment_intent"]


def test_invoice_tag_attributes_an_invoice_payment(connection, fake_stripe, make_view):
    make_view(V1)
    customer = fake_stripe.create_customer(email="a@example.com")["customer"]
    ids = fake_stripe.create_invoice_payment(customer, 4000, "usd", invoice_metadata=tag(V1))
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.view_id_source, payment.invoice) == ("invoice", ids["invoice"])
    assert payment.session_id is not None


def test_subscription_tag_applies_to_renewals(connection, fake_stripe, make_view):
    make_view(V1)
    customer = fake_stripe.create_customer()["customer"]
    first = fake_stripe.create_subscription(customer, 1500, "usd", metadata=tag(V1))
    run_sync(connection)
    renewal = fake_stripe.renew_subscription(first["subscription"])
    run = run_sync(connection)
    assert run.kind == SyncRun.Kind.INCREMENTAL
    for charge in (first["charge"], renewal["charge"]):
        payment = payment_for(charge)
        assert payment.view_id_source == "subscription", charge
        assert payment.subscription == first["subscription"]
        assert payment.session_id is not None


def test_live_subscription_metadata_wins_over_the_invoice_snapshot(connection, fake_stripe, make_view):
    make_view(V1)
    customer = fake_stripe.create_customer()["customer"]
    ids = fake_stripe.create_subscription(customer, 1500, "usd")
    fake_stripe.update_subscription(ids["subscription"], metadata=tag(V1))
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.view_id, payment.view_id_source) == (V1, "subscription")


def test_checkout_session_tag_attributes_a_hosted_checkout(connection, fake_stripe, make_view):
    make_view(V1)
    ids = fake_stripe.create_checkout_payment(9900, "usd", session_metadata=tag(V1))
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert payment.view_id_source == "checkout_session"
    assert payment.checkout_session == ids["checkout_session"]
    assert payment.session_id is not None


def test_customer_tag_applies_to_later_payments(connection, fake_stripe, make_view):
    make_view(V1)
    customer = fake_stripe.create_customer(metadata=tag(V1))["customer"]
    first = fake_stripe.create_payment(1000, "usd", customer=customer)
    run_sync(connection)
    later = fake_stripe.create_payment(3000, "usd", customer=customer)
    run_sync(connection)
    for charge in (first["charge"], later["charge"]):
        payment = payment_for(charge)
        assert (payment.view_id, payment.view_id_source) == (V1, "customer")
        assert payment.session_id is not None


def test_the_first_tag_in_precedence_wins(connection, fake_stripe, make_view):
    pi_view = make_view(V1)
    make_view(V2)
    customer = fake_stripe.create_customer(metadata=tag(V2))["customer"]
    ids = fake_stripe.create_payment(1000, "usd", customer=customer, metadata=tag(V1))
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.view_id, payment.view_id_source, payment.session_id) == (
        V1,
        "payment_intent",
        pi_view.session_id,
    )


def test_invoice_beats_subscription_and_customer(connection, fake_stripe, make_view):
    make_view(V1)
    make_view(V2)
    customer = fake_stripe.create_customer(metadata=tag(V2))["customer"]
    ids = fake_stripe.create_subscription(customer, 500, "usd", metadata=tag(V2), invoice_metadata=tag(V1))
    run_sync(connection)
    assert payment_for(ids["charge"]).view_id_source == "invoice"
    assert payment_for(ids["charge"]).view_id == V1


def test_a_payment_without_any_tag_says_so(connection, fake_stripe):
    ids = fake_stripe.create_payment(1000, "usd", customer=fake_stripe.create_customer()["customer"])
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.unattributed_reason, payment.view_id, payment.session_id) == ("no_view_id", "", None)


def test_a_tag_added_after_the_first_sync_is_picked_up(connection, fake_stripe, make_view):
    make_view(V1)
    customer = fake_stripe.create_customer()["customer"]
    ids = fake_stripe.create_payment(1000, "usd", customer=customer)
    run_sync(connection)
    assert payment_for(ids["charge"]).unattributed_reason == "no_view_id"
    fake_stripe.update_customer(customer, metadata=tag(V1))
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.view_id_source, payment.unattributed_reason) == ("customer", "")
    assert payment.session_id is not None


def test_an_unknown_view_is_linked_when_it_arrives(connection, fake_stripe, make_view):
    ids = fake_stripe.create_payment(1000, "usd", metadata=tag(V1))
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.unattributed_reason, payment.view_id) == ("unknown_view_id", V1)
    view = make_view(V1)
    run_sync(connection)
    payment.refresh_from_db()
    assert (payment.unattributed_reason, payment.session_id) == ("", view.session_id)


def test_a_partial_refund_reduces_net_revenue(connection, fake_stripe):
    ids = fake_stripe.create_payment(10000, "usd")
    run_sync(connection)
    fake_stripe.refund(ids["charge"], amount=2500)
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.settlement_amount, payment.refunded, payment.net) == (10000, 2500, 7500)
    assert payment.status == "partially_refunded"
    assert Refund.objects.get().settlement_amount == 2500


def test_a_full_refund_in_the_backfill(connection, fake_stripe):
    ids = fake_stripe.create_payment(4200, "usd")
    fake_stripe.refund(ids["charge"])
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.net, payment.status) == (0, "refunded")


def test_a_pending_refund_does_not_reduce_revenue_until_it_succeeds(connection, fake_stripe):
    ids = fake_stripe.create_payment(4200, "usd")
    refund = fake_stripe.refund(ids["charge"], amount=200, status="pending")
    run_sync(connection)
    assert payment_for(ids["charge"]).net == 4200
    fake_stripe.update_refund(refund["refund"], "succeeded")
    run_sync(connection)
    assert payment_for(ids["charge"]).net == 4000


def test_a_lost_dispute_takes_the_revenue_away(connection, fake_stripe):
    ids = fake_stripe.create_payment(5000, "usd")
    run_sync(connection)
    dispute = fake_stripe.dispute(ids["charge"])
    run_sync(connection)
    assert payment_for(ids["charge"]).status == "disputed"
    assert payment_for(ids["charge"]).net == 5000
    fake_stripe.close_dispute(dispute["dispute"], "lost")
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.status, payment.net, payment.refunded) == ("dispute_lost", 0, 5000)


def test_a_won_dispute_keeps_the_revenue(connection, fake_stripe):
    ids = fake_stripe.create_payment(5000, "usd")
    dispute = fake_stripe.dispute(ids["charge"])
    fake_stripe.close_dispute(dispute["dispute"], "won")
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.status, payment.net) == ("succeeded", 5000)


def test_eur_payment_is_reported_in_the_usd_settlement(connection, fake_stripe):
    ids = fake_stripe.create_payment(1000, "eur", settlement_currency="usd", exchange_rate=1.08)
    run_sync(connection)
    payment = payment_for(ids["charge"])
    truth = fake_stripe.ground_truth()[ids["charge"]]
    assert (payment.amount, payment.currency) == (1000, "eur")
    assert (payment.settlement_amount, payment.settlement_currency) == (1080, "usd")
    assert payment.settlement_amount == truth["settlement_amount"]


def test_zero_decimal_currency_is_converted_by_stripe_not_by_us(connection, fake_stripe):
    ids = fake_stripe.create_payment(5000, "jpy", settlement_currency="usd", exchange_rate=0.0067)
    run_sync(connection)
    payment = payment_for(ids["charge"])
    assert (payment.amount, payment.currency) == (5000, "jpy")
    assert (payment.settlement_amount, payment.settlement_currency) == (3350, "usd")


def test_failed_and_uncaptured_charges_are_not_revenue(connection, fake_stripe):
    fake_stripe.create_payment(1000, "usd", status="failed")
    fake_stripe.create_payment(1000, "usd", captured=False)
    ok = fake_stripe.create_payment(700, "usd")
    run_sync(connection)
    assert list(Payment.objects.values_list("stripe_id", flat=True)) == [ok["charge"]]


def test_syncing_twice_counts_nothing_twice(connection, fake_stripe):
    for amount in (100, 200, 300):
        fake_stripe.create_payment(amount, "usd")
    run_sync(connection)
    second = sync.sync_connection(connection.pk, force_kind=SyncRun.Kind.RECONCILE)
    assert second.status == "ok"
    assert Payment.objects.count() == 3
    assert sum(Payment.objects.values_list("net", flat=True)) == 600
    assert second.payments_new == 0


def test_a_crash_half_way_loses_nothing(connection, fake_stripe):
    charges = [fake_stripe.create_payment(1000 + i, "usd")["charge"] for i in range(5)]
    fake_stripe.refund(charges[0], amount=100)
    fake_stripe.inject_fault(500, count=50, path_prefix="/v1/refunds")
    failed = sync.sync_connection(connection.pk)
    assert failed.status == "failed"
    connection.refresh_from_db()
    assert connection.backfill_completed_at is None
    assert connection.status == StripeConnection.Status.ERROR
    fake_stripe.clear_faults()
    run_sync(connection)
    assert sorted(Payment.objects.values_list("stripe_id", flat=True)) == sorted(charges)
    assert payment_for(charges[0]).net == 900
    assert Refund.objects.count() == 1


def test_a_revoked_key_marks_the_connection_and_keeps_payments(connection, fake_stripe):
    fake_stripe.create_payment(1000, "usd")
    run_sync(connection)
    fake_stripe.revoke_key(FULL_KEY)
    run = sync.sync_connection(connection.pk)
    connection.refresh_from_db()
    assert run.status == "failed"
    assert connection.status == StripeConnection.Status.KEY_REVOKED
    assert "rejected the saved key" in connection.last_error
    assert Payment.objects.count() == 1


def test_a_missing_permission_is_named(site, fake_stripe):
    from revenue.connections import connect_stripe

    key = "rk_test_restricted4242"
    connection = connect_stripe(site, FULL_KEY)
    everything = {
        "rak_charge_read",
        "rak_payment_intent_read",
        "rak_invoice_read",
        "rak_subscription_read",
        "rak_checkout_session_read",
        "rak_customer_read",
        "rak_balance_transaction_source_read",
        "rak_event_read",
    }
    fake_stripe.add_key(key, everything)
    StripeConnection.objects.filter(pk=connection.pk).update(secret_key="x")
    connection.secret_key = key
    connection.save()
    fake_stripe.create_payment(1000, "usd")
    run = sync.sync_connection(connection.pk)
    connection.refresh_from_db()
    assert run.status == "failed"
    assert connection.status == StripeConnection.Status.MISSING_PERMISSION
    assert "rak_dispute_read" in connection.last_error


def test_plain_429s_are_retried_with_backoff(connection, fake_stripe):
    ids = fake_stripe.create_payment(1000, "usd")
    fake_stripe.inject_fault(429, count=2, path_prefix="/v1/charges")
    run = run_sync(connection)
    assert payment_for(ids["charge"]).net == 1000
    assert run.api_calls >= 3


def test_a_500_is_retried_by_the_client(connection, fake_stripe):
    ids = fake_stripe.create_payment(1000, "usd")
    fake_stripe.inject_fault(500, count=1, path_prefix="/v1/invoices")
    run_sync(connection)
    assert payment_for(ids["charge"]).net == 1000


def test_endless_429s_end_the_run_cleanly_and_the_next_run_resumes(connection, fake_stripe):
    ids = fake_stripe.create_payment(1000, "usd")
    fake_stripe.inject_fault(429, count=100, path_prefix="/v1/charges")
    run = sync.sync_connection(connection.pk)
    assert run.status == "failed"
    assert "Nothing imported was lost" in run.error
    fake_stripe.clear_faults()
    run_sync(connection)
    assert payment_for(ids["charge"]).net == 1000


def test_a_second_sync_of_the_same_connection_waits_for_the_lock(connection):
    token = sync.claim(connection.pk, connection.created_at)
    assert token
    assert sync.sync_connection(connection.pk) is None
    sync.release(connection.pk, token)
    assert sync.claim(connection.pk, connection.created_at)


def test_a_deleted_customer_keeps_the_id_we_saw(connection, fake_stripe, make_view):
    make_view(V1)
    customer = fake_stripe.create_customer(metadata=tag(V1))["customer"]
    first = fake_stripe.create_payment(1000, "usd", customer=customer)
    run_sync(connection)
    fake_stripe.delete_customer(customer)
    sync.sync_connection(connection.pk, force_kind=SyncRun.Kind.RECONCILE)
    assert payment_for(first["charge"]).view_id_source == "customer"
    assert StripeObject.objects.get(stripe_id=customer).view_id == V1


def test_backfill_only_imports_the_configured_window(site, fake_stripe):
    from revenue.connections import connect_stripe

    old = fake_stripe.create_payment(1000, "usd", created=fake_stripe.now() - 40 * 86400)
    recent = fake_stripe.create_payment(2000, "usd")
    connection = connect_stripe(site, FULL_KEY, backfill_days=30)
    run_sync(connection)
    assert list(Payment.objects.values_list("stripe_id", flat=True)) == [recent["charge"]]
    assert old["charge"] not in Payment.objects.values_list("stripe_id", flat=True)


def test_only_our_metadata_key_is_kept(connection, fake_stripe):
    customer = fake_stripe.create_customer(metadata={"private_note": "do-not-store-me"})["customer"]
    fake_stripe.create_payment(
        1000, "usd", customer=customer, metadata={**tag(V1), "email": "do-not-store-me"}
    )
    run_sync(connection)
    rows = list(StripeObject.objects.values()) + list(Payment.objects.values())
    assert rows
    assert not any("do-not-store-me" in str(value) for row in rows for value in row.values())


def test_sync_stripe_command_prints_one_line_per_site(connection, fake_stripe, capsys, site):
    fake_stripe.create_payment(1000, "usd")
    call_command("sync_stripe")
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert out[0].startswith(site.public_id + " ok")
    assert "1 new" in out[0]


def test_sync_stripe_command_reports_a_failure_in_the_line(connection, fake_stripe, capsys, site):
    fake_stripe.revoke_key(FULL_KEY)
    call_command("sync_stripe", "--site", site.public_id)
    out = capsys.readouterr().out
    assert out.startswith(site.public_id + " failed: Stripe rejected the saved key")


def test_sync_stripe_command_rejects_bad_arguments(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No Stripe connection for site"):
        call_command("sync_stripe", "--site", "nosuch1")
    with pytest.raises(CommandError, match="--backfill-days must be between"):
        call_command("sync_stripe", "--backfill-days", "0")


def test_a_killed_run_is_marked_interrupted_and_its_lease_expires_in_minutes(connection, fake_stripe):
    import datetime as dt

    dead = SyncRun.objects.create(connection=connection, kind=SyncRun.Kind.BACKFILL)
    token = sync.claim(connection.pk, connection.created_at)
    assert sync.claim(connection.pk, connection.created_at + dt.timedelta(minutes=4)) is None
    assert sync.claim(connection.pk, connection.created_at + dt.timedelta(minutes=6)) not in (None, token)
    StripeConnection.objects.filter(pk=connection.pk).update(locked_until=None, lock_token="")
    run_sync(connection)
    dead.refresh_from_db()
    assert dead.status == SyncRun.Status.FAILED and "Interrupted" in dead.error
