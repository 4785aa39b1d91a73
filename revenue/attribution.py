"""Which page view produced a payment: the first ``humblytics_view_id`` in a fixed precedence.

PaymentIntent, then Invoice, then Subscription (its live metadata, not the invoice's frozen
snapshot), then Checkout Session, then Customer. Subscription- and customer-level ids therefore
apply to every renewal and later payment that carries no more specific id. A Checkout Session with no
tag of its own counts its ``client_reference_id`` when that is a view the tracker saw (Payment Links
carry it there). Only when none of the five has an id is the Charge's own metadata consulted.
"""

import re
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
# Consulted only when none of the five objects has an id: Charges-API payments and some debits
# have no PaymentIntent, and their tag lives on the Charge.
FALLBACK = Payment.Source.CHARGE
MAX_VIEW_ID_LENGTH = 255
# Text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates from JSON escapes).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# Stripe's rule for Payment Link client_reference_id: letters, digits, dashes, underscores, ≤ 200.
CLIENT_REFERENCE_RE = re.compile(r"^[A-Za-z0-9_-]{1,200}$")


@dataclass(frozen=True)
class Found:
    view_id: str
    source: str


def first_view_id(candidates: dict[str, Callable[[], str]]) -> Found | None:
    """Walk the precedence, then the fallback; each candidate is a thunk so later objects are only
    looked up if needed."""
    for source in (*PRECEDENCE, FALLBACK):
        lookup = candidates.get(source)
        if lookup is None:
            continue
        view_id = (lookup() or "").strip()
        if view_id:
            return Found(view_id=view_id, source=source)
    return None


def clean_view_id(metadata: dict | None) -> str:
    return checked_view_id(metadata)[0]


def checked_view_id(metadata: dict | None) -> tuple[str, bool]:
    """The metadata's view id as we can store it, and whether the raw value was bad.

    NUL bytes and lone surrogates are removed; a value longer than any view id is skipped (a
    truncated id could only ever match the wrong view). Bad values never stop a sync.
    """
    if not metadata:
        return "", False
    value = metadata.get("humblytics_view_id")
    if value is None:
        return "", False
    if not isinstance(value, str):
        return "", True
    cleaned = _UNSTORABLE.sub("", value).strip()
    if len(cleaned) > MAX_VIEW_ID_LENGTH:
        return "", True
    return cleaned, cleaned != value.strip()


def clean_client_reference(value) -> str:
    """A Checkout Session's client_reference_id when it could be a view id, else ''."""
    if isinstance(value, str) and CLIENT_REFERENCE_RE.match(value):
        return value
    return ""


def link(payment: Payment, objects: "ObjectSource") -> None:
    """Fill in the invoice, subscription and checkout session the cached objects tie to this payment.

    The invoice comes from the paid InvoicePayment naming the payment's PaymentIntent, or its charge
    when it has none (Charges-API payments).
    """
    if not payment.invoice:
        if payment.payment_intent:
            invoice = objects.invoice_for_payment_intent(payment.payment_intent)
        else:
            invoice = objects.invoice_for_charge(payment.stripe_id)
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
            Payment.Source.CHARGE: lambda: payment.charge_view_id,
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
    """Read access to cached Stripe objects, fetching a subscription, customer, PaymentIntent or invoice
    on a cache miss (or when its row is marked for refresh). ``preload`` reads everything a batch of
    payments needs in a few queries."""

    FETCHABLE = (
        StripeObject.Type.SUBSCRIPTION,
        StripeObject.Type.CUSTOMER,
        StripeObject.Type.PAYMENT_INTENT,
        StripeObject.Type.INVOICE,
    )
    _SHARED = (
        "_memo",
        "_invoice_by_pi",
        "_invoice_by_charge",
        "_session_by_pi",
        "_session_by_sub",
        "_preloaded",
        "known_references",
    )

    def __init__(self, connection, fetch: Callable[[str, str], StripeObject | None] | None = None):
        self.connection = connection
        self.fetch = fetch
        self._memo: dict[str, StripeObject | None] = {}
        self._invoice_by_pi: dict[str, str] = {}
        self._invoice_by_charge: dict[str, str] = {}
        self._session_by_pi: dict[str, StripeObject] = {}
        self._session_by_sub: dict[str, StripeObject] = {}
        self._preloaded = False
        # Client reference ids of checkout sessions that are views the tracker saw (set by the caller).
        self.known_references: set[str] = set()

    def without_fetching(self) -> "ObjectSource":
        """A view of the same memory that never calls Stripe (to plan batched fetches)."""
        clone = ObjectSource(self.connection)
        for name in self._SHARED:
            setattr(clone, name, getattr(self, name))
        return clone

    def remember(self, row: StripeObject) -> None:
        self._memo[row.stripe_id] = row
        if row.type == StripeObject.Type.INVOICE_PAYMENT:
            if row.payment_intent:
                self._invoice_by_pi.setdefault(row.payment_intent, row.invoice)
            if row.charge:
                self._invoice_by_charge.setdefault(row.charge, row.invoice)
        elif row.type == StripeObject.Type.INVOICE and row.payment_intent:
            # Rows cached before invoice payments were kept one by one.
            self._invoice_by_pi.setdefault(row.payment_intent, row.stripe_id)
        elif row.type == StripeObject.Type.CHECKOUT_SESSION:
            if row.payment_intent:
                self._session_by_pi.setdefault(row.payment_intent, row)
            if row.subscription:
                self._session_by_sub.setdefault(row.subscription, row)

    def preload(self, payments: list[Payment]) -> None:
        ids: set[str] = set()
        pis = {payment.payment_intent for payment in payments if payment.payment_intent}
        bare_charges = {payment.stripe_id for payment in payments if not payment.payment_intent}
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
        rows = StripeObject.objects.filter(connection=self.connection)
        self._load(rows, "stripe_id", ids)
        linked = rows.filter(
            type__in=[
                StripeObject.Type.INVOICE_PAYMENT,
                StripeObject.Type.INVOICE,
                StripeObject.Type.CHECKOUT_SESSION,
            ]
        ).order_by("fetched_at", "pk")
        self._load(linked, "payment_intent", pis)
        self._load(linked.filter(type=StripeObject.Type.INVOICE_PAYMENT), "charge", bare_charges)
        subscriptions = {
            row.subscription for row in self._memo.values() if row is not None and row.subscription
        }
        subscriptions.update(p.subscription for p in payments if p.subscription)
        self._load(rows.filter(type=StripeObject.Type.CHECKOUT_SESSION), "subscription", subscriptions)
        # Invoices, subscriptions and customers found through the rows loaded just now.
        discovered = {
            value
            for row in list(self._memo.values())
            if row is not None
            for value in (row.subscription, row.customer, row.invoice)
            if value and value not in self._memo
        }
        self._load(rows, "stripe_id", discovered)
        discovered = {
            value
            for row in list(self._memo.values())
            if row is not None
            for value in (row.subscription, row.customer)
            if value and value not in self._memo
        }
        self._load(rows, "stripe_id", discovered)
        for stripe_id in ids | discovered:
            self._memo.setdefault(stripe_id, None)
        self._preloaded = True

    def _load(self, queryset, field: str, values: set[str]) -> None:
        for chunk in _chunks(sorted(values)):
            for row in queryset.filter(**{f"{field}__in": chunk}):
                self.remember(row)

    def get(self, stripe_id: str, object_type: str) -> StripeObject | None:
        if not stripe_id:
            return None
        can_fetch = self.fetch is not None and object_type in self.FETCHABLE
        cached = self._memo.get(stripe_id)
        if cached is not None and not (cached.needs_refresh and can_fetch):
            return cached
        if cached is None and stripe_id in self._memo and not can_fetch:
            return None
        if cached is None:
            cached = StripeObject.objects.filter(connection=self.connection, stripe_id=stripe_id).first()
        if can_fetch and (cached is None or cached.needs_refresh):
            # A row marked for refresh keeps its tag if Stripe no longer has the object.
            fetched = self.fetch(stripe_id, object_type)
            if fetched is None and cached is not None:
                cached.needs_refresh = False
            cached = fetched or cached
        if cached is not None:
            self.remember(cached)
        else:
            self._memo[stripe_id] = None
        return cached

    def view_id(self, stripe_id: str, object_type: str) -> str:
        obj = self.get(stripe_id, object_type)
        if obj is None:
            return ""
        if not obj.view_id and obj.client_reference_id in self.known_references:
            return obj.client_reference_id
        return obj.view_id

    def client_references(self) -> set[str]:
        return {
            row.client_reference_id
            for row in self._memo.values()
            if row is not None and row.client_reference_id
        }

    def invoice_for_payment_intent(self, payment_intent: str) -> StripeObject | None:
        return self._invoice_for("payment_intent", payment_intent, self._invoice_by_pi)

    def invoice_for_charge(self, charge: str) -> StripeObject | None:
        return self._invoice_for("charge", charge, self._invoice_by_charge)

    def _invoice_for(self, field: str, value: str, index: dict[str, str]) -> StripeObject | None:
        if not value:
            return None
        if value not in index and not self._preloaded:
            rows = StripeObject.objects.filter(
                connection=self.connection, type=StripeObject.Type.INVOICE_PAYMENT, **{field: value}
            )
            row = rows.order_by("fetched_at", "pk").first()
            if row is None and field == "payment_intent":
                row = (
                    StripeObject.objects.filter(
                        connection=self.connection, type=StripeObject.Type.INVOICE, payment_intent=value
                    )
                    .order_by("fetched_at", "pk")
                    .first()
                )
            if row is not None:
                self.remember(row)
        invoice_id = index.get(value)
        return self.get(invoice_id, StripeObject.Type.INVOICE) if invoice_id else None

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
