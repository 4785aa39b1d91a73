"""From stored views and payments to per-variant figures (``VariantData``) for ``results.evaluate``.

A visitor (cookie-free visitor hash) is exposed at their first view carrying one of the test's
variant keys on that variant's page, within the test's run. A revenue conversion is attributed net
revenue, through payment → session → visitor, created after that exposure and before the test
stopped, reaching the target (Any Revenue: above zero). Revenue is counted in the site's report
currency only: amounts of different currencies are never added.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from revenue.models import Payment
from revenue.reports import report_currency
from splittests.models import SplitTest
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


def collect(test: SplitTest, now: dt.datetime | None = None) -> tuple[list[VariantData], str | None]:
    end = test.stopped_at or now or timezone.now()
    exposed = exposures(test, end)
    currency = report_currency(test.site)
    per_visitor: dict[str, int] = defaultdict(int)
    converted: set[str] = set()
    if test.started_at is not None and exposed:
        if test.goal_type == SplitTest.GoalType.REVENUE and currency:
            payments = Payment.objects.filter(
                site=test.site,
                session__isnull=False,
                settlement_currency=currency,
                created_at__gte=test.started_at.replace(microsecond=0),
                created_at__lte=end,
            ).values_list("session__visitor_hash", "created_at", "net")
            for visitor, created_at, net in payments.iterator(chunk_size=5000):
                exposure = exposed.get(visitor)
                if exposure is not None and created_at >= exposure[1]:
                    per_visitor[visitor] += net
            target = test.revenue_target
            converted = {v for v, total in per_visitor.items() if (total >= target if target else total > 0)}
        elif test.goal_type == SplitTest.GoalType.PAGEVIEW and test.goal_page:
            goal_views = View.objects.filter(
                site=test.site, page=test.goal_page, created_at__gte=test.started_at, created_at__lte=end
            ).values_list("session__visitor_hash", "created_at")
            for visitor, created_at in goal_views.iterator(chunk_size=5000):
                exposure = exposed.get(visitor)
                if exposure is not None and created_at >= exposure[1]:
                    converted.add(visitor)
    counts: dict[str, int] = defaultdict(int)
    conversions: dict[str, int] = defaultdict(int)
    revenues: dict[str, list[int]] = defaultdict(list)
    for visitor, (key, _) in exposed.items():
        counts[key] += 1
        if visitor in converted:
            conversions[key] += 1
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
        )
        for v in test.variants.all()
    ]
    return data, currency
