"""Writing payments, refunds and disputes from Stripe's charges, refunds and disputes.

Every write is an upsert keyed by Stripe ids, so a page can be written twice (a repeated or
overlapping run) without doubling anything. A payment's refunded, net and status are always
recomputed from its stored refund and dispute rows, never adjusted by difference.

A debit (ACH, SEPA, BACS, BECS) can fail days after it succeeded: Stripe then marks the charge
``failed`` and reverses it with a ``failure_balance_transaction``. Such a payment stays, with status
failed and the whole amount reversed (net 0).
"""

import datetime as dt

from django.db import transaction
from django.db.models import Sum

from revenue import attribution
from revenue.models import Dispute, Payment, Refund, StripeConnection, StripeObject, SyncRun
from revenue.sync.cache import ObjectCache
from revenue.sync.reader import id_of, ts
from revenue.sync.rows import update_rows

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
    "charge_view_id",
    "refunded",
    "net",
    "status",
    "updated_at",
)


def is_payment(charge: dict) -> bool:
    """Succeeded and captured, or a debit that succeeded and then failed (Stripe reversed it)."""
    if charge.get("status") == "succeeded":
        return bool(charge.get("captured"))
    return charge.get("status") == "failed" and bool(charge.get("failure_balance_transaction"))


def charge_fields(connection: StripeConnection, charge: dict) -> dict:
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
        "connection": connection,
        "livemode": bool(charge.get("livemode")),
        "created_at": ts(charge["created"]),
        "amount": amount,
        "currency": currency,
        "amount_refunded": charge.get("amount_refunded") or 0,
        "settlement_amount": settlement_amount,
        "settlement_fee": fee,
        "settlement_currency": (settlement_currency or currency).lower(),
        "payment_intent": id_of(charge.get("payment_intent")),
        "customer": id_of(charge.get("customer")),
        "charge_view_id": attribution.clean_view_id(charge.get("metadata")),
    }


def settle(payment: Payment) -> None:
    """Recompute refunded, net and status from the refund and dispute rows."""
    if payment.pk is None:
        return
    if payment.status == Payment.Status.FAILED:
        _failed(payment)
        return
    refunds = (
        Refund.objects.filter(payment=payment, status="succeeded").aggregate(s=Sum("settlement_amount"))["s"]
        or 0
    )
    disputes = list(Dispute.objects.filter(payment=payment))
    lost = sum(d.settlement_amount for d in disputes if d.is_lost())
    payment.refunded = min(payment.settlement_amount, refunds + lost)
    payment.net = payment.settlement_amount - payment.refunded
    open_dispute = any(not d.is_closed() for d in disputes)
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


def _failed(payment: Payment) -> None:
    payment.refunded, payment.net, payment.status = payment.settlement_amount, 0, Payment.Status.FAILED


def _unsettled(payment: Payment) -> None:
    payment.refunded, payment.net, payment.status = 0, payment.settlement_amount, Payment.Status.SUCCEEDED


def _proportional(payment: Payment, amount: int) -> int:
    """A presentment amount in the payment's settlement currency, at the charge's own rate."""
    if not payment.amount:
        return 0
    return round(payment.settlement_amount * amount / payment.amount)


class Writer:
    """Upserts for one run; counts them on the run and remembers which payments it ``touched`` (to be
    attributed again at the end)."""

    def __init__(self, connection: StripeConnection, run: SyncRun, now: dt.datetime, cache: ObjectCache):
        self.connection = connection
        self.run = run
        self.now = now
        self.cache = cache
        self.touched: set[int] = set()

    def upsert_charges(self, charges: list[dict]) -> list[Payment]:
        """Upsert a page of charges in a few queries (keyed by charge id, so repeating is harmless)."""
        charges = [c for c in charges if is_payment(c)]
        for charge in charges:
            self.cache.check_metadata(charge)
        if not charges:
            return []
        intents = [c["payment_intent"] for c in charges if isinstance(c.get("payment_intent"), dict)]
        if intents:
            self.cache.store(intents, StripeObject.Type.PAYMENT_INTENT)
        with transaction.atomic():
            new, changed = self._merge_charges(charges)
            Payment.objects.bulk_create(new, batch_size=500)
            update_rows(Payment, changed, PAYMENT_FIELDS)
        if any(p.pk is None for p in new):
            # Backends without RETURNING on bulk inserts: read the ids back.
            ids_by_charge = dict(
                Payment.objects.filter(
                    site=self.connection.site, stripe_id__in=[p.stripe_id for p in new]
                ).values_list("stripe_id", "pk")
            )
            for payment in new:
                payment.pk = ids_by_charge[payment.stripe_id]
        self.run.payments_new += len(new)
        self.run.payments_updated += sum(1 for p in changed if p.pk not in self.touched)
        self.touched.update(p.pk for p in new)
        self.touched.update(p.pk for p in changed)
        return new + changed

    def _merge_charges(self, charges: list[dict]) -> tuple[list[Payment], list[Payment]]:
        """New payments and changed ones for these charges; call inside the transaction (rows locked)."""
        site = self.connection.site
        existing = {
            p.stripe_id: p
            for p in Payment.objects.select_for_update().filter(
                site=site, stripe_id__in=[c["id"] for c in charges]
            )
        }
        settled_elsewhere = set(
            Refund.objects.filter(payment__in=existing.values()).values_list("payment_id", flat=True)
        ) | set(Dispute.objects.filter(payment__in=existing.values()).values_list("payment_id", flat=True))
        new, changed = [], []
        for charge in charges:
            fields = charge_fields(self.connection, charge)
            payment = existing.get(charge["id"])
            if payment is None:
                payment = Payment(site=site, stripe_id=charge["id"], **fields)
                if charge.get("status") == "failed":
                    _failed(payment)
                else:
                    _unsettled(payment)
                new.append(payment)
                existing[charge["id"]] = payment
                continue
            for key, value in fields.items():
                setattr(payment, key, value)
            payment.updated_at = self.now
            if charge.get("status") == "failed":
                _failed(payment)
            elif payment.pk in settled_elsewhere:
                payment.status = Payment.Status.SUCCEEDED  # settle() derives it again from the rows
                settle(payment)
            else:
                _unsettled(payment)
            changed.append(payment)
        return new, changed

    def upsert_charge(self, charge: dict) -> Payment | None:
        payments = self.upsert_charges([charge])
        return payments[0] if payments else None

    def upsert_refund(self, refund: dict) -> None:
        payment = self._payment_for_charge(id_of(refund.get("charge")))
        if payment is None:
            return
        bt = refund.get("balance_transaction")
        if isinstance(bt, dict) and bt.get("currency") == payment.settlement_currency:
            settlement = abs(bt.get("amount", 0))
        else:
            settlement = _proportional(payment, refund.get("amount") or 0)
        with transaction.atomic():
            Refund.objects.update_or_create(
                payment=payment,
                stripe_id=refund["id"],
                defaults={
                    "created_at": ts(refund["created"]),
                    "amount": refund.get("amount") or 0,
                    "currency": (refund.get("currency") or payment.currency).lower(),
                    "settlement_amount": settlement,
                    "status": refund.get("status") or "",
                },
            )
            payment = self._resettle(payment)
        self.run.refunds_seen += 1
        self.touched.add(payment.pk)

    def upsert_dispute(self, dispute: dict) -> None:
        payment = self._payment_for_charge(id_of(dispute.get("charge")))
        if payment is None:
            return
        withdrawn = sum(
            -bt.get("amount", 0)
            for bt in dispute.get("balance_transactions") or []
            if isinstance(bt, dict) and bt.get("currency") == payment.settlement_currency
        )
        settlement = withdrawn if withdrawn > 0 else _proportional(payment, dispute.get("amount") or 0)
        with transaction.atomic():
            Dispute.objects.update_or_create(
                payment=payment,
                stripe_id=dispute["id"],
                defaults={
                    "created_at": ts(dispute["created"]),
                    "amount": dispute.get("amount") or 0,
                    "currency": (dispute.get("currency") or payment.currency).lower(),
                    "settlement_amount": min(settlement, payment.settlement_amount),
                    "status": dispute.get("status") or "",
                },
            )
            payment = self._resettle(payment)
        self.run.disputes_seen += 1
        self.touched.add(payment.pk)

    def _payment_for_charge(self, charge_id: str) -> Payment | None:
        return Payment.objects.filter(site=self.connection.site, stripe_id=charge_id).first()

    def _resettle(self, payment: Payment) -> Payment:
        """Reload the payment locked and settle it again; call inside the transaction."""
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        settle(payment)
        payment.save()
        return payment
