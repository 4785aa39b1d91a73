"""The traffic half of every widget: visitors, sessions, page views and their ratios' parts.

Settled days come from the daily rollups (``tracking.rollups``), the rest of the range (``q.tail()``)
from the raw tables. A visitor seen both on built days and in the raw tail counts once: the overlap is
looked up per visitor hash through the (site, visitor_hash, last_seen_at) index, so it costs a few
index probes per tail visitor, never a scan of the site's sessions.

A query filtered by one value a slice serves (``q.rollup_slice``, ``tracking.slices``) reads the same
way: its totals and chart from the site's rows of that value, its breakdowns from the slice's rows, and
its tail's overlap among sessions with that value.
"""

import bisect
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from django.db.models import (
    BooleanField,
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

from humblytics.reports.grouped import GroupedTraffic
from humblytics.reports.hashes import among, hash_chunks
from humblytics.reports.query import Query, bucket_starts
from tracking import rollup_reads, rollups
from tracking.dimensions import DIMENSIONS
from tracking.models import Session, View

_IN_CHUNK = 2000  # SQLite caps bound parameters


def _grouped(q: Query) -> GroupedTraffic | None:
    """The grouped figures the dashboard computed for this query (``widgets.overview``), if any."""
    return q.memo.get("grouped_traffic") if q.rollups else None


def _total_row(q: Query) -> tuple[str, str]:
    """The rollup rows of a query's whole traffic: all traffic, or a slice's value."""
    if q.rollup_slice is None:
        return rollup_reads.TOTAL, rollup_reads.TOTAL
    return q.rollup_slice.dimension, q.rollup_slice.value


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


def _earlier_sessions(q: Query, dimension: str | None = None) -> Exists:
    """The outer session's visitor (with the same ``dimension`` value) also started a session in the
    built part of the range. ``last_seen_at`` repeats the window's start so the (site, visitor_hash,
    last_seen_at) index finds the few sessions of one hash."""
    built_from, built_to = q.built_window()
    match = {dimension: OuterRef(dimension)} if dimension else {}
    return Exists(
        Session.objects.filter(
            site=q.site,
            visitor_hash=OuterRef("visitor_hash"),
            started_at__gte=built_from,
            started_at__lt=built_to,
            last_seen_at__gte=built_from,
            **match,
            **q.slice_lookups(),
        )
    )


def traffic_summary(q: Query) -> dict[str, Any]:
    """``{visitors, sessions, bounces, session_views, duration, pageviews}`` of the range."""
    grouped = _grouped(q)
    if grouped is not None:
        return dict(grouped.summary)
    through = q.built_through
    if through is None:
        figures = _session_figures(q.sessions())
        figures["pageviews"] = q.views().count()
        return figures
    built = rollup_reads.totals(q.site, q.built_from, through, *_total_row(q))
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
        raw = q.memo.get("tail_sessions") or _session_figures(tail.sessions(), overlap=_earlier_sessions(q))
        figures["visitors"] += raw["visitors"] - raw["overlap"]
        for key in ("sessions", "bounces", "session_views", "duration"):
            figures[key] += raw[key]
        figures["pageviews"] += tail.views().count()
    return figures


def _raw_traffic_by_value(q: Query, dimension: str) -> dict[str, dict]:
    """``{value: {visitors, sessions, pageviews}}`` from the raw tables. Values with page views but no
    session in range (sessions started earlier) have ``sessions`` 0."""
    if dimension == "page":
        return _raw_page_traffic(q)
    result: dict[str, dict] = {}
    counts = {"visitors": Count("visitor_hash", distinct=True), "sessions": Count("id")}
    for row in q.sessions().values(dimension).annotate(**counts).order_by():
        result[row[dimension] or ""] = {
            "visitors": row["visitors"],
            "sessions": row["sessions"],
            "pageviews": 0,
        }
    key = f"session__{dimension}"
    for row in q.views().values(key).annotate(n=Count("id")).order_by():
        into = result.setdefault(row[key] or "", {"visitors": 0, "sessions": 0, "pageviews": 0})
        into["pageviews"] += row["n"]
    return result


def _raw_page_traffic(q: Query) -> dict[str, dict]:
    """Pages are counted by the time of their views, like page views."""
    counts = (
        q.views()
        .values("page")
        .order_by()
        .annotate(
            visitors=Count("session__visitor_hash", distinct=True),
            sessions=Count("session", distinct=True),
            pageviews=Count("id"),
        )
    )
    return {
        row["page"] or "": {key: row[key] for key in ("visitors", "sessions", "pageviews")} for row in counts
    }


def _tail_page_traffic(
    views: list[tuple], known: dict[int, tuple], seen: set[tuple[str, Any]]
) -> dict[str, dict]:
    """The tail's pages from its ``(page, session id, views)`` rows and its sessions' hashes (``known``:
    session id to ``(hash, ...)``), leaving out visitors and sessions already ``seen`` on a page in the
    built part of the range (``(page, hash)`` and ``(page, session id)``): the built days counted them."""
    triples = {
        (page, session_id, known[session_id][0]) for page, session_id, _ in views if session_id in known
    }
    visitors: dict[str, set] = defaultdict(set)
    sessions: dict[str, set] = defaultdict(set)
    for page, session_id, visitor_hash in triples:
        if (page, visitor_hash) not in seen:
            visitors[page or ""].add(visitor_hash)
        if (page, session_id) not in seen:
            sessions[page or ""].add(session_id)
    pageviews: Counter = Counter()
    for page, _, count in views:
        pageviews[page or ""] += count
    return {
        page: {"visitors": len(visitors[page]), "sessions": len(sessions[page]), "pageviews": count}
        for page, count in pageviews.items()
    }


def traffic_by_value(q: Query, dimension: str) -> dict[str, dict]:
    """``{value: {visitors, sessions, pageviews}}`` of the range: built days from rollups, the rest raw."""
    frame = q.memo.get("traffic_frame") if q.rollups else None
    if frame is not None:
        return frame[dimension]
    grouped = _grouped(q)
    if grouped is not None:
        return grouped.by_value[dimension]
    through = q.built_through
    if through is None:
        return _raw_traffic_by_value(q, dimension)
    return traffic_frame(q, [dimension])[dimension]


def traffic_frame(q: Query, dimensions: Sequence[str] = DIMENSIONS) -> dict[str, dict[str, dict]] | None:
    """``traffic_by_value`` of every dimension of a range built from rollups (None when it is not): one
    rollup query for the built days and, for the raw tail, a handful of queries in all instead of three
    per dimension."""
    through = q.built_through
    if through is None:
        return None
    if q.rollup_slice is not None:
        built = rollup_reads.slice_by_values(q.rollup_slice, dimensions, q.built_from, through)
    else:
        built = rollup_reads.by_values(q.site, dimensions, q.built_from, through)
    result = {
        dimension: {
            value: {"visitors": row["visitors"], "sessions": row["sessions"], "pageviews": row["views"]}
            for value, row in by_value.items()
        }
        for dimension, by_value in built.items()
    }
    tail = q.tail()
    if tail is not None:
        for dimension, rows in _tail_by_dimension(q, tail, dimensions).items():
            into_dimension = result[dimension]
            for value, row in rows.items():
                into = into_dimension.setdefault(value, {"visitors": 0, "sessions": 0, "pageviews": 0})
                for key in ("visitors", "sessions", "pageviews"):
                    into[key] += row[key]
    return result


def _tail_by_dimension(q: Query, tail: Query, dimensions: Sequence[str]) -> dict[str, dict[str, dict]]:
    """The raw tail's ``{dimension: {value: counts}}``, leaving out visitors (and, for pages, sessions)
    the built days already counted with the same value. The tail's views are read once, counted per
    (page, session); the few sessions that started before the tail are read by id."""
    result: dict[str, dict[str, dict]] = {}
    session_dimensions = [d for d in dimensions if d != "page"]
    views = list(tail.views().values_list("page", "session_id").annotate(n=Count("id")).order_by())
    sessions = list(tail.sessions().values_list("id", "visitor_hash", *session_dimensions, "pageviews"))
    known = {row[0]: row[1 : 2 + len(session_dimensions)] for row in sessions}  # (hash, *values)
    missing = sorted({session_id for _, session_id, _ in views} - known.keys())
    for i in range(0, len(missing), _IN_CHUNK):
        earlier = Session.objects.filter(pk__in=missing[i : i + _IN_CHUNK])
        for pk, *values in earlier.values_list("pk", "visitor_hash", *session_dimensions):
            known[pk] = tuple(values)
    hashes = {values[0] for values in known.values()}
    seen_pages, seen = _seen_before(q, hashes, session_dimensions)
    if "page" in dimensions:
        result["page"] = _tail_page_traffic(views, known, seen_pages)
    if not session_dimensions:
        return result
    q.memo["tail_sessions"] = _tail_session_figures(tail, sessions, seen, session_dimensions[0])
    for index, dimension in enumerate(session_dimensions, start=2):
        sessions_of = Counter(row[index] or "" for row in sessions)
        new = {(row[index] or "", row[1]) for row in sessions if (dimension, row[1], row[index]) not in seen}
        visitors_of = Counter(value for value, _ in new)
        result[dimension] = {
            value: {"visitors": visitors_of[value], "sessions": count, "pageviews": 0}
            for value, count in sessions_of.items()
        }
    _add_tail_pageviews(views, known, session_dimensions, result)
    return result


def _tail_session_figures(
    tail: Query, sessions: list[tuple], seen: set[tuple[str, str, Any]], dimension: str
) -> dict[str, Any]:
    """``_session_figures`` of the tail's sessions with the ``overlap`` of ``_earlier_sessions``, from
    the rows ``_tail_by_dimension`` read (id, hash, values, page views) and the values
    ``_seen_before`` found (a visitor with an earlier session has a value of every dimension);
    the duration summed by the database (thousands of timestamps cost more to parse than to add up)."""
    hashes = {row[1] for row in sessions}
    earlier = {visitor_hash for key, visitor_hash, _ in seen if key == dimension}
    duration = ExpressionWrapper(F("last_seen_at") - F("started_at"), output_field=DurationField())
    return {
        "sessions": len(sessions),
        "visitors": len(hashes),
        "overlap": len(hashes & earlier),
        "bounces": sum(1 for row in sessions if row[-1] == 1),
        "session_views": sum(row[-1] for row in sessions),
        "duration": tail.sessions().aggregate(d=Sum(duration))["d"] or dt.timedelta(0),
    }


def _add_tail_pageviews(
    views: list[tuple], known: dict[int, tuple], dimensions: Sequence[str], result: dict[str, dict[str, dict]]
) -> None:
    """The tail's page views (``(page, session id, views)`` rows) per value of each dimension, by their
    session's value (``known``: session id to ``(hash, *values)``)."""
    per_session: Counter = Counter()
    for _, session_id, count in views:
        per_session[session_id] += count
    # A view whose session was deleted meanwhile has no values.
    counted = [(known[pk], count) for pk, count in per_session.items() if pk in known]
    for position, dimension in enumerate(dimensions, start=1):
        views_of: Counter = Counter()
        for values, count in counted:
            views_of[values[position] or ""] += count
        for value, count in views_of.items():
            into = result[dimension].setdefault(value, {"visitors": 0, "sessions": 0, "pageviews": 0})
            into["pageviews"] += count


def _seen_before(
    q: Query, hashes: set[str], dimensions: Sequence[str]
) -> tuple[set[tuple[str, Any]], set[tuple[str, str, Any]]]:
    """What the built part of the range (``q.built_window()``) already counted of these visitors: the
    pages they viewed there (``(page, hash)`` and ``(page, session id)``), and ``(dimension, hash,
    value)`` of their sessions started there. Their sessions active there are found once per hash
    through the (site, visitor_hash, last_seen_at) index; those sessions' views there by session id."""
    since, until = q.built_window()
    in_window = ExpressionWrapper(Q(started_at__gte=since), output_field=BooleanField())
    active: dict[int, str] = {}
    values_seen: set[tuple[str, str, Any]] = set()
    for chunk in hash_chunks(sorted(hashes)):
        sessions = Session.objects.filter(
            among("visitor_hash", chunk),
            site=q.site,
            last_seen_at__gte=since,
            started_at__lt=until,
            **q.slice_lookups(),
        ).annotate(in_window=in_window)
        for pk, visitor_hash, started_in_window, *values in sessions.values_list(
            "pk", "visitor_hash", "in_window", *dimensions
        ):
            active[pk] = visitor_hash
            if started_in_window:
                values_seen.update(zip(dimensions, [visitor_hash] * len(values), values, strict=True))
    pages_seen: set[tuple[str, Any]] = set()
    for chunk in hash_chunks(sorted(active)):
        views = View.objects.filter(
            among("session_id", chunk), site=q.site, created_at__gte=since, created_at__lt=until
        )
        for page, session_id in views.values_list("page", "session_id").distinct():
            pages_seen.add((page, active[session_id]))
            pages_seen.add((page, session_id))
    return pages_seen, values_seen


def _built_sessions_of(q: Query, hashes: set[str]):
    """Querysets, a chunk of ``hashes`` each, of these visitors' sessions started in the built part of
    the range (``q.built_window()``), found per hash through the (site, visitor_hash, last_seen_at)
    index."""
    built_from, built_to = q.built_window()
    for chunk in hash_chunks(sorted(hashes)):
        yield Session.objects.filter(
            among("visitor_hash", chunk),
            site=q.site,
            started_at__gte=built_from,
            started_at__lt=built_to,
            last_seen_at__gte=built_from,
            **q.slice_lookups(),
        )


def bucket_key(value: dt.datetime) -> dt.datetime:
    """A Trunc(..., tzinfo=q.tz) result as the naive local datetime ``bucket_starts`` uses."""
    return value.replace(tzinfo=None)


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


def traffic_buckets(q: Query, granularity: str) -> dict[dt.datetime, dict[str, int]]:
    """Visitors (distinct per bucket), sessions and page views per bucket start (naive local)."""
    grouped = _grouped(q)
    if grouped is not None and grouped.granularity == granularity:
        return grouped.buckets
    through = q.built_through
    if through is None or granularity == "hour":
        return _raw_traffic_buckets(q, granularity)
    if getattr(q.tz, "key", None) != q.site.timezone:
        return _other_zone_buckets(q, granularity)
    starts = bucket_starts(q, granularity)
    first_days = [max(start.date(), q.start) for start in starts]
    result = {start: {"visitors": 0, "sessions": 0, "pageviews": 0} for start in starts}
    for day, last_day, visitors, sessions, views in rollup_reads.daily_totals(
        q.site, q.start, through, *_total_row(q)
    ):
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
                                **q.slice_lookups(),
                            )
                        )
                    ),
                )
            )["n"]
        )
        result[starts[index]]["visitors"] -= overlap
    return result


def _other_zone_buckets(q: Query, granularity: str) -> dict[dt.datetime, dict[str, int]]:
    """``traffic_buckets`` in a time zone other than the site's: its buckets cut the site's days, so the
    built part comes from the quarter-hour rollups (``rollup_reads.slot_buckets``) and the partial site days
    at either end from the raw tables; a visitor seen in both parts of one bucket counts once."""
    starts = bucket_starts(q, granularity)
    bounds = [max(rollups.local_midnight(start.date(), q.tz), q.start_at) for start in starts]
    built_from, built_to = q.built_window()
    edges = [built_from, *(at for at in bounds if built_from < at < built_to), built_to]
    try:
        parts = rollup_reads.slot_buckets(q.site, edges)
    except ValueError:  # a zone whose midnights are not on a quarter hour (local mean time, before 1970)
        return _raw_traffic_buckets(replace(q, rollups=False), granularity)
    result = {start: {"visitors": 0, "sessions": 0, "pageviews": 0} for start in starts}
    for at, part in zip(edges, parts, strict=False):
        into = result[starts[bisect.bisect_right(bounds, at) - 1]]
        for key in ("visitors", "sessions", "pageviews"):
            into[key] += part[key]
    tail = q.tail()
    if tail is None:
        return result
    for start, row in _raw_traffic_buckets(tail, granularity).items():
        for key in ("visitors", "sessions", "pageviews"):
            result[start][key] += row[key]
    # A raw visitor who also started a session in the built part of the same bucket was counted there.
    pairs = set(
        tail.sessions()
        .annotate(bucket=Trunc("started_at", granularity, tzinfo=q.tz))
        .values_list("bucket", "visitor_hash")
        .distinct()
    )
    raw = {(bucket_key(bucket), visitor_hash) for bucket, visitor_hash in pairs}
    seen: set[tuple[dt.datetime, str]] = set()
    for built in _built_sessions_of(q, {visitor_hash for _, visitor_hash in raw}):
        for visitor_hash, started_at in built.values_list("visitor_hash", "started_at"):
            seen.add((starts[bisect.bisect_right(bounds, started_at) - 1], visitor_hash))
    for start, _ in raw & seen:
        result[start]["visitors"] -= 1
    return result
