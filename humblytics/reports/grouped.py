"""Every traffic figure of a range that rollups cannot serve (a filter, or a time zone other than the
site's), from three statements instead of two or three per widget.

A dashboard under a filter needs the same filtered sessions and their views grouped eleven ways (one
per breakdown), by chart bucket and in total. Per widget that is some thirty scans of the filtered
sessions and joins of their views; here PostgreSQL's GROUPING SETS group one scan every way at once:
one statement over the sessions (visitors, sessions, bounces, duration), one over the views by session
value and bucket (page views), one over the views by page (distinct visitors and sessions per page).

The figures are exactly the per-widget queries' (``traffic.traffic_summary``, ``traffic_by_value``,
``traffic_buckets`` with ``rollups=False``): same filtered querysets, same expressions, grouped
differently. Other databases (SQLite) get None and the widgets run their own queries.
"""

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import F
from django.db.models.functions import Trunc

from humblytics.reports.query import Query
from tracking.dimensions import SESSION_DIMENSIONS

_EMPTY = {"visitors": 0, "sessions": 0, "pageviews": 0}


@dataclass(frozen=True)
class GroupedTraffic:
    """``summary`` as ``traffic_summary``, ``by_value[d]`` as ``traffic_by_value(q, d)`` and
    ``buckets`` as ``traffic_buckets(q, granularity)``."""

    granularity: str
    summary: dict[str, Any]
    by_value: dict[str, dict[str, dict[str, int]]]
    buckets: dict[dt.datetime, dict[str, int]]


def traffic(q: Query, granularity: str) -> GroupedTraffic | None:
    if connection.vendor != "postgresql":
        return None
    summary, by_value, buckets = _sessions_grouped(q, granularity)
    pageviews, page_rows = _views_grouped(q, granularity, by_value, buckets)
    summary["pageviews"] = pageviews
    by_value["page"] = page_rows
    return GroupedTraffic(granularity=granularity, summary=summary, by_value=by_value, buckets=buckets)


def _grouping_sets_sql(inner_sql: str, keys: list[str], aggregates: list[str]) -> str:
    """One row per value of each key, plus a total row; ``GROUPING(key)`` columns say which key a row
    groups by (0) — all 1 for the total."""
    flags = ", ".join(f"GROUPING({key})" for key in keys)
    sets = ", ".join(f"({key})" for key in keys)
    return (
        f"SELECT {flags}, {', '.join(keys)}, {', '.join(aggregates)}"  # noqa: S608  (names are ours)
        f" FROM ({inner_sql}) AS grouped GROUP BY GROUPING SETS ({sets}, ())"
    )


def _run(sql: str, params: tuple) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _sessions_grouped(q: Query, granularity: str):
    keys = [*SESSION_DIMENSIONS, "bucket"]
    inner = (
        q.sessions()
        .annotate(bucket=Trunc("started_at", granularity, tzinfo=q.tz))
        .values("visitor_hash", "pageviews", "started_at", "last_seen_at", *keys)
    )
    inner_sql, params = inner.query.sql_with_params()
    aggregates = [
        "COUNT(*)",
        "COUNT(DISTINCT visitor_hash)",
        "COUNT(*) FILTER (WHERE pageviews = 1)",
        "SUM(pageviews)",
        "SUM(last_seen_at - started_at)",
    ]
    summary = {"sessions": 0, "visitors": 0, "bounces": 0, "session_views": 0, "duration": dt.timedelta(0)}
    by_value: dict[str, dict[str, dict[str, int]]] = {d: {} for d in SESSION_DIMENSIONS}
    buckets: dict[dt.datetime, dict[str, int]] = {}
    width = len(keys)
    for row in _run(_grouping_sets_sql(inner_sql, keys, aggregates), params):
        flags, values, (sessions, visitors, bounces, views, duration) = row[:width], row[width:-5], row[-5:]
        key = _grouped_key(keys, flags)
        if key is None:
            summary.update(sessions=sessions, visitors=visitors, bounces=bounces)
            summary.update(session_views=views or 0, duration=duration or dt.timedelta(0))
        elif key == "bucket":
            buckets[values[-1]] = {"visitors": visitors, "sessions": sessions, "pageviews": 0}
        else:
            value = values[keys.index(key)] or ""
            by_value[key][value] = {"visitors": visitors, "sessions": sessions, "pageviews": 0}
    return summary, by_value, buckets


def _views_grouped(q: Query, granularity: str, by_value: dict, buckets: dict) -> tuple[int, dict]:
    """Page views into ``by_value`` and ``buckets``; returns (total page views, the page rows)."""
    keys = [*SESSION_DIMENSIONS, "bucket"]
    inner = (
        q.views()
        .annotate(bucket=Trunc("created_at", granularity, tzinfo=q.tz))
        .values("bucket", **{d: F(f"session__{d}") for d in SESSION_DIMENSIONS})
    )
    inner_sql, params = inner.query.sql_with_params()
    total = 0
    width = len(keys)
    for row in _run(_grouping_sets_sql(inner_sql, keys, ["COUNT(*)"]), params):
        flags, values, views = row[:width], row[width:-1], row[-1]
        key = _grouped_key(keys, flags)
        if key is None:
            total = views
        elif key == "bucket":
            buckets.setdefault(values[-1], dict(_EMPTY))["pageviews"] = views
        else:
            value = values[keys.index(key)] or ""
            by_value[key].setdefault(value, dict(_EMPTY))["pageviews"] += views
    pages_sql, page_params = (
        q.views()
        .values("page", "session_id", visitor_hash=F("session__visitor_hash"))
        .query.sql_with_params()
    )
    pages = _run(
        "SELECT page, COUNT(DISTINCT visitor_hash), COUNT(DISTINCT session_id), COUNT(*)"  # noqa: S608
        f" FROM ({pages_sql}) AS views GROUP BY page",
        page_params,
    )
    page_rows = {
        page or "": {"visitors": visitors, "sessions": sessions, "pageviews": views}
        for page, visitors, sessions, views in pages
    }
    return total, page_rows


def _grouped_key(keys: list[str], flags: tuple) -> str | None:
    """The key a GROUPING SETS row groups by, or None for the total row."""
    for key, flag in zip(keys, flags, strict=True):
        if flag == 0:
            return key
    return None
