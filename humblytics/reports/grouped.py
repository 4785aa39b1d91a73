"""Every traffic figure of a range that rollups cannot serve (a filter, or a time zone other than the
site's), from one statement instead of two or three per widget.

A dashboard under a filter needs the same filtered sessions and their views grouped eleven ways (one
per breakdown), by chart bucket and in total. Per widget that is some thirty scans of the filtered
sessions and joins of their views; here one statement reads each once:

- the filtered views of the range, as (session, page, chart bucket), are counted per session, per
  (session, page) and per bucket: short keys, never the session's wide values per view;
- the filtered sessions of the range, each with its count of views, plus the few sessions started
  before the range whose views fall in it (for page views only), are grouped every way at once by
  GROUPING SETS, hashed;
- distinct visitors without ``COUNT(DISTINCT)`` over everything (which makes PostgreSQL sort the wide
  rows once per grouping, spilling to disk): a visitor hash with a single session is one visitor
  wherever that session counts, so visitors = sessions - (sessions of repeat hashes - distinct repeat
  hashes), the bracket counted over the repeat hashes' rows only. Exact whatever their number; fast
  because hashes are salted daily, so repeat hashes are few. Pages the same way, by (session, page).

The figures are exactly the per-widget queries' (``traffic.traffic_summary``, ``traffic_by_value``,
``traffic_buckets`` with ``rollups=False``): same filtered querysets, same expressions, added up
differently. Other databases (SQLite) get None and the widgets run their own queries.
"""

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from django.db import connection, transaction
from django.db.models import IntegerField
from django.db.models.expressions import Expression, RawSQL
from django.db.models.functions import Trunc

from humblytics.reports.query import Query, bucket_starts
from tracking.dimensions import SESSION_DIMENSIONS
from tracking.goals import page_regex
from tracking.models import Session, View
from tracking.rolldays import local_midnight

_KEYS = (*SESSION_DIMENSIONS, "bucket")
_EMPTY = {"visitors": 0, "sessions": 0, "pageviews": 0}

# For this statement only (transaction-local, set back after it):
# - work_mem: its hash tables and materialized rows. A year of a 1M-view site under its widest filter
#   (590k views) spills to temporary files at the default 4MB and at 32MB, not at 64MB; more gains
#   nothing. A hash node may take hash_mem_multiplier (2) times this, and at most REPORT_CONCURRENCY
#   reports compute at once.
# - jit off: PostgreSQL costs the statement high enough to compile it with optimisation, which took
#   2 s more than running it.
# - no merge joins: the materialized parts have no statistics, so PostgreSQL expects the join of the
#   few repeat visitors' sessions to their page views to return millions of rows and sorts both sides.
_SETTINGS = {"work_mem": "64MB", "jit": "off", "enable_mergejoin": "off"}

# Parts of the statement's result (its first column).
_SESSIONS, _REPEATS, _PAGES, _PAGE_REPEATS, _VIEW_BUCKETS, _GOALS, _GOAL_PAYERS = range(7)


@dataclass(frozen=True)
class GroupedTraffic:
    """``summary`` as ``traffic_summary``, ``by_value[d]`` as ``traffic_by_value(q, d)`` and
    ``buckets`` as ``traffic_buckets(q, granularity)``.

    For each page goal pattern given: ``page_goal_figures[pattern]`` is its ``{visitors, completions}``
    as ``goals.goal_figures`` counts them raw, ``page_goal_payers[pattern]`` the given ``payers`` among
    its visitors."""

    granularity: str
    summary: dict[str, Any]
    by_value: dict[str, dict[str, dict[str, int]]]
    buckets: dict[dt.datetime, dict[str, int]]
    payers: frozenset[str] = frozenset()
    page_goal_figures: dict[str, dict[str, int]] = field(default_factory=dict)
    page_goal_payers: dict[str, set[str]] = field(default_factory=dict)


def traffic(
    q: Query, granularity: str, page_goals: Sequence[str] = (), payers: Sequence[str] = ()
) -> GroupedTraffic | None:
    """The figures, or None on databases other than PostgreSQL. ``page_goals`` are page patterns
    (``tracking.goals.page_regex``) whose views the statement also counts; ``payers`` visitor hashes."""
    if connection.vendor != "postgresql":
        return None
    starts = None if granularity == "hour" else bucket_starts(q, granularity)
    sql, params = _statement(q, granularity, starts, [page_regex(p) for p in page_goals], list(payers))
    figures = _assemble(granularity, run_statement(sql, params), starts, list(page_goals))
    return replace(figures, payers=frozenset(payers))


def bucket_of(q: Query, granularity: str, starts: list[dt.datetime] | None, model, field: str) -> Expression:
    """The chart bucket of ``field``: for days, weeks and months the number (from 1) of the bucket in
    ``starts`` (``width_bucket`` over their UTC instants: some 20 times cheaper per row than truncating in a
    time zone); for hours, ``Trunc`` (a DST change can make two UTC hours one local bucket)."""
    if starts is None:
        return Trunc(field, granularity, tzinfo=q.tz)
    edges = [local_midnight(start.date(), q.tz) for start in starts]
    column = f"{connection.ops.quote_name(model._meta.db_table)}.{connection.ops.quote_name(field)}"
    sql = f"width_bucket({column}, %s::timestamptz[])"  # our own table and column names
    return RawSQL(sql, [edges], output_field=IntegerField())  # noqa: S611


def _statement(
    q: Query, granularity: str, starts: list[dt.datetime] | None, goal_regexes: list[str], payers: list[str]
) -> tuple[str, list]:
    """The statement and its parameters. Every result row is ``(part, mask, value, bucket, a, b, c, d,
    e)``; ``_assemble`` reads them by part (see there)."""
    sessions_sql, sessions_params = (
        q.sessions()
        .annotate(bucket=bucket_of(q, granularity, starts, Session, "started_at"))
        .values("id", "visitor_hash", "pageviews", "started_at", "last_seen_at", *_KEYS)
        .query.sql_with_params()
    )
    views_sql, views_params = (
        q.views()
        .annotate(bucket=bucket_of(q, granularity, starts, View, "created_at"))
        .values("session_id", "page", "bucket")
        .query.sql_with_params()
    )
    # In a row of one grouping set the other keys are NULL, so COALESCE gives the grouped value.
    grouped = f"GROUPING({', '.join(_KEYS)}), COALESCE({', '.join(SESSION_DIMENSIONS)}), bucket"
    every_key = f"GROUPING SETS ({', '.join(f'({key})' for key in _KEYS)}, ())"
    # A session started before the range has no in_range row: its values come from its own row.
    earlier = ", ".join(
        f"COALESCE(x.{d}, (x.earlier).{d}) AS {d}" for d in ("visitor_hash", *SESSION_DIMENSIONS)
    )
    session_table = connection.ops.quote_name(Session._meta.db_table)
    goals, goal_params = _goal_parts(goal_regexes, payers)
    # ``page::text``: as varchar(500) PostgreSQL sizes each (session, page) group for 500 characters and
    # spills to disk long before the memory is used.
    sql = f"""
        WITH in_range AS ({sessions_sql}),
        page_views AS MATERIALIZED (SELECT session_id, page::text AS page, bucket FROM ({views_sql}) AS v),
        session_views AS (SELECT session_id, COUNT(*) AS n FROM page_views GROUP BY session_id),
        session_rows AS MATERIALIZED (
            SELECT COALESCE(x.id, x.session_id) AS id, {earlier}, x.bucket,
                CASE WHEN x.id IS NULL THEN 0 ELSE 1 END AS sessions,
                CASE WHEN x.pageviews = 1 THEN 1 ELSE 0 END AS bounces, COALESCE(x.pageviews, 0) AS pageviews,
                x.last_seen_at - x.started_at AS duration, COALESCE(x.n, 0) AS views
            FROM (
                SELECT s.*, sv.session_id, sv.n, CASE WHEN s.id IS NULL THEN (
                    SELECT e FROM {session_table} e WHERE e.id = sv.session_id
                ) END AS earlier
                FROM in_range s FULL JOIN session_views sv ON sv.session_id = s.id
                OFFSET 0
            ) AS x
        ),
        repeat_hashes AS (SELECT visitor_hash FROM session_rows GROUP BY visitor_hash HAVING COUNT(*) > 1),
        goal_pages AS (
            SELECT p.page, g.i FROM (SELECT DISTINCT page FROM page_views) AS p
            JOIN unnest(%s::text[]) WITH ORDINALITY AS g(pattern, i) ON p.page ~ g.pattern
        ),
        goal_hits AS MATERIALIZED (
            SELECT g.i, r.visitor_hash, COUNT(*) AS n
            FROM page_views v JOIN goal_pages g ON g.page = v.page JOIN session_rows r ON r.id = v.session_id
            GROUP BY g.i, r.visitor_hash
        )
        SELECT {_SESSIONS}, {grouped}, COALESCE(SUM(sessions), 0), COALESCE(SUM(bounces), 0),
            COALESCE(SUM(pageviews), 0), COALESCE(SUM(duration), '0'), COALESCE(SUM(views), 0)::bigint
        FROM session_rows GROUP BY {every_key}
        UNION ALL
        SELECT {_REPEATS}, {grouped}, COUNT(*), COUNT(DISTINCT visitor_hash), NULL, NULL, NULL
        FROM session_rows
        WHERE sessions = 1 AND visitor_hash IN (SELECT visitor_hash FROM repeat_hashes)
        GROUP BY {every_key}
        UNION ALL
        SELECT {_PAGES}, NULL, page, NULL, COUNT(*), NULL, NULL, NULL, SUM(n)::bigint
        FROM (SELECT page, COUNT(*) AS n FROM page_views GROUP BY session_id, page) AS pages GROUP BY page
        UNION ALL
        SELECT {_PAGE_REPEATS}, NULL, v.page, NULL, COUNT(DISTINCT v.session_id),
            COUNT(DISTINCT r.visitor_hash), NULL, NULL, NULL
        FROM page_views v JOIN session_rows r ON r.id = v.session_id
        WHERE r.visitor_hash IN (SELECT visitor_hash FROM repeat_hashes)
        GROUP BY v.page
        UNION ALL
        SELECT {_VIEW_BUCKETS}, NULL, NULL, bucket, NULL, NULL, NULL, NULL, COUNT(*)
        FROM page_views GROUP BY bucket
        {goals}
    """  # noqa: S608  (names are ours)
    return sql, [*sessions_params, *views_params, goal_regexes, *goal_params]


def _goal_parts(goal_regexes: list[str], payers: list[str]) -> tuple[str, list]:
    """The page goals' parts of the statement (none without page goals) and their parameters. Each
    pattern is matched against the range's distinct pages (``goal_pages``), not against every view."""
    if not goal_regexes:
        return "", []
    sql = f"""
        UNION ALL
        SELECT {_GOALS}, NULL, NULL, NULL, COUNT(*), SUM(n)::bigint, NULL, NULL, i FROM goal_hits GROUP BY i
        UNION ALL
        SELECT {_GOAL_PAYERS}, NULL, visitor_hash, NULL, NULL, NULL, NULL, NULL, i
        FROM goal_hits WHERE visitor_hash = ANY(%s::text[])
    """  # noqa: S608  (names are ours)
    return sql, [payers]


def run_statement(sql: str, params: list) -> list[tuple]:
    """Run ``sql`` with ``_SETTINGS`` (work_mem, no JIT, no merge joins), then set back what the
    transaction had (a failing statement rolls the savepoint back, which restores them too)."""
    names = list(_SETTINGS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(['current_setting(%s)'] * len(names))}", names)
        saved = cursor.fetchone()
        _set(cursor, _SETTINGS)
        cursor.execute(sql, params)
        rows = cursor.fetchall()
        _set(cursor, dict(zip(names, saved, strict=True)))
        return rows


def _set(cursor, settings: dict[str, str]) -> None:
    cursor.execute(
        f"SELECT {', '.join(['set_config(%s, %s, true)'] * len(settings))}",
        [part for item in settings.items() for part in item],
    )


def _key(mask: int) -> str | None:
    """The key a ``GROUPING(...)`` mask over ``_KEYS`` groups by (its bit is 0), or None for the total."""
    for position, key in enumerate(_KEYS):
        if not mask >> (len(_KEYS) - 1 - position) & 1:
            return key
    return None


def _assemble(
    granularity: str, rows: list[tuple], starts: list[dt.datetime] | None, page_goals: list[str]
) -> GroupedTraffic:
    """The figures from the statement's rows ``(part, mask, value, bucket, a, b, c, d, e)``:

    - ``_SESSIONS``: one row per key and value (``_key(mask)``, None for the total) of every session
      row: a = sessions, b = bounces, c = their page views, d = their duration, e = page views in range;
    - ``_REPEATS``, ``_PAGE_REPEATS``: the same groupings (pages for the latter) over the repeat
      hashes' rows only: a = sessions, b = distinct visitor hashes;
    - ``_PAGES``: a = sessions with a view of the page, e = its views;
    - ``_VIEW_BUCKETS``: e = page views made in the bucket;
    - ``_GOALS``: e = a page goal's number (from 1), a = its visitors, b = its views;
    - ``_GOAL_PAYERS``: value = a payer's hash among the visitors of page goal e.

    A bucket is its start, or with ``starts`` its number in them (from 1).
    """
    parts: dict[int, list[tuple]] = {part: [] for part in range(7)}
    for part, *row in rows:
        parts[part].append(row)

    def bucket(value: Any) -> Any:
        if starts is None or value is None:
            return value
        if not 1 <= value <= len(starts):  # before the first bucket: a row the range does not hold
            raise ValueError(f"bucket number {value} outside 1..{len(starts)}")
        return starts[value - 1]

    def grouped(row: tuple) -> tuple[str | None, Any]:
        key = _key(row[0])
        return key, (bucket(row[2]) if key == "bucket" else row[1])

    # Sessions of repeat hashes - those hashes, per (key, value) and per page.
    surplus = {grouped(row): row[3] - row[4] for row in parts[_REPEATS]}
    page_surplus = {row[1]: row[3] - row[4] for row in parts[_PAGE_REPEATS]}

    summary: dict[str, Any] = {}
    by_value: dict[str, dict[str, dict[str, int]]] = {d: {} for d in SESSION_DIMENSIONS}
    buckets: dict[dt.datetime, dict[str, int]] = {}
    for row in parts[_SESSIONS]:
        key, value = grouped(row)
        sessions, bounces, session_views, duration, views = row[3:]
        visitors = sessions - surplus.get((key, value), 0)
        if key is None:
            summary.update(sessions=sessions, visitors=visitors, bounces=bounces)
            summary.update(session_views=session_views, duration=duration, pageviews=views)
        elif key == "bucket":
            if value is not None:  # None: sessions started before the range (their page views only)
                buckets[value] = {"visitors": visitors, "sessions": sessions, "pageviews": 0}
        else:
            by_value[key][value or ""] = {"visitors": visitors, "sessions": sessions, "pageviews": views}
    for row in parts[_VIEW_BUCKETS]:
        buckets.setdefault(bucket(row[2]), dict(_EMPTY))["pageviews"] = row[-1]
    by_value["page"] = {}
    for _mask, page, _bucket, sessions, *_, views in parts[_PAGES]:
        visitors = sessions - page_surplus.get(page, 0)
        by_value["page"][page or ""] = {"visitors": visitors, "sessions": sessions, "pageviews": views}
    goal_figures = {pattern: {"visitors": 0, "completions": 0} for pattern in page_goals}
    for *_, visitors, views, _c, _d, goal in parts[_GOALS]:
        goal_figures[page_goals[goal - 1]] = {"visitors": visitors, "completions": views}
    goal_payers: dict[str, set[str]] = {pattern: set() for pattern in page_goals}
    for _mask, visitor_hash, *_, goal in parts[_GOAL_PAYERS]:
        goal_payers[page_goals[goal - 1]].add(visitor_hash)
    return GroupedTraffic(
        granularity=granularity,
        summary=summary,
        by_value=by_value,
        buckets=buckets,
        page_goal_figures=goal_figures,
        page_goal_payers=goal_payers,
    )
