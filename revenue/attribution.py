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


def resolve(payment: Payment, objects: "ObjectSource") -> Found | None:
    """Link the payment to its objects and find the first view id in precedence order."""
    link(payment, objects)
    return first_view_id(
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


def views_by_id(site_id: int, view_ids: set[str]) -> dict[str, tuple[int, int]]:
    """view id → (view pk, session pk) for the given ids on one site, in chunks."""
    found: dict[str, tuple[int, int]] = {}
    ids = sorted(view_ids)
    for start in range(0, len(ids), 500):
        rows = View.objects.filter(site_id=site_id, view_id__in=ids[start : start + 500]).values_list(
            "view_id", "pk", "session_id"
        )
        found.update({view_id: (pk, session_id) for view_id, pk, session_id in rows})
    return found


def apply(payment: Payment, found: Found | None, views: dict[str, tuple[int, int]]) -> bool:
    """Store the outcome on the payment; True when something changed (the caller saves)."""
    before = (payment.view_id, payment.view_id_source, payment.unattributed_reason, payment.matched_view_id)
    if found is None:
        payment.view_id, payment.view_id_source = "", ""
        payment.matched_view_id, payment.session_id = None, None
        payment.unattributed_reason = Payment.Unattributed.NO_VIEW_ID
    else:
        payment.view_id, payment.view_id_source = found.view_id, found.source
        match = views.get(found.view_id)
        if match is None:
            payment.matched_view_id, payment.session_id = None, None
            payment.unattributed_reason = Payment.Unattributed.UNKNOWN_VIEW_ID
        else:
            payment.matched_view_id, payment.session_id = match
            payment.unattributed_reason = ""
    after = (payment.view_id, payment.view_id_source, payment.unattributed_reason, payment.matched_view_id)
    return before != after or payment._state.adding


class ObjectSource:
    """Read access to cached Stripe objects, fetching a subscription, customer or PaymentIntent on a
    cache miss. ``preload`` reads everything a batch of payments needs in a few queries."""

    FETCHABLE = (StripeObject.Type.SUBSCRIPTION, StripeObject.Type.CUSTOMER, StripeObject.Type.PAYMENT_INTENT)

    def __init__(self, connection, fetch: Callable[[str, str], StripeObject | None] | None = None):
        self.connection = connection
        self.fetch = fetch
        self._memo: dict[str, StripeObject | None] = {}
        self._invoice_by_pi: dict[str, StripeObject] = {}
        self._session_by_pi: dict[str, StripeObject] = {}
        self._session_by_sub: dict[str, StripeObject] = {}
        self._preloaded = False

    def without_fetching(self) -> "ObjectSource":
        """A view of the same memory that never calls Stripe (to plan batched fetches)."""
        clone = ObjectSource(self.connection)
        clone._memo = self._memo
        clone._invoice_by_pi, clone._session_by_pi = self._invoice_by_pi, self._session_by_pi
        clone._session_by_sub, clone._preloaded = self._session_by_sub, self._preloaded
        return clone

    def remember(self, row: StripeObject) -> None:
        self._memo[row.stripe_id] = row
        if row.type == StripeObject.Type.INVOICE and row.payment_intent:
            self._invoice_by_pi.setdefault(row.payment_intent, row)
        elif row.type == StripeObject.Type.CHECKOUT_SESSION:
            if row.payment_intent:
                self._session_by_pi.setdefault(row.payment_intent, row)
            if row.subscription:
                self._session_by_sub.setdefault(row.subscription, row)

    def preload(self, payments: list[Payment]) -> None:
        ids: set[str] = set()
        pis: set[str] = set()
        for payment in payments:
            ids.update(
                filter(
                    None,
                    (
                        payment.payment_intent,
                        payment.invoice,
                        payment.subscription,
                        payment.checkout_session,
                        payment.customer,
                    ),
                )
            )
            if payment.payment_intent:
                pis.add(payment.payment_intent)
        rows = StripeObject.objects.filter(connection=self.connection)
        for chunk in _chunks(sorted(ids)):
            for row in rows.filter(stripe_id__in=chunk):
                self.remember(row)
        linked = rows.filter(type__in=[StripeObject.Type.INVOICE, StripeObject.Type.CHECKOUT_SESSION])
        for chunk in _chunks(sorted(pis)):
            for row in linked.filter(payment_intent__in=chunk).order_by("fetched_at", "pk"):
                self.remember(row)
        subscriptions = {
            row.subscription for row in self._memo.values() if row is not None and row.subscription
        }
        subscriptions.update(p.subscription for p in payments if p.subscription)
        for chunk in _chunks(sorted(subscriptions)):
            for row in rows.filter(type=StripeObject.Type.CHECKOUT_SESSION, subscription__in=chunk):
                self.remember(row)
        # Subscriptions and customers found through invoices and sessions loaded just now.
        discovered = {
            value
            for row in list(self._memo.values())
            if row is not None
            for value in (row.subscription, row.customer)
            if value and value not in self._memo
        }
        for chunk in _chunks(sorted(discovered)):
            for row in rows.filter(stripe_id__in=chunk):
                self.remember(row)
        ids.update(discovered)
        for stripe_id in ids:
            self._memo.setdefault(stripe_id, None)
        self._preloaded = True

    def get(self, stripe_id: str, object_type: str) -> StripeObject | None:
        if not stripe_id:
            return None
        if stripe_id not in self._memo or (self._memo[stripe_id] is None and self.fetch is not None):
            cached = self._memo.get(stripe_id)
            if cached is None and stripe_id not in self._memo:
                cached = StripeObject.objects.filter(connection=self.connection, stripe_id=stripe_id).first()
            if cached is None and self.fetch is not None and object_type in self.FETCHABLE:
                cached = self.fetch(stripe_id, object_type)
            if cached is not None:
                self.remember(cached)
            else:
                self._memo[stripe_id] = None
        return self._memo[stripe_id]

    def view_id(self, stripe_id: str, object_type: str) -> str:
        obj = self.get(stripe_id, object_type)
        return obj.view_id if obj is not None else ""

    def invoice_for_payment_intent(self, payment_intent: str) -> StripeObject | None:
        if payment_intent in self._invoice_by_pi or self._preloaded:
            return self._invoice_by_pi.get(payment_intent)
        return (
            StripeObject.objects.filter(
                connection=self.connection, type=StripeObject.Type.INVOICE, payment_intent=payment_intent
            )
            .order_by("fetched_at", "pk")
            .first()
        )

    def checkout_session_for(self, payment_intent: str, subscription: str) -> StripeObject | None:
        if payment_intent and payment_intent in self._session_by_pi:
            return self._session_by_pi[payment_intent]
        if subscription and subscription in self._session_by_sub:
            return self._session_by_sub[subscription]
        if self._preloaded:
            return None
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


def _chunks(items: list[str], size: int = 500):
    for start in range(0, len(items), size):
        yield items[start : start + size]
