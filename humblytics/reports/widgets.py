"""The widgets of the dashboard and the reports API: each joins its traffic half
(``humblytics.reports.traffic``) and its revenue half (``humblytics.reports.revenue``) over one
``Query``. Rollups make the unfiltered figures cheap; the figures are exactly the raw ones.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from humblytics.lib.countries import country_name
from humblytics.reports import goals as goals_half
from humblytics.reports import grouped
from humblytics.reports import revenue as revenue_half
from humblytics.reports import traffic as traffic_half
from humblytics.reports.query import (
    GOAL_FILTER,
    GRANULARITIES,
    MAX_HOURLY_DAYS,
    ORDERS,
    Query,
    QueryError,
    bucket_starts,
    check_dimension,
)
from revenue.models import Payment, StripeConnection
from tracking.dimensions import DIMENSIONS
from tracking.models import Goal, Session, Site, View

# "Visitors now": a visitor whose visit had a page view this recently.
NOW_WINDOW = dt.timedelta(minutes=5)


def summary(q: Query) -> dict[str, Any]:
    """Headline figures. Ratios are 0..1 floats, money is minor units of ``currency``.

    ``bounce_rate``, ``views_per_session`` and ``avg_duration_seconds`` are null without sessions;
    ``conversion_rate`` and ``revenue_per_visitor`` are null without visitors; ``attributed_share`` is
    null without revenue. ``views_per_session`` is the mean view count of the range's sessions and
    ``avg_duration_seconds`` the mean first-to-last-view time, single-view sessions counting as 0
    (rounded to the microsecond).
    """
    traffic = traffic_half.traffic_summary(q)
    visitors = traffic["visitors"]
    sessions = traffic["sessions"]
    revenue = revenue_half.revenue_summary(q, visitors)
    return {
        "visitors": visitors,
        "sessions": sessions,
        "pageviews": traffic["pageviews"],
        "bounce_rate": revenue_half.ratio(traffic["bounces"], sessions),
        "revenue": revenue["revenue"],
        "gross_revenue": revenue["gross_revenue"],
        "refunded": revenue["refunded"],
        "payments": revenue["payments"],
        "conversion_rate": revenue["conversion_rate"],
        "revenue_per_visitor": revenue["revenue_per_visitor"],
        "attributed_share": revenue["attributed_share"],
        "currency": revenue["currency"],
        "views_per_session": revenue_half.ratio(traffic["session_views"], sessions),
        "avg_duration_seconds": (traffic["duration"] / sessions).total_seconds() if sessions else None,
    }


def breakdown(
    q: Query, dimension: str, *, order_by: str = "visitors", limit: int | None = None
) -> list[dict[str, Any]]:
    """One row per value of ``dimension``: ``{value, visitors, sessions, pageviews, revenue, payments,
    conversion_rate, revenue_per_visitor}``.

    Traffic columns count the range's sessions (page views and, for ``page``, views by their time).
    Revenue columns count attributed payments in range only, by the payment's session's value (for
    ``page``: the page of the view the payment was attributed to). A value can have revenue and no
    visitors in range (a payment from an older visit); its ratios are then null. ``conversion_rate`` =
    the row's visitors who paid through a session with that value / the row's visitors. ``order_by``
    "visitors" sorts by visitors, sessions, value (then revenue-only values by revenue); "revenue" by
    revenue, payments, value (then traffic-only values by visitors). Values compare by code point.
    Empty values are "". ``limit`` keeps the first rows.
    """
    check_dimension(dimension)
    if order_by not in ORDERS:
        raise QueryError("order_by", f"order_by must be one of {', '.join(ORDERS)}")
    if limit is not None and limit < 1:
        raise QueryError("limit", "limit must be at least 1")

    # Every value is computed (the database groups them all anyway; a few thousand at most) and sorted
    # here, so rollups and raw tables give the same order whatever the database's collation.
    traffic = traffic_half.traffic_by_value(q, dimension)
    revenue = revenue_half.revenue_by_dimension(q, dimension)
    values = [value for value, row in traffic.items() if row["sessions"]]
    values += [value for value in revenue if value not in traffic or not traffic[value]["sessions"]]
    rows = []
    for value in values:
        t = traffic.get(value, {})
        r = revenue.get(value, {})
        visitors = t.get("visitors", 0)
        row_revenue = r.get("revenue", 0)
        rows.append(
            {
                "value": value,
                "visitors": visitors,
                "sessions": t.get("sessions", 0),
                "pageviews": t.get("pageviews", 0),
                "revenue": row_revenue,
                "payments": r.get("payments", 0),
                "conversion_rate": revenue_half.ratio(r.get("converters", 0), visitors),
                "revenue_per_visitor": revenue_half.ratio(row_revenue, visitors),
            }
        )
    # Values without sessions (revenue only) or without payments (traffic only) come after the rest,
    # in the other order.
    if order_by == "visitors":
        rows.sort(
            key=lambda r: (
                -r["visitors"],
                -r["sessions"],
                r["value"] if r["sessions"] else "",
                -r["revenue"],
                -r["payments"],
                r["value"],
            )
        )
    else:
        rows.sort(
            key=lambda r: (
                -r["revenue"],
                -r["payments"],
                r["value"] if r["payments"] else "",
                -r["visitors"],
                -r["sessions"],
                r["value"],
            )
        )
    return rows[:limit] if limit is not None else rows


def _check_granularity(q: Query, granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise QueryError("granularity", f"granularity must be one of {', '.join(GRANULARITIES)}")
    if granularity == "hour" and q.days > MAX_HOURLY_DAYS:
        raise QueryError("granularity", f"hour granularity needs a range of {MAX_HOURLY_DAYS} days or fewer")


def timeseries(q: Query, granularity: str = "day") -> list[dict[str, Any]]:
    """One row per bucket in ``q.tz``: ``{date, visitors, sessions, pageviews, revenue, payments}``.

    ``date`` is the bucket start: "2025-03-30T02:00:00+02:00" for hours, "2025-03-30" otherwise.
    Visitors are distinct per bucket (a visitor on two days counts on each). Revenue and payments are
    all payments in range (attributed or not; only attributed matching ones under filters), so they
    add up to ``summary``'s. Empty buckets are zeros.
    """
    _check_granularity(q, granularity)
    traffic = traffic_half.traffic_buckets(q, granularity)
    revenue = revenue_half.revenue_timeseries(q, granularity)
    rows = []
    for start in bucket_starts(q, granularity):
        t = traffic.get(start, {})
        r = revenue.get(start, {})
        label = start.replace(tzinfo=q.tz).isoformat() if granularity == "hour" else start.date().isoformat()
        rows.append(
            {
                "date": label,
                "visitors": t.get("visitors", 0),
                "sessions": t.get("sessions", 0),
                "pageviews": t.get("pageviews", 0),
                "revenue": r.get("revenue", 0),
                "payments": r.get("payments", 0),
            }
        )
    return rows


def default_granularity(q: Query) -> str:
    """Hours for a single day, days up to 90 days, weeks up to a year, months beyond."""
    if q.days == 1:
        return "hour"
    if q.days <= 90:
        return "day"
    if q.days <= 366:
        return "week"
    return "month"


def breakdown_details(
    q: Query, dimension: str, *, order_by: str = "visitors", search: str = ""
) -> list[dict]:
    """Every row of a breakdown (``limit=None``), those whose value (or country name) contains
    ``search``, case-insensitively."""
    rows = breakdown(q, dimension, order_by=order_by, limit=None)
    needle = search.strip().casefold()
    if not needle:
        return rows
    if dimension == "country":
        return [row for row in rows if needle in f"{row['value']} {country_name(row['value'])}".casefold()]
    return [row for row in rows if needle in row["value"].casefold()]


def visitors_now(site: Site, now: dt.datetime) -> int:
    """Distinct visitors with a page view in the ``NOW_WINDOW`` before ``now`` (a session's last view)."""
    recent = Session.objects.filter(site=site, last_seen_at__gt=now - NOW_WINDOW, last_seen_at__lte=now)
    return recent.values("visitor_hash").distinct().count()


def has_views(site: Site) -> bool:
    return View.objects.filter(site=site).exists()


def tracks_revenue(site: Site) -> bool:
    """Whether conversion figures mean anything: Stripe is connected, or payments were imported (kept
    after a disconnect). Without either, a 0.0% conversion would be a claim nobody measured."""
    return StripeConnection.objects.filter(site=site).exists() or Payment.objects.filter(site=site).exists()


@dataclass(frozen=True)
class Overview:
    """Everything the dashboard shows for one Query."""

    summary: dict[str, Any]
    granularity: str
    timeseries: list[dict[str, Any]]
    breakdowns: dict[str, list[dict[str, Any]]]
    # The Goals panel (goals, custom events); under a ``goal:`` filter of an event goal, its properties.
    goals: goals_half.GoalsReport | None = None
    properties: list[dict[str, Any]] | None = None


def overview(q: Query, *, order_by: str = "visitors", limit: int = 10) -> Overview:
    granularity = default_granularity(q)
    goals = goals_half.site_goals(q)
    if q.rollups:
        # Computed once here, read by the summary, the chart and every breakdown. ``rollups=False``
        # (the reference the tests compare with) runs each widget's own queries instead.
        # Its payers: for the Goals panel's revenue and the grouped statement's goal payers.
        with_payers = bool(goals) or q.built_through is None
        q.memo["payment_frame"] = revenue_half.payment_frame(
            q, with_payers=with_payers, granularity=granularity
        )
        if q.built_through is not None:
            q.memo["traffic_frame"] = traffic_half.traffic_frame(q)
        else:
            # The Goals panel's page goals and their payers are counted from the same filtered views.
            patterns = {goal.page_pattern for goal in goals if not goals_half.is_event(goal)}
            payers = {visitor_hash for visitor_hash, _ in q.memo["payment_frame"].payers}
            q.memo["grouped_traffic"] = grouped.traffic(q, granularity, sorted(patterns), sorted(payers))
    figures = summary(q)
    return Overview(
        summary=figures,
        granularity=granularity,
        timeseries=timeseries(q, granularity),
        breakdowns={d: breakdown(q, d, order_by=order_by, limit=limit) for d in DIMENSIONS},
        goals=goals_half.goals_report(q, figures["visitors"], goals),
        properties=selected_goal_properties(q),
    )


def selected_goal_properties(q: Query) -> list[dict[str, Any]] | None:
    """The Properties breakdown of the event goal a ``goal:`` filter selects (the last such filter);
    None when no event goal is selected."""
    selected = [q.goal(value) for dimension, value in q.filters if dimension == GOAL_FILTER]
    if not selected or selected[-1].kind != Goal.Kind.EVENT:
        return None
    return goals_half.property_rows(q, selected[-1].event_name)
