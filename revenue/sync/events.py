"""The events feed: what changed since the last run, read from the remembered event on.

Events are only a list of what to look at again: each change is re-read from Stripe (in batches
where a created-since listing is cheaper than one retrieve per object) and written by the same
upserts as the import window. The cursor moves after the rows its events touched are committed, so
a run that dies half-way is replayed from the old cursor; the upserts make replaying harmless.
"""

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import stripe

from revenue.models import Payment, StripeObject
from revenue.sync.attribute import attribute_payments
from revenue.sync.reader import PAGE_SIZE, created_since, id_of, ts
from revenue.sync.syncer import Syncer

EVENTS_KEPT = dt.timedelta(days=29)  # Stripe keeps 30; leave a margin for clock skew.
MAX_EVENTS_PER_RUN = 20_000

# Stripe takes at most 20 types. refund.updated covers charge.refund.updated, and
# charge.dispute.created covers funds_withdrawn (both arrive together).
EVENT_TYPES = [
    "charge.succeeded",
    "charge.captured",
    "charge.updated",
    "charge.failed",
    "charge.refunded",
    "refund.created",
    "refund.updated",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_reinstated",
    "payment_intent.succeeded",
    "invoice.paid",
    "invoice_payment.paid",
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.updated",
    "customer.deleted",
]


@dataclass
class Changes:
    """What a batch of events asks to read again: id → created time (for a created-since listing) where
    the object can be listed, else just the ids."""

    charges: dict[str, int] = field(default_factory=dict)
    refunds: dict[str, int] = field(default_factory=dict)
    disputes: set[str] = field(default_factory=set)
    invoices: dict[str, int] = field(default_factory=dict)
    sessions: dict[str, int] = field(default_factory=dict)
    subscriptions: set[str] = field(default_factory=set)
    customers: set[str] = field(default_factory=set)
    payment_intents: set[str] = field(default_factory=set)


def process_events(syncer: Syncer) -> None:
    """Apply the events after the cursor, then move the cursor to the last one applied."""
    events = read_events(syncer)
    apply_events(syncer, events)
    attribute_payments(syncer)
    if events:
        last = events[-1]
        syncer.connection.advance_cursor(last["id"], ts(last["created"]))


def newest_event(syncer: Syncer) -> tuple[str, dt.datetime | None]:
    data, _ = syncer.stripe.page("/v1/events", {"limit": 1, "types": EVENT_TYPES})
    if not data:
        return "", None
    return data[0]["id"], ts(data[0]["created"])


def read_events(syncer: Syncer) -> list[dict]:
    """Events after the cursor, oldest first."""
    connection = syncer.connection
    if connection.events_cursor:
        params = {"types": EVENT_TYPES, "ending_before": connection.events_cursor, "limit": PAGE_SIZE}
        events: list[dict] = []
        # ending_before pages walk backwards in time; each page is itself newest first.
        while True:
            data, has_more = syncer.stripe.page("/v1/events", params)
            events[:0] = list(reversed(data))
            if not has_more or not data or len(events) >= MAX_EVENTS_PER_RUN:
                break
            params = {**params, "ending_before": data[0]["id"]}
        return events
    since = connection.events_cursor_at or connection.backfill_started_at or syncer.now
    events = list(syncer.stripe.objects("/v1/events", {"types": EVENT_TYPES, **created_since(since)}))
    events.reverse()
    return events


def changes_in(events: list[dict]) -> Changes:
    changes = Changes()
    for event in events:
        obj = (event.get("data") or {}).get("object") or {}
        kind, object_id, created = (
            event.get("type", ""),
            obj.get("id", ""),
            obj.get("created") or event["created"],
        )
        if not object_id:
            continue
        if kind in ("charge.succeeded", "charge.captured", "charge.updated", "charge.failed"):
            changes.charges[object_id] = created
        elif kind in ("refund.created", "refund.updated", "charge.refund.updated"):
            changes.refunds[object_id] = created
        elif kind == "charge.refunded":
            changes.charges.setdefault(object_id, created)
        elif kind.startswith("charge.dispute."):
            changes.disputes.add(object_id)
        elif kind == "invoice.paid":
            changes.invoices[object_id] = created
        elif kind == "invoice_payment.paid":
            invoice_id = id_of(obj.get("invoice"))
            if invoice_id:
                changes.invoices.setdefault(invoice_id, event["created"])
        elif kind.startswith("checkout.session."):
            changes.sessions[object_id] = created
        elif kind.startswith("customer.subscription."):
            changes.subscriptions.add(object_id)
        elif kind in ("customer.updated", "customer.deleted"):
            changes.customers.add(object_id)
        elif kind == "payment_intent.succeeded":
            changes.payment_intents.add(object_id)
    return changes


def apply_events(syncer: Syncer, events: list[dict]) -> None:
    changes = changes_in(events)
    cache, writer, site = syncer.cache, syncer.writer, syncer.connection.site
    # Invoices by id (a recent batch by one listing): a net-30 invoice paid today is not re-listed
    # with everything created since.
    _fetch_changed(syncer, "/v1/invoices", changes.invoices, ["payments"], _store_invoice(cache))
    if changes.sessions:
        cache.load_checkout_sessions(ts(min(changes.sessions.values())) - dt.timedelta(minutes=5))
    _fetch_changed(
        syncer,
        "/v1/charges",
        changes.charges,
        ["balance_transaction", "payment_intent"],
        writer.upsert_charge,
    )
    _fetch_changed(syncer, "/v1/refunds", changes.refunds, ["balance_transaction"], writer.upsert_refund)
    for dispute_id in sorted(changes.disputes):
        writer.upsert_dispute(syncer.stripe.get(f"/v1/disputes/{dispute_id}", {}))
    for subscription_id in sorted(changes.subscriptions):
        cache.refresh(subscription_id, StripeObject.Type.SUBSCRIPTION)
        writer.touched.update(
            Payment.objects.filter(site=site, subscription=subscription_id).values_list("pk", flat=True)
        )
    for customer_id in sorted(changes.customers):
        cache.refresh(customer_id, StripeObject.Type.CUSTOMER)
        writer.touched.update(
            Payment.objects.filter(site=site, customer=customer_id).values_list("pk", flat=True)
        )
    for pi_id in sorted(changes.payment_intents):
        if not StripeObject.objects.filter(connection=syncer.connection, stripe_id=pi_id).exists():
            cache.refresh(pi_id, StripeObject.Type.PAYMENT_INTENT)


def _store_invoice(cache) -> Callable[[dict], object]:
    return lambda invoice: cache.store_invoices([invoice])


def _fetch_changed(
    syncer: Syncer, path: str, wanted: dict[str, int], expand: list[str], upsert: Callable[[dict], object]
) -> None:
    """Fetch changed objects: a created-since listing when that is cheaper, else one by one."""
    if not wanted:
        return
    missing = set(wanted)
    recent = {object_id for object_id, created in wanted.items() if created >= syncer.now.timestamp() - 86400}
    if len(recent) > 2:
        since = ts(min(wanted[object_id] for object_id in recent)) - dt.timedelta(minutes=5)
        for obj in syncer.stripe.objects(
            path, {**created_since(since), "expand": [f"data.{name}" for name in expand]}
        ):
            if obj["id"] in missing:
                upsert(obj)
                missing.discard(obj["id"])
    for object_id in sorted(missing):
        try:
            obj = syncer.stripe.get(f"{path}/{object_id}", {"expand": expand})
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                continue
            raise
        upsert(obj)
