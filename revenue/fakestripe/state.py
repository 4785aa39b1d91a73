"""In-memory state of one fake Stripe account and the Python API that builds it.

Objects are stored in the shape of API version 2026-10-28.endive, with links as ids. All amounts are
integers in the currency's smallest unit. Timestamps are unix seconds from the fake clock (`now()`),
which follows real time until `set_time()` or `advance()` pins it.

Every builder takes an optional `created`, appends the Events Stripe would emit and returns the ids it
created as a dict, so it can be called over HTTP through the control endpoint as well.
"""

from __future__ import annotations

import copy
import threading
import time
from collections import Counter
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

ACCOUNT_ID = "acct_fake"
DAY = 86400
EVENT_RETENTION_SECONDS = 30 * DAY
# Events keep the API version the account had when they were created; an old one makes a client that
# trusts `data.object` fail loudly instead of silently reading fields that are gone on endive.
EVENT_API_VERSION = "2024-06-20"

ZERO_DECIMAL_CURRENCIES = frozenset(
    {
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    }
)
THREE_DECIMAL_CURRENCIES = frozenset({"bhd", "jod", "kwd", "omr", "tnd"})

OBJECT_TYPES = (
    "balance_transaction",
    "charge",
    "checkout.session",
    "customer",
    "dispute",
    "event",
    "invoice",
    "invoice_payment",
    "payment_intent",
    "refund",
    "subscription",
)
ID_PREFIXES = {
    "balance_transaction": "txn",
    "charge": "ch",
    "customer": "cus",
    "dispute": "du",
    "event": "evt",
    "invoice": "in",
    "invoice_payment": "inpay",
    "payment_intent": "pi",
    "refund": "re",
    "subscription": "sub",
}
REFUND_STATUSES = frozenset({"pending", "succeeded", "failed", "canceled"})
CLOSED_DISPUTE_STATUSES = frozenset({"won", "lost", "warning_closed", "prevented"})
# Dispute statuses a dispute passes through before closing, and those of an appealed loss.
OPEN_DISPUTE_STATUSES = frozenset(
    {"needs_response", "under_review", "warning_needs_response", "warning_under_review"}
)
APPEAL_DISPUTE_STATUSES = frozenset({"appeal_needs_response", "appeal_under_review"})

# The builder, fault, clock and key methods that the control endpoint may call by name.
CONTROL_METHODS = frozenset(
    {
        "add_key",
        "revoke_key",
        "now",
        "set_time",
        "advance",
        "create_customer",
        "update_customer",
        "delete_customer",
        "create_payment",
        "confirm_payment_intent",
        "complete_payment",
        "update_payment_intent",
        "create_checkout_payment",
        "create_subscription",
        "renew_subscription",
        "update_subscription",
        "cancel_subscription",
        "create_invoice_payment",
        "create_invoice",
        "pay_invoice",
        "create_charge",
        "fail_payment",
        "refund",
        "update_refund",
        "dispute",
        "update_dispute",
        "appeal_dispute",
        "close_dispute",
        "create_connected_account",
        "inject_fault",
        "clear_faults",
        "stats",
        "reset_stats",
        "ground_truth",
        "get_object",
    }
)


class NotFound(LookupError):
    def __init__(self, object_type: str, object_id: str):
        super().__init__(f"No such {object_type}: '{object_id}'")
        self.object_type = object_type
        self.object_id = object_id


@dataclass
class Fault:
    status: int | None
    count: int
    path_prefix: str | None
    should_retry: bool | None
    delay: float


def currency_exponent(currency: str) -> int:
    currency = currency.lower()
    if currency in ZERO_DECIMAL_CURRENCIES:
        return 0
    if currency in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def _round(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def convert(amount: int, currency: str, settlement_currency: str, exchange_rate: float | None) -> int:
    """Convert minor units of `currency` to minor units of `settlement_currency`.

    `exchange_rate` is per major unit, as on a BalanceTransaction: 10.00 EUR at 1.1 is 11.00 USD, and
    1000 JPY at 0.0067 is 6.70 USD (670 cents, not 6.70 cents x 100).
    """
    if currency == settlement_currency:
        return amount
    if exchange_rate is None:
        raise ValueError(f"exchange_rate is required to settle {currency} in {settlement_currency}")
    major = Decimal(amount).scaleb(-currency_exponent(currency)) * Decimal(str(exchange_rate))
    return _round(major.scaleb(currency_exponent(settlement_currency)))


def processing_fee(settlement_amount: int) -> int:
    return _round(Decimal(settlement_amount) * Decimal("0.029")) + 30


def _merge_metadata(current: dict[str, str], update: dict[str, Any] | None) -> dict[str, str]:
    # As on Stripe: keys are merged, and an empty value removes a key.
    merged = dict(current)
    for key, value in (update or {}).items():
        if value in (None, ""):
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return merged


def _legacy_shape(obj: dict[str, Any]) -> dict[str, Any]:
    """Render a snapshot roughly as API version 2024-06-20 did, for Event payloads."""
    if obj["object"] in ("charge", "payment_intent"):
        obj["invoice"] = None
    elif obj["object"] == "invoice":
        parent = obj.pop("parent", None) or {}
        details = parent.get("subscription_details") or {}
        obj["subscription"] = details.get("subscription")
        obj["subscription_details"] = {"metadata": details.get("metadata")} if details else None
        obj["paid"] = obj["status"] == "paid"
        obj["charge"] = None
        obj["payment_intent"] = None
    return obj


# Embedded lists an expansion builds: child type -> the field naming its parent.
_PARENT_FIELD = {"invoice_payment": "invoice", "refund": "charge"}


class FakeStripe:
    """One fake Stripe account. All access goes through `lock` (re-entrant)."""

    def __init__(
        self,
        keys: dict[str, set[str] | None] | None = None,
        livemode: bool = False,
        account: str = ACCOUNT_ID,
    ):
        self.lock = threading.RLock()
        self.livemode = livemode
        self.account = account
        self._keys: dict[str, frozenset[str] | None] = {}
        self._revoked: set[str] = set()
        self._tables: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in OBJECT_TYPES}
        self._types: dict[str, str] = {}
        self._children: dict[tuple[str, str], list[str]] = {}
        # Settlement currency and rate per charge, needed later for refunds, disputes and captures.
        self._settlement: dict[str, tuple[str, float | None]] = {}
        self._subscription_settlement: dict[str, tuple[str, float | None]] = {}
        self._invoice_settlement: dict[str, tuple[str, float | None]] = {}
        # Connect: accounts connected to this one (a platform), each a FakeStripe of its own.
        self.connected_accounts: dict[str, FakeStripe] = {}
        self._counter = 0
        self._clock: int | None = None
        self._request_id: str | None = None
        self._faults: list[Fault] = []
        self._requests = 0
        self._by_path: Counter[str] = Counter()
        self._idempotent: dict[tuple[str, str, str], Any] = {}
        for key, permissions in (keys or {}).items():
            self.add_key(key, permissions)

    # Keys

    def add_key(self, key: str, permissions: set[str] | list[str] | None = None) -> dict[str, Any]:
        """None = full access (secret key); a set of `rak_*` permissions = restricted key."""
        with self.lock:
            self._keys[key] = None if permissions is None else frozenset(permissions)
            self._revoked.discard(key)
            return {"key": key}

    def revoke_key(self, key: str) -> dict[str, Any]:
        with self.lock:
            self._keys.pop(key, None)
            self._revoked.add(key)
            return {"key": key, "revoked": True}

    def key_status(self, key: str) -> tuple[str, frozenset[str] | None]:
        """("valid", permissions or None for full access), ("revoked", None) or ("unknown", None)."""
        with self.lock:
            if key in self._keys:
                return "valid", self._keys[key]
            return ("revoked" if key in self._revoked else "unknown"), None

    # Clock

    def now(self) -> int:
        with self.lock:
            return self._clock if self._clock is not None else int(time.time())

    def set_time(self, ts: int) -> dict[str, int]:
        with self.lock:
            self._clock = int(ts)
            return {"now": self._clock}

    def advance(self, seconds: int) -> dict[str, int]:
        with self.lock:
            self._clock = self.now() + int(seconds)
            return {"now": self._clock}

    # Store

    def find(self, object_id: str, object_type: str | None = None) -> dict[str, Any] | None:
        """The stored object (not a copy), or None. Callers must hold `lock`."""
        found_type = self._types.get(object_id)
        if found_type is None or (object_type is not None and found_type != object_type):
            return None
        return self._tables[found_type][object_id]

    def objects(self, object_type: str) -> list[dict[str, Any]]:
        """The stored objects of one type (not copies). Callers must hold `lock`."""
        return list(self._tables[object_type].values())

    def render(self, obj: dict[str, Any]) -> dict[str, Any]:
        """A copy of a stored object as the API returns it (endive shape, links as ids)."""
        with self.lock:
            out = copy.deepcopy(obj)
            if out["object"] == "dispute":
                txns = self._tables["balance_transaction"]
                out["balance_transactions"] = [self.render(txns[txn]) for txn in obj["balance_transactions"]]
            elif out["object"] == "balance_transaction":
                out["status"] = "available" if self.now() >= out["available_on"] else "pending"
            return out

    def get_object(self, id: str) -> dict[str, Any]:
        with self.lock:
            return self.render(self._get(id))

    def _get(self, object_id: str, object_type: str | None = None) -> dict[str, Any]:
        obj = self.find(object_id, object_type)
        if obj is None:
            raise NotFound(object_type or "object", object_id)
        return obj

    def _new_id(self, object_type: str) -> str:
        self._counter += 1
        if object_type == "checkout.session":
            prefix = "cs_live" if self.livemode else "cs_test"
        else:
            prefix = ID_PREFIXES[object_type]
        # A zero-padded counter keeps ids sortable in creation order, which breaks ties in `created`.
        return f"{prefix}_fk{self._counter:012d}"

    def _insert(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._tables[obj["object"]][obj["id"]] = obj
        self._types[obj["id"]] = obj["object"]
        parent = _PARENT_FIELD.get(obj["object"])
        if parent and obj.get(parent):
            self._children.setdefault((obj["object"], obj[parent]), []).append(obj["id"])
        return obj

    def children(self, object_type: str, parent_id: str) -> list[dict[str, Any]]:
        """Objects of ``object_type`` belonging to ``parent_id`` (invoice payments of an invoice,
        refunds of a charge), without scanning the whole table. Callers must hold `lock`."""
        table = self._tables[object_type]
        return [table[child] for child in self._children.get((object_type, parent_id), ()) if child in table]

    def _base(self, object_type: str, created: int | None, **fields: Any) -> dict[str, Any]:
        obj = {"id": self._new_id(object_type), "object": object_type}
        obj["created"] = self.now() if created is None else int(created)
        obj["livemode"] = self.livemode
        obj.update(fields)
        return self._insert(obj)

    def _emit(
        self, event_type: str, obj: dict[str, Any], created: int, previous_attributes: dict | None = None
    ) -> None:
        data: dict[str, Any] = {"object": _legacy_shape(self.render(obj))}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        self._base(
            "event",
            created,
            api_version=EVENT_API_VERSION,
            data=data,
            pending_webhooks=0,
            request={"id": self._request_id, "idempotency_key": None},
            type=event_type,
        )

    def api_request(self, request_id: str) -> _ApiRequestScope:
        """Hold the lock for one HTTP request and tag the events it emits with its request id."""
        return _ApiRequestScope(self, request_id)

    # Customers

    def create_customer(
        self,
        email: str | None = None,
        metadata: dict[str, str] | None = None,
        name: str | None = None,
        created: int | None = None,
    ) -> dict[str, str]:
        with self.lock:
            customer = self._base(
                "customer",
                created,
                email=email,
                name=name,
                description=None,
                balance=0,
                currency=None,
                delinquent=False,
                metadata=_merge_metadata({}, metadata),
            )
            self._emit("customer.created", customer, customer["created"])
            return {"customer": customer["id"]}

    def update_customer(
        self,
        id: str,
        metadata: dict[str, str] | None = None,
        email: str | None = None,
        created: int | None = None,
    ) -> dict[str, str]:
        with self.lock:
            customer = self._live_customer(id)
            previous: dict[str, Any] = {}
            if metadata is not None:
                previous["metadata"] = customer["metadata"]
                customer["metadata"] = _merge_metadata(customer["metadata"], metadata)
            if email is not None:
                previous["email"] = customer["email"]
                customer["email"] = email
            self._emit("customer.updated", customer, self._at(created), previous)
            return {"customer": id}

    def delete_customer(self, id: str, created: int | None = None) -> dict[str, Any]:
        with self.lock:
            customer = self._live_customer(id)
            self._emit("customer.deleted", customer, self._at(created))
            # Stripe keeps only a stub: a deleted customer's email and metadata are gone for good.
            self._tables["customer"][id] = {"id": id, "object": "customer", "deleted": True}
            return {"customer": id, "deleted": True}

    def _live_customer(self, id: str) -> dict[str, Any]:
        customer = self._get(id, "customer")
        if customer.get("deleted"):
            raise NotFound("customer", id)
        return customer

    # Payments

    def create_payment(
        self,
        amount: int,
        currency: str,
        customer: str | None = None,
        metadata: dict[str, str] | None = None,
        charge_metadata: dict[str, str] | None = None,
        settlement_currency: str = "usd",
        exchange_rate: float | None = None,
        captured: bool = True,
        status: str = "succeeded",
        description: str | None = None,
        confirm: bool = True,
        created: int | None = None,
    ) -> dict[str, str | None]:
        """A confirmed PaymentIntent with its Charge (and BalanceTransaction once captured).

        With confirm=False only the PaymentIntent, in requires_payment_method (see `confirm_payment_intent`).
        """
        with self.lock:
            pi = self._new_payment_intent(amount, currency, customer, metadata, description, created)
            if not confirm:
                return {"payment_intent": pi["id"], "charge": None, "balance_transaction": None}
            return self._confirm(
                pi,
                charge_metadata=charge_metadata,
                settlement_currency=settlement_currency,
                exchange_rate=exchange_rate,
                captured=captured,
                status=status,
                created=pi["created"],
            )

    def confirm_payment_intent(
        self,
        id: str,
        settlement_currency: str = "usd",
        exchange_rate: float | None = None,
        captured: bool = True,
        status: str = "succeeded",
        created: int | None = None,
    ) -> dict[str, str | None]:
        with self.lock:
            pi = self._get(id, "payment_intent")
            if pi["status"] != "requires_payment_method":
                raise ValueError(f"payment_intent {id} is {pi['status']} and cannot be confirmed")
            return self._confirm(
                pi,
                settlement_currency=settlement_currency,
                exchange_rate=exchange_rate,
                captured=captured,
                status=status,
                created=created,
            )

    def _new_payment_intent(
        self,
        amount: int,
        currency: str,
        customer: str | None,
        metadata: dict[str, str] | None,
        description: str | None,
        created: int | None,
        capture_method: str = "automatic",
    ) -> dict[str, Any]:
        if int(amount) <= 0:
            raise ValueError("amount must be a positive integer in the currency's smallest unit")
        if customer is not None:
            self._live_customer(customer)
        pi = self._base(
            "payment_intent",
            created,
            amount=int(amount),
            amount_capturable=0,
            amount_received=0,
            canceled_at=None,
            capture_method=capture_method,
            confirmation_method="automatic",
            currency=currency.lower(),
            customer=customer,
            description=description,
            latest_charge=None,
            metadata=_merge_metadata({}, metadata),
            payment_method=None,
            payment_method_types=["card"],
            status="requires_payment_method",
        )
        self._emit("payment_intent.created", pi, pi["created"])
        return pi

    def _confirm(
        self,
        pi: dict[str, Any],
        charge_metadata: dict[str, str] | None = None,
        settlement_currency: str = "usd",
        exchange_rate: float | None = None,
        captured: bool = True,
        status: str = "succeeded",
        created: int | None = None,
    ) -> dict[str, str | None]:
        if status not in ("succeeded", "pending", "failed"):
            raise ValueError(f"unknown charge status {status!r}")
        created = self._at(created)
        # Stripe copies the PaymentIntent's metadata onto the Charge once, at confirmation.
        charge = self._new_charge(
            pi["amount"],
            pi["currency"],
            pi["customer"],
            _merge_metadata(pi["metadata"], charge_metadata),
            pi["description"],
            pi["id"],
            settlement_currency,
            exchange_rate,
            status,
            created,
        )
        pi.update(latest_charge=charge["id"], payment_method=charge["payment_method"])
        ids: dict[str, str | None] = {
            "payment_intent": pi["id"],
            "charge": charge["id"],
            "balance_transaction": None,
        }
        if status == "failed":
            pi["status"] = "requires_payment_method"
            self._emit("charge.failed", charge, created)
            self._emit("payment_intent.payment_failed", pi, created)
        elif status == "pending":
            pi["status"] = "processing"
            self._emit("charge.pending", charge, created)
            self._emit("payment_intent.processing", pi, created)
        elif not captured:
            pi.update(status="requires_capture", amount_capturable=pi["amount"], capture_method="manual")
            self._emit("charge.succeeded", charge, created)
            self._emit("payment_intent.amount_capturable_updated", pi, created)
        else:
            ids["balance_transaction"] = self._capture(charge, pi, created)
        return ids

    def _new_charge(
        self,
        amount: int,
        currency: str,
        customer: str | None,
        metadata: dict[str, str],
        description: str | None,
        payment_intent: str | None,
        settlement_currency: str,
        exchange_rate: float | None,
        status: str,
        created: int,
    ) -> dict[str, Any]:
        settlement_currency = settlement_currency.lower()
        convert(amount, currency, settlement_currency, exchange_rate)  # validates the rate
        charge = self._base(
            "charge",
            created,
            amount=amount,
            amount_captured=0,
            amount_refunded=0,
            balance_transaction=None,
            billing_details={"address": None, "email": None, "name": None, "phone": None, "tax_id": None},
            captured=False,
            currency=currency,
            customer=customer,
            description=description,
            disputed=False,
            failure_balance_transaction=None,
            failure_code="card_declined" if status == "failed" else None,
            failure_message="Your card was declined." if status == "failed" else None,
            metadata=metadata,
            outcome={
                "advice_code": None,
                "network_advice_code": None,
                "network_decline_code": None,
                "network_status": "declined_by_network" if status == "failed" else "approved_by_network",
                "reason": None,
                "risk_level": "normal",
                "seller_message": "The bank did not return any further details with this payment."
                if status == "failed"
                else "Payment complete.",
                "type": "issuer_declined" if status == "failed" else "authorized",
            },
            paid=status == "succeeded",
            payment_intent=payment_intent,
            payment_method=None,
            refunded=False,
            status=status,
        )
        charge["payment_method"] = "pm_" + charge["id"].removeprefix("ch_")
        self._settlement[charge["id"]] = (settlement_currency, exchange_rate)
        return charge

    def _charge_without_intent(
        self,
        amount: int,
        currency: str,
        customer: str | None,
        metadata: dict[str, str] | None,
        settlement_currency: str,
        exchange_rate: float | None,
        created: int,
    ) -> dict[str, str | None]:
        if int(amount) <= 0:
            raise ValueError("amount must be a positive integer in the currency's smallest unit")
        if customer is not None:
            self._live_customer(customer)
        charge = self._new_charge(
            int(amount),
            currency.lower(),
            customer,
            _merge_metadata({}, metadata),
            None,
            None,
            settlement_currency,
            exchange_rate,
            "succeeded",
            created,
        )
        txn = self._capture(charge, None, created)
        return {"payment_intent": None, "charge": charge["id"], "balance_transaction": txn}

    def create_charge(
        self,
        amount: int,
        currency: str,
        customer: str | None = None,
        metadata: dict[str, str] | None = None,
        settlement_currency: str = "usd",
        exchange_rate: float | None = None,
        created: int | None = None,
    ) -> dict[str, str | None]:
        """A captured Charges-API charge with no PaymentIntent (legacy integrations, some debits)."""
        with self.lock:
            return self._charge_without_intent(
                amount, currency, customer, metadata, settlement_currency, exchange_rate, self._at(created)
            )

    def fail_payment(self, charge: str, created: int | None = None) -> dict[str, str]:
        """A debit (ACH, SEPA, BACS, BECS) that succeeded fails afterwards: the charge turns failed and
        a ``payment_failure_refund`` balance transaction takes the money back."""
        with self.lock:
            obj = self._get(charge, "charge")
            if obj["status"] != "succeeded" or not obj["captured"]:
                raise ValueError(f"charge {charge} is {obj['status']} and captured={obj['captured']}")
            created = self._at(created)
            remaining = obj["amount_captured"] - obj["amount_refunded"]
            settled, currency, rate = self._settle_for_charge(obj, remaining)
            txn = self._balance_transaction(
                charge,
                "payment_failure_refund",
                -settled,
                currency,
                rate,
                0,
                created,
                "charge_failure",
                "Payment failure refund",
            )
            obj.update(
                status="failed",
                paid=False,
                failure_balance_transaction=txn,
                failure_code="debit_not_authorized",
                failure_message="The customer's bank reported the debit as not authorized.",
            )
            obj["outcome"]["type"] = "issuer_declined"
            self._emit("charge.failed", obj, created, {"status": "succeeded", "paid": True})
            if obj["payment_intent"]:
                pi = self._get(obj["payment_intent"], "payment_intent")
                pi.update(status="requires_payment_method", amount_received=0)
                self._emit("payment_intent.payment_failed", pi, created)
            return {"charge": charge, "failure_balance_transaction": txn}

    def _capture(self, charge: dict[str, Any], pi: dict[str, Any] | None, created: int) -> str:
        settlement_currency, rate = self._settlement[charge["id"]]
        settled = convert(charge["amount"], charge["currency"], settlement_currency, rate)
        txn = self._balance_transaction(
            charge["id"],
            "charge",
            settled,
            settlement_currency,
            None if settlement_currency == charge["currency"] else rate,
            processing_fee(settled),
            created,
            "charge",
            "Payment",
        )
        charge.update(
            amount_captured=charge["amount"],
            balance_transaction=txn,
            captured=True,
            paid=True,
            status="succeeded",
        )
        self._emit("charge.succeeded", charge, created)
        if pi is not None:
            pi.update(status="succeeded", amount_received=pi["amount"], amount_capturable=0)
            self._emit("payment_intent.succeeded", pi, created)
        return txn

    def complete_payment(self, charge: str, created: int | None = None) -> dict[str, str]:
        """Capture an uncaptured charge, or let a pending one succeed (e.g. days later)."""
        with self.lock:
            obj = self._get(charge, "charge")
            if obj["captured"] or obj["status"] == "failed":
                raise ValueError(f"charge {charge} is {obj['status']} and captured={obj['captured']}")
            pi = self._get(obj["payment_intent"], "payment_intent")
            was_pending = obj["status"] == "pending"
            txn = self._capture(obj, pi, self._at(created))
            if not was_pending:
                self._emit("charge.captured", obj, self._at(created))
            return {"charge": charge, "payment_intent": pi["id"], "balance_transaction": txn}

    def update_payment_intent(
        self, id: str, metadata: dict[str, str], created: int | None = None
    ) -> dict[str, str]:
        # Stripe has no payment_intent.updated event: metadata edits never show up in the event feed.
        with self.lock:
            pi = self._get(id, "payment_intent")
            pi["metadata"] = _merge_metadata(pi["metadata"], metadata)
            return {"payment_intent": id}

    def _balance_transaction(
        self,
        source: str,
        txn_type: str,
        amount: int,
        currency: str,
        exchange_rate: float | None,
        fee: int,
        created: int,
        reporting_category: str,
        description: str,
    ) -> str:
        fee_kind = "Dispute fee" if reporting_category.startswith("dispute") else "Stripe processing fees"
        fee_details = []
        if fee:
            fee_details = [
                {
                    "amount": fee,
                    "application": None,
                    "currency": currency,
                    "description": fee_kind,
                    "type": "stripe_fee",
                }
            ]
        txn = self._base(
            "balance_transaction",
            created,
            amount=amount,
            available_on=created + 2 * DAY,
            balance_type="payments",
            currency=currency,
            description=description,
            exchange_rate=exchange_rate,
            fee=fee,
            fee_details=fee_details,
            net=amount - fee,
            reporting_category=reporting_category,
            source=source,
            status="pending",
            type=txn_type,
        )
        del txn["livemode"]  # BalanceTransactions have no livemode field.
        return txn["id"]

    def _settle_for_charge(self, charge: dict[str, Any], amount: int) -> tuple[int, str, float | None]:
        settlement_currency, rate = self._settlement[charge["id"]]
        settled = convert(amount, charge["currency"], settlement_currency, rate)
        return settled, settlement_currency, None if settlement_currency == charge["currency"] else rate

    # Checkout, subscriptions and invoices

    def create_checkout_payment(
        self,
        amount: int,
        currency: str,
        customer: str | None = None,
        session_metadata: dict[str, str] | None = None,
        payment_intent_metadata: dict[str, str] | None = None,
        settlement_currency: str = "usd",
        exchange_rate: float | None = None,
        client_reference_id: str | None = None,
        payment_link: str | None = None,
        created: int | None = None,
    ) -> dict[str, str | None]:
        """A completed payment-mode Checkout Session. Its metadata is NOT copied to the PaymentIntent.

        With ``payment_link`` (a ``plink_`` id) it came from a Payment Link, whose metadata is the same
        for every visit; ``client_reference_id`` is what the link's URL carried."""
        with self.lock:
            created = self._at(created)
            ids = self.create_payment(
                amount,
                currency,
                customer=customer,
                metadata=payment_intent_metadata,
                settlement_currency=settlement_currency,
                exchange_rate=exchange_rate,
                created=created,
            )
            session = self._checkout_session(
                "payment",
                amount,
                currency,
                customer,
                session_metadata,
                created,
                ids["payment_intent"],
                client_reference_id=client_reference_id,
                payment_link=payment_link,
            )
            return {**ids, "checkout_session": session}

    def _checkout_session(
        self,
        mode: str,
        amount: int,
        currency: str,
        customer: str | None,
        metadata: dict[str, str] | None,
        created: int,
        payment_intent: str | None = None,
        subscription: str | None = None,
        invoice: str | None = None,
        client_reference_id: str | None = None,
        payment_link: str | None = None,
    ) -> str:
        session = self._base(
            "checkout.session",
            created,
            amount_subtotal=int(amount),
            amount_total=int(amount),
            automatic_tax={"enabled": False, "liability": None, "provider": None, "status": None},
            client_reference_id=client_reference_id,
            custom_fields=[],
            custom_text={
                "after_submit": None,
                "shipping_address": None,
                "submit": None,
                "terms_of_service_acceptance": None,
            },
            currency=currency.lower(),
            customer=customer,
            customer_details=None,
            expires_at=created + DAY,
            invoice=invoice,
            metadata=_merge_metadata({}, metadata),
            mode=mode,
            payment_intent=payment_intent,
            payment_link=payment_link,
            payment_method_types=["card"],
            payment_status="paid",
            shipping_options=[],
            status="complete",
            subscription=subscription,
            success_url="https://example.com/thanks",
            url=None,
        )
        self._emit("checkout.session.completed", session, created)
        return session["id"]

    def create_subscription(
        self,
        customer: str,
        amount: int,
        currency: str,
        metadata: dict[str, str] | None = None,
        invoice_metadata: dict[str, str] | None = None,
        payment_intent_metadata: dict[str, str] | None = None,
        checkout_session_metadata: dict[str, str] | None = None,
        settlement_currency: str = "usd",
        exchange_rate: float | None = None,
        created: int | None = None,
    ) -> dict[str, str | None]:
        """An active monthly Subscription with its first paid Invoice (billing_reason subscription_create).

        With `checkout_session_metadata` (even {}), it was started from a subscription-mode Checkout Session.
        """
        with self.lock:
            self._live_customer(customer)
            created = self._at(created)
            sub_id = self._new_id("subscription")
            price_id, product_id = f"price_fk{self._counter:012d}", f"prod_fk{self._counter:012d}"
            common = {
                "active": True,
                "billing_scheme": "per_unit",
                "created": created,
                "currency": currency.lower(),
            }
            item = {
                "id": f"si_fk{self._counter:012d}",
                "object": "subscription_item",
                "created": created,
                "current_period_start": created,
                "current_period_end": created + 30 * DAY,
                "discounts": [],
                "metadata": {},
                "plan": {
                    "id": price_id,
                    "object": "plan",
                    **common,
                    "amount": int(amount),
                    "interval": "month",
                    "interval_count": 1,
                    "livemode": self.livemode,
                    "product": product_id,
                    "usage_type": "licensed",
                },
                "price": {
                    "id": price_id,
                    "object": "price",
                    **common,
                    "livemode": self.livemode,
                    "metadata": {},
                    "product": product_id,
                    "recurring": {"interval": "month", "interval_count": 1, "usage_type": "licensed"},
                    "type": "recurring",
                    "unit_amount": int(amount),
                },
                "quantity": 1,
                "subscription": sub_id,
            }
            subscription = self._insert(
                {
                    "id": sub_id,
                    "object": "subscription",
                    "created": created,
                    "livemode": self.livemode,
                    "automatic_tax": {"disabled_reason": None, "enabled": False, "liability": None},
                    "billing_cycle_anchor": created,
                    "billing_mode": {"type": "classic"},
                    "billing_schedules": [],
                    "cancel_at_period_end": False,
                    "canceled_at": None,
                    "collection_method": "charge_automatically",
                    "currency": currency.lower(),
                    "customer": customer,
                    "discounts": [],
                    "ended_at": None,
                    "invoice_settings": {"account_tax_ids": None, "issuer": {"type": "self"}},
                    "items": {
                        "object": "list",
                        "data": [item],
                        "has_more": False,
                        "url": f"/v1/subscription_items?subscription={sub_id}",
                    },
                    "latest_invoice": None,
                    "metadata": _merge_metadata({}, metadata),
                    "start_date": created,
                    "status": "active",
                }
            )
            self._subscription_settlement[sub_id] = (settlement_currency, exchange_rate)
            ids = self._bill(
                customer,
                amount,
                currency,
                "subscription_create",
                subscription,
                invoice_metadata,
                payment_intent_metadata,
                created,
            )
            self._emit("customer.subscription.created", subscription, created)
            result: dict[str, str | None] = {"subscription": sub_id, **ids}
            if checkout_session_metadata is not None:
                result["checkout_session"] = self._checkout_session(
                    "subscription",
                    amount,
                    currency,
                    customer,
                    checkout_session_metadata,
                    created,
                    subscription=sub_id,
                    invoice=ids["invoice"],
                )
            return result

    def renew_subscription(
        self,
        subscription: str,
        created: int | None = None,
        invoice_metadata: dict[str, str] | None = None,
        payment_intent_metadata: dict[str, str] | None = None,
    ) -> dict[str, str | None]:
        """The next cycle's paid Invoice (billing_reason subscription_cycle), snapshotting metadata now."""
        with self.lock:
            sub = self._get(subscription, "subscription")
            if sub["status"] != "active":
                raise ValueError(f"subscription {subscription} is {sub['status']}")
            created = self._at(created)
            item = sub["items"]["data"][0]
            item.update(current_period_start=created, current_period_end=created + 30 * DAY)
            previous = {"latest_invoice": sub["latest_invoice"]}
            ids = self._bill(
                sub["customer"],
                item["price"]["unit_amount"],
                sub["currency"],
                "subscription_cycle",
                sub,
                invoice_metadata,
                payment_intent_metadata,
                created,
            )
            self._emit("customer.subscription.updated", sub, created, previous)
            return {"subscription": subscription, **ids}

    def update_subscription(
        self, id: str, metadata: dict[str, str], created: int | None = None
    ) -> dict[str, str]:
        with self.lock:
            sub = self._get(id, "subscription")
            previous = {"metadata": sub["metadata"]}
            sub["metadata"] = _merge_metadata(sub["metadata"], metadata)
            self._emit("customer.subscription.updated", sub, self._at(created), previous)
            return {"subscription": id}

    def cancel_subscription(self, id: str, created: int | None = None) -> dict[str, str]:
        with self.lock:
            sub = self._get(id, "subscription")
            created = self._at(created)
            sub.update(status="canceled", canceled_at=created, ended_at=created)
            self._emit("customer.subscription.deleted", sub, created)
            return {"subscription": id}

    def create_invoice_payment(
        self,
        customer: str,
        amount: int,
        currency: str,
        invoice_metadata: dict[str, str] | None = None,
        payment_intent_metadata: dict[str, str] | None = None,
        settlement_currency: str = "usd",
        exchange_rate: float | None = None,
        created: int | None = None,
    ) -> dict[str, str | None]:
        """A paid one-off Invoice (billing_reason manual, parent null)."""
        with self.lock:
            self._live_customer(customer)
            return self._bill(
                customer,
                amount,
                currency,
                "manual",
                None,
                invoice_metadata,
                payment_intent_metadata,
                self._at(created),
                settlement=(settlement_currency, exchange_rate),
            )

    def _bill(
        self,
        customer: str,
        amount: int,
        currency: str,
        billing_reason: str,
        subscription: dict[str, Any] | None,
        invoice_metadata: dict[str, str] | None,
        payment_intent_metadata: dict[str, str] | None,
        created: int,
        settlement: tuple[str, float | None] | None = None,
    ) -> dict[str, str | None]:
        """An invoice finalized and paid in full at once by its default payment."""
        invoice = self._open_invoice(
            customer,
            amount,
            currency,
            billing_reason,
            subscription,
            invoice_metadata,
            payment_intent_metadata,
            created,
            settlement,
        )
        return self._pay_invoice(invoice, None, created=created)

    def _open_invoice(
        self,
        customer: str,
        amount: int,
        currency: str,
        billing_reason: str,
        subscription: dict[str, Any] | None,
        invoice_metadata: dict[str, str] | None,
        payment_intent_metadata: dict[str, str] | None,
        created: int,
        settlement: tuple[str, float | None] | None = None,
    ) -> dict[str, Any]:
        """A finalized, open invoice with its default InvoicePayment (open, created at finalization,
        with an unconfirmed PaymentIntent), as Stripe creates it."""
        parent = None
        if subscription is not None:
            settlement = self._subscription_settlement[subscription["id"]]
            # The subscription's metadata is copied here once, at finalization, and never follows it again.
            parent = {
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {
                    "subscription": subscription["id"],
                    "metadata": dict(subscription["metadata"]),
                },
            }
        assert settlement is not None
        period_start = period_end = created
        if subscription is not None:
            item = subscription["items"]["data"][0]
            period_start, period_end = item["current_period_start"], item["current_period_end"]
        invoice = self._base(
            "invoice",
            created,
            amount_due=int(amount),
            amount_overpaid=0,
            amount_paid=0,
            amount_remaining=int(amount),
            amount_shipping=0,
            attempt_count=0,
            attempted=False,
            automatic_tax={
                "disabled_reason": None,
                "enabled": False,
                "liability": None,
                "provider": None,
                "status": None,
            },
            billing_reason=billing_reason,
            collection_method="charge_automatically",
            currency=currency.lower(),
            customer=customer,
            default_tax_rates=[],
            discounts=[],
            issuer={"type": "self"},
            lines={
                "object": "list",
                "data": [],
                "has_more": False,
                "url": None,
            },
            metadata=_merge_metadata({}, invoice_metadata),
            number=None,
            parent=parent,
            payment_settings={
                "default_mandate": None,
                "payment_method_options": None,
                "payment_method_types": None,
            },
            period_end=period_end,
            period_start=period_start,
            post_payment_credit_notes_amount=0,
            pre_payment_credit_notes_amount=0,
            starting_balance=0,
            status="draft",
            status_transitions={
                "finalized_at": None,
                "marked_uncollectible_at": None,
                "paid_at": None,
                "voided_at": None,
            },
            subtotal=int(amount),
            total=int(amount),
        )
        invoice["lines"]["url"] = f"/v1/invoices/{invoice['id']}/lines"
        self._invoice_settlement[invoice["id"]] = settlement
        self._emit("invoice.created", invoice, created)
        invoice.update(status="open", number=f"FAKE-{self._counter:06d}")
        invoice["status_transitions"]["finalized_at"] = created
        pi = self._new_payment_intent(
            amount,
            currency,
            customer,
            payment_intent_metadata,
            "Subscription creation" if billing_reason == "subscription_create" else None,
            created,
        )
        self._base(
            "invoice_payment",
            created,
            amount_paid=None,
            amount_requested=int(amount),
            currency=currency.lower(),
            invoice=invoice["id"],
            is_default=True,
            payment={"type": "payment_intent", "payment_intent": pi["id"]},
            status="open",
            status_transitions={"canceled_at": None, "paid_at": None},
        )
        self._emit("invoice.finalized", invoice, created)
        return invoice

    def create_invoice(
        self,
        customer: str,
        amount: int,
        currency: str,
        invoice_metadata: dict[str, str] | None = None,
        payment_intent_metadata: dict[str, str] | None = None,
        settlement_currency: str = "usd",
        exchange_rate: float | None = None,
        created: int | None = None,
    ) -> dict[str, str | None]:
        """A finalized one-off invoice left open (net terms): pay it later with `pay_invoice`."""
        with self.lock:
            self._live_customer(customer)
            invoice = self._open_invoice(
                customer,
                amount,
                currency,
                "manual",
                None,
                invoice_metadata,
                payment_intent_metadata,
                self._at(created),
                settlement=(settlement_currency, exchange_rate),
            )
            default = self._default_invoice_payment(invoice["id"])
            return {
                "invoice": invoice["id"],
                "invoice_payment": default["id"],
                "payment_intent": default["payment"]["payment_intent"],
            }

    def pay_invoice(
        self,
        invoice: str,
        amount: int | None = None,
        with_charge: bool = False,
        payment_intent_metadata: dict[str, str] | None = None,
        charge_metadata: dict[str, str] | None = None,
        created: int | None = None,
    ) -> dict[str, str | None]:
        """Pay (part of) an open invoice: the rest by its default payment, or a part by another
        PaymentIntent, or (``with_charge``) by a Charges-API charge: an InvoicePayment of type charge."""
        with self.lock:
            obj = self._get(invoice, "invoice")
            if obj["status"] != "open":
                raise ValueError(f"invoice {invoice} is {obj['status']}")
            return self._pay_invoice(
                obj,
                None if amount is None else int(amount),
                with_charge=with_charge,
                payment_intent_metadata=payment_intent_metadata,
                charge_metadata=charge_metadata,
                created=self._at(created),
            )

    def _default_invoice_payment(self, invoice_id: str) -> dict[str, Any]:
        return next(p for p in self.children("invoice_payment", invoice_id) if p["is_default"])

    def _pay_invoice(
        self,
        invoice: dict[str, Any],
        amount: int | None,
        *,
        with_charge: bool = False,
        payment_intent_metadata: dict[str, str] | None = None,
        charge_metadata: dict[str, str] | None = None,
        created: int,
    ) -> dict[str, str | None]:
        remaining = invoice["amount_remaining"]
        amount = remaining if amount is None else amount
        if not 0 < amount <= remaining:
            raise ValueError(f"amount {amount} is not within 1..{remaining} for {invoice['id']}")
        settlement_currency, rate = self._invoice_settlement[invoice["id"]]
        default = self._default_invoice_payment(invoice["id"])
        currency, customer = invoice["currency"], invoice["customer"]
        if amount == remaining and not with_charge and default["status"] == "open":
            pi = self._get(default["payment"]["payment_intent"], "payment_intent")
            pi["amount"] = amount
            pi["metadata"] = _merge_metadata(pi["metadata"], payment_intent_metadata)
            ids = self._confirm(
                pi,
                charge_metadata=charge_metadata,
                settlement_currency=settlement_currency,
                exchange_rate=rate,
                created=created,
            )
            payment = default
        else:
            if with_charge:
                ids = self._charge_without_intent(
                    amount, currency, customer, charge_metadata, settlement_currency, rate, created
                )
                paid_by = {"type": "charge", "charge": ids["charge"]}
            else:
                ids = self.create_payment(
                    amount,
                    currency,
                    customer=customer,
                    metadata=payment_intent_metadata,
                    charge_metadata=charge_metadata,
                    settlement_currency=settlement_currency,
                    exchange_rate=rate,
                    created=created,
                )
                paid_by = {"type": "payment_intent", "payment_intent": ids["payment_intent"]}
            payment = self._base(
                "invoice_payment",
                created,
                amount_paid=None,
                amount_requested=amount,
                currency=currency,
                invoice=invoice["id"],
                is_default=False,
                payment=paid_by,
                status="open",
                status_transitions={"canceled_at": None, "paid_at": None},
            )
            if default["status"] == "open":
                default["amount_requested"] = remaining - amount
        payment.update(amount_paid=amount, status="paid")
        payment["status_transitions"]["paid_at"] = created
        invoice.update(
            amount_paid=invoice["amount_paid"] + amount,
            amount_remaining=remaining - amount,
            attempt_count=invoice["attempt_count"] + 1,
            attempted=True,
        )
        self._emit("invoice_payment.paid", payment, created)
        if invoice["amount_remaining"] == 0:
            if default["status"] == "open":
                # Paid by other parts: the default payment (and its PaymentIntent) is canceled.
                default["status"] = "canceled"
                default["status_transitions"]["canceled_at"] = created
                self._get(default["payment"]["payment_intent"], "payment_intent").update(
                    status="canceled", canceled_at=created
                )
            invoice["status"] = "paid"
            invoice["status_transitions"]["paid_at"] = created
            self._emit("invoice.paid", invoice, created)
            sub_id = ((invoice.get("parent") or {}).get("subscription_details") or {}).get("subscription")
            if sub_id:
                self._get(sub_id, "subscription")["latest_invoice"] = invoice["id"]
        return {"invoice": invoice["id"], "invoice_payment": payment["id"], **ids}

    # Refunds and disputes

    def refund(
        self,
        charge: str,
        amount: int | None = None,
        status: str = "succeeded",
        metadata: dict[str, str] | None = None,
        reason: str | None = None,
        created: int | None = None,
    ) -> dict[str, str | None]:
        """A refund with its own negative BalanceTransaction (type refund) unless it failed at once.

        Only a succeeded refund counts in the charge's `amount_refunded`.
        """
        with self.lock:
            obj = self._get(charge, "charge")
            if status not in REFUND_STATUSES:
                raise ValueError(f"unknown refund status {status!r}")
            if not obj["captured"]:
                raise ValueError(f"charge {charge} has not been captured")
            remaining = obj["amount_captured"] - obj["amount_refunded"]
            amount = remaining if amount is None else int(amount)
            if not 0 < amount <= remaining:
                raise ValueError(f"refund amount {amount} is not within 1..{remaining} for {charge}")
            created = self._at(created)
            refund = self._base(
                "refund",
                created,
                amount=amount,
                balance_transaction=None,
                charge=charge,
                currency=obj["currency"],
                failure_balance_transaction=None,
                failure_reason=None,
                metadata=_merge_metadata({}, metadata),
                payment_intent=obj["payment_intent"],
                reason=reason,
                status=status,
            )
            del refund["livemode"]  # Refunds have no livemode field.
            if status in ("succeeded", "pending"):
                settled, currency, rate = self._settle_for_charge(obj, amount)
                refund["balance_transaction"] = self._balance_transaction(
                    refund["id"],
                    "refund",
                    -settled,
                    currency,
                    rate,
                    0,
                    created,
                    "refund",
                    "Refund for charge",
                )
            self._emit("refund.created", refund, created)
            if status == "succeeded":
                self._apply_refund(obj, amount, created)
            return {"refund": refund["id"], "balance_transaction": refund["balance_transaction"]}

    def _apply_refund(self, charge: dict[str, Any], amount: int, created: int) -> None:
        previous = {"amount_refunded": charge["amount_refunded"], "refunded": charge["refunded"]}
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount_captured"]
        self._emit("charge.refunded", charge, created, previous)

    def update_refund(self, id: str, status: str, created: int | None = None) -> dict[str, str | None]:
        with self.lock:
            refund = self._get(id, "refund")
            if status not in REFUND_STATUSES:
                raise ValueError(f"unknown refund status {status!r}")
            old = refund["status"]
            if old == status:
                return {"refund": id, "balance_transaction": None}
            created = self._at(created)
            charge = self._get(refund["charge"], "charge")
            refund["status"] = status
            txn = None
            if status in ("failed", "canceled") and refund["balance_transaction"]:
                settled, currency, rate = self._settle_for_charge(charge, refund["amount"])
                txn = self._balance_transaction(
                    id,
                    "refund_failure",
                    settled,
                    currency,
                    rate,
                    0,
                    created,
                    "refund_failure",
                    "Refund failure",
                )
                refund.update(failure_balance_transaction=txn, failure_reason="unknown")
            self._emit("refund.updated", refund, created, {"status": old})
            self._emit("charge.refund.updated", refund, created, {"status": old})
            if status == "succeeded":
                self._apply_refund(charge, refund["amount"], created)
            elif old == "succeeded":
                charge["amount_refunded"] -= refund["amount"]
                charge["refunded"] = False
            return {"refund": id, "balance_transaction": txn}

    def dispute(
        self, charge: str, amount: int | None = None, reason: str = "fraudulent", created: int | None = None
    ) -> dict[str, str]:
        """A dispute in needs_response; its amount and a dispute fee leave the balance at once."""
        with self.lock:
            obj = self._get(charge, "charge")
            if not obj["captured"]:
                raise ValueError(f"charge {charge} has not been captured")
            amount = obj["amount"] if amount is None else int(amount)
            created = self._at(created)
            dispute = self._base(
                "dispute",
                created,
                amount=amount,
                balance_transactions=[],
                charge=charge,
                currency=obj["currency"],
                enhanced_eligibility_types=[],
                evidence={"enhanced_evidence": {}},
                evidence_details={
                    "due_by": created + 7 * DAY,
                    "enhanced_eligibility": {},
                    "has_evidence": False,
                    "past_due": False,
                    "submission_count": 0,
                    "submission_method": "not_submitted",
                },
                is_charge_refundable=False,
                metadata={},
                payment_intent=obj["payment_intent"],
                reason=reason,
                status="needs_response",
            )
            settled, currency, rate = self._settle_for_charge(obj, amount)
            txn = self._balance_transaction(
                dispute["id"],
                "adjustment",
                -settled,
                currency,
                rate,
                self._dispute_fee(currency),
                created,
                "dispute",
                "Chargeback withdrawal",
            )
            dispute["balance_transactions"].append(txn)
            obj["disputed"] = True
            self._emit("charge.dispute.created", dispute, created)
            self._emit("charge.dispute.funds_withdrawn", dispute, created)
            return {"dispute": dispute["id"], "balance_transaction": txn}

    @staticmethod
    def _dispute_fee(currency: str) -> int:
        return 15 * 10 ** currency_exponent(currency)

    def close_dispute(self, id: str, status: str, created: int | None = None) -> dict[str, str | None]:
        """Close as won (funds and fee reinstated), lost, warning_closed or prevented; an appealed
        loss closes as won (funds reinstated) or lost again."""
        with self.lock:
            if status not in CLOSED_DISPUTE_STATUSES:
                raise ValueError(f"a dispute closes as one of {sorted(CLOSED_DISPUTE_STATUSES)}")
            dispute = self._get(id, "dispute")
            if dispute["status"] in CLOSED_DISPUTE_STATUSES:
                raise ValueError(f"dispute {id} is already {dispute['status']}")
            created = self._at(created)
            previous = {"status": dispute["status"]}
            dispute["status"] = status
            txn = None
            if status in ("won", "prevented"):
                charge = self._get(dispute["charge"], "charge")
                settled, currency, rate = self._settle_for_charge(charge, dispute["amount"])
                fee = self._dispute_fee(currency)
                txn = self._balance_transaction(
                    id, "adjustment", settled, currency, rate, -fee, created, "dispute_reversal", "Reversal"
                )
                dispute["balance_transactions"].append(txn)
                self._emit("charge.dispute.funds_reinstated", dispute, created)
            self._emit("charge.dispute.closed", dispute, created, previous)
            return {"dispute": id, "balance_transaction": txn}

    def update_dispute(self, id: str, status: str, created: int | None = None) -> dict[str, str]:
        """Move an open dispute (or an appeal) along without closing it: evidence submitted
        (``under_review``), an inquiry (``warning_*``), an appeal under review."""
        with self.lock:
            dispute = self._get(id, "dispute")
            allowed = (
                APPEAL_DISPUTE_STATUSES
                if dispute["status"] in APPEAL_DISPUTE_STATUSES
                else OPEN_DISPUTE_STATUSES
            )
            if dispute["status"] in CLOSED_DISPUTE_STATUSES or status not in allowed:
                raise ValueError(f"dispute {id} cannot go from {dispute['status']} to {status}")
            previous = {"status": dispute["status"]}
            dispute["status"] = status
            if status.endswith("under_review"):
                dispute["evidence_details"].update(has_evidence=True, submission_method="manual")
                dispute["evidence_details"]["submission_count"] += 1
            self._emit("charge.dispute.updated", dispute, self._at(created), previous)
            return {"dispute": id}

    def appeal_dispute(self, id: str, created: int | None = None) -> dict[str, str]:
        """Appeal a lost dispute: ``appeal_needs_response``; the funds stay withdrawn until it is won."""
        with self.lock:
            dispute = self._get(id, "dispute")
            if dispute["status"] != "lost":
                raise ValueError(f"only a lost dispute can be appealed, {id} is {dispute['status']}")
            previous = {"status": dispute["status"]}
            dispute["status"] = "appeal_needs_response"
            self._emit("charge.dispute.updated", dispute, self._at(created), previous)
            return {"dispute": id}

    # Connect

    def create_connected_account(self, id: str | None = None) -> dict[str, str]:
        """An account connected to this platform. Its objects are reached with the platform's keys and
        a ``Stripe-Account`` header; `connected(id)` is its own FakeStripe (sharing keys and clock)."""
        with self.lock:
            account_id = id or f"acct_fk{len(self.connected_accounts) + 1:012d}"
            account = FakeStripe(livemode=self.livemode, account=account_id)
            account.lock = self.lock
            account._keys, account._revoked = self._keys, self._revoked
            account.now = self.now  # type: ignore[method-assign]
            # Ids stay unique across accounts, as on Stripe.
            account._counter = 100_000_000 * (len(self.connected_accounts) + 1)
            self.connected_accounts[account_id] = account
            return {"account": account_id}

    def connected(self, account_id: str) -> FakeStripe:
        return self.connected_accounts[account_id]

    # Faults and stats

    def inject_fault(
        self,
        status: int | None = None,
        count: int = 1,
        path_prefix: str | None = None,
        should_retry: bool | None = None,
        delay: float = 0,
    ) -> dict[str, int]:
        """The next `count` API requests under `path_prefix` wait `delay` seconds, then answer `status`
        (or normally when status is None)."""
        with self.lock:
            self._faults.append(Fault(status, int(count), path_prefix, should_retry, float(delay)))
            return {"faults": len(self._faults)}

    def clear_faults(self) -> dict[str, int]:
        with self.lock:
            self._faults.clear()
            return {"faults": 0}

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self._faults:
                if fault.path_prefix is None or path.startswith(fault.path_prefix):
                    fault.count -= 1
                    if fault.count <= 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def record_request(self, path: str) -> None:
        with self.lock:
            self._requests += 1
            self._by_path[path] += 1

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {"requests": self._requests, "by_path": dict(self._by_path)}

    def reset_stats(self) -> dict[str, Any]:
        with self.lock:
            self._requests = 0
            self._by_path.clear()
            return self.stats()

    def idempotent_response(self, key: tuple[str, str, str]) -> Any:
        with self.lock:
            return self._idempotent.get(key)

    def remember_response(self, key: tuple[str, str, str], response: Any) -> None:
        with self.lock:
            self._idempotent[key] = response

    # Read helpers for tests

    def ground_truth(self) -> dict[str, dict[str, Any]]:
        """Per charge: what an import should end up with.

        `refunded` sums succeeded refunds (presentment currency); `refunded_settlement` is the same in
        the settlement currency from the refunds' balance transactions; `dispute_status` is the latest
        dispute's status or None; `invoice`/`subscription` come from invoice payments.
        """
        with self.lock:
            # Only a paid InvoicePayment links a charge to its invoice.
            paid = [p for p in self._tables["invoice_payment"].values() if p["status"] == "paid"]
            invoice_by_payment = {
                p["payment"].get("payment_intent") or p["payment"].get("charge"): p["invoice"] for p in paid
            }
            txns = self._tables["balance_transaction"]
            truth = {}
            for charge in self._tables["charge"].values():
                settlement_currency = self._settlement[charge["id"]][0]
                txn = txns.get(charge["balance_transaction"] or "")
                refunds = [
                    r
                    for r in self._tables["refund"].values()
                    if r["charge"] == charge["id"] and r["status"] == "succeeded"
                ]
                disputes = sorted(
                    (d for d in self._tables["dispute"].values() if d["charge"] == charge["id"]),
                    key=lambda d: (d["created"], d["id"]),
                )
                invoice_id = invoice_by_payment.get(charge["payment_intent"] or charge["id"])
                invoice = self._tables["invoice"].get(invoice_id or "")
                parent = (invoice or {}).get("parent") or {}
                truth[charge["id"]] = {
                    "amount": charge["amount"],
                    "currency": charge["currency"],
                    "status": charge["status"],
                    "captured": charge["captured"],
                    "created": charge["created"],
                    "customer": charge["customer"],
                    "payment_intent": charge["payment_intent"],
                    "metadata": dict(charge["metadata"]),
                    "settlement_currency": settlement_currency,
                    "settlement_amount": txn["amount"] if txn else None,
                    "fee": txn["fee"] if txn else None,
                    "net": txn["net"] if txn else None,
                    "exchange_rate": txn["exchange_rate"] if txn else None,
                    "refunded": sum(r["amount"] for r in refunds),
                    "refunded_settlement": -sum(txns[r["balance_transaction"]]["amount"] for r in refunds),
                    "dispute_status": disputes[-1]["status"] if disputes else None,
                    "invoice": invoice_id,
                    "subscription": (parent.get("subscription_details") or {}).get("subscription"),
                }
            return truth

    def _at(self, created: int | None) -> int:
        return self.now() if created is None else int(created)


class _ApiRequestScope:
    def __init__(self, state: FakeStripe, request_id: str):
        self.state = state
        self.request_id = request_id

    def __enter__(self) -> FakeStripe:
        self.state.lock.acquire()
        self.state._request_id = self.request_id
        return self.state

    def __exit__(self, *exc: object) -> None:
        self.state._request_id = None
        self.state.lock.release()
