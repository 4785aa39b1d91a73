"""Filter slices: rollups of one filter value's sessions, so the dashboard's main gesture (click a value
to filter by it) reads rollups too instead of every raw row of the range.

A rollup per (filter value, breakdown value) for every pair would hold more rows than the site has
page views. But a filter is slow raw only when its value holds much of the traffic: a value with a few
percent of the sessions reads a few percent of the rows. So the job keeps slices for the heaviest values
only (``choose``): a session dimension's value holding at least ``SLICE_SHARE`` of the last
``CHOOSE_WINDOW``'s sessions (kept while it holds ``KEEP_SHARE``, so a value near the line does not come
and go), at most ``settings.ROLLUP_SLICES`` of them, chosen again every ``CHOOSE_EVERY``.

A slice's ``SliceRollup`` rows are ``DailyRollup``'s over its sessions alone: every breakdown (first
appearances counted within the slice, so distinct visitors over any range are exact), plus ``event``
rows (per custom event name: its events and first-appearing visitors, for the Events list and event
goals) and ``goal`` rows (per page goal pattern of the site: matching views and first-appearing
visitors). The slice's totals and chart are the site's own ``DailyRollup`` rows of that value.

Days: a slice day is built (``SliceDay``) only on a built traffic day, after it, for the page goal
patterns its marker's digest names. Readers use a slice for a range only when every built day of it
has a current marker; until then they read raw, as before. ``forget_stale`` (run with the traffic
rollups' own invalidation) forgets slice days whose traffic day was forgotten, and the later days whose
first appearances pointed back at them. A new page goal changes the digest: the job rebuilds the slices'
days (``BUILD_SECONDS`` a run), which never touches the site's own rollups.
"""

import bisect
import datetime as dt
import time
import zlib
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef

from tracking import rollups
from tracking.dimensions import SESSION_DIMENSIONS
from tracking.goals import page_matches
from tracking.models import (
    CustomEvent,
    Goal,
    RollupDay,
    RollupSlice,
    RollupState,
    Session,
    Site,
    SliceDay,
    SliceRollup,
    View,
)
from tracking.rolldays import chunks, day_runs, local_midnight

SLICE_SHARE = 0.15
KEEP_SHARE = 0.10
MIN_SESSIONS = 1000  # fewer sessions than this read raw fast enough whatever their share
CHOOSE_WINDOW = dt.timedelta(days=90)
CHOOSE_EVERY = dt.timedelta(days=7)
BUILD_SECONDS = 120


def limit() -> int:
    return settings.ROLLUP_SLICES


# ----------------------------------------------------------------------------------------- choosing


def choose(site: Site, now: dt.datetime) -> bool:
    """Choose the site's slices again when they are older than ``CHOOSE_EVERY``. Returns whether the set
    changed. A dropped slice takes its rows with it; a new one is built by ``roll_up_slices``."""
    state = RollupState.objects.get(site=site)
    if state.slices_chosen_at is not None and now - state.slices_chosen_at < CHOOSE_EVERY:
        return False
    current = {(s.dimension, s.value): s for s in RollupSlice.objects.filter(site=site)}
    wanted = set(heaviest(site, now, current.keys())) if limit() else set()
    with transaction.atomic():
        for key in current.keys() - wanted:
            current[key].delete()
        RollupSlice.objects.bulk_create(
            [
                RollupSlice(site=site, dimension=d, value=v, chosen_at=now)
                for d, v in sorted(wanted - current.keys())
            ]
        )
        RollupState.objects.filter(pk=state.pk).update(slices_chosen_at=now)
    return wanted != current.keys()


def heaviest(site: Site, now: dt.datetime, kept: Iterable[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """The ``(dimension, value)`` pairs that should be slices, heaviest first: ``kept`` ones still
    holding ``KEEP_SHARE`` of the window's sessions, new ones ``SLICE_SHARE``; never an empty value."""
    sessions = Session.objects.filter(site=site, started_at__gte=now - CHOOSE_WINDOW, started_at__lt=now)
    total = sessions.count()
    floor = max(MIN_SESSIONS, KEEP_SHARE * total)
    counts: dict[tuple[str, str], int] = {}
    for dimension in SESSION_DIMENSIONS:
        rows = (
            sessions.exclude(**{dimension: ""})
            .values_list(dimension)
            .annotate(n=Count("id"))
            .filter(n__gte=floor)
            .order_by()
        )
        counts.update({(dimension, value): n for value, n in rows})
    kept = set(kept)
    chosen = [key for key, n in counts.items() if key in kept or n >= max(MIN_SESSIONS, SLICE_SHARE * total)]
    return sorted(chosen, key=lambda key: (-counts[key], key))[: limit()]


def slice_for(site: Site, filters: tuple[tuple[str, str], ...]) -> RollupSlice | None:
    """The slice serving exactly these filters (one, on a session dimension), or None."""
    if len(filters) != 1 or filters[0][0] not in SESSION_DIMENSIONS:
        return None
    dimension, value = filters[0]
    return RollupSlice.objects.filter(site=site, dimension=dimension, value=value).first()


def has_days(rollup_slice: RollupSlice, first: dt.date, through: dt.date) -> bool:
    """Whether every built traffic day of ``first``..``through`` is a built day of the slice, made from
    that very build of the traffic day and for the site's current page goals."""
    traffic_days = RollupDay.objects.filter(site=rollup_slice.site_id, day__gte=first, day__lte=through)
    built = SliceDay.objects.filter(
        _current(rollup_slice.site_id),
        slice=rollup_slice,
        day__gte=first,
        day__lte=through,
        goals=digest(page_patterns(rollup_slice.site_id)),
    )
    return built.count() == traffic_days.count()


def _current(site: Site | int) -> Exists:
    """The slice day's traffic day is built, and was built when the slice day was."""
    return Exists(
        RollupDay.objects.filter(site=site, day=OuterRef("day"), built_at=OuterRef("traffic_built_at"))
    )


# ---------------------------------------------------------------------------------------- the writer


def page_patterns(site: Site | int) -> list[str]:
    return sorted(
        set(Goal.objects.filter(site=site, kind=Goal.Kind.PAGE).values_list("page_pattern", flat=True))
    )


def digest(patterns: list[str]) -> int:
    return zlib.crc32("\x00".join(patterns).encode())


def forget_stale(site: Site) -> int:
    """Forget slice days whose traffic day is no longer built or was built again since, and the later days
    whose rows point back at one of them. Returns the days forgotten."""
    slices = RollupSlice.objects.filter(site=site)
    stale = set(SliceDay.objects.filter(~_current(site), slice__in=slices).values_list("day", flat=True))
    if not stale:
        return 0
    dependent = SliceRollup.objects.filter(slice__in=slices, last_day__in=sorted(stale))
    stale |= set(dependent.values_list("day", flat=True).distinct())
    with transaction.atomic():
        SliceDay.objects.filter(slice__in=slices, day__in=sorted(stale)).delete()
        SliceRollup.objects.filter(slice__in=slices, day__in=sorted(stale)).delete()
    return len(stale)


def roll_up_slices(site: Site, tz: zoneinfo.ZoneInfo, *, seconds: float | None = None) -> int:
    """Build the slice days missing or made for other page goals, on built traffic days, oldest first,
    starting no new batch after ``seconds`` (default ``BUILD_SECONDS``). Returns days built."""
    deadline = time.monotonic() + (BUILD_SECONDS if seconds is None else seconds)
    slices = list(RollupSlice.objects.filter(site=site).order_by("pk"))
    if not slices:
        return 0
    patterns = page_patterns(site)
    stamp = digest(patterns)
    # Read before the raw rows: a traffic day rebuilt meanwhile leaves these slice days stale, not wrong.
    traffic_built = dict(RollupDay.objects.filter(site=site).values_list("day", "built_at"))
    days = sorted(traffic_built)
    have = {
        (slice_id, day)
        for slice_id, day, built_at in SliceDay.objects.filter(slice__in=slices, goals=stamp).values_list(
            "slice_id", "day", "traffic_built_at"
        )
        if traffic_built.get(day) == built_at
    }
    # Slices missing the same days are built together, from one read of each batch: all of them after a
    # new page goal, a new slice alone.
    groups: dict[tuple[dt.date, ...], list[RollupSlice]] = defaultdict(list)
    for rollup_slice in slices:
        groups[tuple(day for day in days if (rollup_slice.pk, day) not in have)].append(rollup_slice)
    built = 0
    for missing, group in sorted(groups.items(), key=lambda item: item[0]):
        for first, last in day_runs(list(missing)):
            if built and time.monotonic() > deadline:
                return built
            _build(site, tz, group, (patterns, stamp, traffic_built), first, last)
            built += (last - first).days + 1
    return built


class _Members:
    """Which slices a session's values (``SESSION_DIMENSIONS`` order) belong to, as the row dimensions
    the traffic counters of ``tracking.rollups`` write: ``"{slice index}/{dimension}"``."""

    def __init__(self, slices: list[RollupSlice]):
        self.wanted = [(SESSION_DIMENSIONS.index(s.dimension), s.value) for s in slices]

    def of(self, values: tuple) -> list[int]:
        return [i for i, (position, value) in enumerate(self.wanted) if values[position] == value]

    def pairs(self, values: tuple) -> list[tuple[str, str]]:
        return [
            (f"{i}/{d}", v) for i in self.of(values) for d, v in zip(SESSION_DIMENSIONS, values, strict=True)
        ]

    def pages(self, values: tuple) -> list[str]:
        return [f"{i}/page" for i in self.of(values)]


def _build(
    site: Site,
    tz: zoneinfo.ZoneInfo,
    slices: list[RollupSlice],
    marks: tuple[list[str], int, dict[dt.date, dt.datetime]],
    first: dt.date,
    last: dt.date,
) -> None:
    """Build the slices' days ``first``..``last``; ``marks``: the page goal patterns, their digest and
    the traffic days' ``built_at``."""
    patterns = marks[0]
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    bounds = [local_midnight(day, tz) for day in [*days, last + dt.timedelta(days=1)]]

    def day_of(moment: dt.datetime) -> dt.date:
        return days[bisect.bisect_right(bounds, moment) - 1]

    sessions, views = rollups.read_batch(site, bounds[0], bounds[-1])
    events = list(
        CustomEvent.objects.filter(
            site=site, created_at__gte=bounds[0], created_at__lt=bounds[-1], session__isnull=False
        )
        .order_by("created_at", "id")
        .values_list("session_id", "created_at", "name", "visitor_hash")
    )
    info = rollups.session_info(sessions, [*views, *((sid, at, name) for sid, at, name, _ in events)])
    members = _Members(slices)
    matcher = _Matcher(patterns)
    hashes = {visitor_hash for visitor_hash, _ in info.values()} | {row[3] for row in events}
    last_seen = _last_seen_before(site, bounds[0], hashes, tz, members, matcher)
    rows: dict = defaultdict(rollups.Counts)
    rollups.count_sessions(sessions, day_of, last_seen, rows, pairs=members.pairs)
    rollups.count_views(views, info, day_of, last_seen, rows, pairs=members.pairs, pages=members.pages)
    for session_id, created_at, page in views:
        visitor_hash, values = info[session_id]
        for i in members.of(values):
            for pattern in matcher(page):
                _count(rows, last_seen, (f"{i}/goal", pattern), visitor_hash, day_of(created_at))
    for session_id, created_at, name, visitor_hash in events:
        for i in members.of(info[session_id][1]):
            _count(rows, last_seen, (f"{i}/event", name), visitor_hash, day_of(created_at))
    _replace(slices, days, rows, marks)


def _count(rows: dict, last_seen: dict, key: tuple[str, str], visitor_hash: str, day: dt.date) -> None:
    """One hit of ``key`` (dimension, value) on ``day``: a view or event, and its visitor's first
    appearance with it since the day it last appeared."""
    dimension, value = key
    rows[(dimension, value, day, None)].views += 1
    previous = last_seen.get((dimension, visitor_hash, value))
    if previous != day:
        rows[(dimension, value, day, previous)].visitors += 1
        last_seen[(dimension, visitor_hash, value)] = day


class _Matcher:
    """The page goal patterns a path matches (each path's answer remembered)."""

    def __init__(self, patterns: list[str]):
        self.patterns = patterns
        self.known: dict[str, list[str]] = {}

    def __call__(self, page: str) -> list[str]:
        found = self.known.get(page)
        if found is None:
            found = self.known[page] = [p for p in self.patterns if page_matches(p, page)]
        return found


def _last_seen_before(
    site: Site, start_at: dt.datetime, hashes: set[str], tz: zoneinfo.ZoneInfo, members: _Members, matcher
) -> dict:
    """The latest day before the batch on which each (row dimension, hash, value) appeared, found through
    these hashes' earlier sessions (the (site, visitor_hash, last_seen_at) index), their views and
    events."""
    last_seen: dict = {}

    def remember(key: tuple, at: dt.datetime) -> None:
        day = at.astimezone(tz).date()
        if key not in last_seen or last_seen[key] < day:
            last_seen[key] = day

    session_values = [f"session__{d}" for d in SESSION_DIMENSIONS]
    for chunk in chunks(sorted(hashes)):
        earlier = Session.objects.filter(site=site, started_at__lt=start_at, visitor_hash__in=chunk)
        for visitor_hash, started_at, *values in earlier.values_list(
            "visitor_hash", "started_at", *SESSION_DIMENSIONS
        ):
            for dimension, value in members.pairs(tuple(values)):
                remember((dimension, visitor_hash, value), started_at)
        earlier_views = View.objects.filter(
            site=site, created_at__lt=start_at, session__visitor_hash__in=chunk
        )
        for visitor_hash, session_id, page, at, *values in earlier_views.values_list(
            "session__visitor_hash", "session_id", "page", "created_at", *session_values
        ):
            for i in members.of(tuple(values)):
                remember((f"{i}/page", visitor_hash, page), at)
                remember((f"{i}/page#", session_id, page), at)
                for pattern in matcher(page):
                    remember((f"{i}/goal", visitor_hash, pattern), at)
        earlier_events = CustomEvent.objects.filter(
            site=site, created_at__lt=start_at, session__visitor_hash__in=chunk
        )
        for visitor_hash, name, at, *values in earlier_events.values_list(
            "visitor_hash", "name", "created_at", *session_values
        ):
            for i in members.of(tuple(values)):
                remember((f"{i}/event", visitor_hash, name), at)
    return last_seen


def _replace(slices: list[RollupSlice], days: list[dt.date], rows: dict, marks: tuple) -> None:
    """Replace the slices' rows and markers of ``days`` in one transaction."""
    first, last = days[0], days[-1]
    made = []
    for (key, value, day, last_day), counts in rollups.in_key_order(rows):
        index, dimension = key.split("/", 1)
        made.append(
            SliceRollup(
                slice=slices[int(index)],
                dimension=dimension,
                value=value,
                day=day,
                last_day=last_day,
                visitors=counts.visitors,
                sessions=counts.sessions,
                views=counts.views,
            )
        )
    with transaction.atomic():
        SliceRollup.objects.filter(slice__in=slices, day__range=(first, last)).delete()
        SliceDay.objects.filter(slice__in=slices, day__range=(first, last)).delete()
        SliceRollup.objects.bulk_create(made, batch_size=5000)
        _patterns, stamp, traffic_built = marks
        SliceDay.objects.bulk_create(
            [
                SliceDay(slice=s, day=day, goals=stamp, traffic_built_at=traffic_built[day])
                for s in slices
                for day in days
            ]
        )
