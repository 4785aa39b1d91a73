"""Daily rollups: per site, local day (in the site's time zone) and dimension value, the counts the
dashboard and API need, so reports over months read a few thousand small rows instead of every page
view. ``humblytics.reports`` reads them for the settled days of a range and the raw tables for the rest,
and returns exactly the figures the raw queries give (``humblytics/reports/tests/test_rollups.py`` checks it).

One writer: ``roll_up_all`` (a scheduled task, every minute) claims each site with a conditional
UPDATE and builds the days that are final and not built yet. A day is final once it ended more than
``SETTLE`` ago and no session started on it may still grow (sessions close after 30 minutes idle).
Each batch of days is replaced in one transaction, so a reader sees a day whole or not at all, and a
run that crashes or runs twice leaves nothing half-written or counted twice.

Distinct visitors cannot be summed over days. Each row instead counts *first appearances* on its day
of a visitor hash with its value, split by ``last_day`` (the day the hash last appeared with that
value before). A hash seen on days d1 < d2 < ... within ``[A, B]`` is counted once at d1 (its
``last_day`` is before A or null) and never again (its later ``last_day`` is inside the range), so
``SUM(visitors) WHERE day BETWEEN A AND B AND (last_day IS NULL OR last_day < A)`` is the exact
distinct count. Distinct sessions per page work the same way. No hash is copied out of sessions.

Beside the days, the same batch writes all-traffic ``SlotRollup`` rows per UTC quarter hour, with the
same trick (``last_slot``: the latest earlier slot in which the hash started a session), so a chart can
be bucketed exactly in any time zone (``slot_buckets``): every offset in use is a multiple of 15
minutes, so local midnights and hours everywhere fall on slot edges. A slot's rows go with the local
day it starts in: built, forgotten and replaced with that day's rows.

What invalidates a day: a change of the site's time zone (every day); page views deleted after the
day was built (retention), which also invalidates later days whose page rows point back at it; and
rows written later with a time inside a built day (imports, the demo), which invalidate that day and
every later one.
"""

import bisect
import datetime as dt
import secrets
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Min, Q, Sum
from django.utils import timezone

from tracking import goal_rollups, slices
from tracking.dimensions import SESSION_DIMENSIONS
from tracking.models import (
    DailyRollup,
    MonthRollup,
    RollupDay,
    RollupMonth,
    RollupState,
    Session,
    Site,
    SliceDay,
    SliceRollup,
    SlotRollup,
    View,
)
from tracking.rolldays import ANALYZE_AFTER_DAYS, BATCH_DAYS, analyze, chunks, local_midnight, slot_of
from tracking.rollup_reads import TOTAL, built_months, month_end

SETTLE = dt.timedelta(hours=1)  # twice the session idle timeout: late beacons and open sessions
LOCK_TTL = dt.timedelta(minutes=15)
ROLLUP_MODELS = (DailyRollup, SlotRollup, MonthRollup, SliceDay, SliceRollup, *goal_rollups.GOAL_MODELS)
# What other apps derive from built days (``revenue.facts``: payment facts), registered by their app
# config: each is called with (site, time zone) after the days are built, under the run's claim.
FOLLOWERS: list[Callable[[Site, zoneinfo.ZoneInfo], object]] = []


def site_tz(site: Site) -> zoneinfo.ZoneInfo:
    try:
        return site.tzinfo
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


# ------------------------------------------------------------------------------------------ the writer


def roll_up_all(now: dt.datetime) -> int:
    """Build every site's final days that are not built yet. Returns days built. Safe to run twice."""
    built = 0
    for site_id in Site.objects.order_by("pk").values_list("pk", flat=True):
        built += roll_up_site(site_id, now)
    return built


def roll_up_site(site_id: int, now: dt.datetime) -> int:
    """Bring one site's rollups up to date as of ``now``; 0 when another run holds the site."""
    token = _claim(site_id)
    if token is None:
        return 0
    built = 0
    try:
        site = Site.objects.get(pk=site_id)
        tz = site_tz(site)
        _reset_if_timezone_changed(site)
        _invalidate_lost_views(site, tz)
        _invalidate_late_rows(site, tz)
        goal_rollups.forget_stale(site)
        slices.forget_stale(site)
        for first, last in _pending_runs(site, tz, now):
            day = first
            while day <= last:
                batch_end = min(last, day + dt.timedelta(days=BATCH_DAYS - 1))
                if not _extend_claim(site_id, token):
                    return built
                _build(site, tz, day, batch_end)
                built += (batch_end - day).days + 1
                day = batch_end + dt.timedelta(days=1)
        months = _sum_months(site)
        goal_days = goal_rollups.roll_up_goals(site, tz, statistics=False)
        slices.choose(site, now)
        slice_days = slices.roll_up_slices(site, tz)
        for follow in FOLLOWERS:
            follow(site, tz)
        if built + goal_days + slice_days + 30 * months > ANALYZE_AFTER_DAYS:
            analyze(ROLLUP_MODELS)
    finally:
        RollupState.objects.filter(site_id=site_id, lock_token=token).update(locked_until=None, lock_token="")
    return built


def _claim(site_id: int) -> str | None:
    site = Site.objects.filter(pk=site_id).only("timezone").first()
    if site is None:
        return None
    RollupState.objects.get_or_create(site_id=site_id, defaults={"timezone": site.timezone})
    token = secrets.token_hex(16)
    now = timezone.now()
    claimed = (
        RollupState.objects.filter(site_id=site_id)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .update(locked_until=now + LOCK_TTL, lock_token=token)
    )
    return token if claimed == 1 else None


def _extend_claim(site_id: int, token: str) -> bool:
    return (
        RollupState.objects.filter(site_id=site_id, lock_token=token).update(
            locked_until=timezone.now() + LOCK_TTL
        )
        == 1
    )


def invalidate_site(site: Site) -> None:
    """Forget every built day of ``site``; the next run rebuilds them from the raw rows."""
    with transaction.atomic():
        RollupDay.objects.filter(site=site).delete()
        DailyRollup.objects.filter(site=site).delete()
        SlotRollup.objects.filter(site=site).delete()
        RollupMonth.objects.filter(site=site).delete()
        MonthRollup.objects.filter(site=site).delete()


def _reset_if_timezone_changed(site: Site) -> None:
    state = RollupState.objects.get(site=site)
    if state.timezone != site.timezone:
        with transaction.atomic():
            invalidate_site(site)
            RollupState.objects.filter(pk=state.pk).update(timezone=site.timezone)


def _invalidate_lost_views(site: Site, tz: zoneinfo.ZoneInfo) -> None:
    """Retention deletes the oldest page views; days built with views that are gone are rebuilt, and so
    are later days whose page rows point back at one of them (their first appearances moved)."""
    built_with_views = RollupDay.objects.filter(site=site, views__gt=0)
    floor = View.objects.filter(site=site).aggregate(at=Min("created_at"))["at"]
    if floor is None:
        stale = set(built_with_views.values_list("day", flat=True))
    else:
        floor_day = floor.astimezone(tz).date()
        stale = set(built_with_views.filter(day__lt=floor_day).values_list("day", flat=True))
        built = RollupDay.objects.filter(site=site, day=floor_day).first()
        if built is not None:
            in_day = View.objects.filter(
                site=site,
                created_at__gte=local_midnight(floor_day, tz),
                created_at__lt=local_midnight(floor_day + dt.timedelta(days=1), tz),
            ).count()
            if in_day != built.views:
                stale.add(floor_day)
    if not stale:
        return
    dependent = DailyRollup.objects.filter(site=site, dimension="page", last_day__in=sorted(stale))
    stale |= set(dependent.values_list("day", flat=True).distinct())
    # Forgetting a day is always safe for readers: they read it raw until it is rebuilt.
    RollupDay.objects.filter(site=site, day__in=sorted(stale)).delete()


def _invalidate_late_rows(site: Site, tz: zoneinfo.ZoneInfo) -> None:
    """Rows written since the last run with a time inside built days (an import, the demo's backdated
    traffic) rebuild those days and every later one (their first appearances may have moved). Ingest
    stamps rows with the current time, so normally there are none. Found through the ids above the
    last run's high-water marks: a primary key range, cheap whatever the table size."""
    state = RollupState.objects.get(site=site)
    session_high = Session.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    view_high = View.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    last_built = RollupDay.objects.filter(site=site).order_by("-day").values_list("day", flat=True).first()
    if last_built is not None and (state.session_high_id or state.view_high_id):
        cutoff = local_midnight(last_built + dt.timedelta(days=1), tz)
        late = [
            Session.objects.filter(
                site=site, pk__gt=state.session_high_id, pk__lte=session_high, started_at__lt=cutoff
            ).aggregate(at=Min("started_at"))["at"],
            View.objects.filter(
                site=site, pk__gt=state.view_high_id, pk__lte=view_high, created_at__lt=cutoff
            ).aggregate(at=Min("created_at"))["at"],
        ]
        late = [at for at in late if at is not None]
        if late:
            RollupDay.objects.filter(site=site, day__gte=min(late).astimezone(tz).date()).delete()
    RollupState.objects.filter(pk=state.pk).update(session_high_id=session_high, view_high_id=view_high)


def _pending_runs(site: Site, tz: zoneinfo.ZoneInfo, now: dt.datetime) -> list[tuple[dt.date, dt.date]]:
    """Contiguous runs of final days not built yet."""
    firsts = [
        Session.objects.filter(site=site).aggregate(at=Min("started_at"))["at"],
        View.objects.filter(site=site).aggregate(at=Min("created_at"))["at"],
    ]
    firsts = [at for at in firsts if at is not None]
    if not firsts:
        return []
    first_day = min(firsts).astimezone(tz).date()
    # Days before the local date of (now - SETTLE) ended at least SETTLE ago.
    last_day = (now - SETTLE).astimezone(tz).date() - dt.timedelta(days=1)
    if last_day < first_day:
        return []
    built = set(
        RollupDay.objects.filter(site=site, day__range=(first_day, last_day)).values_list("day", flat=True)
    )
    pending = [
        first_day + dt.timedelta(days=n)
        for n in range((last_day - first_day).days + 1)
        if first_day + dt.timedelta(days=n) not in built
    ]
    if not pending:
        return []
    # A session seen within SETTLE may still grow (views, duration, bounce): hold back its start day
    # and everything after it. A session idle that long can never be extended again.
    open_since = Session.objects.filter(
        site=site,
        started_at__gte=local_midnight(pending[0], tz),
        started_at__lt=local_midnight(last_day + dt.timedelta(days=1), tz),
        last_seen_at__gt=now - SETTLE,
    ).aggregate(at=Min("started_at"))["at"]
    if open_since is not None:
        hold = open_since.astimezone(tz).date()
        pending = [day for day in pending if day < hold]
    return _contiguous_runs(pending)


def _contiguous_runs(days: list[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """``(first, last)`` of each run of consecutive days in ascending ``days``."""
    runs: list[tuple[dt.date, dt.date]] = []
    for day in days:
        if runs and runs[-1][1] + dt.timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


@dataclass
class Counts:
    visitors: int = 0
    sessions: int = 0
    views: int = 0
    bounces: int = 0
    session_views: int = 0
    duration_us: int = 0


def _build(site: Site, tz: zoneinfo.ZoneInfo, first: dt.date, last: dt.date) -> None:
    """Replace the rows of days ``first``..``last`` (all final) with counts from the raw tables."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    bounds = [local_midnight(day, tz) for day in [*days, last + dt.timedelta(days=1)]]
    start_at, end_at = bounds[0], bounds[-1]

    def day_of(moment: dt.datetime) -> dt.date:
        return days[bisect.bisect_right(bounds, moment) - 1]

    def local_day(moment: dt.datetime) -> dt.date:
        return moment.astimezone(tz).date()

    with transaction.atomic():
        _build_locked(site, days, start_at, end_at, day_of, local_day)


_DayOf = Callable[[dt.datetime], dt.date]
# (dimension, value, day, last_day): the key of one DailyRollup row.
_RowKey = tuple[str, str, dt.date, dt.date | None]
# (dimension, visitor hash, value) or ("page#", session id, page) → the latest day it appeared on;
# ("slot", visitor hash) → the latest slot (a UTC datetime) in which it started a session.
_LastSeen = dict[tuple, dt.date]
# (slot, last_slot): the key of one SlotRollup row.
_SlotKey = tuple[dt.datetime, dt.datetime | None]


def in_key_order(rows: dict[_RowKey, Counts]) -> list[tuple[_RowKey, Counts]]:
    """The rows by (dimension, value, day, last_day), a null ``last_day`` first: a deterministic write
    order."""
    return sorted(rows.items(), key=lambda item: (*item[0][:3], item[0][3] or dt.date.min))


def _build_locked(
    site: Site,
    days: list[dt.date],
    start_at: dt.datetime,
    end_at: dt.datetime,
    day_of: _DayOf,
    local_day: _DayOf,
) -> None:
    sessions, views = read_batch(site, start_at, end_at)
    info = session_info(sessions, views)
    last_seen = _last_seen_before(
        site, start_at, {visitor_hash for visitor_hash, _ in info.values()}, local_day
    )
    rows: dict[_RowKey, Counts] = defaultdict(Counts)
    sessions_per_day = count_sessions(sessions, day_of, last_seen, rows)
    views_per_day = count_views(views, info, day_of, last_seen, rows)
    slot_rows = _count_slots(sessions, views, last_seen)
    _replace_days(site, days, (start_at, end_at), rows, slot_rows, views_per_day, sessions_per_day)


def read_batch(site: Site, start_at: dt.datetime, end_at: dt.datetime) -> tuple[list[tuple], list[tuple]]:
    """Sessions started and views written in ``[start_at, end_at)``, in time order."""
    fields = ("id", "visitor_hash", "started_at", "last_seen_at", "pageviews", *SESSION_DIMENSIONS)
    sessions = list(
        Session.objects.filter(site=site, started_at__gte=start_at, started_at__lt=end_at)
        .order_by("started_at", "id")
        .values_list(*fields)
    )
    views = list(
        View.objects.filter(site=site, created_at__gte=start_at, created_at__lt=end_at)
        .order_by("created_at", "id")
        .values_list("session_id", "created_at", "page")
    )
    return sessions, views


def session_info(sessions: list[tuple], views: list[tuple]) -> dict[int, tuple[str, tuple]]:
    """Hash and dimension values of every session with a view in the batch (some started before it)."""
    info = {row[0]: (row[1], row[5:]) for row in sessions}
    missing = sorted({session_id for session_id, _, _ in views} - info.keys())
    for chunk in chunks(missing):
        for row in Session.objects.filter(pk__in=chunk).values_list(
            "id", "visitor_hash", *SESSION_DIMENSIONS
        ):
            info[row[0]] = (row[1], row[2:])
    return info


def _last_seen_before(site: Site, start_at: dt.datetime, hashes: set[str], local_day: _DayOf) -> _LastSeen:
    """The latest day before the batch on which each (dimension, hash, value) appeared, and the latest
    slot in which each hash started a session."""
    last_seen: _LastSeen = {}

    def remember(key: tuple, day: dt.date) -> None:
        if key not in last_seen or last_seen[key] < day:
            last_seen[key] = day

    for chunk in chunks(sorted(hashes)):
        earlier = Session.objects.filter(site=site, started_at__lt=start_at, visitor_hash__in=chunk)
        for visitor_hash, started_at, *values in earlier.values_list(
            "visitor_hash", "started_at", *SESSION_DIMENSIONS
        ):
            day = local_day(started_at)
            remember(("slot", visitor_hash), slot_of(started_at))
            remember((TOTAL, visitor_hash, TOTAL), day)
            for dimension, value in zip(SESSION_DIMENSIONS, values, strict=True):
                remember((dimension, visitor_hash, value), day)
        earlier_views = View.objects.filter(
            site=site, created_at__lt=start_at, session__visitor_hash__in=chunk
        ).values_list("session__visitor_hash", "session_id", "page", "created_at")
        for visitor_hash, session_id, page, created_at in earlier_views:
            day = local_day(created_at)
            remember(("page", visitor_hash, page), day)
            remember(("page#", session_id, page), day)
    return last_seen


# A session's dimension values → the (dimension, value) rows it counts in.
Pairs = Callable[[tuple], Iterable[tuple[str, str]]]


def site_pairs(values: tuple) -> Iterable[tuple[str, str]]:
    """The site's rows: all traffic and each session dimension."""
    return ((TOTAL, TOTAL), *zip(SESSION_DIMENSIONS, values, strict=True))


def site_pages(values: tuple) -> Iterable[str]:
    """The page dimensions a view counts in, by its session's values: the site's ``page``."""
    return ("page",)


def count_sessions(
    sessions: list[tuple],
    day_of: _DayOf,
    last_seen: _LastSeen,
    rows: dict[_RowKey, Counts],
    pairs: Pairs = site_pairs,
) -> dict[dt.date, int]:
    """Add each session to its ``pairs`` rows of its start day; returns sessions per day. A visitor's
    first appearance with a value moves ``last_seen`` on to that day."""
    sessions_per_day: dict[dt.date, int] = defaultdict(int)
    for _sid, visitor_hash, started_at, last_seen_at, pageviews, *values in sessions:
        day = day_of(started_at)
        sessions_per_day[day] += 1
        duration = last_seen_at - started_at
        duration_us = (duration.days * 86400 + duration.seconds) * 1_000_000 + duration.microseconds
        for dimension, value in pairs(tuple(values)):
            counts = rows[(dimension, value, day, None)]
            counts.sessions += 1
            counts.bounces += pageviews == 1
            counts.session_views += pageviews
            counts.duration_us += duration_us
            key = (dimension, visitor_hash, value)
            previous = last_seen.get(key)
            if previous != day:
                rows[(dimension, value, day, previous)].visitors += 1
                last_seen[key] = day
    return sessions_per_day


def count_views(
    views: list[tuple],
    info: dict[int, tuple[str, tuple]],
    day_of: _DayOf,
    last_seen: _LastSeen,
    rows: dict[_RowKey, Counts],
    pairs: Pairs = site_pairs,
    pages: Callable[[tuple], Iterable[str]] = site_pages,
) -> dict[dt.date, int]:
    """Add each view to its page's row of its day in each of ``pages`` (by its session's values), with
    the page's first appearances per visitor and per session, and to its session's ``pairs`` rows of that
    day; returns views per day."""
    views_per_day: dict[dt.date, int] = defaultdict(int)
    per_session_day: dict[tuple[int, dt.date], int] = defaultdict(int)
    for session_id, created_at, page in views:
        day = day_of(created_at)
        views_per_day[day] += 1
        per_session_day[(session_id, day)] += 1
        visitor_hash, values = info[session_id]
        for dimension in pages(values):
            rows[(dimension, page, day, None)].views += 1
            for key, field in (
                ((dimension, visitor_hash, page), "visitors"),
                ((f"{dimension}#", session_id, page), "sessions"),
            ):
                previous = last_seen.get(key)
                if previous != day:
                    counts = rows[(dimension, page, day, previous)]
                    setattr(counts, field, getattr(counts, field) + 1)
                    last_seen[key] = day
    for (session_id, day), count in per_session_day.items():
        for dimension, value in pairs(info[session_id][1]):
            rows[(dimension, value, day, None)].views += count
    return views_per_day


def _count_slots(sessions: list[tuple], views: list[tuple], last_seen: _LastSeen) -> dict[_SlotKey, Counts]:
    """The SlotRollup rows of the batch: sessions started and views made per slot (on its ``last_slot``
    null row), and each hash's first appearance in a slot on the row of the slot it last started a
    session in. Sessions come in start order, so ``last_seen`` moves forward only."""
    rows: dict[_SlotKey, Counts] = defaultdict(Counts)
    for _sid, visitor_hash, started_at, *_rest in sessions:
        slot = slot_of(started_at)
        rows[(slot, None)].sessions += 1
        previous = last_seen.get(("slot", visitor_hash))
        if previous != slot:
            rows[(slot, previous)].visitors += 1
            last_seen[("slot", visitor_hash)] = slot
    for _session_id, created_at, _page in views:
        rows[(slot_of(created_at), None)].views += 1
    return rows


_NEVER = dt.datetime.min.replace(tzinfo=dt.UTC)  # sorts a null last_slot first


def _replace_days(
    site: Site,
    days: list[dt.date],
    span: tuple[dt.datetime, dt.datetime],
    rows: dict[_RowKey, Counts],
    slot_rows: dict[_SlotKey, Counts],
    views_per_day: dict[dt.date, int],
    sessions_per_day: dict[dt.date, int],
) -> None:
    """Replace the rows of ``days``; ``span`` is their UTC extent (local midnight to local midnight),
    which holds exactly their slots."""
    first, last = days[0], days[-1]
    DailyRollup.objects.filter(site=site, day__range=(first, last)).delete()
    SlotRollup.objects.filter(site=site, slot__gte=span[0], slot__lt=span[1]).delete()
    RollupDay.objects.filter(site=site, day__range=(first, last)).delete()
    # Sorted keys: a deterministic write order (one writer per site holds the claim anyway).
    ordered = in_key_order(rows)
    DailyRollup.objects.bulk_create(
        [
            DailyRollup(
                site=site,
                dimension=dimension,
                value=value,
                day=day,
                last_day=last_day,
                visitors=c.visitors,
                sessions=c.sessions,
                views=c.views,
                bounces=c.bounces,
                session_views=c.session_views,
                duration_us=c.duration_us,
            )
            for (dimension, value, day, last_day), c in ordered
        ],
        batch_size=5000,
    )
    SlotRollup.objects.bulk_create(
        [
            SlotRollup(
                site=site,
                slot=slot,
                last_slot=last_slot,
                visitors=c.visitors,
                sessions=c.sessions,
                views=c.views,
            )
            for (slot, last_slot), c in sorted(
                slot_rows.items(), key=lambda item: (item[0][0], item[0][1] or _NEVER)
            )
        ],
        batch_size=5000,
    )
    built_at = timezone.now()
    RollupDay.objects.bulk_create(
        [
            RollupDay(
                site=site,
                day=day,
                views=views_per_day.get(day, 0),
                sessions=sessions_per_day.get(day, 0),
                built_at=built_at,
            )
            for day in days
        ]
    )


def _sum_months(site: Site) -> int:
    """Sum every month whose days are all built and whose sums are missing or older than its days;
    returns the months summed. A month is replaced in one transaction, its marker last."""
    first = RollupDay.objects.filter(site=site).aggregate(day=Min("day"))["day"]
    if first is None:
        return 0
    built = built_months(site, first.replace(day=1), dt.date.max)
    markers = {m.month: (m.days, m.built_at) for m in RollupMonth.objects.filter(site=site)}
    summed = 0
    for month, state in sorted(built.items()):
        if state[0] != month_end(month).day or markers.get(month) == state:
            continue
        with transaction.atomic():
            MonthRollup.objects.filter(site=site, month=month).delete()
            RollupMonth.objects.filter(site=site, month=month).delete()
            sums = (
                DailyRollup.objects.filter(
                    site=site, day__gte=month, day__lte=month_end(month), last_day__isnull=True
                )
                .values("dimension", "value")
                .annotate(visitors=Sum("visitors"), sessions=Sum("sessions"), views=Sum("views"))
                .order_by("dimension", "value")
            )
            MonthRollup.objects.bulk_create(
                [MonthRollup(site=site, month=month, **row) for row in sums], batch_size=5000
            )
            RollupMonth.objects.create(site=site, month=month, days=state[0], built_at=state[1])
        summed += 1
    return summed
