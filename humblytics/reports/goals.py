"""Goals and custom events in reports: the dashboard's Goals panel and Events list, property breakdowns,
and the API's goal, event and property figures.

Definitions (the dashboard and the API agree on them):

- A goal's **completions** in a range are its hits (``tracking.goals``: custom events of its name, or
  page views whose path matches its pattern) made in the range. Under filters only hits in sessions that
  match every filter count, so an event whose page view is not stored yet counts only unfiltered.
- ``visitors``: distinct visitor hashes of those completions; ``completions``: their number.
- ``conversion_rate``: the goal's visitors / the range's visitors (``widgets.summary``'s, same filters).
- ``revenue`` (of converting visitors): attributed net revenue of the range's payments
  (``revenue.payments_in_range``: report currency, same filters) whose session's visitor hash is one of
  the goal's visitors in the range, whether the payment came before or after the completion.
- The Events list: the same ``visitors`` and ``completions`` per custom event name, goal or not.
- Properties: per (key, value) of the matching events' ``props``, distinct visitors and events.

Unfiltered ranges in the site's time zone read a goal's settled days from ``GoalDaily``
(``tracking.goal_rollups``) and the rest (``q.tail()``) raw; a visitor seen in both counts once (looked
up per tail hash). A goal whose days are not all built yet (new, or just edited) is read raw, so its
figures are right at once. The Events list reads ``EventDaily`` (``tracking.event_rollups``) the same
way when every settled day of the range is built, else one grouped query over the range's custom
events (filtered: per name and hash, ``event_rows.filtered``, which also gives the event goals' payers
their hits); properties are always raw. The number of queries does not grow with the number of goals: all
page goals are conditional aggregates of one statement, all event goals one grouped query.

A range filtered by a value a filter slice serves (``q.rollup_slice``, ``tracking.slices``) reads its
goals and Events list from the slice's ``event`` and ``goal`` rows the same way (the tail's overlap
looked up among sessions with that value); the revenue of its converting visitors is read raw.
"""

import datetime as dt
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.db import connection
from django.db.models import Count, F, Q
from django.db.models.functions import Trunc

from humblytics.reports import event_rows, payment_facts
from humblytics.reports.grouped import GroupedTraffic
from humblytics.reports.hashes import among, hash_chunks
from humblytics.reports.query import Query
from humblytics.reports.revenue import payments_in_range, ratio
from tracking import event_rollups, goal_rollups, rollup_reads, slices
from tracking.dimensions import SESSION_DIMENSIONS
from tracking.goals import page_regex
from tracking.models import Goal, Session, View

_ZERO = {"visitors": 0, "completions": 0}


@dataclass(frozen=True)
class GoalsReport:
    """The Goals panel: ``goals`` as ``goal_rows``; ``events`` per custom event name ``{name, visitors,
    completions, is_goal}``, most visitors first; ``total_events``: custom events in range."""

    goals: list[dict[str, Any]]
    events: list[dict[str, Any]]
    total_events: int


def is_event(goal: Goal) -> bool:
    return goal.kind == Goal.Kind.EVENT


def completes_page(goal: Goal) -> Q:
    """The view's page matches the goal's pattern. On PostgreSQL a pattern without a wildcard, or with
    one at the end only, is an equality or a prefix ``LIKE`` (the same rows as its anchored regular
    expression, whose ``.`` matches any character there, but about three times cheaper over a year of
    views); SQLite keeps the expression (its ``LIKE`` ignores case)."""
    pattern = goal.page_pattern
    if connection.vendor == "postgresql":
        if "*" not in pattern:
            return Q(page=pattern)
        prefix = pattern[:-1]
        if pattern.endswith("*") and "*" not in prefix:
            return Q(page__startswith=prefix)
    return Q(page__regex=page_regex(pattern))


def any_page(goals: Sequence[Goal]) -> Q:
    return reduce(operator.or_, (completes_page(goal) for goal in goals))


def site_goals(q: Query) -> list[Goal]:
    return list(Goal.objects.filter(site=q.site).order_by("name", "pk"))


def goals_report(q: Query, visitors: int, goals: list[Goal] | None = None) -> GoalsReport:
    """Everything the Goals panel shows; ``visitors`` is the range's visitor count."""
    goals = site_goals(q) if goals is None else goals
    rows = goal_rows(q, goals, visitors)
    goal_events = {goal.event_name for goal in goals if is_event(goal)}
    events = [
        {"name": name, **figures, "is_goal": name in goal_events}
        for name, figures in event_figures(q).items()
    ]
    events.sort(key=lambda row: (-row["visitors"], -row["completions"], row["name"]))
    return GoalsReport(goals=rows, events=events, total_events=sum(row["completions"] for row in events))


def goal_rows(q: Query, goals: Sequence[Goal], visitors: int) -> list[dict[str, Any]]:
    """Per goal ``{id, name, kind, visitors, completions, conversion_rate, revenue}``, most visitors
    first (then completions, name). ``conversion_rate`` is null without visitors."""
    figures = goal_figures(q, goals)
    revenue = goal_revenue(q, goals)
    rows = [
        {
            "id": goal.pk,
            "name": goal.name,
            "kind": goal.kind,
            "visitors": counts["visitors"],
            "completions": counts["completions"],
            "conversion_rate": ratio(counts["visitors"], visitors),
            "revenue": money,
        }
        for goal, counts, money in zip(goals, figures, revenue, strict=True)
    ]
    rows.sort(key=lambda row: (-row["visitors"], -row["completions"], row["name"]))
    return rows


def event_figures(q: Query) -> dict[str, dict[str, int]]:
    """``{event name: {visitors, completions}}`` of the range's custom events (computed once per Query):
    settled days from ``EventDaily`` when all of them are built, the tail raw."""
    memo = q.memo.get("event_figures")
    if memo is None:
        memo = _built_event_figures(q)
        if memo is None:
            memo = _raw_event_figures(q)
        elif (tail := q.tail()) is not None:
            _add_event_tail(q, tail, memo)
        q.memo["event_figures"] = memo
    return memo


def _built_event_figures(q: Query) -> dict[str, dict[str, int]] | None:
    """The built days' figures per event name: a slice's own rows, or ``EventDaily`` when all its days
    are built; None to read the range raw."""
    through = q.built_through
    if through is None:
        return None
    if q.rollup_slice is not None:
        return {
            name: {"visitors": row["visitors"], "completions": row["views"]}
            for name, row in _slice_rows(q)["event"].items()
        }
    if event_rollups.built_day_count(q.site, q.built_from, through) < _built_days(q):
        return None
    return event_rollups.built_figures(q.site, q.built_from, through)


def _slice_rows(q: Query) -> dict[str, dict[str, dict[str, int]]]:
    """The slice's ``event`` and ``goal`` figures of the built days (read once per Query)."""
    if "slice_rows" not in q.memo:
        q.memo["slice_rows"] = rollup_reads.slice_by_values(
            q.rollup_slice, ["event", "goal"], q.built_from, q.built_through
        )
    return q.memo["slice_rows"]


def _raw_event_figures(q: Query) -> dict[str, dict[str, int]]:
    if q.filters:  # from the (name, hash, count) rows the payers' event hits are read from as well
        figures: dict[str, dict[str, int]] = {}
        for name, _, count in event_rows.filtered(q):
            row = figures.setdefault(name, {"visitors": 0, "completions": 0})
            row["visitors"] += 1
            row["completions"] += count
        return figures
    rows = (
        q.events()
        .values("name")
        .annotate(visitors=Count("visitor_hash", distinct=True), completions=Count("id"))
        .order_by()
    )
    return {row["name"]: {"visitors": row["visitors"], "completions": row["completions"]} for row in rows}


def _built_days(q: Query) -> int:
    """Traffic days built in ``q.built_from``..``q.built_through`` (looked up once per Query)."""
    if "built_days" not in q.memo:
        q.memo["built_days"] = goal_rollups.built_day_count(q.site, q.built_from, q.built_through)
    return q.memo["built_days"]


def _add_event_tail(q: Query, tail: Query, into: dict[str, dict[str, int]]) -> None:
    """Add the raw tail's events per name, and its visitors the built days did not count (per hash,
    whether it sent that name earlier in the range)."""
    rows = event_rows.of_tail(q, tail)
    seen = event_rows.earlier_pairs(q, tail)
    for name, visitor_hash, count in rows:
        figures = into.setdefault(name, dict(_ZERO))
        figures["completions"] += count
        if (name, visitor_hash) not in seen:
            figures["visitors"] += 1


# ------------------------------------------------------------------------------------ visitors and counts


def goal_figures(q: Query, goals: Sequence[Goal]) -> list[dict[str, int]]:
    """``{visitors, completions}`` of each goal, in the order given (unsaved goals are read raw)."""
    through = q.built_through
    if through is None or not goals:
        return _raw_figures(q, goals)
    rolled = _rolled(q, goals)
    raw_indexes = [i for i in range(len(goals)) if i not in set(rolled)]
    result: list[dict[str, int]] = [dict(_ZERO) for _ in goals]
    for i, figures in zip(raw_indexes, _raw_figures(q, [goals[i] for i in raw_indexes]), strict=True):
        result[i] = figures
    for i in rolled:
        result[i] = _rolled_figures(q, goals[i])
    tail = q.tail()
    if tail is not None and rolled:
        _add_tail(q, tail, [goals[i] for i in rolled], [result[i] for i in rolled])
    return result


def _built_goal_figures(q: Query) -> dict[int, dict[str, int]]:
    """``goal_rollups.built_figures`` of the range's built days (looked up once per Query)."""
    if "goal_built" not in q.memo:
        q.memo["goal_built"] = goal_rollups.built_figures(q.site, q.built_from, q.built_through)
    return q.memo["goal_built"]


def _rolled_figures(q: Query, goal: Goal) -> dict[str, int]:
    """``{visitors, completions}`` of a goal ``_rolled`` reads from rollups, over the built days."""
    if q.rollup_slice is not None:
        row = _slice_rows(q)["event" if is_event(goal) else "goal"].get(
            goal.event_name if is_event(goal) else goal.page_pattern
        )
        return {"visitors": row["visitors"], "completions": row["views"]} if row else dict(_ZERO)
    row = _built_goal_figures(q).get(goal.pk, _ZERO)
    return {"visitors": row["visitors"], "completions": row["completions"]}


def _rolled(q: Query, goals: Sequence[Goal]) -> list[int]:
    """Indexes of the goals read from rollups: saved, with every built day of the range built from
    their current definition (none when the range has no built day). Under a slice: every event goal,
    and the page goals whose pattern the slice's days were built for (the site's)."""
    if q.built_through is None:
        return []
    if q.rollup_slice is not None:
        patterns = set(slices.page_patterns(q.site))
        return [i for i, goal in enumerate(goals) if is_event(goal) or goal.page_pattern in patterns]
    built, days = _built_goal_figures(q), _built_days(q)
    return [i for i, goal in enumerate(goals) if goal.pk and goal_rollups.is_built(goal, built, days)]


def _raw_figures(q: Query, goals: Sequence[Goal]) -> list[dict[str, int]]:
    result: list[dict[str, int]] = [dict(_ZERO) for _ in goals]
    if any(is_event(goal) for goal in goals):
        by_name = event_figures(q)
        for i, goal in enumerate(goals):
            if is_event(goal):
                result[i] = dict(by_name.get(goal.event_name, _ZERO))
    pages = [(i, goal) for i, goal in enumerate(goals) if not is_event(goal)]
    grouped = _grouped(q, [goal for _, goal in pages])
    if grouped is not None:
        for i, goal in pages:
            result[i] = dict(grouped.page_goal_figures[goal.page_pattern])
    elif pages:
        aggregates = {}
        for i, goal in pages:
            aggregates[f"v{i}"] = Count("session__visitor_hash", distinct=True, filter=completes_page(goal))
            aggregates[f"c{i}"] = Count("id", filter=completes_page(goal))
        # Only views that complete one of the goals: the distinct counts then sort those few, not every
        # view in range (1.5 s to 0.2 s for a year of a filtered 1M-view site).
        counts = q.views().filter(any_page([goal for _, goal in pages])).aggregate(**aggregates)
        for i, _ in pages:
            result[i] = {"visitors": counts[f"v{i}"], "completions": counts[f"c{i}"]}
    return result


def _grouped(q: Query, page_goals: Sequence[Goal]) -> GroupedTraffic | None:
    """The dashboard's grouped traffic (``widgets.overview``) when it counted all these page goals: the
    same filtered views of the range, read once for traffic and goals."""
    grouped = q.memo.get("grouped_traffic") if q.rollups and page_goals else None
    if grouped is None or any(goal.page_pattern not in grouped.page_goal_figures for goal in page_goals):
        return None
    return grouped


def _hashes_by_goal(events, views, goals: Sequence[Goal]) -> tuple[list[set[str]], list[int]]:
    """Which visitor hashes completed each goal, and how often, from two row sources: custom events
    (``(name, hash, count)`` rows) and page views (``{hash, c<i>}`` rows per hash, ``c<i>`` the views
    matching goal ``i``)."""
    hashes: list[set[str]] = [set() for _ in goals]
    counts = [0] * len(goals)
    by_name: dict[str, list[int]] = {}
    for i, goal in enumerate(goals):
        if is_event(goal):
            by_name.setdefault(goal.event_name, []).append(i)
    for name, visitor_hash, count in events:
        for i in by_name.get(name, ()):
            hashes[i].add(visitor_hash)
            counts[i] += count
    for row in views:
        for i, goal in enumerate(goals):
            count = row.get(f"c{i}", 0) if not is_event(goal) else 0
            if count:
                hashes[i].add(row["visitor_hash"])
                counts[i] += count
    return hashes, counts


def _event_hits(events, goals: Sequence[Goal]):
    """``(name, hash, count)`` of these custom events that complete one of the event goals."""
    names = sorted({goal.event_name for goal in goals if is_event(goal)})
    if not names:
        return []
    return (
        events.filter(name__in=names).values_list("name", "visitor_hash").annotate(n=Count("id")).order_by()
    )


def _page_hits(views, goals: Sequence[Goal]):
    """Per visitor hash of these views, ``c<i>``: its views completing page goal ``i``."""
    pages = [(i, goal) for i, goal in enumerate(goals) if not is_event(goal)]
    if not pages:
        return []
    return (
        views.filter(any_page([goal for _, goal in pages]))
        .values(visitor_hash=F("session__visitor_hash"))
        .annotate(**{f"c{i}": Count("id", filter=completes_page(goal)) for i, goal in pages})
        .order_by()
    )


def _tail_hits(q: Query, tail: Query, goals: Sequence[Goal]) -> tuple[list[set[str]], list[int]]:
    """``_hashes_by_goal`` of the tail's hits of these goals (read once per Query and goals)."""
    key = "tail_hits:" + ",".join(f"{goal.kind}:{goal.event_name}:{goal.page_pattern}" for goal in goals)
    if key not in q.memo:
        q.memo[key] = _hashes_by_goal(event_rows.of_tail(q, tail), _page_hits(tail.views(), goals), goals)
    return q.memo[key]


def _add_tail(q: Query, tail: Query, goals: Sequence[Goal], into: list[dict[str, int]]) -> None:
    """Add the raw tail's completions and its visitors the built days did not count."""
    # The tail's events of every name: _hashes_by_goal keeps those of the goals' names.
    hashes, counts = _tail_hits(q, tail, goals)
    seen = _completed_between(q, tail, goals, hashes)
    for i, figures in enumerate(into):
        figures["completions"] += counts[i]
        figures["visitors"] += len(hashes[i] - seen[i])


def _completed_between(
    q: Query, tail: Query, goals: Sequence[Goal], hashes: list[set[str]]
) -> list[set[str]]:
    """Of each goal's ``hashes`` (from the tail's hits), those that completed it in the range before the
    tail: events from the tail hashes' earlier events (``event_rows.earlier_pairs``), pages through the
    visitors' sessions."""
    since, until = q.built_window()
    pairs = event_rows.earlier_pairs(q, tail) if any(is_event(goal) for goal in goals) else set()
    seen: list[set[str]] = [
        {h for h in found if (goal.event_name, h) in pairs} if is_event(goal) else set()
        for goal, found in zip(goals, hashes, strict=True)
    ]
    page_hashes = sorted(set().union(*(h for h, g in zip(hashes, goals, strict=True) if not is_event(g))))
    views = View.objects.filter(
        site=q.site,
        created_at__gte=since,
        created_at__lt=until,
        session__site=q.site,
        session__last_seen_at__gte=since,
        **q.slice_lookups("session"),
    )
    for chunk in hash_chunks(page_hashes):
        found, _ = _hashes_by_goal(
            [], _page_hits(views.filter(among("session__visitor_hash", chunk)), goals), goals
        )
        for i, hashes_found in enumerate(found):
            seen[i] |= hashes_found
    return seen


# ------------------------------------------------------------------------------------------------ revenue


def goal_revenue(q: Query, goals: Sequence[Goal]) -> list[int]:
    """Each goal's revenue of converting visitors (see the module docstring), in the order given. Goals
    read from rollups: which payers completed them comes from their ``GoalVisitor`` rows of the built
    days plus the tail's hits. The rest: the range's attributed payers are read once, then looked up in
    their hits in range. A fixed number of queries, whatever the number of goals (per 2,000 payers on
    SQLite)."""
    if not goals:
        return []
    # A slice has no goal visitors' hashes: its payers are looked up raw.
    rolled = _rolled(q, goals) if q.rollup_slice is None else []
    raw = [i for i in range(len(goals)) if i not in set(rolled)]
    revenue = [0] * len(goals)
    if rolled:
        by_goal = _rolled_revenue(q, [goals[i] for i in rolled])
        for i in rolled:
            revenue[i] = by_goal.get(goals[i].pk, 0)
    if raw:
        frame = q.memo.get("payment_frame")
        payers = (
            frame.payers
            if frame is not None
            else list(
                payments_in_range(q)
                .filter(session__isnull=False)
                .order_by()
                .values_list("session__visitor_hash", "net")
            )
        )
        hashes = sorted({visitor_hash for visitor_hash, _ in payers})
        found = _payers_completing(q, [goals[i] for i in raw], hashes) if payers else [set() for _ in raw]
        for i, done in zip(raw, found, strict=True):
            revenue[i] = sum(net for visitor_hash, net in payers if visitor_hash in done)
    return revenue


def _rolled_revenue(q: Query, goals: Sequence[Goal]) -> dict[int, int]:
    """``{goal id: revenue}`` of goals whose built days are all in ``GoalVisitor``: the payers of the
    range joined, in one statement, with the (goal, hash) pairs of those days and of the tail's hits;
    payers' hashes never travel to Python (thousands a year on a large site)."""
    tail = q.tail()
    tail_pairs: list[tuple[int, str]] = []
    if tail is not None:
        found, _ = _tail_hits(q, tail, goals)
        tail_pairs = [
            (goal.pk, visitor_hash)
            for goal, hashes in zip(goals, found, strict=True)
            for visitor_hash in hashes
        ]
    payers = payments_in_range(q).filter(session__isnull=False).order_by()
    built = goal_rollups.completions_by_visitor(q.site, [g.pk for g in goals], q.built_from, q.built_through)
    frame = q.memo.get("payment_frame")
    if frame is not None:
        # The dashboard's payment frame has its payers: those from payment facts among the flagged goal
        # visits, the others looked up.
        facted = payment_facts.payer_completions(q, built) if frame.facted else []
        return _revenue_of(frame.payers, built, tail_pairs, goals, (frame.facted, facted))
    if connection.vendor != "postgresql":
        return _revenue_of(list(payers.values_list("session__visitor_hash", "net")), built, tail_pairs, goals)
    payers_sql, payers_params = payment_facts.payers_statement(q, payers)
    built_sql, built_params = built.values_list("goal_id", "visitor_hash").query.sql_with_params()
    # Both inner statements are Django's (their values are parameters): nothing here comes from input.
    sql = (
        f"WITH payers (visitor_hash, net) AS ({payers_sql}),"  # noqa: S608
        f" done AS (SELECT b.goal_id, b.visitor_hash FROM ({built_sql}) AS b"
        " WHERE b.visitor_hash IN (SELECT visitor_hash FROM payers)"
        " UNION SELECT * FROM unnest(%s::bigint[], %s::varchar[]) AS t (goal_id, visitor_hash))"
        " SELECT done.goal_id, SUM(payers.net) FROM payers"
        " JOIN done ON done.visitor_hash = payers.visitor_hash GROUP BY done.goal_id"
    )
    params = [*payers_params, *built_params, [pk for pk, _ in tail_pairs], [h for _, h in tail_pairs]]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return {goal_id: int(total) for goal_id, total in cursor.fetchall()}


def _revenue_of(
    payers, built, tail_pairs, goals: Sequence[Goal], flagged=(frozenset(), [])
) -> dict[int, int]:
    """``{goal id: revenue}`` of ``payers`` ``(hash, net)`` whose hash is in ``built`` (``GoalVisitor``
    rows) or ``tail_pairs`` for the goal; ``flagged``: payer hashes whose rows are all in the given
    ``(goal id, hash)`` rows (``payment_facts.payer_completions``), the others are looked up."""
    done: dict[int, set[str]] = {goal.pk: set() for goal in goals}
    known, completions = flagged
    for goal_id, visitor_hash in completions:
        done[goal_id].add(visitor_hash)
    for chunk in hash_chunks(sorted({visitor_hash for visitor_hash, _ in payers} - known)):
        rows = built.filter(among("visitor_hash", chunk)).values_list("goal_id", "visitor_hash").distinct()
        for goal_id, visitor_hash in rows:
            done[goal_id].add(visitor_hash)
    for goal_id, visitor_hash in tail_pairs:
        done[goal_id].add(visitor_hash)
    net_of: dict[str, int] = {}  # per payer hash: each goal sums its hashes, not every payment again
    for visitor_hash, net in payers:
        net_of[visitor_hash] = net_of.get(visitor_hash, 0) + net
    return {goal_id: sum(net_of.get(h, 0) for h in hashes) for goal_id, hashes in done.items()}


def _payers_completing(q: Query, goals: Sequence[Goal], hashes: list[str]) -> list[set[str]]:
    """Of these payer hashes, those completing each goal in range, from the raw hits."""
    completed: list[set[str]] = [set() for _ in goals]
    grouped = _grouped(q, [goal for goal in goals if not is_event(goal)])
    if grouped is not None and not grouped.payers.issuperset(hashes):
        grouped = None
    events = q.events()
    views = q.views().filter(session__site=q.site, session__last_seen_at__gte=q.start_at)
    for chunk in hash_chunks(hashes):
        if grouped is not None:
            page_hits = []  # counted by the grouped statement (below)
        elif connection.vendor == "postgresql" and all(d in SESSION_DIMENSIONS for d, _ in q.filters):
            page_hits = _visitors_page_hits(q, chunk, goals)
        else:
            page_hits = _page_hits(views.filter(among("session__visitor_hash", chunk)), goals)
        if q.filters and event_rows.was_read(q):  # the raw Events list's rows: no second pass
            among_chunk = set(chunk)
            event_hits = [row for row in event_rows.filtered(q) if row[1] in among_chunk]
        else:
            event_hits = _event_hits(events.filter(among("visitor_hash", chunk)), goals)
        found, _ = _hashes_by_goal(event_hits, page_hits, goals)
        for i, found_hashes in enumerate(found):
            completed[i] |= found_hashes
    if grouped is not None:
        for i, goal in enumerate(goals):
            if not is_event(goal):
                completed[i] |= grouped.page_goal_payers[goal.page_pattern].intersection(hashes)
    return completed


def _visitors_page_hits(q: Query, hashes: list[str], goals: Sequence[Goal]) -> list[dict[str, Any]]:
    """``_page_hits`` of these visitors' page views in range (unfiltered, or filtered by session values
    only), on PostgreSQL: a LATERAL lookup per visitor through the (site, visitor_hash, last_seen_at)
    index, where the planner would otherwise hash-join a scan of every session of the site (or of every
    view in range); the same ``~`` as ``__regex``."""
    pages = [(i, goal) for i, goal in enumerate(goals) if not is_event(goal)]
    if not pages:
        return []
    counts = ", ".join(f"COUNT(*) FILTER (WHERE v.page ~ %s) AS c{i}" for i, _ in pages)
    sessions, views = Session._meta.db_table, View._meta.db_table
    # Dimension names are checked against SESSION_DIMENSIONS: our own columns.
    same = "".join(f" AND s.{connection.ops.quote_name(d)} = %s" for d, _ in q.filters)
    sql = (
        f"SELECT h.visitor_hash, x.* FROM unnest(%s::varchar[]) AS h(visitor_hash) CROSS JOIN LATERAL"  # noqa: S608
        f" (SELECT {counts} FROM {sessions} s JOIN {views} v ON v.session_id = s.id"
        f" WHERE s.site_id = %s AND s.visitor_hash = h.visitor_hash AND s.last_seen_at >= %s{same}"
        " AND v.created_at >= %s AND v.created_at < %s) AS x"
    )
    params = [hashes, *(page_regex(goal.page_pattern) for _, goal in pages)]
    params += [q.site.pk, q.start_at, *(value for _, value in q.filters), q.start_at, q.end_at]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --------------------------------------------------------------------------------------------- properties


def property_rows(q: Query, event_name: str, key: str | None = None) -> list[dict[str, Any]]:
    """Per (key, value) of the ``props`` of the range's ``event_name`` events (only ``key`` when given):
    ``{key, value, visitors, completions}``, most visitors first (then events, key, value). Values are
    strings as the snippet sends them; anything else is shown as its text."""
    visitors: dict[tuple[str, str], set[str]] = {}
    counts: dict[tuple[str, str], int] = {}
    rows = q.events().filter(name=event_name).order_by().values_list("visitor_hash", "props")
    for visitor_hash, props in rows.iterator(chunk_size=2000):
        if not isinstance(props, dict):
            continue
        for prop, value in props.items():
            if key is not None and prop != key:
                continue
            pair = (str(prop), value if isinstance(value, str) else str(value))
            visitors.setdefault(pair, set()).add(visitor_hash)
            counts[pair] = counts.get(pair, 0) + 1
    result = [
        {"key": prop, "value": value, "visitors": len(visitors[(prop, value)]), "completions": count}
        for (prop, value), count in counts.items()
    ]
    result.sort(key=lambda row: (-row["visitors"], -row["completions"], row["key"], row["value"]))
    return result


# ------------------------------------------------------------------------------------------------ buckets


def event_buckets(q: Query, granularity: str) -> dict[dt.datetime, int]:
    """Custom events per bucket start (naive local datetimes, like ``query.bucket_starts``)."""
    rows = (
        q.events()
        .annotate(bucket=Trunc("created_at", granularity, tzinfo=q.tz))
        .values("bucket")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {row["bucket"].replace(tzinfo=None): row["n"] for row in rows}


def goal_buckets(q: Query, goal: Goal, granularity: str) -> dict[dt.datetime, dict[str, int]]:
    """``{conversions, completions}`` per bucket start: distinct visitors completing the goal in the
    bucket (a visitor converting on two days counts on each), and completions."""
    if is_event(goal):
        rows = q.events().filter(name=goal.event_name).annotate(hash=F("visitor_hash"))
    else:
        rows = q.views().filter(completes_page(goal)).annotate(hash=F("session__visitor_hash"))
    rows = (
        rows.annotate(bucket=Trunc("created_at", granularity, tzinfo=q.tz))
        .values("bucket")
        .annotate(conversions=Count("hash", distinct=True), completions=Count("id"))
        .order_by()
    )
    return {
        row["bucket"].replace(tzinfo=None): {
            "conversions": row["conversions"],
            "completions": row["completions"],
        }
        for row in rows
    }
