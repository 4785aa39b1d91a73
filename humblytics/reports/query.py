"""The filtered base query every report runs on, and its parsing.

A ``Query`` is the site, an inclusive range of local dates, the time zone those dates are in, and
optional dimension filters. ``parse_query`` builds one from either the dashboard's query string
(``period``, ``from``, ``to``, ``filter``) or the API's (``start``, ``end``, ``timezone``, ``filter``)
and raises ``QueryError`` naming the bad parameter.

Time: a local date range ``[start 00:00, end + 1 day 00:00)`` in ``q.tz`` becomes aware UTC bounds.
Sessions and visitors fall in it by ``Session.started_at``, page views and pages by ``View.created_at``,
payments by ``Payment.created_at`` (Stripe's charge time).

Goals: ``filter=goal:NAME`` keeps sessions in which the site's goal NAME was completed (a hit of the
goal, ``tracking.goals``, in range; for payments, at any time, like a ``page`` filter). An unknown name
is a ``QueryError``.

Rollups: for a range without filters (or with one filter a slice serves, ``tracking.slices``: then in
the site's time zone only, read through ``rollup_slice``), ``built_from``..``built_through`` are the days
(the site's own local days) the daily rollup tables (``tracking.rollups``) hold the figures of;
``tail()`` is the raw remainder. In the site's time zone that is today (and yesterday until it settles);
in another time zone also the partial site days at either end of the range, since its midnights fall
inside the site's days.
``Query(rollups=False)`` reads everything raw: the reference the rollup tests compare against.
"""

import datetime as dt
import operator
import re
import zoneinfo
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import cached_property, reduce
from typing import Any

from django.conf import settings
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from revenue.reports import report_currency
from tracking import rollup_reads, rollups, slices
from tracking.dimensions import DIMENSIONS
from tracking.goals import page_regex
from tracking.models import CustomEvent, Goal, RollupSlice, Session, Site, View
from tracking.rolldays import local_midnight

PERIODS = ("today", "yesterday", "7d", "30d", "month", "lastmonth", "90d", "12mo", "custom")
GRANULARITIES = ("hour", "day", "week", "month")
ORDERS = ("visitors", "revenue")
MAX_DAYS = 1096
MAX_HOURLY_DAYS = 7
MAX_FILTERS = 10
MAX_FILTER_VALUE_LENGTH = 500
GOAL_FILTER = "goal"  # filter=goal:NAME, beside the dimensions
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
    # The site's goals named by ``goal:`` filters, looked up once by ``parse_query``.
    goals: Mapping[str, Goal] = field(default_factory=dict, repr=False, compare=False)
    # Figures computed once and shared by several widgets of one request (the dashboard's payment
    # frame). Not an init field, so ``replace(q)`` starts with an empty memo.
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)
    # The raw part of a range read partly from rollups (set by ``tail()``): half-open UTC intervals in
    # time order. Empty: the whole range ``[start_at, end_at)``.
    spans: tuple[tuple[dt.datetime, dt.datetime], ...] = field(default=(), repr=False)

    @property
    def start_at(self) -> dt.datetime:
        """Aware UTC datetime of local midnight starting ``start`` (included); a tail's first instant."""
        if self.spans:
            return self.spans[0][0]
        return local_midnight(self.start, self.tz)

    @property
    def end_at(self) -> dt.datetime:
        """Aware UTC datetime of local midnight after ``end`` (excluded); a tail's last bound."""
        if self.spans:
            return self.spans[-1][1]
        return local_midnight(self.end + dt.timedelta(days=1), self.tz)

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
    def rollup_slice(self) -> RollupSlice | None:
        """The filter slice (``tracking.slices``) serving this query's one filter, in the site's time
        zone; None without one (or without filters)."""
        if not self.filters or not self.rollups or getattr(self.tz, "key", None) != self.site.timezone:
            return None
        return slices.slice_for(self.site, self.filters)

    def slice_lookups(self, path: str = "") -> dict[str, str]:
        """The filters as lookups from ``path`` (session dimension = value), to find where the raw tail of
        a query read through ``rollup_slice`` (or of an unfiltered one: empty) overlaps its built days."""
        prefix = f"{path}__" if path else ""
        return {f"{prefix}{dimension}": value for dimension, value in self.filters}

    @cached_property
    def built_days(self) -> tuple[dt.date, dt.date] | None:
        """``(first, last)``: the site's local days read from rollups (None: all raw). Rollups hold no
        filter combinations, so a filtered query is raw unless a slice serves its filter and has all those
        days. In the site's time zone the days start at ``start``; in another zone they are the site days
        wholly inside the range."""
        if not self.rollups or not getattr(settings, "REPORT_ROLLUPS", True):
            return None
        if self.filters and self.rollup_slice is None:
            return None
        site_tz = rollups.site_tz(self.site)
        if getattr(site_tz, "key", None) != self.site.timezone:
            return None  # no valid zone of its own: rollups are never built
        if getattr(self.tz, "key", None) == self.site.timezone:
            first, last = self.start, self.end
        else:
            start_at, end_at = self.start_at, self.end_at
            first = start_at.astimezone(site_tz).date()
            if local_midnight(first, site_tz) < start_at:
                first += dt.timedelta(days=1)
            last = end_at.astimezone(site_tz).date() - dt.timedelta(days=1)
            if last < first:
                return None
        through = rollup_reads.built_through(self.site, site_tz, first, last)
        if (
            through is not None
            and self.rollup_slice
            and not slices.has_days(self.rollup_slice, first, through)
        ):
            return None
        return None if through is None else (first, through)

    @property
    def built_from(self) -> dt.date | None:
        """The first day read from rollups (``start`` in the site's time zone)."""
        return self.built_days[0] if self.built_days else None

    @property
    def built_through(self) -> dt.date | None:
        """The last day read from rollups (None: all raw)."""
        return self.built_days[1] if self.built_days else None

    def built_window(self) -> tuple[dt.datetime, dt.datetime]:
        """The UTC interval the built days cover (only with ``built_days``)."""
        first, through = self.built_days
        site_tz = rollups.site_tz(self.site)
        return local_midnight(first, site_tz), local_midnight(through + dt.timedelta(days=1), site_tz)

    def tail(self) -> "Query | None":
        """The raw remainder of a range read from rollups: before the built days (another time zone's
        partial first day) and after them (None when the built days cover the whole range)."""
        if self.built_days is None:
            return None
        start_at, end_at = self.start_at, self.end_at
        built_from, built_to = self.built_window()
        spans = tuple((low, high) for low, high in ((start_at, built_from), (built_to, end_at)) if low < high)
        if not spans:
            return None
        start = spans[0][0].astimezone(self.tz).date()
        return replace(self, start=max(self.start, start), rollups=False, spans=spans)

    def _in_range(self, field_name: str) -> Q:
        """``field_name`` (a time) in the range, or in one of a tail's spans."""
        if not self.spans:
            return Q(**{f"{field_name}__gte": self.start_at, f"{field_name}__lt": self.end_at})
        return reduce(
            operator.or_,
            (Q(**{f"{field_name}__gte": low, f"{field_name}__lt": high}) for low, high in self.spans),
        )

    def apply_filters(self, queryset: QuerySet, session_path: str = "", *, page_in_range: bool = True):
        """Restrict ``queryset`` to rows whose session matches every filter.

        ``session_path`` leads from the queryset's model to Session ("" for Session itself, "session"
        for View and Payment). A ``page`` filter means "the session has a view of that page", in range
        unless ``page_in_range`` is False; a ``goal`` filter, a hit of the goal.
        """
        prefix = f"{session_path}__" if session_path else ""
        for dimension, value in self.filters:
            if dimension in ("page", GOAL_FILTER):
                queryset = queryset.filter(self._has_hit(dimension, value, session_path, page_in_range))
            else:
                queryset = queryset.filter(**{prefix + dimension: value})
        return queryset

    def hits_in_range(self, session_path: str = "") -> Q:
        """The session ``session_path`` leads to has a hit in range of every ``page`` and ``goal`` filter
        (an empty Q without such filters)."""
        found = Q()
        for dimension, value in self.filters:
            if dimension in ("page", GOAL_FILTER):
                found &= self._has_hit(dimension, value, session_path, True)
        return found

    def _has_hit(self, dimension: str, value: str, session_path: str, in_range: bool) -> Q:
        """A view of a ``page`` filter's page, or a hit of a ``goal`` filter's goal (custom events by name,
        or views whose page matches), in the session ``session_path`` leads to; in range when asked."""
        session = {"session": OuterRef(session_path or "pk")}
        if dimension == "page":
            hits = View.objects.filter(page=value, **session)
        elif (goal := self.goal(value)).kind == Goal.Kind.EVENT:
            hits = CustomEvent.objects.filter(name=goal.event_name, **session)
        else:
            hits = View.objects.filter(page__regex=page_regex(goal.page_pattern), **session)
        return Q(Exists(hits.filter(self._in_range("created_at")) if in_range else hits))

    def goal(self, name: str) -> Goal:
        """The site's goal of a ``goal:`` filter (looked up here when the Query was built by hand)."""
        goal = self.goals.get(name)
        return goal if goal is not None else Goal.objects.get(site=self.site, name=name)

    def sessions(self) -> QuerySet[Session]:
        """Sessions started in range that match the filters."""
        sessions = Session.objects.filter(self._in_range("started_at"), site=self.site)
        return self.apply_filters(sessions)

    def views(self) -> QuerySet[View]:
        """Page views made in range whose session matches the filters (wherever the session started)."""
        views = View.objects.filter(self._in_range("created_at"), site=self.site)
        return self.apply_filters(views, "session")

    def events(self) -> QuerySet[CustomEvent]:
        """Custom events made in range whose session matches the filters. Without filters that includes
        events whose page view is not stored yet (no session); a filter needs the session."""
        events = CustomEvent.objects.filter(self._in_range("created_at"), site=self.site)
        return self.apply_filters(events, "session") if self.filters else events


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


COMPARISONS = ("previous", "year", "off")


def comparison_query(q: Query, compare: str) -> Query | None:
    """The range ``q`` is compared with: the same number of days just before it ("previous"), the same
    dates a year earlier ("year"; 29 February becomes the 28th), or None ("off"). Filters are kept."""
    if compare == "previous":
        return replace(q, start=q.start - dt.timedelta(days=q.days), end=q.start - dt.timedelta(days=1))
    if compare == "year":
        return replace(q, start=_year_before(q.start), end=_year_before(q.end))
    return None


def _year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


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
        if dimension not in DIMENSIONS and dimension != GOAL_FILTER:
            raise QueryError(
                "filter",
                f"unknown filter dimension {dimension[:40]!r}; use one of {', '.join(DIMENSIONS)}"
                f" or {GOAL_FILTER}:NAME",
            )
        if len(value) > MAX_FILTER_VALUE_LENGTH:
            raise QueryError("filter", f"filter values are at most {MAX_FILTER_VALUE_LENGTH} characters")
        if "\x00" in value:
            # No stored value holds one, and PostgreSQL refuses it in a query (a 500).
            raise QueryError("filter", "filter values cannot contain a NUL character (%00)")
        if (dimension, value) not in filters:
            filters.append((dimension, value))
    if len(filters) > MAX_FILTERS:
        raise QueryError("filter", f"at most {MAX_FILTERS} filters")
    return tuple(filters)


def _preset_range(period: str, today: dt.date) -> tuple[dt.date, dt.date]:
    if period == "today":
        return today, today
    if period == "yesterday":
        return today - dt.timedelta(days=1), today - dt.timedelta(days=1)
    if period == "month":
        return today.replace(day=1), today
    if period == "lastmonth":
        last_day = today.replace(day=1) - dt.timedelta(days=1)
        return last_day.replace(day=1), last_day
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
    is 29 days before ``end``). Dashboard form: ``period`` (today, yesterday, 7d, 30d, month (this month
    so far), lastmonth, 90d, 12mo, custom with
    ``from``/``to``). ``start``/``end`` win over ``period``. Both take ``timezone`` (IANA name, default
    the site's) and repeated ``filter=dimension:value``. ``today`` defaults to the current date in that
    time zone.
    """
    tz = _timezone(site, params)
    if today is None:
        today = timezone.now().astimezone(tz).date()
    filters = parse_filters(_param_list(params, "filter"))
    goals = resolve_goals(site, filters)

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
    return Query(site=site, start=start, end=end, tz=tz, filters=filters, period=period, goals=goals)


def resolve_goals(site: Site, filters: tuple[tuple[str, str], ...]) -> dict[str, Goal]:
    """The site's goals named by ``goal:`` filters (one query, none without such a filter)."""
    names = [value for dimension, value in filters if dimension == GOAL_FILTER]
    if not names:
        return {}
    goals = {goal.name: goal for goal in Goal.objects.filter(site=site, name__in=names)}
    for name in names:
        if name not in goals:
            raise QueryError(
                "filter",
                f"unknown goal {name[:80]!r}: this site has no goal of that name (see Settings → Goals)",
            )
    return goals


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


_DASHBOARD_WORDS = {"from": "start date", "to": "end date"}


def dashboard_notice(error: QueryError) -> str:
    """What the dashboard says about a bad address (its parameters are not typed by hand: they come from
    links and the date pickers, so say what happened in the page's own words, then what is shown)."""
    message = error.message
    if error.param == "filter":
        return f"A filter in this address could not be used ({message}), so the dashboard shows everything."
    if error.param in _DASHBOARD_WORDS and " is before " in message:
        message = "The end date is before the start date"
    elif error.param in _DASHBOARD_WORDS and "must be a date" in message:
        message = f"The {_DASHBOARD_WORDS[error.param]} is not a date (dates look like 2025-01-31)"
    elif error.param in _DASHBOARD_WORDS and "is required" in message:
        message = f"A custom period needs a {_DASHBOARD_WORDS[error.param]}"
    else:
        message = message[:1].upper() + message[1:]
    return f"{message}, so the dashboard shows the last 30 days instead."


def check_dimension(dimension: str) -> None:
    if dimension not in DIMENSIONS:
        raise QueryError(
            "dimension", f"unknown dimension {dimension[:40]!r}; use one of {', '.join(DIMENSIONS)}"
        )
