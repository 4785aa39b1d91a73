"""The Stripe object cache: what attribution needs of PaymentIntents, invoices (and each of their paid
InvoicePayments), subscriptions, checkout sessions and customers, kept as ``StripeObject`` rows.

Only our own metadata key is kept, never the rest of the merchant's metadata. Rows are upserted by
Stripe id, in a few queries per page. Subscriptions, customers, PaymentIntents and invoices are
fetched by id on a cache miss; invoices and checkout sessions are otherwise listed by ``created``.
A metadata value we cannot store (NUL, lone surrogate, over-long) is cleaned or skipped, and counted
once per object on the run.
"""

import datetime as dt
import logging

import stripe
from django.db import transaction

from revenue import attribution
from revenue.models import StripeConnection, StripeObject
from revenue.sync.reader import StripeReader, created_since, id_of
from revenue.sync.rows import update_rows

logger = logging.getLogger(__name__)

# How far before a charge its checkout session may have been created.
LINK_MARGIN = dt.timedelta(days=2)
# How far before a charge its invoice may have been created: net-30 terms plus a month of dunning.
INVOICE_LOOKBACK = dt.timedelta(days=60)

OBJECT_FIELDS = (
    "type",
    "view_id",
    "customer",
    "subscription",
    "payment_intent",
    "charge",
    "invoice",
    "client_reference_id",
    "is_deleted",
    "needs_refresh",
    "fetched_at",
)
FETCH_PATHS = {
    StripeObject.Type.SUBSCRIPTION: "/v1/subscriptions",
    StripeObject.Type.CUSTOMER: "/v1/customers",
    StripeObject.Type.PAYMENT_INTENT: "/v1/payment_intents",
    StripeObject.Type.INVOICE: "/v1/invoices",
}
FETCH_PARAMS = {StripeObject.Type.INVOICE: {"expand": ["payments"]}}


def object_fields(obj: dict, object_type: str, now: dt.datetime) -> dict:
    fields = {
        "type": object_type,
        "view_id": attribution.clean_view_id(obj.get("metadata")),
        "customer": id_of(obj.get("customer")),
        "subscription": "",
        "payment_intent": "",
        "charge": "",
        "invoice": "",
        "client_reference_id": "",
        "is_deleted": bool(obj.get("deleted")),
        "needs_refresh": False,
        "fetched_at": now,
    }
    if object_type == StripeObject.Type.INVOICE:
        parent = obj.get("parent") or {}
        details = parent.get("subscription_details") or {}
        fields["subscription"] = id_of(details.get("subscription"))
    elif object_type == StripeObject.Type.INVOICE_PAYMENT:
        payment = obj.get("payment") or {}
        fields["payment_intent"] = id_of(payment.get("payment_intent"))
        fields["charge"] = id_of(payment.get("charge"))
        fields["invoice"] = id_of(obj.get("invoice"))
    elif object_type == StripeObject.Type.CHECKOUT_SESSION:
        fields["payment_intent"] = id_of(obj.get("payment_intent"))
        fields["subscription"] = id_of(obj.get("subscription"))
        fields["client_reference_id"] = attribution.clean_client_reference(obj.get("client_reference_id"))
    return fields


class ObjectCache:
    """The cached rows, and ``source``: attribution's read access to them, which fetches on a miss."""

    def __init__(self, connection: StripeConnection, stripe_reader: StripeReader, now: dt.datetime):
        self.connection = connection
        self.stripe = stripe_reader
        self.now = now
        self.source = attribution.ObjectSource(connection, fetch=self.fetch)
        self.skipped: set[str] = set()

    def check_metadata(self, obj: dict) -> None:
        """Count (once per object and run) a view id we had to clean or skip; never raise."""
        _, bad = attribution.checked_view_id(obj.get("metadata"))
        if bad and obj["id"] not in self.skipped:
            self.skipped.add(obj["id"])
            self.stripe.run.skipped_values = len(self.skipped)
            logger.warning(
                "Stripe %s: humblytics_view_id cannot be stored as is; cleaned or ignored", obj["id"]
            )

    def store(self, objs: list[dict], object_type: str) -> list[StripeObject]:
        """Remember what attribution needs of these objects (only our metadata key), in a few queries."""
        if not objs:
            return []
        unique = {obj["id"]: obj for obj in objs}
        with transaction.atomic():
            existing = {
                row.stripe_id: row
                for row in StripeObject.objects.select_for_update().filter(
                    connection=self.connection, stripe_id__in=list(unique)
                )
            }
            new, changed = [], []
            for stripe_id in sorted(unique):
                obj = unique[stripe_id]
                self.check_metadata(obj)
                fields = object_fields(obj, object_type, self.now)
                row = existing.get(stripe_id)
                if obj.get("deleted") and row is not None:
                    # A deleted customer comes back without metadata: keep the id we saw before.
                    fields["view_id"], fields["customer"] = row.view_id, row.customer
                if row is None:
                    row = StripeObject(connection=self.connection, stripe_id=stripe_id, **fields)
                    new.append(row)
                else:
                    for key, value in fields.items():
                        setattr(row, key, value)
                    changed.append(row)
                self.source.remember(row)
            StripeObject.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
            update_rows(StripeObject, changed, OBJECT_FIELDS)
        return new + changed

    def fetch(self, stripe_id: str, object_type: str) -> StripeObject | None:
        """Retrieve one subscription, customer, PaymentIntent or invoice (with its payments) and cache
        it; None if Stripe has none (a row we had keeps its tag, and is not asked for again)."""
        path = f"{FETCH_PATHS[object_type]}/{stripe_id}"
        try:
            obj = self.stripe.get(path, FETCH_PARAMS.get(object_type, {}))
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                StripeObject.objects.filter(
                    connection=self.connection, stripe_id=stripe_id, needs_refresh=True
                ).update(needs_refresh=False)
                return None
            raise
        if object_type == StripeObject.Type.INVOICE:
            return self.store_invoices([obj])[0]
        return self.store([obj], object_type)[0]

    def store_invoices(self, invoices: list[dict]) -> list[StripeObject]:
        """Cache invoices and every paid InvoicePayment of each, paging past the embedded list."""
        payments: list[dict] = []
        for invoice in invoices:
            embedded = invoice.get("payments")
            if not isinstance(embedded, dict):
                payments.extend(self.stripe.objects("/v1/invoice_payments", {"invoice": invoice["id"]}))
                continue
            data = embedded.get("data") or []
            payments.extend(data)
            if embedded.get("has_more") and data:
                payments.extend(
                    self.stripe.objects(
                        "/v1/invoice_payments", {"invoice": invoice["id"], "starting_after": data[-1]["id"]}
                    )
                )
        rows = self.store(invoices, StripeObject.Type.INVOICE)
        # Open and canceled attempts pay nothing: only a paid InvoicePayment links a charge.
        self.store([p for p in payments if p.get("status") == "paid"], StripeObject.Type.INVOICE_PAYMENT)
        return rows

    def refresh(self, stripe_id: str, object_type: str) -> None:
        self.source.forget(stripe_id)
        self.fetch(stripe_id, object_type)

    def load_invoices(self, since: dt.datetime) -> None:
        for invoices in self.stripe.pages(
            "/v1/invoices", {**created_since(since), "expand": ["data.payments"]}
        ):
            self.store_invoices(invoices)

    def load_checkout_sessions(self, since: dt.datetime) -> None:
        for sessions in self.stripe.pages(
            "/v1/checkout/sessions", {**created_since(since), "status": "complete"}
        ):
            self.store(sessions, StripeObject.Type.CHECKOUT_SESSION)

    def refresh_subscriptions_and_customers(self) -> None:
        """Mark cached subscriptions and customers to be fetched again when next needed.

        Rows are never dropped: until a fetch answers, and if it finds the object deleted or gone,
        the tag we saw still counts (a deleted customer comes back without metadata).
        """
        StripeObject.objects.filter(
            connection=self.connection,
            type__in=[StripeObject.Type.SUBSCRIPTION, StripeObject.Type.CUSTOMER],
            is_deleted=False,
        ).update(needs_refresh=True)
        self.source = attribution.ObjectSource(self.connection, fetch=self.fetch)
