"""The unfiltered payment frame on PostgreSQL from payment facts (``revenue.facts``): one statement
groups the range's attributed payments by every dimension, their session and view values read from
their facts, or from the session and view themselves for the few without a current fact (today's).

Converters are distinct payer hashes, which a hash aggregate cannot count. Most payers pay once in a
range: a hash with a single payment in range is one converter of its row wherever that payment counts,
so the statement counts those rows (``single``), and returns the rest as rows (repeat payers, and
payments whose session or view is outside the range, which need the later-payer lookup) for
``humblytics.reports.revenue`` to count their hashes in Python, as the raw frame does. Both counts are
of disjoint hashes, so their sum is the distinct count.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import OuterRef, Q, QuerySet, Subquery

from humblytics.reports.grouped import run_statement
from humblytics.reports.query import Query
from revenue.models import Payment, PaymentFact
from tracking.dimensions import SESSION_DIMENSIONS
from tracking.models import GoalVisitor, RollupState, Session, View

GROUPED = ("page", *SESSION_DIMENSIONS)
_FULL = (1 << len(GROUPED)) - 1  # GROUPING() of the () set: every column left out


@dataclass(frozen=True)
class FactGroups:
    """``totals``: attributed net and converters counted in SQL; ``by_dimension[d][value]``:
    ``[revenue, payments, converters counted in SQL]``; ``rows``: the payments left to count in Python,
    as ``(net, session_id, hash, own_session, own_view, single, page, *session values)``; ``payers``:
    ``(hash, net)`` of every payment, when asked for."""

    attributed: int
    converters: int
    by_dimension: dict[str, dict[str | None, list[int]]]
    rows: list[tuple]
    payers: list[tuple[str, int]] | None  # (hash, net) of every payment, when asked for
    facted: set[str]  # hashes of those payers read from payment facts


def read(q: Query, *, with_payers: bool) -> FactGroups:
    sql, params = _statement(q, with_payers)
    attributed = converters = 0
    by_dimension: dict[str, dict[str | None, list[int]]] = {dimension: {} for dimension in GROUPED}
    rows, payers, facted = [], [], set()
    for kind, grouping, *values, revenue, payments, own_single, view_single in run_statement(sql, params):
        if kind in ("r", "p"):  # its ``revenue`` column says whether it was read from a fact
            if kind == "r":  # a payment
                rows.append(tuple(values))
                hashes, nets = [values[2]], [values[0]]
            else:  # payments' hashes and nets as lists
                hashes, nets = values[2].split(","), map(int, values[_VALUES].split(","))
            payers.extend(zip(hashes, nets, strict=False))
            if revenue:
                facted.update(hashes)
            continue
        if grouping == _FULL:
            attributed, converters = int(revenue or 0), own_single
            continue
        index = next(i for i in range(len(GROUPED)) if grouping == _FULL ^ (1 << (len(GROUPED) - 1 - i)))
        dimension = GROUPED[index]
        value = values[_VALUES + index]
        counted = view_single if dimension == "page" else own_single
        by_dimension[dimension][value] = [int(revenue or 0), payments, counted]
    return FactGroups(
        attributed=attributed,
        converters=converters,
        by_dimension=by_dimension,
        rows=rows,
        payers=payers if with_payers else None,
        facted=facted,
    )


# In a result row, after kind and grouping: net, session_id, hash, own, own_view, single, then the values.
_VALUES = 6


def payers_statement(q: Query, payers: QuerySet[Payment] | None = None) -> tuple[str, list]:
    """``(visitor_hash, net)`` of the range's attributed payments, as SQL and parameters: unfiltered,
    their hashes from their facts; filtered (``payers``: those payments), each payer's hash by primary
    key, one index probe per payment (a join would hash every session of the site for a year's
    thousands of payments)."""
    if q.filters:
        own_hash = Subquery(Session.objects.filter(pk=OuterRef("session_id")).values("visitor_hash")[:1])
        return payers.annotate(payer_hash=own_hash).values_list("payer_hash", "net").query.sql_with_params()
    rows, params = _rows(q)
    return f"WITH {rows} SELECT h, net FROM r", params  # noqa: S608  (see _rows)


def payer_completions(q: Query, built: QuerySet[GoalVisitor]) -> list[tuple[int, str]]:
    """``(goal id, hash)`` of ``built`` goal visits that may be a payer's: those the job flagged
    (``revenue.facts``: every goal visit of a hash with a payment fact) and those written since it last
    flagged. Complete for every payer whose payment has a fact: the year's payers of a large site are
    read in one pass over their own rows instead of being looked up one hash at a time."""
    mark = RollupState.objects.filter(site=q.site).values_list("payers_flagged_through", flat=True).first()
    rows = built.filter(Q(payer=True) | Q(pk__gt=mark or 0))
    return list(rows.values_list("goal_id", "visitor_hash"))


def _statement(q: Query, with_payers: bool) -> tuple[str, list]:
    # ``c`` is read three times: inlined, each reads ``r`` and probes the few repeat hashes, instead of
    # copying every payment's row once more (a year at 10M views: 840-880 to 750-810 ms).
    rows, params = _rows(q)
    columns = ", ".join(GROUPED)
    sets = ", ".join(["()", *(f"({c})" for c in GROUPED)])
    # The other payers' (hash, net), for the Goals panel's revenue of converting visitors: a year of a
    # large site's are 150,000, sent as two comma-separated lists per row (in its hash and page
    # columns) instead of a row each.
    nulls = ", ".join(["NULL"] * (len(GROUPED) - 1))
    payers = f"""
        UNION ALL SELECT 'p', NULL, NULL, NULL, string_agg(h, ','), NULL, NULL, NULL,
            string_agg(net::text, ','), {nulls}, facted::int, NULL, NULL, NULL
        FROM c WHERE single AND own AND own_view GROUP BY facted
    """  # noqa: S608  (names are ours)
    sql = f"""
        WITH {rows},
        repeat AS MATERIALIZED (SELECT h FROM r GROUP BY h HAVING COUNT(*) > 1),
        c AS NOT MATERIALIZED (SELECT r.*, h NOT IN (SELECT h FROM repeat) AS single FROM r)
        SELECT 'g', GROUPING({columns}), NULL::bigint, NULL::bigint, NULL, NULL::boolean, NULL::boolean,
            NULL::boolean, {columns}, SUM(net), COUNT(*), COUNT(*) FILTER (WHERE single AND own),
            COUNT(*) FILTER (WHERE single AND own_view)
        FROM c GROUP BY GROUPING SETS ({sets})
        UNION ALL
        SELECT 'r', NULL, net, session_id, h, own, own_view, single, {columns}, facted::int, NULL, NULL, NULL
        FROM c WHERE NOT (single AND own AND own_view)
        {payers if with_payers else ""}
    """  # noqa: S608  (names are ours; every value is a parameter)
    return sql, params


def _rows(q: Query) -> tuple[str, list]:
    """The CTE ``r``: per attributed payment in range ``(net, session_id, h, own, own_view, page,
    *session values)``, from its current fact, else from its session and view."""
    payment, fact = Payment._meta.db_table, PaymentFact._meta.db_table
    session, view = Session._meta.db_table, View._meta.db_table
    start_at, end_at = q.bounds()
    in_range = (
        "p.site_id = %s AND p.settlement_currency = %s AND p.created_at >= %s AND p.created_at < %s"
        " AND p.status <> %s AND p.session_id IS NOT NULL"
    )
    range_params = [q.site.pk, q.currency or "", start_at, end_at, Payment.Status.FAILED.value]
    values = ", ".join(SESSION_DIMENSIONS)
    x_values = ", ".join(f"x.{d}" for d in SESSION_DIMENSIONS)
    # OFFSET 0 keeps each lookup a subquery probed by primary key: joined, the few payments without a
    # current fact would make PostgreSQL hash every session and view of the site.
    sql = f"""
        base AS MATERIALIZED (
            SELECT p.net, p.session_id, p.matched_view_id, x.payment_id AS fact, x.visitor_hash,
                x.started_at, x.view_session_id, x.view_at, x.page, {x_values}
            FROM {payment} p
            LEFT JOIN {fact} x ON x.payment_id = p.id AND x.session_id = p.session_id
                AND x.matched_view_id IS NOT DISTINCT FROM p.matched_view_id
            WHERE {in_range}
        ),
        r AS (
            SELECT net, session_id, visitor_hash AS h, started_at >= %s AND started_at < %s AS own,
                COALESCE(view_session_id = session_id AND view_at >= %s AND view_at < %s, false) AS own_view,
                CASE WHEN matched_view_id IS NULL THEN NULL ELSE page END AS page, {values}, true AS facted
            FROM base WHERE fact IS NOT NULL
            UNION ALL
            SELECT p.net, p.session_id, x.visitor_hash,
                x.started_at >= %s AND x.started_at < %s,
                COALESCE(m.session_id = p.session_id AND m.created_at >= %s AND m.created_at < %s, false),
                m.page, {x_values}, false
            FROM base p
            JOIN LATERAL (SELECT * FROM {session} s WHERE s.id = p.session_id OFFSET 0) x ON true
            LEFT JOIN LATERAL (
                SELECT v.session_id, v.created_at, v.page FROM {view} v
                WHERE v.id = p.matched_view_id OFFSET 0
            ) m ON true
            WHERE p.fact IS NULL
        )
    """  # noqa: S608  (names are ours; every value is a parameter)
    window = [start_at, end_at, start_at, end_at]
    return sql, [*range_params, *window, *window]
