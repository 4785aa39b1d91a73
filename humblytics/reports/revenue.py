"""The revenue half of every widget: payments in range, net revenue, converters.

Report money is minor units of one settlement currency per site (``revenue.reports.report_currency``):
Stripe's own conversion of each charge, so payments in other settlement currencies are left out, never
mixed. A payment counts by its charge time; its refunds and lost disputes reduce it wherever they fall.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    Exists,
    Expression,
    ExpressionWrapper,
    F,
    OuterRef,
    Q,
    QuerySet,
    Sum,
)
from django.db.models.functions import Trunc

from humblytics.reports import payment_facts
from humblytics.reports.grouped import bucket_of
from humblytics.reports.hashes import among, hash_chunks
from humblytics.reports.query import Query, bucket_starts
from revenue.models import Payment
from tracking.dimensions import SESSION_DIMENSIONS


def payments_in_range(q: Query) -> QuerySet[Payment]:
    """Payments made in range, in the report currency, matching the filters.

    Under any filter only attributed payments can match: the filters apply to the payment's session
    (``page``: the session has a view of that page, at any time, so an older visit still counts). A
    debit that failed after succeeding was never a payment: it counts nowhere, not even as gross.
    """
    payments = Payment.objects.filter(
        site=q.site,
        settlement_currency=q.currency or "",
        created_at__gte=q.start_at,
        created_at__lt=q.end_at,
    ).exclude(status=Payment.Status.FAILED)
    if q.filters:
        payments = q.apply_filters(payments.filter(session__isnull=False), "session", page_in_range=False)
    return payments


def ratio(part: float | None, whole: float | None) -> float | None:
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
            session__site=q.site,
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


@dataclass(frozen=True)
class PaymentFrame:
    """Every revenue figure of a range from one pass over its payments: ``totals`` as
    ``revenue_summary`` aggregates them, ``by_dimension[d]`` as ``revenue_by_dimension(q, d)``.

    The dashboard needs revenue by eleven dimensions; one query instead of eleven joins of the range's
    payments to their sessions. "Was this payer a visitor of the range (with this value)?" needs no
    lookup when the payment's own session (for pages: its attributed view) is in range; the rest (a
    payment days after the visit) are looked up in two queries.
    """

    totals: dict[str, int]
    by_dimension: dict[str, dict[str, dict[str, int]]]
    # Reads ``payers`` when first asked (the frame from payment facts does not fetch every payment).
    load_payers: Callable[[], list[tuple[str, int]]]
    # Hashes of the payers read from payment facts (their goal visits are flagged: ``payer_completions``).
    facted: frozenset[str] = frozenset()
    # ``revenue_timeseries(q, granularity)`` when the frame was asked for a granularity.
    granularity: str | None = None
    buckets: dict[dt.datetime, dict[str, int]] | None = None

    @cached_property
    def payers(self) -> list[tuple[str, int]]:
        """``(visitor hash, net)`` of the attributed payments: the Goals panel's revenue of converting
        visitors starts from them instead of joining the payments to their sessions again."""
        return self.load_payers()


_FRAME_COLUMNS = (
    "net",
    "settlement_amount",
    "refunded",
    "session_id",
    "session__visitor_hash",
    "own_session",
    "own_view",
    "matched_view__page",
    *(f"session__{d}" for d in SESSION_DIMENSIONS),
)
_NET, _GROSS, _REFUNDED, _SESSION, _HASH, _OWN_SESSION, _OWN_VIEW, _FIRST_VALUE = range(8)


def payment_frame(q: Query, *, with_payers: bool = True, granularity: str | None = None) -> PaymentFrame:
    """Under filters "a visitor of the range" means one with a session in range that matches the
    filters. Filters on session values only keep the shortcut: a payment's session matches them (or the
    payment is not in range), so its own session in range is such a session, and its attributed view in
    that session is a view of the filtered range. A ``page`` or ``goal`` filter holds for a payment's
    session at any time but for traffic only in range: the shortcut then also needs the session's hit
    in range (``Query.hits_in_range``), and the other payers are looked up.

    Unfiltered on PostgreSQL it is read from payment facts (``_fact_frame``), with the chart's revenue
    per bucket of ``granularity`` from the query of its totals; ``with_payers=False`` leaves ``payers``
    to be read when first asked for."""
    if not q.filters and connection.vendor == "postgresql" and getattr(settings, "REPORT_ROLLUPS", True):
        return _fact_frame(q, with_payers, granularity)
    rows = _frame_rows(q, granularity)
    totals = {
        "revenue": sum(row[_NET] for row in rows),
        "gross": sum(row[_GROSS] for row in rows),
        "refunded": sum(row[_REFUNDED] for row in rows),
        "payments": len(rows),
    }
    attributed = [row for row in rows if row[_SESSION] is not None]
    totals["attributed"] = sum(row[_NET] for row in attributed)
    in_range, pages_in_range = _later_payers_in_range(q, attributed)
    totals["converters"] = len(
        {row[_HASH] for row in attributed if row[_OWN_SESSION] or ("", row[_HASH], "") in in_range}
    )
    by_dimension = {}
    for index, dimension in enumerate(("page", *SESSION_DIMENSIONS), start=_FIRST_VALUE):
        converted = _converted(dimension, in_range, pages_in_range)
        by_dimension[dimension] = _group_by_value(attributed, index, converted)
    payers = [(row[_HASH], row[_NET]) for row in attributed]
    buckets = None
    if granularity is not None:  # each row's chart bucket is its last column
        buckets = {}
        for row in rows:
            into = buckets.setdefault(row[-1], {"revenue": 0, "payments": 0})
            into["revenue"] += row[_NET]
            into["payments"] += 1
    return PaymentFrame(
        totals=totals,
        by_dimension=by_dimension,
        load_payers=lambda: payers,
        granularity=granularity,
        buckets=buckets,
    )


def _converted(dimension: str, in_range: set, pages_in_range: set) -> Callable[[tuple, Any], bool]:
    """Whether a frame row's payer was a visitor of the range with ``value`` of ``dimension``."""
    if dimension == "page":
        return lambda row, value: (
            row[_OWN_VIEW] or (value is not None and (row[_HASH], value) in pages_in_range)
        )
    return lambda row, value: row[_OWN_SESSION] or (dimension, row[_HASH], value) in in_range


def _fact_frame(q: Query, with_payers: bool, granularity: str | None) -> PaymentFrame:
    """``payment_frame`` of an unfiltered range on PostgreSQL from payment facts
    (``humblytics.reports.payment_facts``): the statement sums every group and counts its single
    payers; the payments it returns (repeat payers, a session or view outside the range) are counted
    here, skipping what it counted already."""
    totals, buckets = _totals_by_bucket(q, granularity)
    groups = payment_facts.read(q, with_payers=with_payers)
    # As _FRAME_COLUMNS rows (gross and refunded are in the totals already), and whether single.
    rows = [(net, 0, 0, *rest[:4], *rest[5:]) for net, *rest in groups.rows]
    single = [rest[4] for _, *rest in groups.rows]
    in_range, pages_in_range = _later_payers_in_range(q, rows)

    def left(own: int) -> list[tuple]:
        """The rows whose payer the statement did not count: it counted a single payer whose payment
        counts (own session, or for pages own view); the rest are counted here."""
        return [row for row, one in zip(rows, single, strict=True) if not (one and row[own])]

    totals["attributed"] = groups.attributed
    totals["converters"] = groups.converters + len(
        {row[_HASH] for row in left(_OWN_SESSION) if row[_OWN_SESSION] or ("", row[_HASH], "") in in_range}
    )
    by_dimension = {}
    for index, dimension in enumerate(("page", *SESSION_DIMENSIONS), start=_FIRST_VALUE):
        own = _OWN_VIEW if dimension == "page" else _OWN_SESSION
        extra = _group_by_value(
            left(own), index, _converted(dimension, in_range, pages_in_range), merge=False
        )
        result: dict[str, dict[str, int]] = {}
        for value, (revenue, payments, converters) in groups.by_dimension[dimension].items():
            into = result.setdefault(value or "", {"revenue": 0, "payments": 0, "converters": 0})
            into["revenue"] += revenue
            into["payments"] += payments
            into["converters"] += converters + extra.get(value, 0)
        by_dimension[dimension] = _by_revenue(result)
    payers = groups.payers
    return PaymentFrame(
        totals=totals,
        by_dimension=by_dimension,
        load_payers=(lambda: payers) if payers is not None else (lambda: _fact_payers(q)),
        facted=frozenset(groups.facted) if payers is not None else frozenset(),
        granularity=granularity,
        buckets=buckets,
    )


def _totals_by_bucket(q: Query, granularity: str | None) -> tuple[dict[str, int], dict | None]:
    """The range's revenue, gross, refunded and payments, and with a ``granularity`` the chart's
    ``revenue_timeseries``: one pass over the range's payments for both, grouped by bucket (the totals
    are the buckets' sums: every payment in range is in one bucket)."""
    payments = payments_in_range(q).order_by()
    if granularity is None:
        return payments.aggregate(**_TOTALS), None
    bucket, start_of = _chart_bucket(q, granularity)
    rows = list(payments.annotate(bucket=bucket).values("bucket").annotate(**_TOTALS))
    totals = {key: sum(row[key] or 0 for row in rows) for key in _TOTALS}
    buckets = {
        start_of(row["bucket"]): {"revenue": row["revenue"] or 0, "payments": row["payments"]} for row in rows
    }
    return totals, buckets


def _chart_bucket(q: Query, granularity: str) -> tuple[Expression, Callable[[Any], dt.datetime]]:
    """A payment's chart bucket as an expression, and from its value the bucket's start as
    ``revenue_timeseries`` keys it: ``width_bucket`` on PostgreSQL, truncation for hours and elsewhere."""
    hourly = granularity == "hour" or connection.vendor != "postgresql"
    starts = None if hourly else bucket_starts(q, granularity)
    bucket = bucket_of(q, granularity, starts, Payment, "created_at")
    if starts is None:
        return bucket, lambda value: value.replace(tzinfo=None)
    return bucket, lambda value: starts[value - 1]


_TOTALS = {
    "revenue": Sum("net"),
    "gross": Sum("settlement_amount"),
    "refunded": Sum("refunded"),
    "payments": Count("id"),
}


def _fact_payers(q: Query) -> list[tuple[str, int]]:
    sql, params = payment_facts.payers_statement(q)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _frame_rows(q: Query, granularity: str | None = None) -> list[tuple]:
    """The range's payments as ``_FRAME_COLUMNS`` tuples, with whether their own session (and attributed
    view) is in range; with a ``granularity``, and the start of their chart bucket last."""
    start_at, end_at = q.bounds()
    # A page or goal filter holds for a payment's session at any time, for traffic only in range.
    hit = q.hits_in_range("session")
    own_session = Q(session__started_at__gte=start_at, session__started_at__lt=end_at) & hit
    own_view = hit & Q(
        matched_view__session=F("session"),
        matched_view__created_at__gte=start_at,
        matched_view__created_at__lt=end_at,
    )
    payments = (
        payments_in_range(q)
        .order_by()
        .annotate(
            own_session=ExpressionWrapper(own_session, output_field=BooleanField()),
            own_view=ExpressionWrapper(own_view, output_field=BooleanField()),
        )
    )
    if granularity is None:
        return list(payments.values_list(*_FRAME_COLUMNS))
    bucket, start_of = _chart_bucket(q, granularity)
    rows = payments.annotate(bucket=bucket).values_list(*_FRAME_COLUMNS, "bucket")
    return [(*row, start_of(value)) for *row, value in rows]


def _later_payers_in_range(
    q: Query, attributed: list[tuple]
) -> tuple[set[tuple[str, str, str]], set[tuple[str, str]]]:
    """Payers whose own visit was outside the range: ``(dimension, hash, value)`` of their sessions in
    range (``("", hash, "")`` for any session) and ``(hash, page)`` of their views in range."""
    start_at = q.start_at
    in_range: set[tuple[str, str, str]] = set()
    pages_in_range: set[tuple[str, str]] = set()
    hashes = sorted({row[_HASH] for row in attributed if not (row[_OWN_SESSION] and row[_OWN_VIEW])})
    for chunk in hash_chunks(hashes):
        sessions = q.sessions().filter(among("visitor_hash", chunk), last_seen_at__gte=start_at)
        for visitor_hash, *values in sessions.values_list("visitor_hash", *SESSION_DIMENSIONS).distinct():
            in_range.add(("", visitor_hash, ""))
            for dimension, value in zip(SESSION_DIMENSIONS, values, strict=True):
                in_range.add((dimension, visitor_hash, value))
        views = q.views().filter(
            among("session__visitor_hash", chunk), session__site=q.site, session__last_seen_at__gte=start_at
        )
        pages_in_range.update(views.values_list("session__visitor_hash", "page").distinct())
    return in_range, pages_in_range


def _group_by_value(attributed: list[tuple], index: int, converted, *, merge: bool = True):
    """``{value: {revenue, payments, converters}}`` of column ``index``, most revenue first; with
    ``merge=False`` only ``{raw value: converters}``."""
    groups: dict[Any, list] = {}
    for row in attributed:
        value = row[index]
        group = groups.get(value)
        if group is None:
            group = groups[value] = [0, 0, set()]
        group[0] += row[_NET]
        group[1] += 1
        if converted(row, value):
            group[2].add(row[_HASH])
    if not merge:
        return {value: len(converters) for value, (_, _, converters) in groups.items()}
    result: dict[str, dict[str, int]] = {}
    for value, (revenue, payments, converters) in groups.items():
        # A payment whose view was deleted has no page: it joins the empty value.
        into = result.setdefault(value or "", {"revenue": 0, "payments": 0, "converters": 0})
        into["revenue"] += revenue
        into["payments"] += payments
        into["converters"] += len(converters)
    return _by_revenue(result)


def _by_revenue(result: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return dict(sorted(result.items(), key=lambda item: (-item[1]["revenue"], -item[1]["payments"], item[0])))


def _frame(q: Query) -> PaymentFrame | None:
    """The query's payment frame when the caller computed it (the dashboard does, for its eleven
    breakdowns); a single report is cheaper with its own aggregate."""
    return q.memo.get("payment_frame") if q.rollups else None


def revenue_summary(q: Query, visitors: int) -> dict[str, Any]:
    """``{revenue, gross_revenue, refunded, payments, conversion_rate, revenue_per_visitor,
    attributed_share, currency}`` for the range; ``visitors`` is the range's visitor count.

    ``revenue`` is net (captured - refunds - lost disputes) of every payment in range, attributed or not;
    ``conversion_rate`` counts the range's visitors whose hash is on an attributed payment's session;
    ``revenue_per_visitor`` is attributed net / visitors (fractional minor units).
    """
    frame = _frame(q)
    if frame is not None:
        totals = frame.totals
    else:
        converted = _paid_by_range_visitor(q)
        totals = payments_in_range(q).aggregate(
            revenue=Sum("net"),
            gross=Sum("settlement_amount"),
            refunded=Sum("refunded"),
            payments=Count("id"),
            attributed=Sum("net", filter=Q(session__isnull=False)),
            converters=Count(
                "session__visitor_hash", distinct=True, filter=Q(session__isnull=False) & converted
            ),
        )
    revenue = totals["revenue"] or 0
    return {
        "revenue": revenue,
        "gross_revenue": totals["gross"] or 0,
        "refunded": totals["refunded"] or 0,
        "payments": totals["payments"],
        "conversion_rate": ratio(totals["converters"], visitors),
        "revenue_per_visitor": ratio(totals["attributed"], visitors),
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
    frame = _frame(q)
    if frame is not None and values is None and not exclude and limit is None:
        return dict(frame.by_dimension[dimension])
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
    ``humblytics.reports.query.bucket_starts`` (naive local datetimes in ``q.tz``)."""
    frame = _frame(q)
    if frame is not None and frame.buckets is not None and frame.granularity == granularity:
        return frame.buckets
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
