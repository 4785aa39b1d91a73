"""From stored views and payments to per-variant figures (``VariantData``) for ``results.evaluate``.

A visitor (cookie-free visitor hash) is exposed at their first view carrying one of the test's
variant keys on that variant's page, within the test's run. A revenue conversion is attributed net
revenue, through payment → session → visitor, created after that exposure and before the test
stopped, reaching the target (Any Revenue: above zero). A page-view or goal conversion is a visit to
the goal page, or a completion of the site's goal (``tracking.goals.hits``: a custom event by name, a
view matching a page pattern), after the visitor's exposure and before the test stopped, counted
once per visitor.

Revenue is counted in the test's currency only (amounts of different currencies are never added):
the site's settlement currency fixed when the test was launched, or, for a test launched before the
site had any payment, the currency holding most of the test's own revenue, so that a payment
elsewhere on the site cannot switch it. Payments in any other currency are counted per currency and
reported as excluded, never dropped silently.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from revenue.models import Payment
from splittests.models import SplitTest
from tracking import goals
from tracking.models import View


@dataclass(frozen=True, slots=True)
class VariantData:
    """What the app measured for one variant.

    ``revenue_values`` holds the attributed net revenue (minor units) of each exposed visitor who
    has any, one entry per visitor, zeros left out to keep memory small: the other
    ``visitors - len(revenue_values)`` visitors count as 0 in every statistic.
    """

    key: str
    name: str
    is_control: bool
    visitors: int
    conversions: int
    revenue_values: Sequence[int]
    orders: int = 0  # payments counted in revenue_values


@dataclass(frozen=True, slots=True)
class Measured:
    variants: list[VariantData]
    currency: str | None  # lower case; None when there is no payment to take one from
    excluded_payments: dict[str, int]  # currency (lower case) → payments left out of the figures


def exposures(test: SplitTest, end: dt.datetime) -> dict[str, tuple[str, dt.datetime]]:
    """visitor hash → (variant key, first exposure time)."""
    variants = list(test.variants.all())
    if test.started_at is None or not variants:
        return {}
    match = Q()
    for variant in variants:
        match |= Q(variant=variant.key, page=variant.path)
    rows = (
        View.objects.filter(site=test.site, created_at__gte=test.started_at, created_at__lte=end)
        .filter(match)
        .order_by("created_at", "pk")
        .values_list("session__visitor_hash", "variant", "created_at")
    )
    first: dict[str, tuple[str, dt.datetime]] = {}
    for visitor, key, created_at in rows.iterator(chunk_size=5000):
        # Stripe's created times have one-second resolution: compare at that resolution.
        first.setdefault(visitor, (key, created_at.replace(microsecond=0)))
    return first


def _payments(test: SplitTest, exposed: dict, end: dt.datetime) -> list[tuple[str, str, int]]:
    """(visitor, settlement currency, net) of every payment made by an exposed visitor after their
    exposure and before the end, in any currency."""
    rows = Payment.objects.filter(
        site=test.site,
        session__isnull=False,
        created_at__gte=test.started_at.replace(microsecond=0),
        created_at__lte=end,
    ).values_list("session__visitor_hash", "created_at", "settlement_currency", "net")
    found = []
    for visitor, created_at, currency, net in rows.iterator(chunk_size=5000):
        exposure = exposed.get(visitor)
        if exposure is not None and created_at >= exposure[1]:
            found.append((visitor, currency.lower(), net))
    return found


def _currency(test: SplitTest, payments: list[tuple[str, str, int]]) -> str | None:
    if test.currency:
        return test.currency.lower()
    totals: dict[str, int] = defaultdict(int)
    for _, currency, net in payments:
        totals[currency] += net
    return min(totals, key=lambda c: (-totals[c], c)) if totals else None


def _completions(test: SplitTest, end: dt.datetime):
    """(visitor hash, time) of every completion of the test's page-view or site goal in its run."""
    if test.goal_type == SplitTest.GoalType.PAGEVIEW:
        return View.objects.filter(
            site=test.site, page=test.goal_page, created_at__gte=test.started_at, created_at__lte=end
        ).values_list("session__visitor_hash", "created_at")
    # hits() ends before ``end``; the run includes it, as for exposures and payments.
    rows = goals.hits(test.goal, test.started_at, end + dt.timedelta(microseconds=1))
    # An event that arrived before its page view has no session yet: it is not counted until the
    # view is stored and links it (then its visitor hash is known to belong to a real session).
    return rows.filter(session_id__isnull=False).values_list("visitor_hash", "at")


def _goal_visitors(test: SplitTest, exposed: dict, end: dt.datetime) -> set[str]:
    """Exposed visitors who completed the goal after their exposure (a visitor counts once)."""
    converted: set[str] = set()
    for visitor, created_at in _completions(test, end).iterator(chunk_size=5000):
        exposure = exposed.get(visitor)
        if exposure is not None and created_at >= exposure[1]:
            converted.add(visitor)
    return converted


def collect(test: SplitTest, now: dt.datetime | None = None) -> Measured:
    end = test.stopped_at or now or timezone.now()
    exposed = exposures(test, end)
    per_visitor: dict[str, int] = defaultdict(int)
    orders: dict[str, int] = defaultdict(int)
    excluded: dict[str, int] = defaultdict(int)
    converted: set[str] = set()
    currency = test.currency.lower() or None
    if test.started_at is not None and exposed:
        payments = _payments(test, exposed, end)
        currency = _currency(test, payments)
        for visitor, payment_currency, net in payments:
            if payment_currency != currency:
                excluded[payment_currency] += 1
                continue
            per_visitor[visitor] += net
            # A fully refunded payment is no order: average order = revenue / orders stays honest.
            orders[visitor] += net > 0
        if test.goal_type == SplitTest.GoalType.REVENUE:
            target = test.revenue_target
            converted = {v for v, total in per_visitor.items() if (total >= target if target else total > 0)}
        elif test.goal_page if test.goal_type == SplitTest.GoalType.PAGEVIEW else test.goal_id:
            converted = _goal_visitors(test, exposed, end)
    counts: dict[str, int] = defaultdict(int)
    conversions: dict[str, int] = defaultdict(int)
    order_counts: dict[str, int] = defaultdict(int)
    revenues: dict[str, list[int]] = defaultdict(list)
    for visitor, (key, _) in exposed.items():
        counts[key] += 1
        conversions[key] += visitor in converted
        order_counts[key] += orders.get(visitor, 0)
        if per_visitor.get(visitor):
            revenues[key].append(per_visitor[visitor])
    data = [
        VariantData(
            key=v.key,
            name=v.name,
            is_control=v.is_control,
            visitors=counts[v.key],
            conversions=conversions[v.key],
            revenue_values=revenues[v.key],
            orders=order_counts[v.key],
        )
        for v in test.variants.all()
    ]
    return Measured(data, currency, dict(sorted(excluded.items())))
