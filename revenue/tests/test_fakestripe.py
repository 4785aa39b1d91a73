import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import stripe

from revenue.fakestripe import (
    PERMISSIONS,
    FakeStripe,
    FakeStripeControl,
    FakeStripeControlError,
    FakeStripeServer,
)

KEY = "sk_test_fakestripe1234"
T0 = 1_760_000_000
DAY = 86400


@pytest.fixture
def state():
    state = FakeStripe(keys={KEY: None})
    state.set_time(T0)
    return state


@pytest.fixture
def server(state):
    with FakeStripeServer(state) as server:
        yield server


def make_client(server, key=KEY, retries=0, timeout=5):
    return stripe.StripeClient(
        key,
        base_addresses={"api": server.url},
        max_network_retries=retries,
        http_client=stripe.RequestsClient(timeout=timeout),
    )


@pytest.fixture
def client(server):
    return make_client(server)


def payments(state, count, start=T0, step=60, **kwargs):
    return [
        state.create_payment(1000 + i, "usd", created=start + i * step, **kwargs)["charge"]
        for i in range(count)
    ]


def ids(objects):
    return [obj.id for obj in objects]


# Lists and cursors


def test_lists_are_newest_first_and_page_with_starting_after(state, client):
    charges = payments(state, 5)

    first = client.v1.charges.list(params={"limit": 2})
    second = client.v1.charges.list(params={"limit": 2, "starting_after": first.data[-1].id})
    last = client.v1.charges.list(params={"limit": 2, "starting_after": second.data[-1].id})

    assert ids(first) == [charges[4], charges[3]] and first.has_more
    assert ids(second) == [charges[2], charges[1]] and second.has_more
    assert ids(last) == [charges[0]] and not last.has_more
    assert first.url == "/v1/charges"


def test_objects_created_in_the_same_second_are_ordered_by_id(state, client):
    charges = payments(state, 3, step=0)

    assert ids(client.v1.charges.list()) == charges[::-1]


def test_auto_paging_iter_walks_every_page_newest_first(state, client):
    charges = payments(state, 25)
    state.reset_stats()

    seen = ids(client.v1.charges.list(params={"limit": 10}).auto_paging_iter())

    assert seen == charges[::-1]
    assert state.stats()["by_path"] == {"/v1/charges": 3}


def test_ending_before_returns_the_page_just_newer_than_the_cursor(state, client):
    charges = payments(state, 8)

    page = client.v1.charges.list(params={"limit": 3, "ending_before": charges[2]})

    assert ids(page) == [charges[5], charges[4], charges[3]]
    assert page.has_more


def test_auto_paging_iter_with_ending_before_walks_forward_oldest_to_newest(state, client):
    charges = payments(state, 12)

    seen = client.v1.charges.list(params={"limit": 3, "ending_before": charges[3]}).auto_paging_iter()

    assert ids(seen) == charges[4:]


def test_created_filters(state, client):
    charges = payments(state, 5, step=DAY)

    between = client.v1.charges.list(params={"created": {"gte": T0 + DAY, "lt": T0 + 3 * DAY}})
    exact = client.v1.charges.list(params={"created": T0 + 4 * DAY})
    after = client.v1.charges.list(params={"created": {"gt": T0 + 3 * DAY}})

    assert ids(between) == [charges[2], charges[1]]
    assert ids(exact) == [charges[4]]
    assert ids(after) == [charges[4]]


@pytest.mark.parametrize("limit", [0, 101])
def test_limit_outside_1_to_100_is_rejected(client, limit):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.charges.list(params={"limit": limit})

    assert caught.value.param == "limit"


def test_unknown_list_parameters_are_rejected_like_stripe_does(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.charges.list(params={"invoice": "in_123"})

    assert caught.value.param == "invoice"


def test_unknown_cursor_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.charges.list(params={"starting_after": "ch_missing"})

    assert caught.value.code == "resource_missing"


# Shapes, money and expansion


def test_charge_has_endive_shape_and_expands_balance_transaction_and_payment_intent(state, client):
    customer = state.create_customer(email="a@example.com")["customer"]
    created = state.create_payment(2000, "usd", customer=customer, metadata={"campaign": "spring"})

    charge = client.v1.charges.list(
        params={"expand": ["data.balance_transaction", "data.payment_intent"]}
    ).data[0]

    assert charge.id == created["charge"]
    assert "invoice" not in charge
    assert charge.balance_transaction.id == created["balance_transaction"]
    assert charge.balance_transaction.amount == 2000
    assert charge.balance_transaction.fee == 88
    assert charge.balance_transaction.net == 1912
    assert charge.balance_transaction.exchange_rate is None
    assert charge.payment_intent.id == created["payment_intent"]
    assert charge.payment_intent.metadata.to_dict() == {"campaign": "spring"}
    assert "invoice" not in charge.payment_intent
    # Stripe copies the PaymentIntent's metadata onto the charge at confirmation.
    assert charge.metadata.to_dict() == {"campaign": "spring"}
    assert (charge.customer, charge.captured, charge.status, charge.livemode) == (
        customer,
        True,
        "succeeded",
        False,
    )


def test_retrieve_expands_without_the_data_prefix(state, client):
    created = state.create_payment(2000, "usd")

    charge = client.v1.charges.retrieve(created["charge"], params={"expand": ["balance_transaction"]})

    assert charge.balance_transaction.object == "balance_transaction"
    assert charge.balance_transaction.source == created["charge"]


def test_expanding_an_unknown_field_is_rejected(state, client):
    state.create_payment(2000, "usd")

    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        client.v1.charges.list(params={"expand": ["data.invoice"]})


def test_eur_is_settled_in_usd_with_the_exchange_rate(state, client):
    created = state.create_payment(1000, "eur", exchange_rate=1.1)

    txn = client.v1.balance_transactions.retrieve(created["balance_transaction"])
    charge = client.v1.charges.retrieve(created["charge"])

    assert (charge.amount, charge.currency) == (1000, "eur")
    assert (txn.amount, txn.currency, txn.exchange_rate) == (1100, "usd", 1.1)
    assert (txn.fee, txn.net, txn.type) == (62, 1038, "charge")


def test_zero_decimal_jpy_is_settled_in_usd_cents(state, client):
    created = state.create_payment(1000, "jpy", exchange_rate=0.0067)

    txn = client.v1.balance_transactions.retrieve(created["balance_transaction"])

    assert (txn.amount, txn.currency) == (670, "usd")
    assert (txn.fee, txn.net) == (49, 621)


def test_foreign_currency_without_exchange_rate_is_a_builder_error(state):
    with pytest.raises(ValueError, match="exchange_rate"):
        state.create_payment(1000, "eur")


def test_failed_and_uncaptured_charges_have_no_balance_transaction(state, client):
    failed = state.create_payment(1000, "usd", status="failed")
    held = state.create_payment(1000, "usd", captured=False)

    assert client.v1.charges.retrieve(failed["charge"]).balance_transaction is None
    uncaptured = client.v1.charges.retrieve(held["charge"])
    assert (uncaptured.captured, uncaptured.paid, uncaptured.balance_transaction) == (False, True, None)

    state.complete_payment(held["charge"])

    assert client.v1.charges.retrieve(held["charge"]).amount_captured == 1000


# Invoices, subscriptions, checkout


def test_invoice_payments_link_a_payment_intent_to_its_invoice(state, client):
    customer = state.create_customer()["customer"]
    created = state.create_invoice_payment(customer, 5000, "usd", invoice_metadata={"order": "42"})

    payments = client.v1.invoice_payments.list(
        params={
            "payment": {"type": "payment_intent", "payment_intent": created["payment_intent"]},
            "expand": ["data.invoice"],
        }
    )

    assert len(payments.data) == 1
    payment = payments.data[0]
    assert payment.id == created["invoice_payment"]
    assert payment.payment.payment_intent == created["payment_intent"]
    assert (payment.amount_paid, payment.status, payment.is_default) == (5000, "paid", True)
    assert payment.invoice.id == created["invoice"]
    assert payment.invoice.metadata.to_dict() == {"order": "42"}
    assert payment.invoice.parent is None
    assert payment.invoice.billing_reason == "manual"
    for gone in ("charge", "payment_intent", "paid", "subscription", "subscription_details", "payments"):
        assert gone not in payment.invoice


def test_invoice_payments_require_payment_type(state, client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.invoice_payments.list(params={"payment": {"payment_intent": "pi_123"}})

    assert caught.value.param == "payment[type]"


def test_invoices_include_payments_only_when_expanded(state, client):
    customer = state.create_customer()["customer"]
    created = state.create_invoice_payment(customer, 5000, "usd")

    plain = client.v1.invoices.retrieve(created["invoice"])
    listed = client.v1.invoices.list(params={"expand": ["data.payments"]}).data[0]

    assert "payments" not in plain
    assert [p.payment.payment_intent for p in listed.payments.data] == [created["payment_intent"]]


def test_renewal_invoices_freeze_the_subscription_metadata_at_finalization(state, client):
    customer = state.create_customer()["customer"]
    first = state.create_subscription(customer, 1500, "usd", metadata={"campaign": "spring"})
    sub = first["subscription"]
    renewal = state.renew_subscription(sub, created=T0 + 30 * DAY)
    state.update_subscription(sub, {"campaign": "summer"}, created=T0 + 31 * DAY)

    invoices = client.v1.invoices.list(params={"subscription": sub})
    live = client.v1.subscriptions.retrieve(sub)

    assert ids(invoices) == [renewal["invoice"], first["invoice"]]
    assert [i.billing_reason for i in invoices] == ["subscription_cycle", "subscription_create"]
    for invoice in invoices:
        assert invoice.parent.type == "subscription_details"
        assert invoice.parent.subscription_details.subscription == sub
        assert invoice.parent.subscription_details.metadata.to_dict() == {"campaign": "spring"}
    assert live.metadata.to_dict() == {"campaign": "summer"}
    assert live.items.data[0].current_period_start == T0 + 30 * DAY


def test_canceled_subscriptions_are_listed_only_with_status_all(state, client):
    customer = state.create_customer()["customer"]
    sub = state.create_subscription(customer, 1500, "usd")["subscription"]
    state.cancel_subscription(sub)

    assert ids(client.v1.subscriptions.list()) == []
    assert ids(client.v1.subscriptions.list(params={"status": "all"})) == [sub]


def test_checkout_sessions_are_found_by_payment_intent_and_by_subscription(state, client):
    customer = state.create_customer()["customer"]
    paid = state.create_checkout_payment(3000, "usd", session_metadata={"campaign": "spring"})
    subscribed = state.create_subscription(
        customer, 1500, "usd", checkout_session_metadata={"campaign": "fall"}
    )

    by_pi = client.v1.checkout.sessions.list(params={"payment_intent": paid["payment_intent"]})
    by_sub = client.v1.checkout.sessions.list(params={"subscription": subscribed["subscription"]})
    pi = client.v1.payment_intents.retrieve(paid["payment_intent"])

    assert ids(by_pi) == [paid["checkout_session"]]
    assert by_pi.data[0].metadata.to_dict() == {"campaign": "spring"}
    assert (by_pi.data[0].mode, by_pi.data[0].status, by_pi.data[0].payment_status) == (
        "payment",
        "complete",
        "paid",
    )
    assert pi.metadata.to_dict() == {}
    assert ids(by_sub) == [subscribed["checkout_session"]]
    assert by_sub.data[0].mode == "subscription"
    assert by_sub.data[0].metadata.to_dict() == {"campaign": "fall"}


def test_a_deleted_customer_is_a_stub_and_leaves_the_list(state, client):
    customer = state.create_customer(email="gone@example.com", metadata={"campaign": "spring"})["customer"]
    state.delete_customer(customer)

    retrieved = client.v1.customers.retrieve(customer)

    assert retrieved.to_dict() == {"id": customer, "object": "customer", "deleted": True}
    assert ids(client.v1.customers.list()) == []


# Events


def test_events_with_types_and_ending_before_replay_changes_in_order(state, client):
    old = state.create_payment(1000, "usd", created=T0)
    last_seen = client.v1.events.list(params={"limit": 1}).data[0].id
    state.refund(old["charge"], amount=400, created=T0 + 10)
    new = state.create_payment(2000, "usd", created=T0 + 20)
    state.set_time(T0 + 30)

    feed = client.v1.events.list(
        params={"types": ["charge.succeeded", "charge.refunded"], "ending_before": last_seen, "limit": 1}
    )
    events = list(feed.auto_paging_iter())

    assert [(e.type, e.data.object.id) for e in events] == [
        ("charge.refunded", old["charge"]),
        ("charge.succeeded", new["charge"]),
    ]
    assert events[0].api_version == "2024-06-20"
    # Payloads use the old shape on purpose: re-retrieve the object instead of trusting them.
    assert "invoice" in events[0].data.object
    assert events[0].data.previous_attributes.amount_refunded == 0


def test_events_filter_by_type_with_wildcard(state, client):
    charge = state.create_payment(1000, "usd")["charge"]
    state.dispute(charge)

    events = client.v1.events.list(params={"type": "charge.dispute.*"})

    assert [e.type for e in events] == ["charge.dispute.funds_withdrawn", "charge.dispute.created"]


def test_more_than_20_event_types_are_rejected(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.events.list(params={"types": [f"charge.t{i}" for i in range(21)]})

    assert caught.value.param == "types"


def test_events_older_than_30_days_are_gone(state, client):
    state.create_customer(created=T0)
    state.set_time(T0 + 31 * DAY)

    assert ids(client.v1.events.list()) == []


# Errors, keys and faults


def test_unknown_key_raises_authentication_error_with_a_masked_key(server):
    with pytest.raises(stripe.AuthenticationError) as caught:
        make_client(server, key="sk_test_wrongwrongabcd").v1.charges.list()

    assert "Invalid API Key provided: sk_test_**********abcd" in str(caught.value)


def test_revoked_key_raises_authentication_error(state, client):
    state.revoke_key(KEY)

    with pytest.raises(stripe.AuthenticationError):
        client.v1.charges.list()


def test_restricted_key_without_permission_raises_permission_error_naming_it(state, server):
    state.add_key("rk_test_restricted9876", {PERMISSIONS["customers"]})
    restricted = make_client(server, key="rk_test_restricted9876")

    with pytest.raises(stripe.PermissionError, match="rak_charge_read"):
        restricted.v1.charges.list()
    assert restricted.v1.customers.list().data == []


def test_restricted_key_needs_permission_for_expanded_objects_too(state, server):
    state.add_key("rk_test_restricted9876", {PERMISSIONS["charges"]})
    state.create_payment(1000, "usd")
    restricted = make_client(server, key="rk_test_restricted9876")

    assert len(restricted.v1.charges.list().data) == 1
    with pytest.raises(stripe.PermissionError, match="rak_balance_transaction_source_read"):
        restricted.v1.charges.list(params={"expand": ["data.balance_transaction"]})


def test_plain_429_raises_rate_limit_error_without_retrying(state, server):
    state.inject_fault(429)
    state.reset_stats()

    with pytest.raises(stripe.RateLimitError):
        make_client(server, retries=2).v1.charges.list()
    assert state.stats()["requests"] == 1


def test_429_with_should_retry_is_retried_by_the_client(state, server):
    state.inject_fault(429, should_retry=True)
    state.reset_stats()

    assert make_client(server, retries=1).v1.charges.list().data == []
    assert state.stats()["requests"] == 2


def test_500_is_retried_by_the_client_and_then_succeeds(state, server):
    state.inject_fault(500, path_prefix="/v1/charges")
    state.reset_stats()

    assert make_client(server, retries=1).v1.charges.list().data == []
    assert state.stats()["by_path"] == {"/v1/charges": 2}


def test_500_without_retries_raises_api_error(state, client):
    state.inject_fault(500)

    with pytest.raises(stripe.APIError):
        client.v1.charges.list()


def test_faults_only_hit_their_path_prefix(state, client):
    state.inject_fault(500, path_prefix="/v1/refunds")

    assert client.v1.charges.list().data == []
    with pytest.raises(stripe.APIError):
        client.v1.refunds.list()


def test_delay_fault_makes_the_client_time_out(state, server):
    state.inject_fault(None, delay=0.5)

    with pytest.raises(stripe.APIConnectionError):
        make_client(server, timeout=0.1).v1.charges.list()


def test_unknown_id_is_resource_missing(client):
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.charges.retrieve("ch_missing")

    assert (caught.value.http_status, caught.value.code, caught.value.param) == (
        404,
        "resource_missing",
        "id",
    )


def test_unknown_url_is_404_unrecognized(server):
    response = requests.get(f"{server.url}/v1/xyz", headers={"Authorization": f"Bearer {KEY}"}, timeout=5)

    assert response.status_code == 404
    assert response.json()["error"]["message"] == "Unrecognized request URL (GET: /v1/xyz)."


# Refunds and disputes


def test_refund_created_through_the_api_updates_the_charge(state, client):
    created = state.create_payment(1000, "eur", exchange_rate=1.1)

    refund = client.v1.refunds.create(params={"charge": created["charge"], "amount": 400})
    charge = client.v1.charges.retrieve(created["charge"], params={"expand": ["refunds"]})
    txn = client.v1.balance_transactions.retrieve(refund.balance_transaction)

    assert (refund.amount, refund.status, refund.payment_intent) == (
        400,
        "succeeded",
        created["payment_intent"],
    )
    assert (charge.amount_refunded, charge.refunded) == (400, False)
    assert ids(charge.refunds) == [refund.id]
    assert (txn.type, txn.amount, txn.currency, txn.fee) == ("refund", -440, "usd", 0)
    assert ids(client.v1.refunds.list(params={"charge": created["charge"]})) == [refund.id]


def test_a_pending_refund_counts_only_once_it_succeeds(state, client):
    charge = state.create_payment(1000, "usd")["charge"]
    refund = state.refund(charge, status="pending")["refund"]

    assert client.v1.charges.retrieve(charge).amount_refunded == 0

    state.update_refund(refund, "succeeded")

    assert client.v1.charges.retrieve(charge).amount_refunded == 1000
    assert client.v1.charges.retrieve(charge).refunded is True
    assert state.ground_truth()[charge]["refunded"] == 1000


def test_dispute_won_reinstates_funds(state, client):
    charge = state.create_payment(1000, "usd")["charge"]
    dispute = state.dispute(charge)["dispute"]

    opened = client.v1.disputes.retrieve(dispute)
    assert (opened.status, opened.amount, opened.charge) == ("needs_response", 1000, charge)
    assert [(t.amount, t.fee) for t in opened.balance_transactions] == [(-1000, 1500)]
    assert client.v1.charges.retrieve(charge).disputed is True

    state.close_dispute(dispute, "won")

    closed = client.v1.disputes.list(params={"charge": charge}).data[0]
    assert closed.status == "won"
    assert [(t.amount, t.fee) for t in closed.balance_transactions] == [(-1000, 1500), (1000, -1500)]
    assert client.v1.events.list(params={"type": "charge.dispute.closed"}).data[0].data.object.id == dispute
    assert state.ground_truth()[charge]["dispute_status"] == "won"


# Creating through the real client


def test_customers_and_confirmed_payment_intents_created_over_http(state, client):
    customer = client.v1.customers.create(params={"email": "b@example.com", "metadata": {"campaign": "x"}})
    pi = client.v1.payment_intents.create(
        params={
            "amount": 2500,
            "currency": "usd",
            "customer": customer.id,
            "confirm": True,
            "payment_method": "pm_card_visa",
            "metadata": {"variant": "b"},
        }
    )
    client.v1.customers.update(customer.id, params={"metadata": {"campaign": "", "plan": "pro"}})

    charge = client.v1.charges.retrieve(pi.latest_charge)
    updated = client.v1.events.list(params={"type": "customer.updated"}).data[0]

    assert (pi.status, pi.amount_received) == ("succeeded", 2500)
    assert (charge.customer, charge.metadata.to_dict()) == (customer.id, {"variant": "b"})
    assert client.v1.customers.retrieve(customer.id).metadata.to_dict() == {"plan": "pro"}
    assert updated.request.id is not None
    assert updated.data.previous_attributes.metadata.to_dict() == {"campaign": "x"}


def test_an_unconfirmed_payment_intent_has_no_charge(client):
    pi = client.v1.payment_intents.create(params={"amount": 2500, "currency": "usd"})

    assert (pi.status, pi.latest_charge) == ("requires_payment_method", None)
    assert client.v1.charges.list().data == []


def test_subscription_metadata_updated_over_http_emits_an_event(state, client):
    customer = state.create_customer()["customer"]
    sub = state.create_subscription(customer, 1500, "usd")["subscription"]

    client.v1.subscriptions.update(sub, params={"metadata": {"campaign": "late"}})

    event = client.v1.events.list(params={"type": "customer.subscription.updated"}).data[0]
    assert event.data.object.id == sub
    assert client.v1.subscriptions.retrieve(sub).metadata.to_dict() == {"campaign": "late"}


# Control endpoint, ground truth and CLI


def test_control_endpoint_drives_the_server(state, server, client):
    control = FakeStripeControl(server.url)

    created = control.call("create_payment", amount=2000, currency="usd", metadata={"campaign": "ctl"})
    control.call("inject_fault", status=500)

    with pytest.raises(stripe.APIError):
        client.v1.charges.list()
    assert client.v1.charges.retrieve(created["charge"]).metadata.to_dict() == {"campaign": "ctl"}
    assert control.stats()["by_path"][f"/v1/charges/{created['charge']}"] == 1
    with pytest.raises(FakeStripeControlError, match="Not a control method"):
        control.call("_insert", obj={})
    with pytest.raises(FakeStripeControlError, match="No such charge"):
        control.call("refund", charge="ch_missing")


def test_ground_truth_reports_settlement_refunds_and_links(state):
    customer = state.create_customer()["customer"]
    created = state.create_subscription(customer, 1000, "eur", exchange_rate=1.2)
    state.refund(created["charge"], amount=500)

    truth = state.ground_truth()[created["charge"]]

    assert truth["settlement_amount"] == 1200
    assert (truth["refunded"], truth["refunded_settlement"]) == (500, 600)
    assert (truth["invoice"], truth["subscription"]) == (created["invoice"], created["subscription"])


def test_cli_serves_until_sigterm():
    process = subprocess.Popen(
        [sys.executable, "-m", "revenue.fakestripe", "--port", "0"],
        cwd=Path(__file__).resolve().parents[2],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        url = process.stdout.readline().strip()
        client = stripe.StripeClient("sk_test_demo", base_addresses={"api": url})
        assert client.v1.charges.list().data == []
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0


def test_an_event_cursor_older_than_30_days_is_rejected(state, client):
    state.create_customer(created=T0)
    old = client.v1.events.list(params={"limit": 1}).data[0].id
    state.create_customer(created=T0 + 31 * DAY)
    state.set_time(T0 + 31 * DAY)

    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.events.list(params={"ending_before": old})

    assert (caught.value.http_status, caught.value.code) == (404, "resource_missing")


def test_an_invoice_embeds_ten_payments_and_pages_the_rest(state, client):
    customer = state.create_customer()["customer"]
    invoice = state.create_invoice(customer, 1200, "usd")["invoice"]
    for _ in range(11):
        state.pay_invoice(invoice, amount=100)
    state.pay_invoice(invoice, with_charge=True)

    embedded = client.v1.invoices.retrieve(invoice, params={"expand": ["payments"]}).payments
    rest = client.v1.invoice_payments.list(
        params={"invoice": invoice, "starting_after": embedded.data[-1].id}
    )

    assert (len(embedded.data), embedded.has_more) == (10, True)
    everything = embedded.data + rest.data
    assert len({p.id for p in everything}) == 13
    assert sorted(p.status for p in everything) == ["canceled"] + ["paid"] * 12
    assert [p.payment.type for p in everything].count("charge") == 1
