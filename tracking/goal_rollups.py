"""Goal rollups: per goal and local day, the ``GoalDaily`` rows the dashboard reads for settled days, so a
goal's figures over months cost a few hundred small rows instead of a scan of every page view (a page
goal is a pattern over paths) or custom event.

Same scheme as ``DailyRollup`` (``tracking.rollups``): ``completions`` add up over days; ``visitors``
counts a visitor hash on the first day it completes the goal, split by ``last_day`` (the latest earlier
day it completed it; null: never), so ``SUM(visitors) WHERE last_day IS NULL OR last_day < A`` over
days ``A..B`` is the exact number of distinct visitors who completed the goal in ``[A, B]``. Hits are
``tracking.goals.hits``: custom events by name (those whose page view is not stored yet included; the
hash is on the event) and page views whose path matches the pattern.

Which days are built: every built (goal, day) has exactly one row with ``last_day`` null (all zeros
when nobody completed the goal for the first time that day), so the rows say which days a goal has.
Goal days follow the traffic rollups' days (``RollupDay``, in ``RollupState.timezone``):
``rollups.roll_up_site`` calls ``forget_stale`` after its own invalidation steps, before it rebuilds
anything (a day it forgot loses its goal rows, and so do days whose rows point back at it), and
``roll_up_goals`` after it built its days: then each goal gets the built days it lacks. A new goal is
built on the next run (every minute); readers read a goal raw until its days are there. Both also keep
the Events list's days (``tracking.event_rollups``) in step with the traffic days.

An edited goal (another kind, event name or pattern) is noticed without help: each goal's rows carry
the fingerprint of the definition they were built from (one row on ``FINGERPRINT_DAY``, the fingerprint
in ``visitors``), readers use rows only while it matches, and the next run forgets and rebuilds a goal
whose fingerprint does not. A deleted goal takes its rows with it. Custom events are stamped when they arrive,
after their page view, so they never land in a day already settled; backdated imports go with their
page views, whose late arrival makes the traffic rollups forget those days.

Beside each built (goal, day), ``GoalVisitor`` holds the hashes that completed the goal that day,
written, forgotten and replaced in the same transactions as its ``GoalDaily`` rows: revenue of
converting visitors looks the range's payers up there (``completed_by``).

Writers run inside ``roll_up_site``'s claim of the site: one writer per site.
"""

import bisect
import datetime as dt
import time
import zlib
import zoneinfo
from collections import Counter

from django.db import transaction
from django.db.models import Count, Max, Q, QuerySet, Sum

from tracking import event_rollups
from tracking.goals import hits, page_regex
from tracking.models import CustomEvent, EventDaily, Goal, GoalDaily, GoalVisitor, RollupDay, Site, View
from tracking.rolldays import ANALYZE_AFTER_DAYS, analyze, chunks, day_runs, local_midnight

# Time a run spends building goal days; the site's claim (rollups.LOCK_TTL) lasts 15 minutes.
BUILD_SECONDS = 120
GOAL_MODELS = (GoalDaily, GoalVisitor, EventDaily)  # the tables these builders fill
# The day of the row holding a goal's definition fingerprint: before any real day, outside every range.
FINGERPRINT_DAY = dt.date(1, 1, 1)


def fingerprint(goal: Goal) -> int:
    """A 31-bit digest of what the goal matches (its name does not count: renaming changes no figure)."""
    definition = "\x00".join((goal.kind, goal.event_name, goal.page_pattern))
    return zlib.crc32(definition.encode()) & 0x7FFFFFFF


# ------------------------------------------------------------------------------------------ the writer


def forget_goal(goal: Goal) -> None:
    """Forget every built day of ``goal`` (its definition changed); readers read it raw until the next
    run rebuilds it."""
    GoalDaily.objects.filter(goal=goal).delete()
    GoalVisitor.objects.filter(goal=goal).delete()


def forget_stale(site: Site) -> int:
    """Forget goal days whose traffic day is no longer built, and days whose rows point back at one of
    them (their first appearances may move); the same for event days. Returns the number of (goal, day)
    forgotten."""
    event_rollups.forget_stale(site)
    built = RollupDay.objects.filter(site=site).values("day")
    stale = set(
        GoalDaily.objects.filter(site=site, last_day__isnull=True)
        .exclude(day=FINGERPRINT_DAY)
        .exclude(day__in=built)
        .values_list("goal_id", "day")
    )
    if not stale:
        return 0
    by_goal: dict[int, set[dt.date]] = {}
    for goal_id, day in stale:
        by_goal.setdefault(goal_id, set()).add(day)
    with transaction.atomic():
        for goal_id, days in sorted(by_goal.items()):
            dependent = GoalDaily.objects.filter(goal_id=goal_id, last_day__in=sorted(days))
            days |= set(dependent.values_list("day", flat=True))
            GoalDaily.objects.filter(goal_id=goal_id, day__in=sorted(days)).delete()
            GoalVisitor.objects.filter(goal_id=goal_id, day__in=sorted(days)).delete()
    return sum(len(days) for days in by_goal.values())


def roll_up_goals(
    site: Site, tz: zoneinfo.ZoneInfo, *, seconds: float | None = None, statistics: bool = True
) -> int:
    """Build, for every goal of ``site``, the built traffic days it lacks, and the event days missing
    (``event_rollups.roll_up_events``). Returns (goal, day)s built.

    Starts no new batch after ``seconds`` (default ``BUILD_SECONDS``; at least one batch a run), well
    inside the site's claim: a backfill of many goals over a large site goes on in the next runs, readers
    reading those goals raw meanwhile. After a backfill it analyses the tables it filled, unless
    ``statistics`` is False (``rollups.roll_up_site`` analyses every rollup table itself).
    """
    deadline = time.monotonic() + (BUILD_SECONDS if seconds is None else seconds)
    # Event days first: one pass over the events for all names (seconds for a year of a large site).
    event_days = event_rollups.roll_up_events(site, tz)
    built = _roll_up_goal_days(site, tz, deadline)
    if statistics and built + event_days > ANALYZE_AFTER_DAYS:
        analyze(GOAL_MODELS)
    return built


def _roll_up_goal_days(site: Site, tz: zoneinfo.ZoneInfo, deadline: float) -> int:
    goals = list(Goal.objects.filter(site=site).order_by("pk"))
    if not goals:
        return 0
    built_days = RollupDay.objects.filter(site=site).values("day")
    days = list(built_days.order_by("day").values_list("day", flat=True))
    have = dict(
        GoalDaily.objects.filter(site=site, last_day__isnull=True, day__in=built_days)
        .values_list("goal_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    built_from = dict(
        GoalDaily.objects.filter(site=site, day=FINGERPRINT_DAY).values_list("goal_id", "visitors")
    )
    built = 0
    for goal in goals:
        if built and time.monotonic() > deadline:
            break
        if built_from.get(goal.pk) != fingerprint(goal):
            # New, or edited since its rows were built: start over, fingerprint first, so a run stopped
            # half-way leaves rows that are right for what they cover.
            with transaction.atomic():
                forget_goal(goal)
                GoalDaily.objects.create(
                    site=site, goal=goal, day=FINGERPRINT_DAY, visitors=fingerprint(goal), completions=0
                )
        elif have.get(goal.pk, 0) >= len(days):
            continue
        done = set(GoalDaily.objects.filter(goal=goal, last_day__isnull=True).values_list("day", flat=True))
        pending = [day for day in days if day not in done]
        for first, last in day_runs(pending):
            if built and time.monotonic() > deadline:
                break
            _build(goal, tz, first, last)
            built += (last - first).days + 1
    return built


def _build(goal: Goal, tz: zoneinfo.ZoneInfo, first: dt.date, last: dt.date) -> None:
    """Replace the goal's rows of days ``first``..``last`` with counts from its hits."""
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    bounds = [local_midnight(day, tz) for day in [*days, last + dt.timedelta(days=1)]]
    rows = list(hits(goal, bounds[0], bounds[-1]).order_by("at").values_list("visitor_hash", "at"))
    last_seen = _last_seen_before(goal, bounds[0], {visitor_hash for visitor_hash, _ in rows}, tz)
    completions: Counter[dt.date] = Counter()
    visitors: Counter[tuple[dt.date, dt.date | None]] = Counter()
    completed: set[tuple[dt.date, str]] = set()
    for visitor_hash, at in rows:
        day = days[bisect.bisect_right(bounds, at) - 1]
        completions[day] += 1
        completed.add((day, visitor_hash))
        previous = last_seen.get(visitor_hash)
        if previous != day:
            visitors[(day, previous)] += 1
            last_seen[visitor_hash] = day
    for day in days:
        visitors.setdefault((day, None), 0)  # the marker: this day of this goal is built
    made = [
        GoalDaily(
            site_id=goal.site_id,
            goal=goal,
            day=day,
            last_day=last_day,
            visitors=count,
            completions=completions[day] if last_day is None else 0,
        )
        for (day, last_day), count in sorted(
            visitors.items(), key=lambda i: (i[0][0], i[0][1] or dt.date.min)
        )
    ]
    with transaction.atomic():
        GoalDaily.objects.filter(goal=goal, day__range=(first, last)).delete()
        GoalVisitor.objects.filter(goal=goal, day__range=(first, last)).delete()
        GoalDaily.objects.bulk_create(made, batch_size=5000)
        GoalVisitor.objects.bulk_create(
            [
                GoalVisitor(site_id=goal.site_id, goal=goal, day=day, visitor_hash=visitor_hash)
                for day, visitor_hash in sorted(completed)
            ],
            batch_size=5000,
        )


def _last_seen_before(
    goal: Goal, start_at: dt.datetime, hashes: set[str], tz: zoneinfo.ZoneInfo
) -> dict[str, dt.date]:
    """The latest local day before ``start_at`` on which each of these hashes completed the goal."""
    last_seen: dict[str, dt.date] = {}
    for chunk in chunks(sorted(hashes)):
        if goal.kind == Goal.Kind.EVENT:
            earlier = CustomEvent.objects.filter(
                site_id=goal.site_id, name=goal.event_name, created_at__lt=start_at, visitor_hash__in=chunk
            ).values_list("visitor_hash")
        else:
            # Through the visitors' sessions (the (site, visitor_hash, last_seen_at) index), never a
            # pattern match over the site's whole history of page views.
            earlier = View.objects.filter(
                site_id=goal.site_id,
                created_at__lt=start_at,
                session__site_id=goal.site_id,
                session__visitor_hash__in=chunk,
                page__regex=page_regex(goal.page_pattern),
            ).values_list("session__visitor_hash")
        for visitor_hash, at in earlier.annotate(at=Max("created_at")).order_by():
            last_seen[visitor_hash] = at.astimezone(tz).date()
    return last_seen


# ------------------------------------------------------------------------------------------ the reader


def _distinct_filter(start: dt.date) -> Q:
    return Q(last_day__isnull=True) | Q(last_day__lt=start)


def built_figures(site: Site, start: dt.date, through: dt.date) -> dict[int, dict[str, int]]:
    """Per goal id over days ``start``..``through``: ``{visitors, completions, days, fingerprint}``:
    ``days`` is how many of those days the goal has built (compare with ``built_day_count``) and
    ``fingerprint`` the definition they were built from (compare with ``fingerprint(goal)``)."""
    in_range = Q(day__gte=start, day__lte=through)
    rows = (
        GoalDaily.objects.filter(in_range | Q(day=FINGERPRINT_DAY), site=site)
        .values("goal_id")
        .annotate(
            fingerprint=Max("visitors", filter=Q(day=FINGERPRINT_DAY)),
            distinct_visitors=Sum("visitors", filter=in_range & _distinct_filter(start)),
            total_completions=Sum("completions", filter=in_range),
            days=Count("id", filter=in_range & Q(last_day__isnull=True)),
        )
        .order_by()
    )
    return {
        row["goal_id"]: {
            "visitors": row["distinct_visitors"] or 0,
            "completions": row["total_completions"] or 0,
            "days": row["days"],
            "fingerprint": row["fingerprint"],
        }
        for row in rows
    }


def is_built(goal: Goal, figures: dict[int, dict[str, int]], days: int) -> bool:
    """Whether ``built_figures`` rows of ``goal`` cover ``days`` built days, from its current definition."""
    row = figures.get(goal.pk)
    return row is not None and row["days"] >= days and row["fingerprint"] == fingerprint(goal)


def built_day_count(site: Site, start: dt.date, through: dt.date) -> int:
    """Traffic days built in ``start``..``through``: a goal with as many built days is complete there."""
    return RollupDay.objects.filter(site=site, day__gte=start, day__lte=through).count()


def daily_rows(
    goal: Goal, start: dt.date, through: dt.date
) -> list[tuple[dt.date, dt.date | None, int, int]]:
    """``(day, last_day, visitors, completions)`` of built days, for buckets."""
    return list(
        GoalDaily.objects.filter(goal=goal, day__gte=start, day__lte=through).values_list(
            "day", "last_day", "visitors", "completions"
        )
    )


def completions_by_visitor(site: Site, goal_ids: list[int], start: dt.date, through: dt.date) -> QuerySet:
    """``GoalVisitor`` rows of these goals on days ``start``..``through``, for the caller to narrow to
    the hashes it asks about (read only goals whose days there are all built: ``is_built``)."""
    return GoalVisitor.objects.filter(site=site, goal_id__in=goal_ids, day__gte=start, day__lte=through)
