"""The Stripe object cache: what attribution needs of PaymentIntents, invoices, subscriptions,
checkout sessions and customers, kept as ``StripeObject`` rows.

Only our own metadata key is kept, never the rest of the merchant's metadata. Rows are upserted by
Stripe id, in a few queries per page. Subscriptions, customers and PaymentIntents are fetched one by
one on a cache miss; invoices and checkout sessions are only ever listed by ``created``.
"""

import datetime as dt

import stripe
from django.db import transaction

from revenue import attribution
from revenue.models import StripeConnection, StripeObject
from revenue.sync.reader import StripeReader, created_since, id_of
from revenue.sync.rows import update_rows

# How far before a charge its invoice or checkout session may have been created.
LINK_MARGIN = dt.timedelta(days=2)

OBJECT_FIELDS = (
    "type",
    "view_id",
    "customer",
    "subscription",
    "payment_intent",
    "is_deleted",
    "fetched_at",
)
FETCH_PATHS = {
    StripeObject.Type.SUBSCRIPTION: "/v1/subscriptions",
    StripeObject.Type.CUSTOMER: "/v1/customers",
    StripeObject.Type.PAYMENT_INTENT: "/v1/payment_intents",
}


def object_fields(obj: dict, object_type: str, now: dt.datetime) -> dict:
    fields = {
        "type": object_type,
        "view_id": attribution.clean_view_id(obj.get("metadata")),
        "customer": id_of(obj.get("customer")),
        "subscription": "",
        "payment_intent": "",
        "is_deleted": bool(obj.get("deleted")),
        "fetched_at": now,
    }
    if object_type == StripeObject.Type.INVOICE:
        parent = obj.get("parent") or {}
        details = parent.get("subscription_details") or {}
        fields["subscription"] = id_of(details.get("subscription"))
        payments = (obj.get("payments") or {}).get("data") or []
        pis = [
            id_of((p.get("payment") or {}).get("payment_intent"))
            for p in payments
            if (p.get("payment") or {}).get("type") == "payment_intent"
        ]
        fields["payment_intent"] = next((pi for pi in pis if pi), "")
    elif object_type == StripeObject.Type.CHECKOUT_SESSION:
        fields["payment_intent"] = id_of(obj.get("payment_intent"))
        fields["subscription"] = id_of(obj.get("subscription"))
    return fields


class ObjectCache:
    """The cached rows, and ``source``: attribution's read access to them, which fetches on a miss."""

    def __init__(self, connection: StripeConnection, stripe_reader: StripeReader, now: dt.datetime):
        self.connection = connection
        self.stripe = stripe_reader
        self.now = now
        self.source = attribution.ObjectSource(connection, fetch=self.fetch)

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
        """Retrieve one subscription, customer or PaymentIntent and cache it; None if Stripe has none."""
        try:
            obj = self.stripe.get(f"{FETCH_PATHS[object_type]}/{stripe_id}", {})
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise
        return self.store([obj], object_type)[0]

    def refresh(self, stripe_id: str, object_type: str) -> None:
        self.source.forget(stripe_id)
        self.fetch(stripe_id, object_type)

    def load_invoices(self, since: dt.datetime) -> None:
        for invoices in self.stripe.pages(
            "/v1/invoices", {**created_since(since), "expand": ["data.payments"]}
        ):
            self.store(invoices, StripeObject.Type.INVOICE)

    def load_checkout_sessions(self, since: dt.datetime) -> None:
        for sessions in self.stripe.pages(
            "/v1/checkout/sessions", {**created_since(since), "status": "complete"}
        ):
            self.store(sessions, StripeObject.Type.CHECKOUT_SESSION)

    def forget_subscriptions_and_customers(self) -> None:
        """Drop cached subscriptions and customers, rows and memory, to be fetched again when needed.

        Deleted customers are kept: Stripe returns them without metadata, so their row is the only
        record of the id they carried.
        """
        StripeObject.objects.filter(
            connection=self.connection,
            type__in=[StripeObject.Type.SUBSCRIPTION, StripeObject.Type.CUSTOMER],
            is_deleted=False,
        ).delete()
        self.source = attribution.ObjectSource(self.connection, fetch=self.fetch)
