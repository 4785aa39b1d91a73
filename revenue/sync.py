"""Stripe sync without webhooks.

First run: remember the newest event, then backfill N days by listing charges, refunds, disputes,
invoices (with their payments) and checkout sessions by ``created``, 100 at a time. Later runs read
the events feed from the remembered event on (``ending_before``: oldest to newest) and fetch only what
changed, in batches. Every day, and whenever the cursor is older than the 30 days Stripe keeps events,
a reconciliation re-lists the last 35 days (or the whole gap).

Every write is an upsert keyed by Stripe ids, so runs can repeat, overlap (a lock per connection
keeps them apart anyway) or die half-way without losing or doubling anything. The events cursor only
moves after the rows it covers are committed.
"""

import datetime as dt
import logging
import secrets
import time
from collections.abc import Iterator

import stripe
from django.db import connection as db
from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from humblytics.lib.encryption import DecryptionError
from revenue import attribution
from revenue.models import Dispute, Payment, Refund, StripeConnection, StripeObject, SyncRun
from revenue.stripe_client import CallCounter, build_client

logger = logging.getLogger(__name__)

PAGE_SIZE = 100
# The lease is short and renewed on every Stripe call, so a killed sync blocks the next one for
# minutes, not half an hour.
LOCK_TTL = dt.timedelta(minutes=5)
RECONCILE_EVERY = dt.timedelta(hours=24)
RECONCILE_WINDOW = dt.timedelta(days=35)
EVENTS_KEPT = dt.timedelta(days=29)  # Stripe keeps 30; leave a margin for clock skew.
# How far before a charge its invoice or checkout session may have been created.
LINK_MARGIN = dt.timedelta(days=2)
MAX_EVENTS_PER_RUN = 20_000

EVENT_TYPES = [
    "charge.succeeded",
    "charge.captured",
    "charge.refunded",
    "charge.refund.updated",
    "refund.created",
    "refund.updated",
    "charge.dispute.created",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "payment_intent.succeeded",
    "invoice.paid",
    "invoice_payment.paid",
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.updated",
]


def _ts(value: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, tz=dt.UTC) if value else None


def _id(value) -> str:
    """An expandable field: an id string, an expanded object (dict) or null."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.get("id") or ""


def _update_rows(model, rows: list, fields: tuple[str, ...]) -> None:
    """Save ``fields`` of each row: one prepared UPDATE run with executemany (psycopg pipelines it).

    Django's bulk_update builds a CASE per field and row, and a QuerySet.update per row spends more
    time building SQL than the database spends running it.
    """
    if not rows:
        return
    model_fields = [model._meta.get_field(name) for name in fields]
    quote = db.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in model_fields)
    sql = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"  # noqa: S608
    params = [
        [field.get_db_prep_save(getattr(row, field.attname), db) for field in model_fields] + [row.pk]
        for row in rows
    ]
    with db.cursor() as cursor:
        cursor.executemany(sql, params)


class Syncer:
    def __init__(
        self, connection: StripeConnection, client: stripe.StripeClient, run: SyncRun, now: dt.datetime
    ):
        self.connection = connection
        self.client = client
        self.run = run
        self.now = now
        self.touched: set[int] = set()
        self.objects = attribution.ObjectSource(connection, fetch=self._fetch_object)
        self.lock_token = ""
        self._lease_renewed = time.monotonic()

    def _renew_lease(self) -> None:
        if self.lock_token and time.monotonic() - self._lease_renewed > 30:
            StripeConnection.objects.filter(pk=self.connection.pk, lock_token=self.lock_token).update(
                locked_until=timezone.now() + LOCK_TTL
            )
            self._lease_renewed = time.monotonic()

    # ---- listing -------------------------------------------------------------------------------------
    def _get(self, path: str, params: dict) -> dict:
        """One GET through the official client, kept as plain JSON: a page of 100 expanded charges
        costs more to turn into StripeObjects than everything else the sync does with it."""
        self._renew_lease()
        response = self.client.raw_request("get", path, **params)
        return response.data

    def _page(self, path: str, params: dict) -> tuple[list[dict], bool]:
        body = self._get(path, params)
        self.run.pages += 1
        data = list(body.get("data") or [])
        self.run.objects_seen += len(data)
        return data, bool(body.get("has_more"))

    def _list(self, path: str, params: dict) -> Iterator[dict]:
        """Newest first, 100 per page, following ``starting_after``; counts pages."""
        for page in self._pages(path, params):
            yield from page

    def _created(self, since: dt.datetime) -> dict:
        return {"created": {"gte": int(since.timestamp())}}

    # ---- upserts -------------------------------------------------------------------------------------
    PAYMENT_FIELDS = (
        "connection",
        "livemode",
        "created_at",
        "amount",
        "currency",
        "amount_refunded",
        "settlement_amount",
        "settlement_fee",
        "settlement_currency",
        "payment_intent",
        "customer",
        "refunded",
        "net",
        "status",
        "updated_at",
    )

    def _charge_fields(self, charge: dict) -> dict:
        bt = charge.get("balance_transaction")
        amount = charge.get("amount_captured") or charge.get("amount") or 0
        currency = (charge.get("currency") or "").lower()
        if isinstance(bt, dict):
            settlement_amount, fee, settlement_currency = (
                bt.get("amount", 0),
                bt.get("fee", 0),
                bt.get("currency"),
            )
        else:
            # Pending balance transaction: settle later; keep presentment figures until then.
            settlement_amount, fee, settlement_currency = amount, 0, currency
        return {
            "connection": self.connection,
            "livemode": bool(charge.get("livemode")),
            "created_at": _ts(charge["created"]),
            "amount": amount,
            "currency": currency,
            "amount_refunded": charge.get("amount_refunded") or 0,
            "settlement_amount": settlement_amount,
            "settlement_fee": fee,
            "settlement_currency": (settlement_currency or currency).lower(),
            "payment_intent": _id(charge.get("payment_intent")),
            "customer": _id(charge.get("customer")),
        }

    def upsert_charges(self, charges: list[dict]) -> list[Payment]:
        """Upsert a page of charges in a few queries (keyed by charge id, so repeating is harmless)."""
        charges = [c for c in charges if c.get("status") == "succeeded" and c.get("captured")]
        if not charges:
            return []
        intents = [c["payment_intent"] for c in charges if isinstance(c.get("payment_intent"), dict)]
        if intents:
            self.cache_objects(intents, StripeObject.Type.PAYMENT_INTENT)
        site = self.connection.site
        ids = [c["id"] for c in charges]
        with transaction.atomic():
            existing = {
                p.stripe_id: p
                for p in Payment.objects.select_for_update().filter(site=site, stripe_id__in=ids)
            }
            settled_elsewhere = set(
                Refund.objects.filter(payment__in=existing.values()).values_list("payment_id", flat=True)
            ) | set(
                Dispute.objects.filter(payment__in=existing.values()).values_list("payment_id", flat=True)
            )
            new, changed = [], []
            for charge in charges:
                fields = self._charge_fields(charge)
                payment = existing.get(charge["id"])
                if payment is None:
                    payment = Payment(site=site, stripe_id=charge["id"], **fields)
                    payment.refunded, payment.net, payment.status = (
                        0,
                        fields["settlement_amount"],
                        Payment.Status.SUCCEEDED,
                    )
                    new.append(payment)
                    existing[charge["id"]] = payment
                    continue
                for key, value in fields.items():
                    setattr(payment, key, value)
                payment.updated_at = self.now
                if payment.pk in settled_elsewhere:
                    self._settle(payment)
                else:
                    payment.refunded, payment.net, payment.status = (
                        0,
                        payment.settlement_amount,
                        Payment.Status.SUCCEEDED,
                    )
                changed.append(payment)
            Payment.objects.bulk_create(new, batch_size=500)
            _update_rows(Payment, changed, self.PAYMENT_FIELDS)
        if any(p.pk is None for p in new):
            # Backends without RETURNING on bulk inserts: read the ids back.
            ids_by_charge = dict(
                Payment.objects.filter(site=site, stripe_id__in=[p.stripe_id for p in new]).values_list(
                    "stripe_id", "pk"
                )
            )
            for payment in new:
                payment.pk = ids_by_charge[payment.stripe_id]
        self.run.payments_new += len(new)
        self.run.payments_updated += sum(1 for p in changed if p.pk not in self.touched)
        self.touched.update(p.pk for p in new)
        self.touched.update(p.pk for p in changed)
        return new + changed

    def upsert_charge(self, charge: dict) -> Payment | None:
        payments = self.upsert_charges([charge])
        return payments[0] if payments else None

    def _settle(self, payment: Payment) -> None:
        """Recompute refunded, net and status from the refund and dispute rows."""
        if payment.pk is None:
            return
        refunds = (
            Refund.objects.filter(payment=payment, status="succeeded").aggregate(s=Sum("settlement_amount"))[
                "s"
            ]
            or 0
        )
        disputes = list(Dispute.objects.filter(payment=payment))
        lost = sum(d.settlement_amount for d in disputes if d.is_lost())
        payment.refunded = min(payment.settlement_amount, refunds + lost)
        payment.net = payment.settlement_amount - payment.refunded
        open_dispute = any(d.status not in ("won", "lost", "warning_closed", "prevented") for d in disputes)
        if lost:
            payment.status = Payment.Status.DISPUTE_LOST
        elif open_dispute:
            payment.status = Payment.Status.DISPUTED
        elif refunds and refunds >= payment.settlement_amount:
            payment.status = Payment.Status.REFUNDED
        elif refunds:
            payment.status = Payment.Status.PARTIALLY_REFUNDED
        else:
            payment.status = Payment.Status.SUCCEEDED

    def _payment_for_charge(self, charge_id: str) -> Payment | None:
        return Payment.objects.filter(site=self.connection.site, stripe_id=charge_id).first()

    def _proportional(self, payment: Payment, amount: int) -> int:
        if not payment.amount:
            return 0
        return round(payment.settlement_amount * amount / payment.amount)

    def upsert_refund(self, refund: dict) -> None:
        payment = self._payment_for_charge(_id(refund.get("charge")))
        if payment is None:
            return
        bt = refund.get("balance_transaction")
        if isinstance(bt, dict) and bt.get("currency") == payment.settlement_currency:
            settlement = abs(bt.get("amount", 0))
        else:
            settlement = self._proportional(payment, refund.get("amount") or 0)
        with transaction.atomic():
            Refund.objects.update_or_create(
                payment=payment,
                stripe_id=refund["id"],
                defaults={
                    "created_at": _ts(refund["created"]),
                    "amount": refund.get("amount") or 0,
                    "currency": (refund.get("currency") or payment.currency).lower(),
                    "settlement_amount": settlement,
                    "status": refund.get("status") or "",
                },
            )
            payment = Payment.objects.select_for_update().get(pk=payment.pk)
            self._settle(payment)
            payment.save()
        self.run.refunds_seen += 1
        self.touched.add(payment.pk)

    def upsert_dispute(self, dispute: dict) -> None:
        payment = self._payment_for_charge(_id(dispute.get("charge")))
        if payment is None:
            return
        withdrawn = sum(
            -bt.get("amount", 0)
            for bt in dispute.get("balance_transactions") or []
            if isinstance(bt, dict) and bt.get("currency") == payment.settlement_currency
        )
        settlement = withdrawn if withdrawn > 0 else self._proportional(payment, dispute.get("amount") or 0)
        with transaction.atomic():
            Dispute.objects.update_or_create(
                payment=payment,
                stripe_id=dispute["id"],
                defaults={
                    "created_at": _ts(dispute["created"]),
                    "amount": dispute.get("amount") or 0,
                    "currency": (dispute.get("currency") or payment.currency).lower(),
                    "settlement_amount": min(settlement, payment.settlement_amount),
                    "status": dispute.get("status") or "",
                },
            )
            payment = Payment.objects.select_for_update().get(pk=payment.pk)
            self._settle(payment)
            payment.save()
        self.run.disputes_seen += 1
        self.touched.add(payment.pk)

    def _object_fields(self, obj: dict, object_type: str) -> dict:
        fields = {
            "type": object_type,
            "view_id": attribution.clean_view_id(obj.get("metadata")),
            "customer": _id(obj.get("customer")),
            "subscription": "",
            "payment_intent": "",
            "is_deleted": bool(obj.get("deleted")),
            "fetched_at": self.now,
        }
        if object_type == StripeObject.Type.INVOICE:
            parent = obj.get("parent") or {}
            details = parent.get("subscription_details") or {}
            fields["subscription"] = _id(details.get("subscription"))
            payments = (obj.get("payments") or {}).get("data") or []
            pis = [
                _id((p.get("payment") or {}).get("payment_intent"))
                for p in payments
                if (p.get("payment") or {}).get("type") == "payment_intent"
            ]
            fields["payment_intent"] = next((pi for pi in pis if pi), "")
        elif object_type == StripeObject.Type.CHECKOUT_SESSION:
            fields["payment_intent"] = _id(obj.get("payment_intent"))
            fields["subscription"] = _id(obj.get("subscription"))
        return fields

    OBJECT_FIELDS = (
        "type",
        "view_id",
        "customer",
        "subscription",
        "payment_intent",
        "is_deleted",
        "fetched_at",
    )

    def cache_objects(self, objs: list[dict], object_type: str) -> list[StripeObject]:
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
                fields = self._object_fields(obj, object_type)
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
                self.objects.remember(row)
            StripeObject.objects.bulk_create(new, batch_size=500, ignore_conflicts=True)
            _update_rows(StripeObject, changed, self.OBJECT_FIELDS)
        return new + changed

    def cache_object(self, obj: dict, object_type: str) -> StripeObject:
        return self.cache_objects([obj], object_type)[0]

    def _fetch_object(self, stripe_id: str, object_type: str) -> StripeObject | None:
        paths = {
            StripeObject.Type.SUBSCRIPTION: "/v1/subscriptions",
            StripeObject.Type.CUSTOMER: "/v1/customers",
            StripeObject.Type.PAYMENT_INTENT: "/v1/payment_intents",
        }
        try:
            obj = self._get(f"{paths[object_type]}/{stripe_id}", {})
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise
        return self.cache_object(obj, object_type)

    # ---- phases --------------------------------------------------------------------------------------
    def _pages(self, path: str, params: dict) -> Iterator[list[dict]]:
        """Newest first, a page (up to 100 objects) at a time, following ``starting_after``."""
        params = {**params, "limit": PAGE_SIZE}
        while True:
            data, has_more = self._page(path, params)
            if data:
                yield data
            if not has_more or not data:
                return
            params = {**params, "starting_after": data[-1]["id"]}

    def import_window(self, since: dt.datetime, *, track_backfill: bool = False) -> None:
        """List everything created since ``since`` and upsert it (batch: one call per 100 objects)."""
        for charges in self._pages(
            "/v1/charges",
            {**self._created(since), "expand": ["data.balance_transaction", "data.payment_intent"]},
        ):
            self.upsert_charges(charges)
            if track_backfill:
                reached = min(_ts(charge["created"]) for charge in charges)
                if (
                    self.connection.backfill_reached_at is None
                    or reached < self.connection.backfill_reached_at
                ):
                    self.connection.backfill_reached_at = reached
                    StripeConnection.objects.filter(pk=self.connection.pk).update(backfill_reached_at=reached)
        link_since = since - LINK_MARGIN
        for invoices in self._pages(
            "/v1/invoices", {**self._created(link_since), "expand": ["data.payments"]}
        ):
            self.cache_objects(invoices, StripeObject.Type.INVOICE)
        for sessions in self._pages(
            "/v1/checkout/sessions", {**self._created(link_since), "status": "complete"}
        ):
            self.cache_objects(sessions, StripeObject.Type.CHECKOUT_SESSION)
        for refund in self._list(
            "/v1/refunds", {**self._created(since), "expand": ["data.balance_transaction"]}
        ):
            self.upsert_refund(refund)
        for dispute in self._list("/v1/disputes", self._created(since)):
            self.upsert_dispute(dispute)

    def newest_event(self) -> tuple[str, dt.datetime | None]:
        data, _ = self._page("/v1/events", {"limit": 1, "types": EVENT_TYPES})
        if not data:
            return "", None
        return data[0]["id"], _ts(data[0]["created"])

    def read_events(self) -> list[dict]:
        """Events after the cursor, oldest first."""
        if self.connection.events_cursor:
            params = {
                "types": EVENT_TYPES,
                "ending_before": self.connection.events_cursor,
                "limit": PAGE_SIZE,
            }
            events: list[dict] = []
            # ending_before pages walk backwards in time; each page is itself newest first.
            while True:
                data, has_more = self._page("/v1/events", params)
                events[:0] = list(reversed(data))
                if not has_more or not data or len(events) >= MAX_EVENTS_PER_RUN:
                    break
                params = {**params, "ending_before": data[0]["id"]}
            return events
        since = self.connection.events_cursor_at or self.connection.backfill_started_at or self.now
        events = list(self._list("/v1/events", {"types": EVENT_TYPES, **self._created(since)}))
        events.reverse()
        return events

    def apply_events(self, events: list[dict]) -> None:
        charges: dict[str, int] = {}
        refunds: dict[str, int] = {}
        disputes: set[str] = set()
        invoices: dict[str, int] = {}
        sessions: dict[str, int] = {}
        subscriptions: set[str] = set()
        customers: set[str] = set()
        payment_intents: set[str] = set()
        for event in events:
            obj = (event.get("data") or {}).get("object") or {}
            kind, object_id, created = (
                event.get("type", ""),
                obj.get("id", ""),
                obj.get("created") or event["created"],
            )
            if not object_id:
                continue
            if kind in ("charge.succeeded", "charge.captured"):
                charges[object_id] = created
            elif kind in ("refund.created", "refund.updated", "charge.refund.updated"):
                refunds[object_id] = created
            elif kind == "charge.refunded":
                charges.setdefault(object_id, created)
            elif kind.startswith("charge.dispute."):
                disputes.add(object_id)
            elif kind == "invoice.paid":
                invoices[object_id] = created
            elif kind == "invoice_payment.paid":
                invoice_id = _id(obj.get("invoice"))
                if invoice_id:
                    invoices.setdefault(invoice_id, event["created"])
            elif kind.startswith("checkout.session."):
                sessions[object_id] = created
            elif kind.startswith("customer.subscription."):
                subscriptions.add(object_id)
            elif kind == "customer.updated":
                customers.add(object_id)
            elif kind == "payment_intent.succeeded":
                payment_intents.add(object_id)

        # Batch: list what was created since the oldest change instead of fetching one by one.
        if invoices:
            since = _ts(min(invoices.values())) - LINK_MARGIN
            for invoices_page in self._pages(
                "/v1/invoices", {**self._created(since), "expand": ["data.payments"]}
            ):
                self.cache_objects(invoices_page, StripeObject.Type.INVOICE)
        if sessions:
            since = _ts(min(sessions.values())) - dt.timedelta(minutes=5)
            for sessions_page in self._pages(
                "/v1/checkout/sessions", {**self._created(since), "status": "complete"}
            ):
                self.cache_objects(sessions_page, StripeObject.Type.CHECKOUT_SESSION)
        self._fetch_changed(
            "/v1/charges", charges, ["balance_transaction", "payment_intent"], self.upsert_charge
        )
        self._fetch_changed("/v1/refunds", refunds, ["balance_transaction"], self.upsert_refund)
        for dispute_id in sorted(disputes):
            self.upsert_dispute(self._get(f"/v1/disputes/{dispute_id}", {}))
        for subscription_id in sorted(subscriptions):
            self._refresh(subscription_id, StripeObject.Type.SUBSCRIPTION)
            self.touched.update(
                Payment.objects.filter(site=self.connection.site, subscription=subscription_id).values_list(
                    "pk", flat=True
                )
            )
        for customer_id in sorted(customers):
            self._refresh(customer_id, StripeObject.Type.CUSTOMER)
            self.touched.update(
                Payment.objects.filter(site=self.connection.site, customer=customer_id).values_list(
                    "pk", flat=True
                )
            )
        for pi_id in sorted(payment_intents):
            if not StripeObject.objects.filter(connection=self.connection, stripe_id=pi_id).exists():
                self._refresh(pi_id, StripeObject.Type.PAYMENT_INTENT)

    def _refresh(self, stripe_id: str, object_type: str) -> None:
        self.objects.forget(stripe_id)
        self._fetch_object(stripe_id, object_type)

    def _fetch_changed(self, path: str, wanted: dict[str, int], expand: list[str], upsert) -> None:
        """Fetch changed objects: a created-since listing when that is cheaper, else one by one."""
        if not wanted:
            return
        missing = set(wanted)
        recent = {
            object_id for object_id, created in wanted.items() if created >= self.now.timestamp() - 86400
        }
        if len(recent) > 2:
            since = _ts(min(wanted[object_id] for object_id in recent)) - dt.timedelta(minutes=5)
            for obj in self._list(
                path, {**self._created(since), "expand": [f"data.{field}" for field in expand]}
            ):
                if obj["id"] in missing:
                    upsert(obj)
                    missing.discard(obj["id"])
        for object_id in sorted(missing):
            try:
                obj = self._get(f"{path}/{object_id}", {"expand": expand})
            except stripe.InvalidRequestError as exc:
                if exc.http_status == 404:
                    continue
                raise
            upsert(obj)

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

    def attribute_payments(self) -> None:
        """Attribute what this run touched plus every payment still unattributed (ids may have arrived)."""
        payments = list(
            Payment.objects.filter(connection=self.connection).filter(
                Q(pk__in=self.touched) | Q(session__isnull=True)
            )
        )
        self.objects.preload(payments)
        self._prefetch_for(payments)
        found = {payment.pk: attribution.resolve(payment, self.objects) for payment in payments}
        views = attribution.views_by_id(self.connection.site_id, {f.view_id for f in found.values() if f})
        changed = [payment for payment in payments if attribution.apply(payment, found[payment.pk], views)]
        now = timezone.now()
        for payment in changed:
            payment.updated_at = now
        with transaction.atomic():
            _update_rows(Payment, changed, self.ATTRIBUTION_FIELDS)
        self.run.attributed += sum(1 for payment in changed if payment.session_id)

    def _prefetch_for(self, payments: list[Payment]) -> None:
        """Batch-load the subscriptions, then customers, that attribution will need and has not cached.

        Renewals and customer-level tags would otherwise cost one retrieve each.
        """
        dry = self.objects.without_fetching()
        pi_type, invoice_type = StripeObject.Type.PAYMENT_INTENT, StripeObject.Type.INVOICE
        subscription_type, customer_type = StripeObject.Type.SUBSCRIPTION, StripeObject.Type.CUSTOMER
        waiting: list[Payment] = []
        subscriptions: set[str] = set()
        for payment in payments:
            attribution.link(payment, dry)
            if dry.view_id(payment.payment_intent, pi_type) or dry.view_id(payment.invoice, invoice_type):
                continue
            if payment.subscription and dry.get(payment.subscription, subscription_type) is None:
                subscriptions.add(payment.subscription)
            waiting.append(payment)
        self._prefetch("/v1/subscriptions", subscription_type, subscriptions, {"status": "all"})
        dry = self.objects.without_fetching()
        customers = {
            payment.customer
            for payment in waiting
            if payment.customer
            and not dry.view_id(payment.subscription, subscription_type)
            and not dry.view_id(payment.checkout_session, StripeObject.Type.CHECKOUT_SESSION)
            and dry.get(payment.customer, customer_type) is None
        }
        self._prefetch("/v1/customers", customer_type, customers, {})

    def _prefetch(self, path: str, object_type: str, wanted: set[str], params: dict) -> None:
        """List newest first until every wanted id is seen, within a page budget; the rest load lazily."""
        if len(wanted) <= 3:
            return
        remaining = set(wanted)
        budget = 3 * (len(wanted) // PAGE_SIZE + 1) + 2
        params = {**params, "limit": PAGE_SIZE}
        for _ in range(budget):
            data, has_more = self._page(path, params)
            found = [obj for obj in data if obj["id"] in remaining]
            self.cache_objects(found, object_type)
            remaining.difference_update(obj["id"] for obj in found)
            if not remaining or not has_more or not data:
                return
            params = {**params, "starting_after": data[-1]["id"]}


def _choose_kind(connection: StripeConnection, now: dt.datetime) -> str:
    if connection.backfill_completed_at is None:
        return SyncRun.Kind.BACKFILL
    stale_cursor = connection.events_cursor_at is not None and connection.events_cursor_at < now - EVENTS_KEPT
    due = connection.last_reconciled_at is None or connection.last_reconciled_at < now - RECONCILE_EVERY
    return SyncRun.Kind.RECONCILE if stale_cursor or due else SyncRun.Kind.INCREMENTAL


def claim(connection_id: int, now: dt.datetime) -> str | None:
    """Take the per-connection lock with a conditional UPDATE that must change exactly one row."""
    token = secrets.token_hex(8)
    changed = (
        StripeConnection.objects.filter(pk=connection_id)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + LOCK_TTL, lock_token=token)
    )
    return token if changed == 1 else None


def release(connection_id: int, token: str) -> None:
    StripeConnection.objects.filter(pk=connection_id, lock_token=token).update(
        locked_until=None, lock_token=""
    )


def sync_connection(
    connection_id: int, *, now: dt.datetime | None = None, force_kind: str | None = None
) -> SyncRun | None:
    """Run one sync for one connection. Returns the SyncRun, or None when another run holds the lock."""
    now = now or timezone.now()
    token = claim(connection_id, now)
    if token is None:
        return None
    # Everything after the claim releases the lock in `finally`, even a key that no longer decrypts.
    connection = StripeConnection.objects.select_related("site").defer("secret_key").get(pk=connection_id)
    kind = force_kind or _choose_kind(connection, now)
    # A run still marked running holds no lock any more (we have it): its process died.
    SyncRun.objects.filter(connection=connection, status=SyncRun.Status.RUNNING).update(
        status=SyncRun.Status.FAILED,
        finished_at=now,
        error="Interrupted (the process stopped before finishing); nothing it had stored was lost.",
    )
    run = SyncRun.objects.create(connection=connection, kind=kind, started_at=now)
    counter = CallCounter()
    try:
        secret_key = StripeConnection.objects.values_list("secret_key", flat=True).get(pk=connection_id)
        client, counter = build_client(secret_key, counter)
        syncer = Syncer(connection, client, run, now)
        syncer.lock_token = token
        _run(syncer, kind)
        run.status = SyncRun.Status.OK
        connection.status = StripeConnection.Status.CONNECTED
        connection.last_error = ""
        connection.last_success_at = now
    except stripe.AuthenticationError:
        _fail(run, connection, StripeConnection.Status.KEY_REVOKED, KEY_REVOKED_MESSAGE)
    except stripe.PermissionError as exc:
        _fail(run, connection, StripeConnection.Status.MISSING_PERMISSION, permission_message(exc))
    except (stripe.RateLimitError, stripe.APIConnectionError, stripe.APIError) as exc:
        _fail(
            run,
            connection,
            StripeConnection.Status.ERROR,
            f"Stripe did not answer in time ({type(exc).__name__}). Nothing imported was lost; "
            "the next sync resumes from where this one stopped.",
        )
    except DecryptionError:
        _fail(
            run,
            connection,
            StripeConnection.Status.ERROR,
            "The saved Stripe key cannot be decrypted with FIELD_ENCRYPTION_KEYS (was a key removed before "
            "running rotate_encryption_keys?). Restore the old key, or save the Stripe key again.",
        )
    except stripe.StripeError as exc:
        _fail(
            run,
            connection,
            StripeConnection.Status.ERROR,
            f"Stripe returned an error: {exc.user_message or exc}",
        )
    except Exception as exc:
        logger.exception("Stripe sync of connection %s failed", connection_id)
        _fail(
            run,
            connection,
            StripeConnection.Status.ERROR,
            f"The sync failed unexpectedly ({type(exc).__name__}).",
        )
    finally:
        run.api_calls = counter.calls
        run.finished_at = timezone.now()
        run.save()
        connection.last_sync_at = now
        StripeConnection.objects.filter(pk=connection.pk).update(
            status=connection.status,
            last_error=connection.last_error,
            last_sync_at=now,
            last_success_at=connection.last_success_at,
        )
        release(connection_id, token)
    return run


KEY_REVOKED_MESSAGE = (
    "Stripe rejected the saved key (revoked, rolled or deleted). Create a new restricted key in the "
    "Stripe Dashboard and save it here; payments imported so far are kept."
)


def permission_message(exc: stripe.PermissionError) -> str:
    return (
        f"The key lacks a permission the sync needs: {exc.user_message or exc}. "
        "Edit the restricted key in the Stripe Dashboard to grant read access, then press Sync now."
    )


def _fail(run: SyncRun, connection: StripeConnection, status: str, message: str) -> None:
    run.status = SyncRun.Status.FAILED
    run.error = message
    connection.status = status
    connection.last_error = message


def _process_events(syncer: Syncer) -> None:
    """Apply the events after the cursor, then move the cursor to the last one applied."""
    events = syncer.read_events()
    syncer.apply_events(events)
    syncer.attribute_payments()
    if events:
        last = events[-1]
        StripeConnection.objects.filter(pk=syncer.connection.pk).update(
            events_cursor=last["id"], events_cursor_at=_ts(last["created"])
        )
        syncer.connection.events_cursor, syncer.connection.events_cursor_at = last["id"], _ts(last["created"])


def _run(syncer: Syncer, kind: str) -> None:
    connection, now = syncer.connection, syncer.now
    if kind == SyncRun.Kind.INCREMENTAL:
        _process_events(syncer)
        return

    if kind == SyncRun.Kind.BACKFILL:
        if connection.backfill_started_at is None:
            # The cursor is taken once, before the first attempt lists anything, and kept through
            # restarts: the first incremental run then replays every change made since (say a tag
            # added to a subscription the interrupted attempt had already cached).
            cursor, cursor_at = syncer.newest_event()
            connection.events_cursor, connection.events_cursor_at = cursor, cursor_at or now
            connection.backfill_started_at = now
            StripeConnection.objects.filter(pk=connection.pk).update(
                events_cursor=cursor, events_cursor_at=cursor_at or now, backfill_started_at=now
            )
        StripeConnection.objects.filter(pk=connection.pk).update(backfill_reached_at=None)
        connection.backfill_reached_at = None
        syncer.import_window(
            connection.backfill_started_at - dt.timedelta(days=connection.backfill_days), track_backfill=True
        )
        # Changes made while this import (or an interrupted earlier attempt) listed are applied now,
        # so a completed first import is already right.
        _process_events(syncer)
        StripeConnection.objects.filter(pk=connection.pk).update(
            backfill_completed_at=now, last_reconciled_at=now
        )
        return

    # Reconciliation: re-list the recent past to catch what no event announced.
    since = now - RECONCILE_WINDOW
    if connection.last_success_at:
        since = min(since, connection.last_success_at - dt.timedelta(days=1))
    stale = connection.events_cursor_at is None or connection.events_cursor_at < now - EVENTS_KEPT
    if stale:
        # Events older than 30 days are gone: cached subscription and customer tags may have changed
        # unseen, so forget them (deleted customers keep theirs) and take a fresh cursor.
        if connection.events_cursor_at is not None:
            since = min(since, connection.events_cursor_at - dt.timedelta(days=1))
        StripeObject.objects.filter(
            connection=connection,
            type__in=[StripeObject.Type.SUBSCRIPTION, StripeObject.Type.CUSTOMER],
            is_deleted=False,
        ).delete()
        syncer.objects = attribution.ObjectSource(connection, fetch=syncer._fetch_object)
        cursor, cursor_at = syncer.newest_event()
        syncer.import_window(since)
        syncer.attribute_payments()
        StripeConnection.objects.filter(pk=connection.pk).update(
            events_cursor=cursor, events_cursor_at=cursor_at or now, last_reconciled_at=now
        )
        return
    _process_events(syncer)
    syncer.import_window(since)
    syncer.attribute_payments()
    StripeConnection.objects.filter(pk=connection.pk).update(last_reconciled_at=now)


def sync_all(now: dt.datetime | None = None) -> list[tuple[StripeConnection, SyncRun | None]]:
    results = []
    for connection in StripeConnection.objects.select_related("site").order_by("pk"):
        results.append((connection, sync_connection(connection.pk, now=now)))
    return results


def describe(run: SyncRun | None) -> str:
    if run is None:
        return "skipped: another sync of this connection is running"
    if run.status == SyncRun.Status.FAILED:
        return f"failed: {run.error}"
    return (
        f"ok ({run.get_kind_display().lower()}): "
        f"{run.payments_new} new, {run.payments_updated} updated payments, "
        f"{run.refunds_seen} refunds, {run.disputes_seen} disputes, {run.attributed} newly attributed, "
        f"{run.api_calls} API calls"
    )
