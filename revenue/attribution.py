"""Which page view produced a payment: the first ``humblytics_view_id`` in a fixed precedence.

PaymentIntent, then Invoice, then Subscription (its live metadata, not the invoice's frozen
snapshot), then Checkout Session, then Customer. Subscription- and customer-level ids therefore
apply to every renewal and later payment that carries no more specific id.
"""

from collections.abc import Callable
from dataclasses import dataclass

from revenue.models import Payment, StripeObject
from tracking.models import View

PRECEDENCE = (
    Payment.Source.PAYMENT_INTENT,
    Payment.Source.INVOICE,
    Payment.Source.SUBSCRIPTION,
    Payment.Source.CHECKOUT_SESSION,
    Payment.Source.CUSTOMER,
)


@dataclass(frozen=True)
class Found:
    view_id: str
    source: str


def first_view_id(candidates: dict[str, Callable[[], str]]) -> Found | None:
    """Walk the precedence; each candidate is a thunk so later objects are only looked up if needed."""
    for source in PRECEDENCE:
        lookup = candidates.get(source)
        if lookup is None:
            continue
        view_id = (lookup() or "").strip()
        if view_id:
            return Found(view_id=view_id, source=source)
    return None


def clean_view_id(metadata: dict | None) -> str:
    if not metadata:
        return ""
    value = metadata.get("humblytics_view_id")
    if not isinstance(value, str):
        return ""
    return value.strip()[:255]


def link(payment: Payment, objects: "ObjectSource") -> None:
    """Fill in the invoice, subscription and checkout session the cached objects tie to this payment."""
    if not payment.invoice and payment.payment_intent:
        invoice = objects.invoice_for_payment_intent(payment.payment_intent)
        if invoice is not None:
            payment.invoice = invoice.stripe_id
            payment.subscription = payment.subscription or invoice.subscription
            payment.customer = payment.customer or invoice.customer
    if not payment.checkout_session:
        session = objects.checkout_session_for(payment.payment_intent, payment.subscription)
        if session is not None:
            payment.checkout_session = session.stripe_id
            payment.subscription = payment.subscription or session.subscription


def attribute(payment: Payment, objects: "ObjectSource") -> bool:
    """Link ``payment`` to its view (and session) or record why not. Returns True when it changed."""
    link(payment, objects)
    found = first_view_id(
        {
            Payment.Source.PAYMENT_INTENT: lambda: objects.view_id(
                payment.payment_intent, StripeObject.Type.PAYMENT_INTENT
            ),
            Payment.Source.INVOICE: lambda: objects.view_id(payment.invoice, StripeObject.Type.INVOICE),
            Payment.Source.SUBSCRIPTION: lambda: objects.view_id(
                payment.subscription, StripeObject.Type.SUBSCRIPTION
            ),
            Payment.Source.CHECKOUT_SESSION: lambda: objects.view_id(
                payment.checkout_session, StripeObject.Type.CHECKOUT_SESSION
            ),
            Payment.Source.CUSTOMER: lambda: objects.view_id(payment.customer, StripeObject.Type.CUSTOMER),
        }
    )
    before = (payment.view_id, payment.view_id_source, payment.unattributed_reason, payment.matched_view_id)
    if found is None:
        payment.view_id, payment.view_id_source = "", ""
        payment.matched_view, payment.session = None, None
        payment.unattributed_reason = Payment.Unattributed.NO_VIEW_ID
    else:
        payment.view_id, payment.view_id_source = found.view_id, found.source
        view = (
            View.objects.filter(site_id=payment.site_id, view_id=found.view_id)
            .only("id", "session_id")
            .first()
        )
        if view is None:
            payment.matched_view, payment.session = None, None
            payment.unattributed_reason = Payment.Unattributed.UNKNOWN_VIEW_ID
        else:
            payment.matched_view_id, payment.session_id = view.pk, view.session_id
            payment.unattributed_reason = ""
    after = (payment.view_id, payment.view_id_source, payment.unattributed_reason, payment.matched_view_id)
    return before != after


class ObjectSource:
    """Read access to cached Stripe objects, fetching a subscription or customer on a cache miss."""

    def __init__(self, connection, fetch: Callable[[str, str], StripeObject | None] | None = None):
        self.connection = connection
        self.fetch = fetch
        self._memo: dict[str, StripeObject | None] = {}

    def get(self, stripe_id: str, object_type: str) -> StripeObject | None:
        if not stripe_id:
            return None
        if stripe_id not in self._memo:
            cached = StripeObject.objects.filter(connection=self.connection, stripe_id=stripe_id).first()
            if (
                cached is None
                and self.fetch is not None
                and object_type
                in (
                    StripeObject.Type.SUBSCRIPTION,
                    StripeObject.Type.CUSTOMER,
                    StripeObject.Type.PAYMENT_INTENT,
                )
            ):
                cached = self.fetch(stripe_id, object_type)
            self._memo[stripe_id] = cached
        return self._memo[stripe_id]

    def view_id(self, stripe_id: str, object_type: str) -> str:
        obj = self.get(stripe_id, object_type)
        return obj.view_id if obj is not None else ""

    def invoice_for_payment_intent(self, payment_intent: str) -> StripeObject | None:
        return (
            StripeObject.objects.filter(
                connection=self.connection, type=StripeObject.Type.INVOICE, payment_intent=payment_intent
            )
            .order_by("fetched_at")
            .first()
        )

    def checkout_session_for(self, payment_intent: str, subscription: str) -> StripeObject | None:
        sessions = StripeObject.objects.filter(
            connection=self.connection, type=StripeObject.Type.CHECKOUT_SESSION
        )
        if payment_intent:
            found = sessions.filter(payment_intent=payment_intent).first()
            if found is not None:
                return found
        if subscription:
            return sessions.filter(subscription=subscription).first()
        return None

    def forget(self, stripe_id: str) -> None:
        self._memo.pop(stripe_id, None)
