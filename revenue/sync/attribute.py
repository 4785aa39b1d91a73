"""Attributing what a run touched, with the Stripe objects it needs fetched in batches first.

Which view wins is decided in ``revenue.attribution``; this module decides what to attribute (every
payment the run touched, plus every payment still unattributed, since its view id may have arrived)
and how to load the objects that takes with as few calls as possible.
"""

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from revenue import attribution
from revenue.models import Payment, StripeObject
from revenue.sync.reader import PAGE_SIZE
from revenue.sync.rows import update_rows
from revenue.sync.syncer import Syncer

ATTRIBUTION_FIELDS = (
    "invoice",
    "subscription",
    "customer",
    "checkout_session",
    "view_id",
    "view_id_source",
    "unattributed_reason",
    "matched_view",
    "session",
    "updated_at",
)


def attribute_payments(syncer: Syncer) -> None:
    """Attribute what this run touched plus every payment still unattributed (ids may have arrived)."""
    connection, objects = syncer.connection, syncer.cache.source
    payments = list(
        Payment.objects.filter(connection=connection).filter(
            Q(pk__in=syncer.writer.touched) | Q(session__isnull=True)
        )
    )
    objects.preload(payments)
    _prefetch_for(syncer, payments)
    # Payment Links: a session's client_reference_id counts only when it names a view we saw.
    objects.known_references = set(attribution.views_by_id(connection.site_id, objects.client_references()))
    found = {payment.pk: attribution.resolve(payment, objects) for payment in payments}
    views = attribution.views_by_id(connection.site_id, {f.view_id for f in found.values() if f})
    changed = [payment for payment in payments if attribution.apply(payment, found[payment.pk], views)]
    now = timezone.now()
    for payment in changed:
        payment.updated_at = now
    with transaction.atomic():
        update_rows(Payment, changed, ATTRIBUTION_FIELDS)
    syncer.run.attributed += sum(1 for payment in changed if payment.session_id)


def _prefetch_for(syncer: Syncer, payments: list[Payment]) -> None:
    """Batch-load the subscriptions, then customers, that attribution will need and has not cached.

    Renewals and customer-level tags would otherwise cost one retrieve each.
    """
    dry = syncer.cache.source.without_fetching()
    pi_type, invoice_type = StripeObject.Type.PAYMENT_INTENT, StripeObject.Type.INVOICE
    subscription_type, customer_type = StripeObject.Type.SUBSCRIPTION, StripeObject.Type.CUSTOMER
    waiting: list[Payment] = []
    subscriptions: set[str] = set()
    for payment in payments:
        attribution.link(payment, dry)
        if dry.view_id(payment.payment_intent, pi_type) or dry.view_id(payment.invoice, invoice_type):
            continue
        if payment.subscription and _missing(dry, payment.subscription, subscription_type):
            subscriptions.add(payment.subscription)
        waiting.append(payment)
    _prefetch(syncer, "/v1/subscriptions", subscription_type, subscriptions, {"status": "all"})
    dry = syncer.cache.source.without_fetching()
    customers = {
        payment.customer
        for payment in waiting
        if payment.customer
        and not dry.view_id(payment.subscription, subscription_type)
        and not dry.view_id(payment.checkout_session, StripeObject.Type.CHECKOUT_SESSION)
        and _missing(dry, payment.customer, customer_type)
    }
    _prefetch(syncer, "/v1/customers", customer_type, customers, {})


def _missing(dry: attribution.ObjectSource, stripe_id: str, object_type: str) -> bool:
    row = dry.get(stripe_id, object_type)
    return row is None or row.needs_refresh


def _prefetch(syncer: Syncer, path: str, object_type: str, wanted: set[str], params: dict) -> None:
    """List newest first until every wanted id is seen, within a page budget; the rest load lazily."""
    if len(wanted) <= 3:
        return
    remaining = set(wanted)
    budget = 3 * (len(wanted) // PAGE_SIZE + 1) + 2
    params = {**params, "limit": PAGE_SIZE}
    for _ in range(budget):
        data, has_more = syncer.stripe.page(path, params)
        found = [obj for obj in data if obj["id"] in remaining]
        syncer.cache.store(found, object_type)
        remaining.difference_update(obj["id"] for obj in found)
        if not remaining or not has_more or not data:
            return
        params = {**params, "starting_after": data[-1]["id"]}
