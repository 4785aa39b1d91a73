"""Demo payments: charges built in the project's fake Stripe server, then imported by the real sync, so
attribution is the real one too. Deterministic from the stored views (see ``conversions``)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple
from urllib.parse import urlsplit

from django.conf import settings

from humblytics.demo.audience import EURO_COUNTRIES, pick
from humblytics.demo.conversions import Conversion, conversions
from humblytics.demo.shop import SEED, Log
from revenue.connections import connect_stripe
from revenue.fakestripe import FakeStripeControl, FakeStripeControlError
from revenue.models import VIEW_ID_KEY, Payment, StripeConnection, SyncRun
from revenue.stripe_client import KeyProblem
from revenue.sync import describe, sync_connection
from tracking.models import Site

# (amount in minor units, currency) per plan; EUR and JPY prices are the local price list.
PRICES = {
    ("starter", "monthly", "usd"): 2900,
    ("pro", "monthly", "usd"): 7900,
    ("starter", "annual", "usd"): 29000,
    ("pro", "annual", "usd"): 79000,
    ("starter", "monthly", "eur"): 2700,
    ("pro", "monthly", "eur"): 7500,
    ("starter", "annual", "eur"): 27000,
    ("pro", "annual", "eur"): 75000,
    ("starter", "monthly", "jpy"): 4500,
    ("pro", "monthly", "jpy"): 12000,
    ("starter", "annual", "jpy"): 45000,
    ("pro", "annual", "jpy"): 120000,
}
EXCHANGE_RATES = {"eur": 1.085, "jpy": 0.0067}
ONE_OFF_PLACEMENTS = (("payment_intent", 4), ("checkout_session", 3), ("invoice", 1.5), ("customer", 1.5))
RECURRING_PLACEMENTS = (("subscription", 4.5), ("checkout_session", 3.5), ("customer", 2))
# The first conversions cover every metadata placement, whatever the scale.
FIRST_PLACEMENTS = [
    ("subscription", "monthly"),
    ("payment_intent", "annual"),
    ("checkout_session", "annual"),
    ("invoice", "annual"),
    ("customer", "monthly"),
    ("checkout_session", "monthly"),
]
MONTH = 30 * 86400
UNKNOWN_VIEW_ID = "a9Zq3LmX0pTr7uVw2yBc4d"


@dataclass
class StripeSummary:
    charges: int = 0
    subscriptions: int = 0
    renewals: int = 0
    refunds: int = 0
    disputes: int = 0
    untagged: int = 0
    currencies: Counter = field(default_factory=Counter)
    placements: Counter = field(default_factory=Counter)


@dataclass(frozen=True)
class _Sale:
    """One conversion's purchase: where its view id goes, its billing and its price."""

    conversion: Conversion
    email: str
    placement: str
    billing: str
    currency: str
    amount: int

    @property
    def settle(self) -> dict:
        return {"settlement_currency": "usd", "exchange_rate": EXCHANGE_RATES.get(self.currency)}


class _Charge(NamedTuple):
    id: str
    created: int
    amount: int
    kind: str  # "one-off" or "subscription"


class _Builder:
    """Calls the fake Stripe's builder methods, counting what it made."""

    def __init__(self, control: FakeStripeControl):
        self.control = control
        self.summary = StripeSummary()

    def call(self, method: str, **kwargs) -> dict:
        return self.control.call(method, **kwargs)

    def customer(self, email: str, at: int, view_id: str | None = None) -> str:
        metadata = {VIEW_ID_KEY: view_id} if view_id else None
        return self.call("create_customer", email=email, metadata=metadata, created=at)["customer"]


def populate_fake_stripe(
    site: Site, control: FakeStripeControl, log: Log = lambda message: None
) -> StripeSummary:
    """Create the demo's charges in the fake Stripe, deterministically from the site's views."""
    plan, anchor = conversions(site)
    sales = _sales(random.Random(SEED + 2), plan)
    builder = _Builder(control)
    builder.summary.placements.update(sale.placement for sale in sales)
    builder.summary.currencies.update(sale.currency for sale in sales)
    charges = [_buy(builder, sale, anchor) for sale in sales]
    _pay_untagged(builder, plan, anchor)
    _refund_and_dispute(builder, charges, anchor)
    return builder.summary


def _sales(rng: random.Random, plan: list[Conversion]) -> list[_Sale]:
    forced = list(FIRST_PLACEMENTS)
    currencies: Counter = Counter()
    sales = []
    for index, conversion in enumerate(plan):
        if forced:
            placement, billing = forced.pop(0)
        else:
            annual_share = {"": 0.35, "control": 0.3, "b": 0.5}[conversion.variant]
            billing = "annual" if rng.random() < annual_share else "monthly"
            placement = pick(rng, ONE_OFF_PLACEMENTS if billing == "annual" else RECURRING_PLACEMENTS)
        tier = "pro" if rng.random() < 0.35 else "starter"
        currency = _currency(conversion.country, index, currencies)
        currencies[currency] += 1
        amount = PRICES[(tier, billing, currency)]
        sales.append(
            _Sale(conversion, f"customer{index + 1}@example.org", placement, billing, currency, amount)
        )
    return sales


def _currency(country: str, index: int, so_far: Counter) -> str:
    """The local currency, except that the demo always shows one JPY sale and an early EUR one."""
    if not so_far["jpy"] and (country == "JP" or index == 7):
        return "jpy"
    if index == 4 and not so_far["eur"]:
        return "eur"  # even a small demo shows a foreign currency settled in USD
    return "eur" if country in EURO_COUNTRIES else "usd"


def _buy(builder: _Builder, sale: _Sale, anchor: int) -> _Charge:
    if sale.billing == "annual":
        return _buy_once(builder, sale)
    return _subscribe(builder, sale, anchor)


def _buy_once(builder: _Builder, sale: _Sale) -> _Charge:
    view_id, at, amount, currency = sale.conversion.view_id, sale.conversion.at, sale.amount, sale.currency
    tag = {VIEW_ID_KEY: view_id}
    if sale.placement == "payment_intent":
        ids = builder.call(
            "create_payment", amount=amount, currency=currency, metadata=tag, created=at, **sale.settle
        )
    elif sale.placement == "checkout_session":
        ids = builder.call(
            "create_checkout_payment",
            amount=amount,
            currency=currency,
            session_metadata=tag,
            created=at,
            **sale.settle,
        )
    elif sale.placement == "invoice":
        customer = builder.customer(sale.email, at)
        ids = builder.call(
            "create_invoice_payment",
            customer=customer,
            amount=amount,
            currency=currency,
            invoice_metadata=tag,
            created=at,
            **sale.settle,
        )
    else:
        customer = builder.customer(sale.email, at, view_id)
        ids = builder.call(
            "create_payment", amount=amount, currency=currency, customer=customer, created=at, **sale.settle
        )
    builder.summary.charges += 1
    return _Charge(ids["charge"], at, amount, "one-off")


def _subscribe(builder: _Builder, sale: _Sale, anchor: int) -> _Charge:
    """A monthly subscription tagged at ``sale.placement``, renewed every 30 days up to ``anchor``."""
    view_id, at = sale.conversion.view_id, sale.conversion.at
    tag = {VIEW_ID_KEY: view_id}
    if sale.placement == "subscription":
        customer, tagging = builder.customer(sale.email, at), {"metadata": tag}
    elif sale.placement == "checkout_session":
        customer, tagging = builder.customer(sale.email, at), {"checkout_session_metadata": tag}
    else:
        customer, tagging = builder.customer(sale.email, at, view_id), {}
    ids = builder.call(
        "create_subscription",
        customer=customer,
        amount=sale.amount,
        currency=sale.currency,
        **tagging,
        created=at,
        **sale.settle,
    )
    summary = builder.summary
    summary.subscriptions += 1
    summary.charges += 1
    renewal = at + MONTH
    while renewal <= anchor:
        builder.call("renew_subscription", subscription=ids["subscription"], created=renewal)
        summary.renewals += 1
        summary.charges += 1
        renewal += MONTH
    return _Charge(ids["charge"], at, sale.amount, "subscription")


def _pay_untagged(builder: _Builder, plan: list[Conversion], anchor: int) -> None:
    # Payments nobody can attribute: paid by bank transfer or from a page without the snippet...
    start = min((c.at for c in plan), default=anchor - 86400)
    for index in range(4):
        at = start + (anchor - start) * (index + 1) // 5
        if index % 2:
            customer = builder.customer(f"enterprise{index}@example.org", at)
            builder.call(
                "create_invoice_payment", customer=customer, amount=150000, currency="usd", created=at
            )
        else:
            builder.call("create_payment", amount=4900, currency="usd", description="Phone order", created=at)
        builder.summary.untagged += 1
        builder.summary.charges += 1
    # ...and one whose view never reached the tracker (an ad blocker ate the beacon).
    builder.call(
        "create_payment",
        amount=7900,
        currency="usd",
        metadata={VIEW_ID_KEY: UNKNOWN_VIEW_ID},
        created=anchor - 3 * 86400,
    )
    builder.summary.untagged += 1
    builder.summary.charges += 1


def _refund_and_dispute(builder: _Builder, charges: list[_Charge], anchor: int) -> None:
    """A partial refund and a dispute lost, on payments old enough for the story to have played out."""
    old_enough = [c for c in charges if c.created + 12 * 86400 <= anchor]
    # Refund an annual plan (the usual "we changed our mind" case) when there is one.
    old_enough.sort(key=lambda c: c.kind != "one-off")
    if old_enough:
        charge = old_enough.pop(0)
        builder.call(
            "refund",
            charge=charge.id,
            amount=charge.amount // 2,
            reason="requested_by_customer",
            created=charge.created + 3 * 86400,
        )
        builder.summary.refunds += 1
    if old_enough:
        charge = old_enough[len(old_enough) // 2]
        dispute = builder.call(
            "dispute", charge=charge.id, reason="fraudulent", created=charge.created + 2 * 86400
        )
        builder.call(
            "close_dispute", id=dispute["dispute"], status="lost", created=charge.created + 11 * 86400
        )
        builder.summary.disputes += 1


def is_local_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1")


@dataclass
class PaymentsOutcome:
    message: str
    created: StripeSummary | None = None
    run: SyncRun | None = None


def setup_payments(site: Site, *, url: str, key: str, days: int) -> PaymentsOutcome:
    """Fill the fake Stripe at ``url`` (if empty), connect the site with ``key`` and sync once.

    Idempotent: an empty fake gets the same plan again (same Stripe ids, so the sync finds nothing
    new); a fake that already holds charges is only synced, or left alone if the site is not
    connected to it (its charges belong to an earlier demo site).
    """
    control = FakeStripeControl(url, timeout=30)
    try:
        existing = len(control.call("ground_truth"))
    except (FakeStripeControlError, OSError) as exc:
        return PaymentsOutcome(f"Payments skipped: no fake Stripe answers at {url} ({exc}).")
    connection = StripeConnection.objects.filter(site=site).first()
    created = None
    if existing == 0:
        created = populate_fake_stripe(site, control)
        known = set(Payment.objects.filter(site=site).values_list("stripe_id", flat=True))
        if known - set(control.call("ground_truth")):
            return PaymentsOutcome(
                "Payments skipped: the rebuilt fake Stripe data does not match the payments imported "
                "earlier; run `manage.py demo --reset` to rebuild the demo.",
                created,
            )
    elif connection is None:
        return PaymentsOutcome(
            f"Payments skipped: the fake Stripe at {url} already holds {existing} charges from an earlier "
            "demo. Restart it (`make run` starts a fresh one) to import demo payments."
        )
    # The throttle protects a real Stripe account's shared rate limit; a loopback fake has none.
    saved = settings.STRIPE_REQUESTS_PER_SECOND_TEST
    settings.STRIPE_REQUESTS_PER_SECOND_TEST = max(saved, 500)
    try:
        if connection is None:
            try:
                connection = connect_stripe(site, key, backfill_days=days + 2)
            except KeyProblem as exc:
                return PaymentsOutcome(
                    f"Payments skipped: the fake Stripe refused the demo key: {exc}", created
                )
        run = sync_connection(connection.pk)
    finally:
        settings.STRIPE_REQUESTS_PER_SECOND_TEST = saved
    return PaymentsOutcome(f"Stripe sync: {describe(run)}", created, run)
