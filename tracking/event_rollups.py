"""Event rollups: per custom event name and local day, the ``EventDaily`` rows the dashboard's Events
list reads for settled days, so a year of events costs a few thousand small rows instead of a distinct
count over every custom event of the range.

The scheme is ``GoalDaily``'s (``tracking.goal_rollups``), per name instead of per goal: ``completions``
(events) add up over days; ``visitors`` counts a visitor hash on the first day it sends the name,
split by ``last_day`` (the latest earlier day it sent it; null: never), so ``SUM(visitors) WHERE
last_day IS NULL OR last_day < A`` over days ``A..B`` is the exact number of distinct visitors sending
it in ``[A, B]``. Every custom event counts, also those whose page view is not stored yet (the hash is
on the event).

Which days are built: every built day has one marker row (``name`` "", ``last_day`` null, zeros), so a
day without events is built too. Event days follow the traffic rollups' days (``RollupDay``, in
``RollupState.timezone``) through ``goal_rollups``: its ``forget_stale`` forgets the event days whose
traffic day is gone (and the days whose rows point back at them), its ``roll_up_goals`` builds the
built traffic days that have no event day yet. Custom events are stamped when they arrive, after their
page view, so they never land in a day already settled.

Writers run inside ``roll_up_site``'s claim of the site: one writer per site.
"""

import bisect
import datetime as dt
import zoneinfo
from collections import Counter

from django.db import transaction
from django.db.models import Max, Q, Sum

from tracking.models import CustomEvent, EventDaily, RollupDay, Site
from tracking.rolldays import chunks, day_runs, local_midnight

MARKER = ""  # the name of the row saying a day is built


# ------------------------------------------------------------------------------------------ the writer


def forget_stale(site: Site) -> int:
    """Forget event days whose traffic day is no longer built, and days with rows pointing back at one
    of them (their first appearances may move). Returns the number of days forgotten."""
    built = RollupDay.objects.filter(site=site).values("day")
    stale = set(
        EventDaily.objects.filter(site=site, name=MARKER).exclude(day__in=built).values_list("day", flat=True)
    )
    if not stale:
        return 0
    with transaction.atomic():
        dependent = EventDaily.objects.filter(site=site, last_day__in=sorted(stale))
        stale |= set(dependent.values_list("day", flat=True))
        EventDaily.objects.filter(site=site, day__in=sorted(stale)).delete()
    return len(stale)


def pending_days(site: Site) -> list[dt.date]:
    """Built traffic days without an event day, ascending."""
    built = RollupDay.objects.filter(site=site).values("day")
    have = EventDaily.objects.filter(site=site, name=MARKER, day__in=built).values("day")
    return list(built.exclude(day__in=have).order_by("day").values_list("day", flat=True))


def roll_up_events(site: Site, tz: zoneinfo.ZoneInfo, days: list[dt.date] | None = None) -> int:
    """Build event days for ``days`` (default: ``pending_days``). Returns the number of days built."""
    days = pending_days(site) if days is None else days
    built = 0
    for first, last in day_runs(days):
        build(site, tz, first, last)
        built += (last - first).days + 1
    return built


def build(site: Site, tz: zoneinfo.ZoneInfo, first: dt.date, last: dt.date) -> None:
    """Replace the site's event rows of days ``first``..``last`` with counts from its custom events."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    bounds = [local_midnight(day, tz) for day in [*days, last + dt.timedelta(days=1)]]
    rows = list(
        CustomEvent.objects.filter(site=site, created_at__gte=bounds[0], created_at__lt=bounds[-1])
        .order_by("created_at")
        .values_list("name", "visitor_hash", "created_at")
    )
    last_seen = _last_seen_before(site, bounds[0], {visitor_hash for _, visitor_hash, _ in rows}, tz)
    completions: Counter[tuple[str, dt.date]] = Counter()
    visitors: Counter[tuple[str, dt.date, dt.date | None]] = Counter()
    for name, visitor_hash, at in rows:
        day = days[bisect.bisect_right(bounds, at) - 1]
        completions[(name, day)] += 1
        previous = last_seen.get((name, visitor_hash))
        if previous != day:
            visitors[(name, day, previous)] += 1
            last_seen[(name, visitor_hash)] = day
    for name, day in completions:
        visitors.setdefault((name, day, None), 0)  # completions go on the last_day-null row
    for day in days:
        visitors[(MARKER, day, None)] = 0
    made = [
        EventDaily(
            site=site,
            name=name,
            day=day,
            last_day=last_day,
            visitors=count,
            completions=completions[(name, day)] if last_day is None else 0,
        )
        for (name, day, last_day), count in sorted(
            visitors.items(), key=lambda i: (i[0][1], i[0][0], i[0][2] or dt.date.min)
        )
    ]
    with transaction.atomic():
        EventDaily.objects.filter(site=site, day__range=(first, last)).delete()
        EventDaily.objects.bulk_create(made, batch_size=5000)


def _last_seen_before(
    site: Site, start_at: dt.datetime, hashes: set[str], tz: zoneinfo.ZoneInfo
) -> dict[tuple[str, str], dt.date]:
    """The latest local day before ``start_at`` on which each of these hashes sent each name."""
    last_seen: dict[tuple[str, str], dt.date] = {}
    for chunk in chunks(sorted(hashes)):
        earlier = (
            CustomEvent.objects.filter(site=site, created_at__lt=start_at, visitor_hash__in=chunk)
            .values_list("name", "visitor_hash")
            .annotate(at=Max("created_at"))
            .order_by()
        )
        for name, visitor_hash, at in earlier:
            last_seen[(name, visitor_hash)] = at.astimezone(tz).date()
    return last_seen


# ------------------------------------------------------------------------------------------ the reader


def built_day_count(site: Site, start: dt.date, through: dt.date) -> int:
    """Event days built in ``start``..``through`` (compare with the traffic days built there)."""
    return EventDaily.objects.filter(site=site, name=MARKER, day__gte=start, day__lte=through).count()


def built_figures(site: Site, start: dt.date, through: dt.date) -> dict[str, dict[str, int]]:
    """Per event name over days ``start``..``through``: ``{visitors, completions}`` (distinct visitors
    and events). Only names with events there."""
    distinct = Q(last_day__isnull=True) | Q(last_day__lt=start)
    rows = (
        EventDaily.objects.filter(site=site, day__gte=start, day__lte=through)
        .exclude(name=MARKER)
        .values("name")
        .annotate(
            distinct_visitors=Sum("visitors", filter=distinct),
            total=Sum("completions"),
        )
        .order_by()
    )
    return {
        row["name"]: {"visitors": row["distinct_visitors"] or 0, "completions": row["total"] or 0}
        for row in rows
    }
