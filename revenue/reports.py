"""Revenue figures of a site on their own: the Revenue tab's connection health and the report currency.

The revenue half of the dashboard and API widgets, which combines payments with traffic, lives above
the apps in ``humblytics.reports.revenue``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q, Sum

from revenue.models import Payment, Refund, StripeConnection
from tracking.models import Site

# Attribution sets a reason on every payment it cannot link; a payment with neither a session nor a
# reason was imported by a sync that stopped (a database outage, a kill) before its attribution step.
_PENDING = Q(session__isnull=True, unattributed_reason="")


@dataclass(frozen=True)
class ConnectionHealth:
    payments: int
    attributed: int
    unattributed: int
    pending: int  # imported by a sync that stopped before attributing them: no verdict yet
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
        pending=Count("id", filter=_PENDING),
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
    # A share over payments that a half-finished sync imported but never attributed would be wrong.
    if net and not totals["pending"]:
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
        unattributed=totals["count"] - totals["attributed"] - totals["pending"],
        pending=totals["pending"],
        refunds=Refund.objects.filter(payment__site=site, status="succeeded").count(),
        disputes=totals["disputes"],
        net_by_currency=net,
        attributed_share=share,
        backfill_days_done=days_done,
        backfill_days_total=days_total,
    )


def latest_unattributed(site: Site, limit: int = 20) -> list[Payment]:
    """Payments attribution looked at and could not link (pending ones have no reason yet)."""
    payments = Payment.objects.filter(site=site, session__isnull=True).exclude(_PENDING)
    return list(payments.order_by("-created_at")[:limit])


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
