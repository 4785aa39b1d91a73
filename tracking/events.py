"""Custom events (``Humblytics.track(name, props)``): their caps, per-site limits, storage and linking.

``tracking.ingest`` parses the body and runs the page-view checks (bots, unknown site, the page's host
name) for an event as for a view, then calls ``limit_reason``, spools and buffers it like a view, and
stores it with ``new_events`` in the same transaction as the views of its batch, after them, so an event
finds its view when both are in one batch.

An event is linked to its page view's session by (site, view id) and takes that session's visitor hash,
so goal visitors agree with the dashboard's. When the view is not stored yet (it may wait in another
worker's buffer), the event is stored with no session and the visitor's hash of the day, and
``link_events`` (scheduled every minute) fills both in once the view is there. An event whose view has not
arrived within ``LINK_WINDOW`` of it keeps no session for good; it still counts for goals, under that
day's hash.

Limits: a site may have at most ``EVENT_NAMES_PER_SITE`` distinct names and ``EVENT_PROP_KEYS_PER_SITE``
distinct property keys (``EventTerm`` rows). An event bringing a new one beyond them is dropped as
``event_limit``; names and keys already known keep working. Each process keeps the site's known ones in
memory, refreshed every ``_TERMS_SECONDS``, so the database is asked only about a name it has not seen.
"""

import datetime as dt
import math
import os
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError
from django.db import connection as db_connection
from django.db.models import OuterRef, Subquery

from tracking.models import (
    EVENT_NAME_MAX_LENGTH,
    EVENT_PROP_KEY_MAX_LENGTH,
    EVENT_PROP_VALUE_MAX_LENGTH,
    EVENT_PROPS_MAX,
    CustomEvent,
    EventTerm,
    Site,
    View,
)
from tracking.payload import BadEvent

EVENT_LIMIT = "event_limit"
LINK_WINDOW = dt.timedelta(hours=1)
LINK_BATCH = 1000
LINK_MAX_BATCHES = 50


@dataclass(frozen=True)
class TrackedEvent:
    """A parsed custom event: the page it happened on (``url``, whose host name must be the site's) and
    the page view's id, a trimmed name and string property values (JSON nulls left out)."""

    site: str
    view_id: str
    url: str
    hostname: str
    name: str
    props: dict[str, str] = field(default_factory=dict)


def parse_name(value: object) -> str:
    """The event name, trimmed. Raises ``BadEvent`` (400)."""
    if value is None:
        raise BadEvent("name is required")
    if not isinstance(value, str):
        raise BadEvent("name must be a string")
    name = value.strip()
    if not name:
        raise BadEvent("name must not be empty")
    if len(name) > EVENT_NAME_MAX_LENGTH:
        raise BadEvent(f"name is longer than {EVENT_NAME_MAX_LENGTH} characters")
    if "\x00" in name:
        raise BadEvent("name must not contain NUL characters")
    return name


def parse_props(value: object) -> dict[str, str]:
    """Property values as strings (booleans ``true``/``false``, numbers as JSON writes them); a null
    value leaves its key out. Raises ``BadEvent`` (400)."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise BadEvent("props must be an object")
    if len(value) > EVENT_PROPS_MAX:
        raise BadEvent(f"props has more than {EVENT_PROPS_MAX} keys")
    props = {}
    for key, item in value.items():
        if not key.strip():
            raise BadEvent("props keys must not be empty")
        if len(key) > EVENT_PROP_KEY_MAX_LENGTH:
            raise BadEvent(f"props keys must be at most {EVENT_PROP_KEY_MAX_LENGTH} characters")
        if "\x00" in key:
            raise BadEvent("props keys must not contain NUL characters")
        if item is not None:
            props[key] = _prop_value(key, item)
    return props


def _prop_value(key: str, item: object) -> str:
    if isinstance(item, bool):
        text = "true" if item else "false"
    elif isinstance(item, int):
        text = str(item)
    elif isinstance(item, float):
        # Python's JSON reader takes NaN and Infinity, which JSON has not.
        if not math.isfinite(item):
            raise BadEvent(f"props value of {key!r} must be a finite number")
        text = repr(item)
    elif isinstance(item, str):
        text = item
    else:
        raise BadEvent(f"props value of {key!r} must be a string, number or boolean (not an object or list)")
    if len(text) > EVENT_PROP_VALUE_MAX_LENGTH:
        raise BadEvent(f"props value of {key!r} is longer than {EVENT_PROP_VALUE_MAX_LENGTH} characters")
    if "\x00" in text:
        raise BadEvent(f"props value of {key!r} must not contain NUL characters")
    return text


@dataclass(frozen=True)
class PendingEvent:
    """An admitted event waiting to be stored. ``uid`` is given at admission, so storing it twice (a spool
    record replayed after a crash) stores it once; ``visitor_hash`` is today's, used until it is linked."""

    site: Site
    event: TrackedEvent
    now: dt.datetime
    visitor_hash: str
    uid: str


@dataclass(frozen=True)
class Recorded:
    """A stored custom event (``duplicate``: it already was, by its uid)."""

    event: CustomEvent
    duplicate: bool = False


def pending_event(site: Site, event: TrackedEvent, now: dt.datetime, visitor_hash: str) -> PendingEvent:
    return PendingEvent(site, event, now, visitor_hash, _new_uid())


_uids: tuple[int, random.Random] | None = None


def _new_uid() -> str:
    """128 random bits. A uid must be unique, not unguessable: a generator seeded from the kernel once per
    process (a forked worker seeds its own, so two never share a sequence) costs well under a microsecond,
    where asking the kernel for every event cost ~0.1 ms in a virtual machine."""
    global _uids
    if _uids is None or _uids[0] != os.getpid():
        _uids = (os.getpid(), random.Random(os.urandom(32)))
    return f"{_uids[1].getrandbits(128):032x}"


# ---- the spool ---------------------------------------------------------------------------------------


def spool_record(pending: PendingEvent) -> dict:
    """The spool's JSON record of an admitted event (``tracking.spool``): no IP, no user agent."""
    event = pending.event
    return {
        "kind": "event",
        "site": pending.site.pk,
        "at": pending.now.isoformat(),
        "event": [event.site, event.view_id, event.url, event.hostname, event.name],
        "props": event.props,
        "hash": pending.visitor_hash,
        "uid": pending.uid,
    }


def from_spool_record(record: dict, site: Site) -> PendingEvent:
    public_id, view_id, url, hostname, name = record["event"]
    return PendingEvent(
        site,
        TrackedEvent(public_id, view_id, url, hostname, name, dict(record["props"])),
        dt.datetime.fromisoformat(record["at"]),
        record["hash"],
        record["uid"],
    )


# ---- storage -----------------------------------------------------------------------------------------


def stored_events(pendings: Sequence[PendingEvent]) -> dict[tuple[int, str], CustomEvent]:
    """The events of ``pendings`` already stored, by (site pk, uid)."""
    return {
        (row.site_id, row.uid): row
        for row in CustomEvent.objects.filter(
            site_id__in={p.site.pk for p in pendings}, uid__in={p.uid for p in pendings}
        )
    }


def new_events(
    pendings: Sequence[PendingEvent],
    batch_views: dict[tuple[int, str], View],
    existing: dict[tuple[int, str], CustomEvent],
) -> list[Recorded]:
    """Rows for ``pendings`` (not yet inserted), each linked to its page view's session: a view of the same
    batch (``batch_views``, by (site pk, view id)), else one already stored (one query), else none yet.
    Events in ``existing`` or repeated in the batch are returned as duplicates."""
    missing = {(p.site.pk, p.event.view_id) for p in pendings} - batch_views.keys()
    sessions = {key: (view.session.pk, view.session.visitor_hash) for key, view in batch_views.items()}
    if missing:
        sessions.update(_stored_view_sessions(missing))
    results = []
    seen: dict[tuple[int, str], CustomEvent] = {}
    for pending in pendings:
        key = (pending.site.pk, pending.uid)
        duplicate_of = existing.get(key) or seen.get(key)
        if duplicate_of is not None:
            results.append(Recorded(duplicate_of, duplicate=True))
            continue
        session_id, visitor_hash = sessions.get((pending.site.pk, pending.event.view_id), (None, None))
        seen[key] = row = CustomEvent(
            site=pending.site,
            session_id=session_id,
            view_id=pending.event.view_id,
            uid=pending.uid,
            name=pending.event.name,
            props=pending.event.props,
            created_at=pending.now,
            visitor_hash=visitor_hash or pending.visitor_hash,
        )
        results.append(Recorded(row))
    return results


def _stored_view_sessions(keys: set[tuple[int, str]]) -> dict[tuple[int, str], tuple[int, str]]:
    rows = View.objects.filter(
        site_id__in={site_id for site_id, _ in keys}, view_id__in={view_id for _, view_id in keys}
    ).values_list("site_id", "view_id", "session_id", "session__visitor_hash")
    return {
        (site_id, view_id): (session_id, visitor_hash) for site_id, view_id, session_id, visitor_hash in rows
    }


def link_events(now: dt.datetime, *, batch: int = LINK_BATCH, max_batches: int = LINK_MAX_BATCHES) -> int:
    """Give events stored before their page view (no session) that view's session and its visitor hash.

    Only events of the last ``LINK_WINDOW``; at most ``batch`` rows per statement and ``max_batches``
    statements per call (the next run goes on). Idempotent, and safe beside a concurrent run: both write
    the same values. Returns events linked.
    """
    linked = 0
    matches = View.objects.filter(site_id=OuterRef("site_id"), view_id=OuterRef("view_id"))
    for _ in range(max_batches):
        rows = list(
            CustomEvent.objects.filter(session__isnull=True, created_at__gte=now - LINK_WINDOW)
            .annotate(
                view_session=Subquery(matches.values("session_id")[:1]),
                view_hash=Subquery(matches.values("session__visitor_hash")[:1]),
            )
            .filter(view_session__isnull=False)
            .only("pk")
            .order_by("created_at", "pk")[:batch]
        )
        for row in rows:
            row.session_id, row.visitor_hash = row.view_session, row.view_hash
        CustomEvent.objects.bulk_update(rows, ["session", "visitor_hash"], batch_size=500)
        linked += len(rows)
        if len(rows) < batch:
            break
    return linked


# ---- per-site limits ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Terms:
    names: frozenset[str]
    keys: frozenset[str]
    expires_at: float


_terms: dict[int, _Terms] = {}
_terms_lock = threading.Lock()
# A name registered by another process is seen here at once (a lookup of an unknown name asks the
# database); this only bounds how long a deleted ``EventTerm`` (an operator freeing a place) goes unseen.
_TERMS_SECONDS = 60.0
_DATABASE_BACKOFF_SECONDS = 1.0
_database_down_until = 0.0


def limit_reason(site: Site, event: TrackedEvent) -> str | None:
    """``event_limit`` when the event brings a name or property key beyond the site's limits, else None
    (new ones within the limits are registered first). Costs nothing when every term is known here.

    With the database unreachable, an unknown name is let through unregistered: the limits guard the
    storage against a buggy page, and an outage is no reason to lose events."""
    global _database_down_until
    clock = time.monotonic()
    known = _terms.get(site.pk)
    fresh = known is not None and known.expires_at > clock
    if fresh and _all_known(known, event):
        return None
    if clock < _database_down_until:
        return None if known is None or _fits(known, event) else EVENT_LIMIT
    try:
        if not fresh:
            known = _load_terms(site.pk)
            if _all_known(known, event):
                return None
        elif _fits(known, event):
            # Unknown here but maybe registered by another process since the last refresh.
            known = _load_terms(site.pk)
            if _all_known(known, event):
                return None
        # A full kind takes no new term and this process's list was complete at its refresh, so a term
        # missing from a full list is new: refused without asking the database again.
        if not _fits(known, event):
            return EVENT_LIMIT
        _register(site, known, event)
    except DatabaseError:
        _database_down_until = clock + _DATABASE_BACKOFF_SECONDS
        db_connection.close()
    return None


def _all_known(known: _Terms, event: TrackedEvent) -> bool:
    return event.name in known.names and known.keys.issuperset(event.props)


def _fits(known: _Terms, event: TrackedEvent) -> bool:
    """Whether the event's terms unknown to ``known`` fit in the site's limits beside it."""
    new_keys = len(set(event.props) - known.keys)
    return (event.name in known.names or len(known.names) < settings.EVENT_NAMES_PER_SITE) and (
        not new_keys or len(known.keys) + new_keys <= settings.EVENT_PROP_KEYS_PER_SITE
    )


def _load_terms(site_id: int) -> _Terms:
    names, keys = set(), set()
    for kind, value in EventTerm.objects.filter(site_id=site_id).values_list("kind", "value"):
        (names if kind == EventTerm.Kind.NAME else keys).add(value)
    known = _Terms(frozenset(names), frozenset(keys), time.monotonic() + _TERMS_SECONDS)
    _remember(site_id, known)
    return known


def _remember(site_id: int, known: _Terms) -> None:
    with _terms_lock:
        if len(_terms) > 10_000:
            _terms.clear()
        _terms[site_id] = known


def _register(site: Site, known: _Terms, event: TrackedEvent) -> None:
    """Store the event's terms missing from ``known`` (all of them at once). Processes registering at the
    same moment may overshoot a limit by the few they add together; a term another one registered first
    is kept once."""
    names = {event.name} - known.names
    keys = set(event.props) - known.keys
    EventTerm.objects.bulk_create(
        [EventTerm(site=site, kind=EventTerm.Kind.NAME, value=name) for name in names]
        + [EventTerm(site=site, kind=EventTerm.Kind.PROP, value=key) for key in sorted(keys)],
        ignore_conflicts=True,
    )
    _remember(site.pk, _Terms(known.names | names, known.keys | keys, known.expires_at))


def reset_for_tests() -> None:
    global _database_down_until
    with _terms_lock:
        _terms.clear()
    _database_down_until = 0.0
