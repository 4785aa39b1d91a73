"""Funnels: how many visitors went through a funnel's goals in order, within one visit.

A session reaches step n when, within the range and under the dashboard's filters, it completed step 1,
then step 2 after it, ..., then step n after step n-1. Hits (custom events and page views completing a
step's goal, ``tracking.goals``) are taken in time order, a page view before a custom event of the same
instant; each hit moves its session on by at most one step, when it completes the goal of the step the
session is at. So a step done before the previous one does not count (unless done again after it), and
taking the earliest hit of each step in turn finds the furthest step a session reached. Events whose
page view is not stored yet belong to no session and are left out.

A step's ``visitors`` are the distinct visitor hashes of the sessions that reached it (``sessions``
counts the sessions); ``dropoff`` is the previous step's visitors minus this step's, ``dropoff_rate``
that over the previous step's visitors, ``conversion_rate`` this step's visitors over step 1's.

One query fetches every step hit of the range (custom events and page views, a UNION), with a bit per
step saying which step goals the row completes; the ordered walk runs in Python.
"""

import itertools
from typing import Any

from django.db.models import Case, F, IntegerField, Q, QuerySet, Value, When

from humblytics.reports.goals import any_page, completes_page, is_event
from humblytics.reports.query import Query
from humblytics.reports.revenue import ratio
from tracking.models import Funnel, Goal


def funnel_steps(funnel: Funnel) -> list[Goal]:
    return [step.goal for step in funnel.steps.select_related("goal").order_by("position")]


def funnel_report(q: Query, goals: list[Goal]) -> list[dict[str, Any]]:
    """One row per step: ``{position, goal_id, name, visitors, sessions, dropoff, dropoff_rate,
    conversion_rate}`` (``dropoff`` and ``dropoff_rate`` null on step 1; rates null when the base is 0)."""
    reached = _furthest_steps(_step_hits(q, goals), len(goals))
    rows = []
    for index, goal in enumerate(goals):
        sessions = [visitor for step, visitor in reached if step > index]
        visitors = len(set(sessions))
        previous = rows[-1]["visitors"] if rows else None
        first = rows[0]["visitors"] if rows else visitors
        rows.append(
            {
                "position": index + 1,
                "goal_id": goal.pk,
                "name": goal.name,
                "visitors": visitors,
                "sessions": len(sessions),
                "dropoff": None if previous is None else previous - visitors,
                "dropoff_rate": None if previous is None else ratio(previous - visitors, previous),
                "conversion_rate": ratio(visitors, first),
            }
        )
    return rows


def _bits(goals: list[Goal], completes) -> Case | Value:
    """An integer with bit ``i`` set when the row completes step ``i`` (``completes(i, goal)``: a Q, or
    None when rows of this kind never complete that step)."""
    total = None
    for i, goal in enumerate(goals):
        condition = completes(goal)
        if condition is None:
            continue
        bit = Case(When(condition, then=Value(1 << i)), default=Value(0), output_field=IntegerField())
        total = bit if total is None else total + bit
    return total if total is not None else Value(0, output_field=IntegerField())


def _step_hits(q: Query, goals: list[Goal]) -> list[tuple]:
    """``(session_id, at, kind, id, visitor_hash, bits)`` of every hit of a step goal in range, in any
    order (``kind``: 0 for a page view, 1 for a custom event)."""
    columns = ("session_id", "created_at", "kind", "id", "hash", "bits")
    parts: list[QuerySet] = []
    names = sorted({goal.event_name for goal in goals if is_event(goal)})
    if names:
        events = (
            q.events()
            .filter(session__isnull=False, name__in=names)
            .annotate(
                kind=Value(1, output_field=IntegerField()),
                hash=F("visitor_hash"),
                bits=_bits(goals, lambda goal: Q(name=goal.event_name) if is_event(goal) else None),
            )
        )
        parts.append(events.order_by().values_list(*columns))
    pages = [goal for goal in goals if not is_event(goal)]
    if pages:
        views = (
            q.views()
            .filter(any_page(pages))
            .annotate(
                kind=Value(0, output_field=IntegerField()),
                hash=F("session__visitor_hash"),
                bits=_bits(goals, lambda goal: None if is_event(goal) else completes_page(goal)),
            )
        )
        parts.append(views.order_by().values_list(*columns))
    if not parts:
        return []
    if len(parts) == 1:
        return list(parts[0])
    return list(parts[0].union(parts[1], all=True))


def _furthest_steps(hits: list[tuple], steps: int) -> list[tuple[int, str]]:
    """``(steps reached, visitor hash)`` of every session with a hit."""
    hits.sort(key=lambda hit: (hit[0], hit[1], hit[2], hit[3]))
    reached = []
    for _, session_hits in itertools.groupby(hits, key=lambda hit: hit[0]):
        step = 0
        visitor_hash = ""
        for hit in session_hits:
            visitor_hash, bits = hit[4], hit[5]
            if step < steps and bits & (1 << step):
                step += 1
        if step:
            reached.append((step, visitor_hash))
    return reached
