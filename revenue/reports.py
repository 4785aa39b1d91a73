"""Revenue figures: the Revenue tab's connection health, and the revenue half of the dashboard and API
reports (``tracking.stats`` calls these with its ``Query``).

Report money is minor units of one settlement currency per site (``report_currency``): Stripe's own
conversion of each charge, so payments in other settlement currencies are left out, never mixed.
A payment counts by its charge time; its refunds and lost disputes reduce it wherever they fall.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Trunc

from revenue.models import Payment, Refund, StripeConnection
from tracking.models import Site

if TYPE_CHECKING:
    import datetime as dt

    from tracking.stats import Query


@dataclass(frozen=True)
class ConnectionHealth:
    payments: int
    attributed: int
    unattributed: int
    refunds: int
    disputes: int
    net_by_currency: dict[str, int]
    attributed_share: float | None
    backfill_days_done: int | None
    backfill_days_total: int | None


def connection_health(site: Site, connection: StripeConnection | None) -> ConnectionHealth:
    payments = Payment.objects.filter(site=site)
    totals = payments.aggregate(
        count=Count("id"),
        attributed=Count("id", filter=Q(session__isnull=False)),
        disputes=Count("id", filter=Q(status__in=[Payment.Status.DISPUTED, Payment.Status.DISPUTE_LOST])),
    )
    net = {
        row["settlement_currency"]: row["net"]
        for row in payments.values("settlement_currency")
        .annotate(net=Sum("net"))
        .order_by("settlement_currency")
    }
    # The share is in the settlement currency with the most revenue: never mix currencies.
    share = None
    if net:
        currency = max(net, key=lambda c: net[c])
        in_currency = payments.filter(settlement_currency=currency)
        total = net[currency]
        attributed = in_currency.filter(session__isnull=False).aggregate(s=Sum("net"))["s"] or 0
        share = attributed / total if total > 0 else None
    days_done = days_total = None
    if connection is not None and connection.backfill_completed_at is None and connection.backfill_started_at:
        days_total = connection.backfill_days
        if connection.backfill_reached_at:
            days_done = min(
                days_total, (connection.backfill_started_at - connection.backfill_reached_at).days
            )
        else:
            days_done = 0
    return ConnectionHealth(
        payments=totals["count"],
        attributed=totals["attributed"],
        unattributed=totals["count"] - totals["attributed"],
        refunds=Refund.objects.filter(payment__site=site, status="succeeded").count(),
        disputes=totals["disputes"],
        net_by_currency=net,
        attributed_share=share,
        backfill_days_done=days_done,
        backfill_days_total=days_total,
    )


def latest_unattributed(site: Site, limit: int = 20) -> list[Payment]:
    return list(Payment.objects.filter(site=site, session__isnull=True).order_by("-created_at")[:limit])


def report_currency(site: Site) -> str | None:
    """The settlement currency holding the most net revenue among all the site's payments (lower case,
    ties by code), or None without payments. All report money is in it."""
    row = (
        Payment.objects.filter(site=site)
        .values("settlement_currency")
        .annotate(net=Sum("net"))
        .order_by("-net", "settlement_currency")
        .first()
    )
    return row["settlement_currency"].lower() if row else None


def payments_in_range(q: Query) -> QuerySet[Payment]:
    """Payments made in range, in the report currency, matching the filters.

    Under any filter only attributed payments can match: the filters apply to the payment's session
    (``page``: the session has a view of that page, at any time, so an older visit still counts).
    """
    payments = Payment.objects.filter(
        site=q.site,
        settlement_currency=q.currency or "",
        created_at__gte=q.start_at,
        created_at__lt=q.end_at,
    )
    if q.filters:
        payments = q.apply_filters(payments.filter(session__isnull=False), "session", page_in_range=False)
    return payments


def _ratio(part: float | None, whole: float | None) -> float | None:
    return (part or 0) / whole if whole else None


def _paid_by_range_visitor(q: Query, dimension: str | None = None) -> Q:
    """The payment's visitor (its session's hash) is a visitor of the range, with the payment's value of
    ``dimension`` when given (for ``page``: viewed the attributed view's page in range).

    An EXISTS per payment, found through the (site, visitor_hash, last_seen_at) index: a payment's
    visitor has few sessions, while the range may hold hundreds of thousands. Without filters a payment
    whose own session (or attributed view) is in range needs no lookup at all.
    """
    start_at, end_at = q.bounds()
    if dimension == "page":
        views = q.views().filter(
            session__visitor_hash=OuterRef("session__visitor_hash"),
            session__last_seen_at__gte=start_at,
            page=OuterRef("matched_view__page"),
        )
        found = Q(Exists(views))
        if not q.filters:
            own = Q(
                matched_view__session=F("session"),
                matched_view__created_at__gte=start_at,
                matched_view__created_at__lt=end_at,
            )
            found = own | found
        return found
    match = {dimension: OuterRef(f"session__{dimension}")} if dimension else {}
    sessions = q.sessions().filter(
        visitor_hash=OuterRef("session__visitor_hash"), last_seen_at__gte=start_at, **match
    )
    found = Q(Exists(sessions))
    if not q.filters:
        found = Q(session__started_at__gte=start_at, session__started_at__lt=end_at) | found
    return found


def revenue_summary(q: Query, visitors: int) -> dict[str, Any]:
    """``{revenue, gross_revenue, refunded, payments, conversion_rate, revenue_per_visitor,
    attributed_share, currency}`` for the range; ``visitors`` is the range's visitor count.

    ``revenue`` is net (captured - refunds - lost disputes) of every payment in range, attributed or not;
    ``conversion_rate`` counts the range's visitors whose hash is on an attributed payment's session;
    ``revenue_per_visitor`` is attributed net / visitors (fractional minor units).
    """
    converted = _paid_by_range_visitor(q)
    totals = payments_in_range(q).aggregate(
        revenue=Sum("net"),
        gross=Sum("settlement_amount"),
        refunded=Sum("refunded"),
        payments=Count("id"),
        attributed=Sum("net", filter=Q(session__isnull=False)),
        converters=Count("session__visitor_hash", distinct=True, filter=Q(session__isnull=False) & converted),
    )
    revenue = totals["revenue"] or 0
    return {
        "revenue": revenue,
        "gross_revenue": totals["gross"] or 0,
        "refunded": totals["refunded"] or 0,
        "payments": totals["payments"],
        "conversion_rate": _ratio(totals["converters"], visitors),
        "revenue_per_visitor": _ratio(totals["attributed"], visitors),
        "attributed_share": (totals["attributed"] or 0) / revenue if revenue > 0 else None,
        "currency": q.currency,
    }


def revenue_by_dimension(
    q: Query,
    dimension: str,
    *,
    values: list[str] | None = None,
    exclude: list[str] | None = None,
    limit: int | None = None,
) -> dict[str, dict[str, int]]:
    """Attributed payments in range per value of their session's ``dimension`` (``page``: the page of
    the attributed view): ``{value: {revenue, payments, converters}}``, most revenue first.

    ``converters`` are distinct visitors of the row (sessions in range with that value, or views in
    range of that page) whose hash is on one of the row's payments' sessions.
    """
    key = "matched_view__page" if dimension == "page" else f"session__{dimension}"
    converted = _paid_by_range_visitor(q, dimension)
    payments = payments_in_range(q).filter(session__isnull=False)
    if values is not None:
        payments = payments.filter(**{f"{key}__in": values})
    if exclude:
        payments = payments.exclude(**{f"{key}__in": exclude})
    rows = (
        payments.values(key)
        .annotate(
            revenue=Sum("net"),
            payments=Count("id"),
            converters=Count("session__visitor_hash", distinct=True, filter=converted),
        )
        .order_by("-revenue", "-payments", key)
    )
    if limit is not None:
        rows = rows[:limit]
    result: dict[str, dict[str, int]] = {}
    for row in rows:
        # A payment whose view was deleted has no page: it joins the empty value.
        value = row[key] or ""
        into = result.setdefault(value, {"revenue": 0, "payments": 0, "converters": 0})
        into["revenue"] += row["revenue"] or 0
        into["payments"] += row["payments"]
        into["converters"] += row["converters"]
    return result


def revenue_timeseries(q: Query, granularity: str) -> dict[dt.datetime, dict[str, int]]:
    """Net revenue and payment count of ``payments_in_range`` per bucket, keyed like
    ``tracking.stats.bucket_starts`` (naive local datetimes in ``q.tz``)."""
    rows = (
        payments_in_range(q)
        .annotate(bucket=Trunc("created_at", granularity, tzinfo=q.tz))
        .values("bucket")
        .annotate(revenue=Sum("net"), payments=Count("id"))
        .order_by()
    )
    return {
        row["bucket"].replace(tzinfo=None): {"revenue": row["revenue"] or 0, "payments": row["payments"]}
        for row in rows
    }
