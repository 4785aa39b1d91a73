"""Report queries shared by the dashboard and the REST API.

Every widget is one function over a ``Query``: the site, an inclusive range of local dates, the time zone
those dates are in, and optional dimension filters. ``parse_query`` builds a Query from either the
dashboard's query string (``period``, ``from``, ``to``, ``filter``) or the API's (``start``, ``end``,
``timezone``, ``filter``) and raises ``QueryError`` naming the bad parameter.

Time: a local date range ``[start 00:00, end + 1 day 00:00)`` in ``q.tz`` becomes aware UTC bounds.
Sessions and visitors fall in it by ``Session.started_at``, page views and pages by ``View.created_at``,
payments by ``Payment.created_at`` (Stripe's charge time).

Rollups: for a range in the site's own time zone without filters, the days already rolled up
(``tracking.rollups``) are read from daily count tables and only the rest (today, yesterday until it
settles) from the raw tables, and revenue comes from one pass over the range's payments
(``revenue.reports.payment_frame``); the figures are exactly the raw ones. ``Query(rollups=False)``
runs the plain per-widget queries instead: the reference the rollup tests compare against.

Money: integers in minor units of ``q.currency`` (see ``revenue.reports.report_currency``); payments in
any other settlement currency are left out, never converted or mixed. The revenue half of every widget
lives in ``revenue.reports``.
"""

import bisect
import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db.models import (
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Trunc
from django.utils import timezone

from revenue import reports
from revenue.reports import report_currency
from tracking import rollups
from tracking.models import Session, Site, View

DIMENSIONS = (
    "channel",
    "referrer",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "entry_page",
    "page",
    "country",
    "browser",
    "os",
    "device",
)
PERIODS = ("today", "7d", "30d", "90d", "12mo", "custom")
GRANULARITIES = ("hour", "day", "week", "month")
ORDERS = ("visitors", "revenue")
MAX_DAYS = 1096
MAX_HOURLY_DAYS = 7
MAX_FILTERS = 10
MAX_FILTER_VALUE_LENGTH = 500
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MIN_YEAR, _MAX_YEAR = 1900, 9998  # keeps local midnight ± any UTC offset inside datetime's range


class QueryError(ValueError):
    """A report parameter is wrong. ``param`` names it (as the caller spelled it), ``message`` says why."""

    def __init__(self, param: str, message: str):
        super().__init__(f"{param}: {message}")
        self.param = param
        self.message = message


@dataclass(frozen=True)
class Query:
    """What a report covers. ``start`` and ``end`` are local dates in ``tz``, both included.

    ``period`` records how the range was asked for (a preset, or "custom" for explicit dates) so the
    dashboard can keep it in its links; it does not change any figure.
    """

    site: Site
    start: dt.date
    end: dt.date
    tz: zoneinfo.ZoneInfo
    filters: tuple[tuple[str, str], ...] = ()
    period: str = "custom"
    rollups: bool = True

    @property
    def start_at(self) -> dt.datetime:
        """Aware UTC datetime of local midnight starting ``start`` (included)."""
        return _local_midnight(self.start, self.tz)

    @property
    def end_at(self) -> dt.datetime:
        """Aware UTC datetime of local midnight after ``end`` (excluded)."""
        return _local_midnight(self.end + dt.timedelta(days=1), self.tz)

    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """``(start_at, end_at)``: the half-open UTC interval ``[start_at, end_at)``."""
        return self.start_at, self.end_at

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @cached_property
    def currency(self) -> str | None:
        """The site's report currency, looked up once per Query."""
        return report_currency(self.site)

    @cached_property
    def built_through(self) -> dt.date | None:
        """The last day D such that ``start``..D is read from rollups (None: all raw). Rollups hold no
        filter combinations, so a filtered query is raw."""
        if not self.rollups or self.filters or not getattr(settings, "REPORT_ROLLUPS", True):
            return None
        return rollups.built_through(self.site, self.tz, self.start, self.end)

    @cached_property
    def payment_frame(self) -> reports.PaymentFrame:
        """Revenue figures of every widget from one pass over the payments (unfiltered ranges)."""
        return reports.payment_frame(self)

    def tail(self) -> "Query | None":
        """The raw remainder after ``built_through`` (None when every day is built)."""
        through = self.built_through
        if through is None or through >= self.end:
            return None
        return replace(self, start=through + dt.timedelta(days=1), rollups=False)

    def apply_filters(self, queryset: QuerySet, session_path: str = "", *, page_in_range: bool = True):
        """Restrict ``queryset`` to rows whose session matches every filter.

        ``session_path`` leads from the queryset's model to Session ("" for Session itself, "session"
        for View and Payment). A ``page`` filter means "the session has a view of that page", in range
        unless ``page_in_range`` is False.
        """
        prefix = f"{session_path}__" if session_path else ""
        session_ref = OuterRef(session_path or "pk")
        for dimension, value in self.filters:
            if dimension == "page":
                views = View.objects.filter(session=session_ref, page=value)
                if page_in_range:
                    views = views.filter(created_at__gte=self.start_at, created_at__lt=self.end_at)
                queryset = queryset.filter(Exists(views))
            else:
                queryset = queryset.filter(**{prefix + dimension: value})
        return queryset

    def sessions(self) -> QuerySet[Session]:
        """Sessions started in range that match the filters."""
        sessions = Session.objects.filter(
            site=self.site, started_at__gte=self.start_at, started_at__lt=self.end_at
        )
        return self.apply_filters(sessions)

    def views(self) -> QuerySet[View]:
        """Page views made in range whose session matches the filters (wherever the session started)."""
        views = View.objects.filter(site=self.site, created_at__gte=self.start_at, created_at__lt=self.end_at)
        return self.apply_filters(views, "session")


def _local_midnight(day: dt.date, tz: zoneinfo.ZoneInfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=tz).astimezone(dt.UTC)


# ---------------------------------------------------------------------------------------------- parsing


def _param(params: Mapping[str, Any], key: str) -> str:
    value = params.get(key)
    if isinstance(value, (list, tuple)):
        value = value[-1] if value else None
    return str(value).strip() if value is not None else ""


def _param_list(params: Mapping[str, Any], key: str) -> list[str]:
    getlist = getattr(params, "getlist", None)
    if callable(getlist):
        values = getlist(key)
    else:
        values = params.get(key)
        if values is None:
            values = []
        elif isinstance(values, str) or not isinstance(values, Iterable):
            values = [values]
    return [str(v) for v in values]


def _date(params: Mapping[str, Any], key: str) -> dt.date | None:
    raw = _param(params, key)
    if not raw:
        return None
    try:
        if not _DATE_RE.match(raw):
            raise ValueError(raw)
        value = dt.date.fromisoformat(raw)
    except ValueError:
        raise QueryError(key, f"{key} must be a date like 2025-01-31") from None
    if not _MIN_YEAR <= value.year <= _MAX_YEAR:
        raise QueryError(key, f"{key} must be between {_MIN_YEAR} and {_MAX_YEAR}")
    return value


def _timezone(site: Site, params: Mapping[str, Any]) -> zoneinfo.ZoneInfo:
    name = _param(params, "timezone")
    if not name:
        try:
            return site.tzinfo
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            return zoneinfo.ZoneInfo("UTC")
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        raise QueryError(
            "timezone", f"unknown time zone {name[:64]!r}; use an IANA name like Europe/Berlin"
        ) from None


def parse_filters(raw_filters: Iterable[str]) -> tuple[tuple[str, str], ...]:
    """``["channel:Email", "page:/pricing"]`` → ``(("channel", "Email"), ("page", "/pricing"))``.

    Split on the first colon, so values may contain colons; an empty value matches empty fields (e.g.
    ``referrer:`` is Direct / none). Blank entries are ignored and repeats collapse.
    """
    filters: list[tuple[str, str]] = []
    for raw in raw_filters:
        if not raw:
            continue
        dimension, sep, value = raw.partition(":")
        if not sep or not dimension:
            raise QueryError("filter", f"filter {raw[:80]!r} must look like dimension:value")
        if dimension not in DIMENSIONS:
            raise QueryError(
                "filter", f"unknown filter dimension {dimension[:40]!r}; use one of {', '.join(DIMENSIONS)}"
            )
        if len(value) > MAX_FILTER_VALUE_LENGTH:
            raise QueryError("filter", f"filter values are at most {MAX_FILTER_VALUE_LENGTH} characters")
        if (dimension, value) not in filters:
            filters.append((dimension, value))
    if len(filters) > MAX_FILTERS:
        raise QueryError("filter", f"at most {MAX_FILTERS} filters")
    return tuple(filters)


def _preset_range(period: str, today: dt.date) -> tuple[dt.date, dt.date]:
    if period == "today":
        return today, today
    if period in ("7d", "30d", "90d"):
        return today - dt.timedelta(days=int(period[:-1]) - 1), today
    # 12mo: the current month so far and the eleven before it, so monthly buckets are whole months.
    month_index = today.year * 12 + today.month - 1 - 11
    return dt.date(month_index // 12, month_index % 12 + 1, 1), today


def parse_query(
    site: Site,
    params: Mapping[str, Any],
    *,
    default_period: str = "30d",
    today: dt.date | None = None,
) -> Query:
    """Build a Query from the dashboard's or the API's parameters. Raises QueryError.

    API form: ``start``/``end`` (ISO dates, inclusive; a missing ``end`` is today, a missing ``start``
    is 29 days before ``end``). Dashboard form: ``period`` (today, 7d, 30d, 90d, 12mo, custom with
    ``from``/``to``). ``start``/``end`` win over ``period``. Both take ``timezone`` (IANA name, default
    the site's) and repeated ``filter=dimension:value``. ``today`` defaults to the current date in that
    time zone.
    """
    tz = _timezone(site, params)
    if today is None:
        today = timezone.now().astimezone(tz).date()
    filters = parse_filters(_param_list(params, "filter"))

    if _param(params, "start") or _param(params, "end"):
        start_param, end_param, period = "start", "end", "custom"
        start, end = _date(params, "start"), _date(params, "end") or today
        start = start or end - dt.timedelta(days=29)
    else:
        period = _param(params, "period")
        if not period:
            period = "custom" if (_param(params, "from") or _param(params, "to")) else default_period
        if period not in PERIODS:
            raise QueryError("period", f"unknown period {period[:20]!r}; use one of {', '.join(PERIODS)}")
        start_param, end_param = "from", "to"
        if period == "custom":
            start, end = _date(params, "from"), _date(params, "to")
            if start is None:
                raise QueryError("from", "from is required for a custom period")
            if end is None:
                raise QueryError("to", "to is required for a custom period")
        else:
            start, end = _preset_range(period, today)

    if end < start:
        raise QueryError(end_param, f"{end_param} is before {start_param}")
    if (end - start).days + 1 > MAX_DAYS:
        raise QueryError(start_param, f"the range is longer than 3 years ({MAX_DAYS:,} days)")
    return Query(site=site, start=start, end=end, tz=tz, filters=filters, period=period)


def parse_query_or_default(
    site: Site, params: Mapping[str, Any], *, default_period: str = "30d", today: dt.date | None = None
) -> tuple[Query, QueryError | None]:
    """For pages that must always show something: on a QueryError, the query without the bad part
    (no filters for a bad filter, else the default period with the filters) and the error to show."""
    try:
        return parse_query(site, params, default_period=default_period, today=today), None
    except QueryError as error:
        if error.param == "filter":
            kept = {key: _param(params, key) for key in ("period", "from", "to", "start", "end", "timezone")}
        else:
            kept = {"filter": _param_list(params, "filter")}
        try:
            return parse_query(site, kept, default_period=default_period, today=today), error
        except QueryError:
            return parse_query(site, {}, default_period=default_period, today=today), error


def _check_dimension(dimension: str) -> None:
    if dimension not in DIMENSIONS:
        raise QueryError(
            "dimension", f"unknown dimension {dimension[:40]!r}; use one of {', '.join(DIMENSIONS)}"
        )


# ---------------------------------------------------------------------------------------------- summary


def _ratio(part: float | None, whole: float | None) -> float | None:
    return (part or 0) / whole if whole else None


def _session_figures(sessions: QuerySet[Session], overlap: Exists | None = None) -> dict[str, Any]:
    figures = {
        "sessions": Count("id"),
        "visitors": Count("visitor_hash", distinct=True),
        "bounces": Count("id", filter=Q(pageviews=1)),
        "session_views": Sum("pageviews"),
        "duration": Sum(ExpressionWrapper(F("last_seen_at") - F("started_at"), output_field=DurationField())),
    }
    if overlap is not None:
        figures["overlap"] = Count("visitor_hash", distinct=True, filter=Q(overlap))
    result = sessions.aggregate(**figures)
    result["session_views"] = result["session_views"] or 0
    result["duration"] = result["duration"] or dt.timedelta(0)
    return result


def _earlier_sessions(q: Query, tail: Query, dimension: str | None = None) -> Exists:
    """The outer session's visitor (with the same ``dimension`` value) also started a session in the
    built part of the range. ``last_seen_at`` repeats the range start so the (site, visitor_hash,
    last_seen_at) index finds the few sessions of one hash."""
    match = {dimension: OuterRef(dimension)} if dimension else {}
    return Exists(
        Session.objects.filter(
            site=q.site,
            visitor_hash=OuterRef("visitor_hash"),
            started_at__gte=q.start_at,
            started_at__lt=tail.start_at,
            last_seen_at__gte=q.start_at,
            **match,
        )
    )


def _traffic_summary(q: Query) -> dict[str, Any]:
    """``{visitors, sessions, bounces, session_views, duration, pageviews}`` of the range."""
    through = q.built_through
    if through is None:
        figures = _session_figures(q.sessions())
        figures["pageviews"] = q.views().count()
        return figures
    built = rollups.totals(q.site, q.start, through)
    figures = {
        "visitors": built["visitors"],
        "sessions": built["sessions"],
        "bounces": built["bounces"],
        "session_views": built["session_views"],
        "duration": dt.timedelta(microseconds=built["duration_us"]),
        "pageviews": built["views"],
    }
    tail = q.tail()
    if tail is not None:
        raw = _session_figures(tail.sessions(), overlap=_earlier_sessions(q, tail))
        figures["visitors"] += raw["visitors"] - raw["overlap"]
        for key in ("sessions", "bounces", "session_views", "duration"):
            figures[key] += raw[key]
        figures["pageviews"] += tail.views().count()
    return figures


def summary(q: Query) -> dict[str, Any]:
    """Headline figures. Ratios are 0..1 floats, money is minor units of ``currency``.

    ``bounce_rate``, ``views_per_session`` and ``avg_duration_seconds`` are null without sessions;
    ``conversion_rate`` and ``revenue_per_visitor`` are null without visitors; ``attributed_share`` is
    null without revenue. ``views_per_session`` is the mean view count of the range's sessions and
    ``avg_duration_seconds`` the mean first-to-last-view time, single-view sessions counting as 0
    (rounded to the microsecond).
    """
    traffic = _traffic_summary(q)
    visitors = traffic["visitors"]
    sessions = traffic["sessions"]
    revenue = reports.revenue_summary(q, visitors)
    return {
        "visitors": visitors,
        "sessions": sessions,
        "pageviews": traffic["pageviews"],
        "bounce_rate": _ratio(traffic["bounces"], sessions),
        "revenue": revenue["revenue"],
        "gross_revenue": revenue["gross_revenue"],
        "refunded": revenue["refunded"],
        "payments": revenue["payments"],
        "conversion_rate": revenue["conversion_rate"],
        "revenue_per_visitor": revenue["revenue_per_visitor"],
        "attributed_share": revenue["attributed_share"],
        "currency": revenue["currency"],
        "views_per_session": _ratio(traffic["session_views"], sessions),
        "avg_duration_seconds": (traffic["duration"] / sessions).total_seconds() if sessions else None,
    }


# -------------------------------------------------------------------------------------------- breakdown


def _raw_traffic_by_value(
    q: Query, dimension: str, overlap_from: dt.datetime | None = None
) -> dict[str, dict]:
    """``{value: {visitors, sessions, pageviews}}`` from the raw tables. Values with page views but no
    session in range (sessions started earlier) have ``sessions`` 0.

    With ``overlap_from`` (a tail after built days), visitors (and, for pages, sessions) already seen
    with the same value in ``[overlap_from, q.start_at)`` are left out: the built days counted them.
    """
    result: dict[str, dict] = {}
    if dimension == "page":
        # Pages are counted by the time of their views, like page views.
        counts = {
            "visitors": Count("session__visitor_hash", distinct=True),
            "sessions": Count("session", distinct=True),
            "pageviews": Count("id"),
        }
        if overlap_from is not None:
            earlier = View.objects.filter(
                site=q.site, page=OuterRef("page"), created_at__gte=overlap_from, created_at__lt=q.start_at
            )
            counts["seen_visitors"] = Count(
                "session__visitor_hash",
                distinct=True,
                filter=Q(Exists(earlier.filter(session__visitor_hash=OuterRef("session__visitor_hash")))),
            )
            counts["seen_sessions"] = Count(
                "session", distinct=True, filter=Q(Exists(earlier.filter(session=OuterRef("session"))))
            )
        for row in q.views().values("page").annotate(**counts).order_by():
            result[row["page"] or ""] = {
                "visitors": row["visitors"] - row.get("seen_visitors", 0),
                "sessions": row["sessions"] - row.get("seen_sessions", 0),
                "pageviews": row["pageviews"],
            }
        return result
    counts = {"visitors": Count("visitor_hash", distinct=True), "sessions": Count("id")}
    if overlap_from is not None:
        earlier = Session.objects.filter(
            site=q.site,
            visitor_hash=OuterRef("visitor_hash"),
            started_at__gte=overlap_from,
            started_at__lt=q.start_at,
            last_seen_at__gte=overlap_from,
            **{dimension: OuterRef(dimension)},
        )
        counts["seen"] = Count("visitor_hash", distinct=True, filter=Q(Exists(earlier)))
    for row in q.sessions().values(dimension).annotate(**counts).order_by():
        result[row[dimension] or ""] = {
            "visitors": row["visitors"] - row.get("seen", 0),
            "sessions": row["sessions"],
            "pageviews": 0,
        }
    key = f"session__{dimension}"
    for row in q.views().values(key).annotate(n=Count("id")).order_by():
        into = result.setdefault(row[key] or "", {"visitors": 0, "sessions": 0, "pageviews": 0})
        into["pageviews"] += row["n"]
    return result


def _traffic_by_value(q: Query, dimension: str) -> dict[str, dict]:
    """``{value: {visitors, sessions, pageviews}}`` of the range: built days from rollups, the rest raw."""
    through = q.built_through
    if through is None:
        return _raw_traffic_by_value(q, dimension)
    result = {
        value: {"visitors": row["visitors"], "sessions": row["sessions"], "pageviews": row["views"]}
        for value, row in rollups.by_value(q.site, dimension, q.start, through).items()
    }
    tail = q.tail()
    if tail is not None:
        for value, row in _raw_traffic_by_value(tail, dimension, overlap_from=q.start_at).items():
            into = result.setdefault(value, {"visitors": 0, "sessions": 0, "pageviews": 0})
            for key in ("visitors", "sessions", "pageviews"):
                into[key] += row[key]
    return result


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
    _check_dimension(dimension)
    if order_by not in ORDERS:
        raise QueryError("order_by", f"order_by must be one of {', '.join(ORDERS)}")
    if limit is not None and limit < 1:
        raise QueryError("limit", "limit must be at least 1")

    # Every value is computed (the database groups them all anyway; a few thousand at most) and sorted
    # here, so rollups and raw tables give the same order whatever the database's collation.
    traffic = _traffic_by_value(q, dimension)
    revenue = reports.revenue_by_dimension(q, dimension)
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
                "conversion_rate": _ratio(r.get("converters", 0), visitors),
                "revenue_per_visitor": _ratio(row_revenue, visitors),
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


# ------------------------------------------------------------------------------------------- timeseries


def bucket_starts(q: Query, granularity: str) -> list[dt.datetime]:
    """Naive local datetimes (in ``q.tz``) of every bucket that overlaps the range, in order.

    Day, week (ISO, from Monday) and month buckets start at local midnight; the first week or month
    bucket may start before ``q.start``. Hour buckets follow local clock hours: an hour skipped by a
    DST change has no bucket, a repeated one is a single bucket (as the database groups them).
    """
    if granularity == "hour":
        starts: dict[dt.datetime, None] = {}
        moment = q.start_at
        while moment < q.end_at:
            local = moment.astimezone(q.tz).replace(minute=0, second=0, microsecond=0, tzinfo=None)
            starts[local] = None
            moment += dt.timedelta(hours=1)
        return list(starts)
    days: list[dt.date] = []
    if granularity == "day":
        day = q.start
        while day <= q.end:
            days.append(day)
            day += dt.timedelta(days=1)
    elif granularity == "week":
        day = q.start - dt.timedelta(days=q.start.weekday())
        while day <= q.end:
            days.append(day)
            day += dt.timedelta(days=7)
    else:
        day = q.start.replace(day=1)
        while day <= q.end:
            days.append(day)
            day = (day + dt.timedelta(days=32)).replace(day=1)
    return [dt.datetime.combine(day, dt.time.min) for day in days]


def bucket_key(value: dt.datetime) -> dt.datetime:
    """A Trunc(..., tzinfo=q.tz) result as the naive local datetime ``bucket_starts`` uses."""
    return value.replace(tzinfo=None)


def _check_granularity(q: Query, granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise QueryError("granularity", f"granularity must be one of {', '.join(GRANULARITIES)}")
    if granularity == "hour" and q.days > MAX_HOURLY_DAYS:
        raise QueryError("granularity", f"hour granularity needs a range of {MAX_HOURLY_DAYS} days or fewer")


def _raw_traffic_buckets(q: Query, granularity: str) -> dict[dt.datetime, dict[str, int]]:
    result: dict[dt.datetime, dict[str, int]] = {}
    sessions = (
        q.sessions()
        .annotate(bucket=Trunc("started_at", granularity, tzinfo=q.tz))
        .values("bucket")
        .annotate(visitors=Count("visitor_hash", distinct=True), sessions=Count("id"))
        .order_by()
    )
    for row in sessions:
        result[bucket_key(row["bucket"])] = {
            "visitors": row["visitors"],
            "sessions": row["sessions"],
            "pageviews": 0,
        }
    views = (
        q.views()
        .annotate(bucket=Trunc("created_at", granularity, tzinfo=q.tz))
        .values("bucket")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in views:
        into = result.setdefault(bucket_key(row["bucket"]), {"visitors": 0, "sessions": 0, "pageviews": 0})
        into["pageviews"] = row["n"]
    return result


def _traffic_buckets(q: Query, granularity: str) -> dict[dt.datetime, dict[str, int]]:
    """Visitors (distinct per bucket), sessions and page views per bucket start (naive local)."""
    through = q.built_through
    if through is None or granularity == "hour":
        return _raw_traffic_buckets(q, granularity)
    starts = bucket_starts(q, granularity)
    first_days = [max(start.date(), q.start) for start in starts]
    result = {start: {"visitors": 0, "sessions": 0, "pageviews": 0} for start in starts}
    for day, last_day, visitors, sessions, views in rollups.daily_totals(q.site, q.start, through):
        index = bisect.bisect_right(first_days, day) - 1
        into = result[starts[index]]
        into["sessions"] += sessions
        into["pageviews"] += views
        if last_day is None or last_day < first_days[index]:
            into["visitors"] += visitors
    tail = q.tail()
    if tail is None:
        return result
    for start, row in _raw_traffic_buckets(tail, granularity).items():
        for key in ("visitors", "sessions", "pageviews"):
            result[start][key] += row[key]
    # The bucket holding the first raw day may also hold built days: its visitors seen in both count once.
    index = bisect.bisect_right(first_days, tail.start) - 1
    if first_days[index] < tail.start:
        bucket_from = rollups.local_midnight(first_days[index], q.tz)
        bucket_end = (
            rollups.local_midnight(first_days[index + 1], q.tz) if index + 1 < len(starts) else q.end_at
        )
        overlap = (
            tail.sessions()
            .filter(started_at__lt=bucket_end)
            .aggregate(
                n=Count(
                    "visitor_hash",
                    distinct=True,
                    filter=Q(
                        Exists(
                            Session.objects.filter(
                                site=q.site,
                                visitor_hash=OuterRef("visitor_hash"),
                                started_at__gte=bucket_from,
                                started_at__lt=tail.start_at,
                                last_seen_at__gte=bucket_from,
                            )
                        )
                    ),
                )
            )["n"]
        )
        result[starts[index]]["visitors"] -= overlap
    return result


def timeseries(q: Query, granularity: str = "day") -> list[dict[str, Any]]:
    """One row per bucket in ``q.tz``: ``{date, visitors, sessions, pageviews, revenue, payments}``.

    ``date`` is the bucket start: "2025-03-30T02:00:00+02:00" for hours, "2025-03-30" otherwise.
    Visitors are distinct per bucket (a visitor on two days counts on each). Revenue and payments are
    all payments in range (attributed or not; only attributed matching ones under filters), so they
    add up to ``summary``'s. Empty buckets are zeros.
    """
    _check_granularity(q, granularity)
    traffic = _traffic_buckets(q, granularity)
    revenue = reports.revenue_timeseries(q, granularity)
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


# -------------------------------------------------------------------------------------------- dashboard


def default_granularity(q: Query) -> str:
    """Hours for a single day, days up to 90 days, weeks up to a year, months beyond."""
    if q.days == 1:
        return "hour"
    if q.days <= 90:
        return "day"
    if q.days <= 366:
        return "week"
    return "month"


def has_views(site: Site) -> bool:
    return View.objects.filter(site=site).exists()


@dataclass(frozen=True)
class Overview:
    """Everything the dashboard shows for one Query."""

    summary: dict[str, Any]
    granularity: str
    timeseries: list[dict[str, Any]]
    breakdowns: dict[str, list[dict[str, Any]]]


def overview(q: Query, *, order_by: str = "visitors", limit: int = 10) -> Overview:
    granularity = default_granularity(q)
    if q.rollups and not q.filters:
        q.payment_frame  # noqa: B018  (computed once here, read by the summary and every breakdown)
    return Overview(
        summary=summary(q),
        granularity=granularity,
        timeseries=timeseries(q, granularity),
        breakdowns={d: breakdown(q, d, order_by=order_by, limit=limit) for d in DIMENSIONS},
    )
