"""Goals: which stored rows complete a goal.

A page goal's pattern is a path where ``*`` matches any run of characters (``/thanks*``,
``/blog/*/signup``); without a ``*`` it matches the path exactly. An event goal matches custom events
by name, exactly (names are case-sensitive, as the snippet sends them).
"""

import datetime as dt
import re

from django.db.models import F, QuerySet

from tracking.models import CustomEvent, Goal, View


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
