"""Reading the traffic rollups (``tracking.rollups`` builds them): which days of a range are built,
their totals and per-value figures (whole months from their sums), and the chart's quarter-hour slots.
Every figure is exactly the raw tables' (``humblytics/reports/tests/test_rollups.py``)."""

import bisect
import datetime as dt
import operator
import zoneinfo
from collections.abc import Iterable, Sequence
from functools import reduce
from itertools import pairwise

from django.db import connection
from django.db.models import Count, Max, Q, Sum
from django.db.models.functions import TruncMonth

from tracking.models import (
    DailyRollup,
    MonthRollup,
    RollupDay,
    RollupMonth,
    RollupSlice,
    Session,
    Site,
    SliceRollup,
    SlotRollup,
    View,
)
from tracking.rolldays import local_midnight, slot_of

TOTAL = ""  # the dimension (and value) of the all-traffic rows


def month_end(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def built_months(site: Site, first: dt.date, last: dt.date) -> dict[dt.date, tuple[int, dt.datetime]]:
    """``{month: (built days, latest built_at)}`` of the months of ``first``..``last``."""
    rows = (
        RollupDay.objects.filter(site=site, day__gte=first, day__lte=last)
        .annotate(month=TruncMonth("day"))
        .values("month")
        .annotate(days=Count("id"), built_at=Max("built_at"))
        .order_by()
    )
    return {_as_date(row["month"]): (row["days"], row["built_at"]) for row in rows}


def _as_date(value: dt.date | dt.datetime) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def built_through(site: Site, tz: zoneinfo.ZoneInfo, start: dt.date, end: dt.date) -> dt.date | None:
    """The last day D such that ``start``..D can be read from rollups, or None.

    Needs the query in the site's own time zone and rollups built in it. Days before the first built day
    count as built when the raw tables hold nothing in them (a range reaching before the site's data).
    """
    if getattr(tz, "key", None) != site.timezone:
        return None
    days = list(
        RollupDay.objects.filter(
            site=site, day__range=(start, end), site__rollup_state__timezone=site.timezone
        )
        .order_by("day")
        .values_list("day", flat=True)
    )
    if not days:
        return None
    if days[0] > start:
        start_at, first_at = local_midnight(start, tz), local_midnight(days[0], tz)
        if (
            Session.objects.filter(site=site, started_at__gte=start_at, started_at__lt=first_at).exists()
            or View.objects.filter(site=site, created_at__gte=start_at, created_at__lt=first_at).exists()
        ):
            return None
    through = days[0]
    for day in days[1:]:
        if day != through + dt.timedelta(days=1):
            break
        through = day
    return through


def _distinct_filter(start: dt.date) -> Q:
    return Q(last_day__isnull=True) | Q(last_day__lt=start)


def totals(
    site: Site, start: dt.date, through: dt.date, dimension: str = TOTAL, value: str = TOTAL
) -> dict[str, int]:
    """All-traffic figures (or those of one ``dimension`` value's sessions) of built days
    ``start``..``through``: visitors (distinct), sessions, views, bounces, session_views, duration_us."""
    figures = DailyRollup.objects.filter(
        site=site, dimension=dimension, value=value, day__gte=start, day__lte=through
    ).aggregate(
        visitors=Sum("visitors", filter=_distinct_filter(start)),
        sessions=Sum("sessions"),
        views=Sum("views"),
        bounces=Sum("bounces"),
        session_views=Sum("session_views"),
        duration_us=Sum("duration_us"),
    )
    return {key: value or 0 for key, value in figures.items()}


def by_value(site: Site, dimension: str, start: dt.date, through: dt.date) -> dict[str, dict[str, int]]:
    """``{value: {visitors, sessions, views}}`` over built days ``start``..``through``, distinct counts
    exact. Values seen only through views (sessions started earlier) have ``sessions`` 0."""
    return by_values(site, [dimension], start, through)[dimension]


def by_values(
    site: Site, dimensions: Iterable[str], start: dt.date, through: dt.date
) -> dict[str, dict[str, dict[str, int]]]:
    """``by_value`` of several dimensions: ``{dimension: {value: {visitors, sessions, views}}}``.

    Whole months of the range whose sums are current are read from ``MonthRollup`` plus their days'
    rows of returning visitors (``last_day`` set, counted when it is before ``start``); the other days
    from their ``DailyRollup`` rows."""
    wanted = list(dimensions)
    figures = {"visitors": Sum("visitors"), "sessions": Sum("sessions"), "views": Sum("views")}
    months = current_months(site, start, through)
    # The other days as ranges, so the (site, dimension, day) index reads only them.
    days = Q(pk__in=[])
    low = start
    for month in [*months, None]:
        high = through if month is None else month - dt.timedelta(days=1)
        if low <= high:
            days |= Q(day__gte=low, day__lte=high)
        if month is not None:
            low = month_end(month) + dt.timedelta(days=1)
    counted = _distinct_filter(start)
    parts = [
        DailyRollup.objects.filter(days, site=site, dimension__in=wanted)
        .values("dimension", "value")
        .annotate(
            visitors=Sum("visitors", filter=counted),
            sessions=Sum("sessions", filter=counted),
            views=Sum("views"),
        )
    ]
    if months:
        parts.append(
            MonthRollup.objects.filter(site=site, dimension__in=wanted, month__in=months)
            .values("dimension", "value")
            .annotate(**figures)
        )
        parts.append(
            DailyRollup.objects.filter(
                month_days(months),
                site=site,
                last_day__isnull=False,
                last_day__lt=start,
                dimension__in=wanted,
            )
            .values("dimension", "value")
            .annotate(**figures)
        )
    result: dict[str, dict[str, dict[str, int]]] = {dimension: {} for dimension in wanted}
    for part in parts:
        for row in part.order_by():
            into = result[row["dimension"]].setdefault(
                row["value"], {"visitors": 0, "sessions": 0, "views": 0}
            )
            for key in ("visitors", "sessions", "views"):
                into[key] += row[key] or 0
    return result


def month_days(months: Sequence[dt.date]) -> Q:
    """The days of these months."""
    return reduce(operator.or_, (Q(day__gte=month, day__lte=month_end(month)) for month in months))


def current_months(site: Site, start: dt.date, through: dt.date) -> list[dt.date]:
    """The whole months inside ``start``..``through`` whose ``MonthRollup`` sums were made from the days
    built now (two small queries; none for a range shorter than a month)."""
    first = start if start.day == 1 else month_end(start) + dt.timedelta(days=1)
    candidates = []
    while month_end(first) <= through:
        candidates.append(first)
        first = month_end(first) + dt.timedelta(days=1)
    if not candidates:
        return []
    built = built_months(site, candidates[0], month_end(candidates[-1]))
    markers = {
        m.month: (m.days, m.built_at) for m in RollupMonth.objects.filter(site=site, month__in=candidates)
    }
    return [
        month
        for month in candidates
        if month in markers
        and markers[month] == built.get(month)
        and markers[month][0] == month_end(month).day
    ]


def daily_totals(
    site: Site, start: dt.date, through: dt.date, dimension: str = TOTAL, value: str = TOTAL
) -> list[tuple[dt.date, dt.date | None, int, int, int]]:
    """All-traffic rows (or one ``dimension`` value's) ``(day, last_day, visitors, sessions, views)`` of
    built days, for buckets."""
    return list(
        DailyRollup.objects.filter(
            site=site, dimension=dimension, value=value, day__gte=start, day__lte=through
        ).values_list("day", "last_day", "visitors", "sessions", "views")
    )


def slice_by_values(
    rollup_slice: RollupSlice, dimensions: Iterable[str], start: dt.date, through: dt.date
) -> dict[str, dict[str, dict[str, int]]]:
    """``by_values`` of a filter slice's own rows (``tracking.slices``), which also hold the dimensions
    ``event`` and ``goal``."""
    wanted = list(dimensions)
    counted = _distinct_filter(start)
    rows = (
        SliceRollup.objects.filter(slice=rollup_slice, dimension__in=wanted, day__gte=start, day__lte=through)
        .values("dimension", "value")
        .annotate(
            visitors=Sum("visitors", filter=counted),
            sessions=Sum("sessions", filter=counted),
            views=Sum("views"),
        )
        .order_by()
    )
    result: dict[str, dict[str, dict[str, int]]] = {dimension: {} for dimension in wanted}
    for row in rows:
        result[row["dimension"]][row["value"]] = {
            key: row[key] or 0 for key in ("visitors", "sessions", "views")
        }
    return result


def slot_buckets(site: Site, edges: Sequence[dt.datetime]) -> list[dict[str, int]]:
    """All-traffic figures of the buckets ``[edges[i], edges[i + 1])`` from the slot rows, one dict
    ``{visitors, sessions, pageviews}`` per bucket: distinct visitor hashes of the sessions started in
    it, sessions started in it, views made in it; exact like the raw counts.

    ``edges`` are aware and strictly increasing, each on a UTC quarter hour (local midnights and hours
    of every zone are); ValueError otherwise. The caller makes sure every slot in
    ``[edges[0], edges[-1])`` lies in built days (``built_through``): unbuilt slots count as empty.
    """
    bounds = [_slot_edge(edge) for edge in edges]
    if any(a >= b for a, b in pairwise(bounds)):
        raise ValueError("bucket edges must be strictly increasing")
    buckets = [{"visitors": 0, "sessions": 0, "pageviews": 0} for _ in bounds[1:]]
    if not buckets:
        return buckets
    if connection.vendor == "postgresql":
        return _slot_buckets_grouped(site, bounds, buckets)
    rows = SlotRollup.objects.filter(site=site, slot__gte=bounds[0], slot__lt=bounds[-1]).values_list(
        "slot", "last_slot", "visitors", "sessions", "views"
    )
    for slot, last_slot, visitors, sessions, views in rows:
        i = bisect.bisect_right(bounds, slot) - 1
        bucket = buckets[i]
        bucket["sessions"] += sessions
        bucket["pageviews"] += views
        # A hash that started a session earlier in this bucket was counted there already.
        if last_slot is None or last_slot < bounds[i]:
            bucket["visitors"] += visitors
    return buckets


def _slot_buckets_grouped(site: Site, bounds: list[dt.datetime], buckets: list[dict[str, int]]):
    """``slot_buckets`` grouped by PostgreSQL (``width_bucket`` over the edges): a year is some 36,000
    slot rows, and turning their two timestamps each into Python datetimes took ten times the query."""
    table = SlotRollup._meta.db_table
    sql = (
        "SELECT b, SUM(visitors) FILTER (WHERE last_slot IS NULL OR last_slot < (%s::timestamptz[])[b]),"  # noqa: S608  (our table's name)
        " SUM(sessions), SUM(views) FROM (SELECT width_bucket(slot, %s::timestamptz[]) AS b, last_slot,"
        f" visitors, sessions, views FROM {table} WHERE site_id = %s AND slot >= %s AND slot < %s) AS slots"
        " GROUP BY b"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [bounds, bounds, site.pk, bounds[0], bounds[-1]])
        for index, visitors, sessions, views in cursor.fetchall():
            bucket = buckets[index - 1]
            bucket.update(visitors=visitors or 0, sessions=sessions or 0, pageviews=views or 0)
    return buckets


def _slot_edge(edge: dt.datetime) -> dt.datetime:
    if edge.utcoffset() is None:
        raise ValueError(f"bucket edge {edge!r} is naive")
    utc = edge.astimezone(dt.UTC)
    if utc != slot_of(utc):
        raise ValueError(f"bucket edge {edge.isoformat()} is not on a UTC quarter hour")
    return utc
