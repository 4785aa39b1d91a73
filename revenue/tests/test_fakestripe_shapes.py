"""The fake Stripe cannot drift: every shape it renders fits stripe-python's typed resources.

An account holding every shape the sync handles (multi-part and charge-paid invoices, open and canceled
invoice payments, bare charges, a debit that failed after succeeding, refunds, every dispute stage
including appeals, Payment Link sessions, deleted customers, a connected account) is read over HTTP
through the real client, and each object is checked against the class stripe-python 16.1.0 generated
from Stripe's spec: no field the real API lacks, no value of the wrong kind, no required field missing.
"""

import pytest
import stripe

from revenue.fakestripe import FakeStripe, FakeStripeServer
from revenue.tests import stripe_types

KEY = "sk_test_shapes4242"
T0 = 1_760_000_000
DAY = 86400
TAG = {"humblytics_view_id": "shapeViewAAAAAAAAAAAAAA"}


def build_account(state: FakeStripe) -> dict:
    state.set_time(T0)
    customer = state.create_customer(email="a@example.com", metadata=TAG)["customer"]
    gone = state.create_customer(email="b@example.com")["customer"]
    one_off = state.create_payment(2000, "eur", customer=customer, exchange_rate=1.08, metadata=TAG)
    bare = state.create_charge(1500, "usd", metadata=TAG)
    debit = state.create_payment(3000, "usd")
    state.fail_payment(debit["charge"], created=T0 + 3 * DAY)
    refunded = state.create_payment(4000, "usd")
    state.refund(refunded["charge"], amount=1000)
    state.refund(refunded["charge"], amount=500, status="pending")
    multi = state.create_invoice(customer, 9000, "usd", invoice_metadata=TAG, created=T0 - 40 * DAY)
    state.pay_invoice(multi["invoice"], amount=3000)
    state.pay_invoice(multi["invoice"], amount=2000, with_charge=True)
    state.pay_invoice(multi["invoice"], amount=4000)
    left_open = state.create_invoice(customer, 5000, "usd")
    by_charge = state.create_invoice(customer, 2500, "usd")
    state.pay_invoice(by_charge["invoice"], with_charge=True)
    sub = state.create_subscription(customer, 1900, "usd", metadata=TAG, checkout_session_metadata={})
    state.renew_subscription(sub["subscription"], created=T0 + 30 * DAY)
    link = state.create_checkout_payment(
        4900, "usd", client_reference_id=TAG["humblytics_view_id"], payment_link="plink_fk000000000001"
    )
    disputes = []
    for close in (None, "won", "lost", "prevented", "appeal"):
        charge = state.create_payment(5000, "usd")["charge"]
        dispute = state.dispute(charge)["dispute"]
        disputes.append(dispute)
        if close == "appeal":
            state.close_dispute(dispute, "lost")
            state.appeal_dispute(dispute)
            state.update_dispute(dispute, "appeal_under_review")
        elif close:
            state.update_dispute(dispute, "under_review")
            state.close_dispute(dispute, close)
    state.delete_customer(gone)
    account = state.create_connected_account()["account"]
    state.connected(account).create_payment(700, "usd", metadata=TAG)
    return {
        "customer": customer,
        "deleted_customer": gone,
        "charges": [one_off["charge"], bare["charge"], debit["charge"], refunded["charge"]],
        "payment_intent": one_off["payment_intent"],
        "invoices": [multi["invoice"], left_open["invoice"], sub["invoice"], by_charge["invoice"]],
        "subscription": sub["subscription"],
        "sessions": [link["checkout_session"], sub["checkout_session"]],
        "disputes": disputes,
        "account": account,
    }


@pytest.fixture(scope="module")
def account():
    state = FakeStripe(keys={KEY: None})
    built = build_account(state)
    with FakeStripeServer(state) as server:
        client = stripe.StripeClient(
            KEY, base_addresses={"api": server.url}, http_client=stripe.RequestsClient(timeout=5)
        )
        yield client, built


def get(client, path, **params) -> dict:
    return client.raw_request("get", path, **params).data


def listed(client, path, **params) -> list[dict]:
    body = get(client, path, limit=100, **params)
    assert body["has_more"] is False
    return body["data"]


def assert_fits(objects: list[dict], cls: type) -> None:
    assert objects, f"nothing to check against {cls.__name__}"
    found = [problem for obj in objects for problem in stripe_types.problems(obj, cls, obj.get("id", ""))]
    assert not found, "\n".join(found[:40])


def test_charges_fit_the_charge_type(account):
    client, _ = account
    charges = listed(client, "/v1/charges", expand=["data.balance_transaction", "data.payment_intent"])
    assert {c["status"] for c in charges} == {"succeeded", "failed"}
    assert any(c["payment_intent"] is None for c in charges)
    assert any(c["failure_balance_transaction"] for c in charges)
    assert_fits(charges, stripe.Charge)


def test_payment_intents_fit(account):
    client, _ = account
    assert_fits(listed(client, "/v1/payment_intents"), stripe.PaymentIntent)


def test_invoices_with_their_payments_fit(account):
    client, built = account
    invoices = listed(client, "/v1/invoices", expand=["data.payments"])
    multi = next(i for i in invoices if i["id"] == built["invoices"][0])
    kinds = sorted((p["payment"]["type"], p["status"]) for p in multi["payments"]["data"])
    assert kinds == [
        ("charge", "paid"),
        ("payment_intent", "paid"),
        ("payment_intent", "paid"),
    ]
    assert_fits(invoices, stripe.Invoice)
    assert_fits([get(client, f"/v1/invoices/{built['invoices'][1]}", expand=["payments"])], stripe.Invoice)


def test_invoice_payments_fit(account):
    client, _ = account
    payments = listed(client, "/v1/invoice_payments", expand=["data.invoice"])
    assert {p["status"] for p in payments} == {"paid", "open", "canceled"}
    assert_fits(payments, stripe.InvoicePayment)


def test_subscriptions_fit(account):
    client, _ = account
    assert_fits(listed(client, "/v1/subscriptions", status="all"), stripe.Subscription)


def test_checkout_sessions_fit(account):
    client, _ = account
    sessions = listed(client, "/v1/checkout/sessions")
    assert any(s["client_reference_id"] and s["payment_link"] for s in sessions)
    assert_fits(sessions, stripe.checkout.Session)


def test_customers_fit_and_a_deleted_one_is_a_deleted_customer(account):
    client, built = account
    assert_fits(listed(client, "/v1/customers"), stripe.Customer)
    stub = get(client, f"/v1/customers/{built['deleted_customer']}")
    assert stub["deleted"] is True
    assert stripe_types.problems(stub, stripe.Customer, required=("id", "object", "deleted")) == []


def test_refunds_disputes_and_balance_transactions_fit(account):
    client, _ = account
    assert_fits(listed(client, "/v1/refunds"), stripe.Refund)
    disputes = listed(client, "/v1/disputes")
    assert {d["status"] for d in disputes} == {
        "needs_response",
        "won",
        "lost",
        "prevented",
        "appeal_under_review",
    }
    assert_fits(disputes, stripe.Dispute)
    transactions = listed(client, "/v1/balance_transactions")
    assert "payment_failure_refund" in {t["type"] for t in transactions}
    assert_fits(transactions, stripe.BalanceTransaction)


def test_events_fit(account):
    client, _ = account
    events = listed(client, "/v1/events")
    assert {"charge.failed", "charge.dispute.updated", "invoice_payment.paid", "customer.deleted"} <= {
        e["type"] for e in events
    }
    assert_fits(events, stripe.Event)


def test_a_connected_accounts_objects_fit(account):
    client, built = account
    charges = client.raw_request("get", "/v1/charges", stripe_account=built["account"]).data["data"]
    assert len(charges) == 1
    assert_fits(charges, stripe.Charge)


def test_the_checker_catches_drift():
    """The check itself: an unknown field, a wrong kind, a missing required field."""
    good = {"id": "cus_1", "object": "customer", "created": T0, "livemode": False}
    assert stripe_types.problems(good, stripe.Customer) == []
    assert stripe_types.problems({**good, "invoice": None}, stripe.Customer) == [
        "Customer.invoice: not a field of Customer"
    ]
    assert stripe_types.problems({**good, "created": "yesterday"}, stripe.Customer) == [
        "Customer.created: expected an integer, got 'yesterday'"
    ]
    assert stripe_types.problems({"id": "cus_1", "object": "customer", "created": T0}, stripe.Customer) == [
        "Customer.livemode: required by Customer but missing"
    ]
    assert stripe_types.problems({**good, "object": "charge"}, stripe.Customer) == [
        "Customer.object: 'charge' is not one of ['customer']"
    ]
