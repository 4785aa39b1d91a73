"""Goals: which stored rows complete a goal.

A page goal's pattern is a path where ``*`` matches any run of characters (``/thanks*``,
``/blog/*/signup``); without a ``*`` it matches the path exactly. An event goal matches custom events
by name, exactly (names are case-sensitive, as the snippet sends them).

Below that, what an owner may define (Settings → Goals and the goals API share it): the rules of a
goal's fields, unique names per site, funnels of 2 to 8 distinct goals, and deletes that name whatever
still uses a goal instead of failing on the database's protection.
"""

import datetime as dt
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Count, F, QuerySet

from tracking.models import EVENT_NAME_MAX_LENGTH, CustomEvent, Funnel, FunnelStep, Goal, Site, View


def page_regex(pattern: str) -> str:
    """The anchored regular expression of a page pattern (Django's ``__regex``, on SQLite and PostgreSQL)."""
    return "^" + ".*".join(re.escape(part) for part in pattern.split("*")) + "$"


def page_matches(pattern: str, path: str) -> bool:
    return re.match(page_regex(pattern), path) is not None


def hits(goal: Goal, start: dt.datetime | None = None, end: dt.datetime | None = None) -> QuerySet:
    """The goal's completions in ``[start, end)`` (either open), as rows of ``session_id``, ``visitor_hash``
    and ``at``. Events whose page view is not stored yet (``session_id`` null) are included."""
    if goal.kind == Goal.Kind.EVENT:
        rows = CustomEvent.objects.filter(site_id=goal.site_id, name=goal.event_name)
        rows = rows.annotate(at=F("created_at")).values("session_id", "visitor_hash", "at")
    else:
        rows = View.objects.filter(site_id=goal.site_id, page__regex=page_regex(goal.page_pattern))
        rows = rows.annotate(at=F("created_at"), hash=F("session__visitor_hash")).values(
            "session_id", "at", visitor_hash=F("hash")
        )
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    if end is not None:
        rows = rows.filter(created_at__lt=end)
    return rows


# ---- definitions: what a site owner may save (the settings pages and the API share these rules) ------

GOAL_NAME_MAX_LENGTH = 120
PAGE_PATTERN_MAX_LENGTH = 500  # ingest keeps at most 500 characters of a path
# A site's settings page counts every goal's completions; beyond these a list stops being readable.
MAX_GOALS_PER_SITE = 100
MAX_FUNNELS_PER_SITE = 50
TRACK_EXAMPLE = "Humblytics.track('Signup')"


class InvalidGoal(Exception):
    """What is wrong with a goal or funnel, by field (``name``, ``type``, ``event``, ``page``, ``steps``),
    in words the owner can act on."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{field}: {message}" for field, message in errors.items()))
        self.errors = errors


class GoalInUse(Exception):
    """A goal that a funnel or a split test still needs (the database protects it too)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message

    @classmethod
    def for_goal(cls, goal: Goal, users: list[str]) -> "GoalInUse":
        """``users`` from ``goal_users``: the error names each and says how to free the goal."""
        message = f"“{goal.name}” is used by {' and '.join(users)}."
        if any(user.startswith("funnel") for user in users):
            message += " Take it out of the funnel, or delete the funnel, first."
        if any(user.startswith("split test") for user in users):
            message += " A split test keeps its goal: delete the test first to delete the goal."
        return cls(message)


@dataclass(frozen=True)
class GoalSpec:
    """A goal as the owner defines it: ``type`` is ``event`` (``event``: the custom event's name) or
    ``page`` (``page``: a path pattern, ``*`` for any run of characters)."""

    name: str
    type: str
    event: str = ""
    page: str = ""

    @classmethod
    def of(cls, goal: Goal) -> "GoalSpec":
        return cls(goal.name, goal.kind, goal.event_name, goal.page_pattern)


@dataclass(frozen=True)
class FunnelSpec:
    """A funnel: a name and its steps, the ids of the site's goals in order."""

    name: str
    steps: tuple = ()


def _name_problem(name: str, what: str) -> str | None:
    if not name:
        return f"Give the {what} a name."
    if "\x00" in name:
        return "A name cannot contain a NUL character."
    if len(name) > GOAL_NAME_MAX_LENGTH:
        return f"A name has at most {GOAL_NAME_MAX_LENGTH} characters (this one has {len(name)})."
    return None


def event_problem(event: str) -> str | None:
    """Why a (trimmed) custom event name cannot be a goal's, by the rules ingest applies to names."""
    if not event:
        return f"Enter the name your pages send, e.g. Signup for {TRACK_EXAMPLE}."
    if "\x00" in event:
        return "An event name cannot contain a NUL character."
    if len(event) > EVENT_NAME_MAX_LENGTH:
        return f"An event name has at most {EVENT_NAME_MAX_LENGTH} characters (this one has {len(event)})."
    return None


def page_problem(page: str) -> str | None:
    """Why a (trimmed) page pattern can never match a stored path, or None."""
    if not page:
        return "Enter a page path starting with /, e.g. /thanks, or /thanks* for every page under it."
    if "\x00" in page:
        return "A page path cannot contain a NUL character."
    if re.match(r"^[a-z][a-z0-9+.-]*://", page, re.IGNORECASE):
        return "Enter the path only, without the scheme and host: /thanks rather than https://example.com/thanks."
    if not page.startswith("/"):
        return f"A page path starts with /, e.g. /{page.lstrip('*')[:40]}."
    if len(page) > PAGE_PATTERN_MAX_LENGTH:
        return f"A page path has at most {PAGE_PATTERN_MAX_LENGTH} characters (this one has {len(page)})."
    if "?" in page or "#" in page:
        return (
            "Pages are matched on their path alone, without ?query or #fragment: /thanks already matches "
            "/thanks?plan=pro."
        )
    if any(char.isspace() for char in page):
        return "A page path has no spaces (browsers send a space as %20)."
    return None


def check_goal(spec: GoalSpec) -> GoalSpec:
    """The spec trimmed, with the field of the other type emptied; raises InvalidGoal naming each problem."""
    name, event, page = spec.name.strip(), spec.event.strip(), spec.page.strip()
    errors = {}
    if problem := _name_problem(name, "goal"):
        errors["name"] = problem
    if spec.type == Goal.Kind.EVENT:
        page = ""
        if problem := event_problem(event):
            errors["event"] = problem
    elif spec.type == Goal.Kind.PAGE:
        event = ""
        if problem := page_problem(page):
            errors["page"] = problem
    else:
        errors["type"] = 'Choose "event" (a custom event) or "page" (a page visit).'
    if errors:
        raise InvalidGoal(errors)
    return GoalSpec(name, spec.type, event, page)


def _started_tests(goal: Goal) -> list[str]:
    # Split tests live above tracking; the reverse relation needs no import of them.
    return list(goal.split_tests.exclude(status="draft").values_list("name", flat=True))


def _refuse_redefining_a_measured_goal(goal: Goal, spec: GoalSpec) -> None:
    """Results are computed from what a goal matches: changing it would rewrite a started test's past."""
    before = GoalSpec.of(goal)
    if (before.type, before.event, before.page) == (spec.type, spec.event, spec.page):
        return
    tests = _started_tests(goal)
    if tests:
        field = "type" if before.type != spec.type else "event" if spec.type == Goal.Kind.EVENT else "page"
        raise InvalidGoal(
            {
                field: f"{_quoted(tests, 'split test')} measures this goal and has started, so what it "
                "matches cannot change (renaming is fine). Add a new goal instead."
            }
        )


def _quoted(names: list[str], kind: str) -> str:
    quoted = [f"“{name}”" for name in names]
    if len(quoted) == 1:
        return f"{kind} {quoted[0]}"
    return f"{kind}s {', '.join(quoted[:-1])} and {quoted[-1]}"


def _others(model, site: Site, row) -> QuerySet:
    """The site's rows of ``model`` other than ``row`` (all of them for a new row)."""
    rows = model.objects.filter(site=site)
    return rows if row is None else rows.exclude(pk=row.pk)


def save_goal(site: Site, spec: GoalSpec, goal: Goal | None = None) -> Goal:
    """Create a goal of ``site`` (``goal`` None) or change ``goal``; raises InvalidGoal."""
    spec = check_goal(spec)
    if goal is None and Goal.objects.filter(site=site).count() >= MAX_GOALS_PER_SITE:
        raise InvalidGoal({"name": f"A site has at most {MAX_GOALS_PER_SITE} goals: delete one first."})
    if _others(Goal, site, goal).filter(name__iexact=spec.name).exists():
        raise InvalidGoal({"name": f"This site already has a goal named “{spec.name}”."})
    if goal is not None:
        _refuse_redefining_a_measured_goal(goal, spec)
    row = goal or Goal(site=site)
    row.name, row.kind, row.event_name, row.page_pattern = spec.name, spec.type, spec.event, spec.page
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        # Another request saved the same name between the check and this write.
        raise InvalidGoal({"name": f"This site already has a goal named “{spec.name}”."}) from None
    return row


def goal_users(goal: Goal) -> list[str]:
    """What still needs the goal, in words: ``funnel “Onboarding”``, ``split test “Pricing”``."""
    funnels = list(
        Funnel.objects.filter(steps__goal=goal).distinct().order_by("name").values_list("name", flat=True)
    )
    tests = list(goal.split_tests.order_by("name").values_list("name", flat=True))
    return [_quoted(names, kind) for names, kind in ((funnels, "funnel"), (tests, "split test")) if names]


def delete_goal(goal: Goal) -> None:
    """Delete a goal nothing uses; raises GoalInUse naming the funnels and split tests that use it."""
    users = goal_users(goal)
    if users:
        raise GoalInUse.for_goal(goal, users)
    try:
        with transaction.atomic():
            goal.delete()
    except IntegrityError:  # RestrictedError, or (PostgreSQL, deferred) a foreign key at commit
        # A funnel or test took the goal between the check and the delete.
        raise GoalInUse.for_goal(goal, goal_users(goal) or ["another object"]) from None


def delete_funnel(funnel: Funnel) -> None:
    """Delete a funnel and its steps; its goals stay."""
    funnel.delete()


def _step_problem(site: Site, steps: tuple) -> tuple[str | None, list[Goal]]:
    """(why the steps cannot be a funnel or None, the goals in order)."""
    if len(steps) < Funnel.MIN_STEPS:
        if Goal.objects.filter(site=site).count() < Funnel.MIN_STEPS:
            return (
                f"A funnel needs at least {Funnel.MIN_STEPS} steps: add {Funnel.MIN_STEPS} goals first.",
                [],
            )
        return f"A funnel needs at least {Funnel.MIN_STEPS} steps (it has {len(steps)}).", []
    if len(steps) > Funnel.MAX_STEPS:
        return f"A funnel has at most {Funnel.MAX_STEPS} steps (this one has {len(steps)}).", []
    valid = [s for s in steps if isinstance(s, int) and not isinstance(s, bool) and 0 < s < 2**63]
    by_id = {g.pk: g for g in Goal.objects.filter(site=site, pk__in=valid)}
    seen: dict[int, int] = {}
    for position, goal_id in enumerate(steps, start=1):
        goal = by_id.get(goal_id) if goal_id in valid else None
        if goal is None:
            return f"Step {position}: {goal_id!r} is not one of this site's goals.", []
        if goal_id in seen:
            return (
                f"Step {position} repeats step {seen[goal_id]} (“{goal.name}”): each goal can be one step "
                "of a funnel.",
                [],
            )
        seen[goal_id] = position
    return None, [by_id[goal_id] for goal_id in steps]


def save_funnel(site: Site, spec: FunnelSpec, funnel: Funnel | None = None) -> Funnel:
    """Create a funnel of ``site`` (``funnel`` None) or replace ``funnel``'s name and steps; raises
    InvalidGoal (fields ``name`` and ``steps``)."""
    name = spec.name.strip()
    errors = {}
    if problem := _name_problem(name, "funnel"):
        errors["name"] = problem
    elif _others(Funnel, site, funnel).filter(name__iexact=name).exists():
        errors["name"] = f"This site already has a funnel named “{name}”."
    problem, goals = _step_problem(site, tuple(spec.steps))
    if problem:
        errors["steps"] = problem
    if funnel is None and Funnel.objects.filter(site=site).count() >= MAX_FUNNELS_PER_SITE:
        errors["name"] = f"A site has at most {MAX_FUNNELS_PER_SITE} funnels: delete one first."
    if errors:
        raise InvalidGoal(errors)
    row = funnel or Funnel(site=site)
    row.name = name
    try:
        with transaction.atomic():
            row.save()
            FunnelStep.objects.filter(funnel=row).delete()
            FunnelStep.objects.bulk_create(
                FunnelStep(funnel=row, goal=goal, position=position) for position, goal in enumerate(goals, 1)
            )
    except IntegrityError:
        # Another request took the name, or deleted a step's goal, between the checks and this write.
        if _others(Funnel, site, funnel).filter(name__iexact=name).exists():
            raise InvalidGoal({"name": f"This site already has a funnel named “{name}”."}) from None
        raise InvalidGoal({"steps": "One of these goals was just deleted: choose the steps again."}) from None
    return row


def recent_completions(site: Site, goals: list[Goal], since: dt.datetime) -> dict[int, int]:
    """Completions of each goal since ``since`` (aware), by goal id: two grouped queries for all goals
    (events by name, page views by path), not one scan per goal."""
    counts = dict.fromkeys((goal.pk for goal in goals), 0)
    names = {goal.event_name for goal in goals if goal.kind == Goal.Kind.EVENT}
    if names:
        per_name = dict(
            CustomEvent.objects.filter(site=site, created_at__gte=since, name__in=names)
            .values_list("name")
            .annotate(n=Count("id"))
        )
        for goal in goals:
            if goal.kind == Goal.Kind.EVENT:
                counts[goal.pk] = per_name.get(goal.event_name, 0)
    patterns = [
        (goal.pk, re.compile(page_regex(goal.page_pattern))) for goal in goals if goal.kind == Goal.Kind.PAGE
    ]
    if patterns:
        per_page = (
            View.objects.filter(site=site, created_at__gte=since).values_list("page").annotate(n=Count("id"))
        )
        for page, n in per_page.iterator():
            for goal_id, pattern in patterns:
                if pattern.match(page):
                    counts[goal_id] += n
    return counts
