"""Page-view ingest: parse → drop bots → resolve site → check hostname → enrich → hash → session → store.

``parse_event`` turns a request body into an ``Event`` (a page view) or a ``TrackedEvent`` (a custom
event, ``tracking.events``), or raises ``BadEvent``; ``admit`` runs the checks that decide the answer
(bot, unknown site, hostname, an event's name and key limits); ``store`` writes admitted views, then
events, in one transaction per batch. ``ingest`` is both, synchronously, and returns ``Accepted`` (a
view), ``Recorded`` (an event) or ``Dropped(reason)`` (tests, the demo, commands). The HTTP view calls
``submit``, which with ``INGEST_BUFFER`` on (the default when DEBUG is off) answers as soon as the view
or event is admitted and written to this worker's spool, and leaves the database write to its
``IngestBuffer`` (``tracking.buffer``; see its docstring for what a 202 promises). Nothing here stores
the IP address or the user agent, not even in the spool: ``prepare`` turns them into the daily-salted
visitor hashes and the enrichment results as soon as the view is admitted.
"""

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from django.conf import settings
from django.db import DatabaseError, IntegrityError, OperationalError, transaction
from django.db import connection as db_connection

from tracking import (
    bots,
    buffer,
    channels,
    drops,
    enrich,
    events,
    payload,
    referrers,
    sessions,
    useragents,
    visitors,
)
from tracking.models import CustomEvent, Session, Site, View
from tracking.payload import MAX_URL_LENGTH, SITE_ID_RE, VARIANT_RE, VIEW_ID_RE, BadEvent
from tracking.useragents import ClientInfo


class UnknownSite(Exception):
    pass


class Unavailable(Exception):
    """The view cannot be kept now (database down with nothing cached, spool full): answer 503."""

    def __init__(self, message: str, retry_after: int = 10):
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


@dataclass(frozen=True)
class Event:
    site: str
    view_id: str
    url: str
    hostname: str
    path: str
    referrer: str
    screen_width: int | None
    variant: str


@dataclass(frozen=True)
class Visitor:
    """What the request tells about the browser. Used in memory only, never stored."""

    ip: str
    user_agent: str
    country_header: str = ""


@dataclass(frozen=True)
class Accepted:
    view: View
    duplicate: bool = False


@dataclass(frozen=True)
class Dropped:
    reason: str


@dataclass(frozen=True)
class Queued:
    """Admitted and buffered; ``IngestBuffer`` stores it within ``INGEST_BUFFER_INTERVAL_MS``."""


def parse_event(body: bytes) -> Event | events.TrackedEvent:
    """Validate a raw body strictly. Raises BadEvent (400, or 413 for an oversized body)."""
    data = payload.json_object(body)
    kind = data.get("type", "pageview")
    if kind not in ("pageview", "event"):
        raise BadEvent('type must be "pageview" or "event"')
    site = payload.string(data, "site", required=True, max_length=16)
    if not SITE_ID_RE.match(site):
        raise BadEvent("site must be a 7-character site id")
    view_id = payload.string(data, "view_id", required=True, max_length=64)
    if not VIEW_ID_RE.match(view_id):
        raise BadEvent("view_id must be 16 to 64 URL-safe characters (A-Z, a-z, 0-9, - and _)")
    url = payload.string(data, "url", required=True, max_length=MAX_URL_LENGTH)
    hostname, path = payload.page(url)
    if kind == "event":
        name, props = events.parse_name(data.get("name")), events.parse_props(data.get("props"))
        return events.TrackedEvent(site, view_id, url, hostname, name, props)
    payload.refuse_nul_in_campaign_values(url, "url")
    referrer = payload.string(data, "referrer", required=False, max_length=MAX_URL_LENGTH)
    payload.refuse_nul_in_campaign_values(referrer, "referrer")
    screen_width = payload.screen_width(data)
    variant = payload.string(data, "variant", required=False, max_length=64)
    if variant and not VARIANT_RE.match(variant):
        raise BadEvent("variant must be up to 64 URL-safe characters")
    return Event(
        site=site,
        view_id=view_id,
        url=url,
        hostname=hostname,
        path=path,
        referrer=referrer,
        screen_width=screen_width,
        variant=variant,
    )


_site_cache: dict[str, tuple[float, Site | None]] = {}
# Short: a site deleted (or created) through another worker is seen here within this many seconds, so
# views of a deleted site are soon answered 404 rather than accepted and never stored. One indexed
# lookup per site per worker every few seconds costs nothing measurable.
_SITE_CACHE_SECONDS = 3.0
# After a failed lookup, serve the last known answers without asking the database for this long, so an
# outage does not cost every request a connection attempt.
_DATABASE_BACKOFF_SECONDS = 1.0
_database_down_until = 0.0


def resolve_site(public_id: str) -> Site | None:
    """Site lookup with a short in-process cache (a hot path: every hit needs it).

    When the database fails, the last known answer is served however old it is (the spool keeps the
    views until the database is back); a site never seen by this worker raises ``Unavailable``.
    """
    global _database_down_until
    now = time.monotonic()
    cached = _site_cache.get(public_id)
    if cached is not None and (cached[0] > now or now < _database_down_until):
        return cached[1]
    try:
        site = Site.objects.filter(public_id=public_id).first() if now >= _database_down_until else None
    except DatabaseError:
        _database_down_until = now + _DATABASE_BACKOFF_SECONDS
        db_connection.close()
        site = None
    if now < _database_down_until:
        if cached is not None:
            return cached[1]
        raise Unavailable("the database is unavailable; try again shortly")
    if len(_site_cache) > 10_000:
        _site_cache.clear()
    _site_cache[public_id] = (now + _SITE_CACHE_SECONDS, site)
    return site


def forget_site(public_id: str) -> None:
    _site_cache.pop(public_id, None)


@dataclass(frozen=True)
class Pending:
    """An admitted view waiting to be stored: what will be stored, never the IP or the user agent."""

    site: Site
    event: Event
    now: dt.datetime
    hashes: tuple[str, str]  # today's and yesterday's visitor hash
    client: ClientInfo
    country: str


def prepare(
    site: Site, event: Event | events.TrackedEvent, visitor: Visitor, now: dt.datetime
) -> Pending | events.PendingEvent:
    """Hash and enrich an admitted view (hash an event) at once, so the IP and user agent go no further.

    Raises ``Unavailable`` when today's salt is not cached in this worker and the database cannot give it
    (the first view of a UTC day during an outage): without it the view could never be stored.
    """
    try:
        hashes = visitors.visitor_hashes(now, site.pk, visitor.ip, visitor.user_agent)
    except DatabaseError:
        db_connection.close()
        raise Unavailable("the database is unavailable; try again shortly") from None
    if isinstance(event, events.TrackedEvent):
        return events.pending_event(site, event, now, hashes[0])
    return Pending(
        site,
        event,
        now,
        hashes,
        useragents.parse_user_agent(visitor.user_agent, event.screen_width),
        enrich.country_for(visitor.ip, visitor.country_header),
    )


def admit(event: Event | events.TrackedEvent, visitor: Visitor) -> Site | Dropped:
    """The checks answered before anything is stored: bots, unknown site (raises), foreign hostname, and
    for a custom event the site's limits on names and property keys."""
    reason = bots.bot_reason(visitor.user_agent)
    if reason:
        return Dropped(reason)
    site = resolve_site(event.site)
    if site is None:
        raise UnknownSite(event.site)
    if not site.owns_hostname(event.hostname):
        return Dropped("hostname_mismatch")
    if isinstance(event, events.TrackedEvent) and (reason := events.limit_reason(site, event)):
        return Dropped(reason)
    return site


def ingest(
    event: Event | events.TrackedEvent, visitor: Visitor, now: dt.datetime
) -> Accepted | events.Recorded | Dropped:
    """Store one page view (idempotently by (site, view_id)) or custom event now. Raises UnknownSite."""
    site = admit(event, visitor)
    if isinstance(site, Dropped):
        return site
    return store([prepare(site, event, visitor, now)])[0]


def submit(
    event: Event | events.TrackedEvent, visitor: Visitor, now: dt.datetime
) -> Accepted | events.Recorded | Queued | Dropped:
    """The HTTP path: admit, then spool and buffer (``INGEST_BUFFER``) or store synchronously.

    Raises UnknownSite, or Unavailable when the view cannot be kept (database down and nothing cached,
    buffer or spool full): a 503 rather than a 202 that could not be honoured.
    """
    site = admit(event, visitor)
    if isinstance(site, Dropped):
        try:
            drops.count_drop(event.site, site.reason, event.hostname, now)
        except DatabaseError:
            db_connection.close()  # a count for the Settings page, not a view: not worth a 503
        return site
    pending = prepare(site, event, visitor, now)
    try:
        if settings.INGEST_BUFFER and get_buffer().add(pending):
            return Queued()
    except buffer.BufferFull:
        raise Unavailable("too many views are waiting for the database; try again later", 30) from None
    except buffer.SpoolError as exc:
        raise Unavailable(str(exc), 30) from None
    try:
        return store([pending])[0]
    except DatabaseError:
        db_connection.close()
        raise Unavailable("the database is unavailable; try again shortly") from None


def get_buffer() -> buffer.IngestBuffer:
    """This worker's buffer, spooling with this module's codec."""
    return buffer.get_buffer(store, buffer.Codec(spool_record, from_spool))


def spool_record(pending: Pending | events.PendingEvent) -> dict:
    """The spool's JSON record of an admitted view or event (``tracking.spool``): no IP, no user agent."""
    if isinstance(pending, events.PendingEvent):
        return events.spool_record(pending)
    event, client = pending.event, pending.client
    return {
        "site": pending.site.pk,
        "at": pending.now.isoformat(),
        "event": [event.site, event.view_id, event.url, event.hostname, event.path, event.referrer],
        "width": event.screen_width,
        "variant": event.variant,
        "hashes": list(pending.hashes),
        "client": [client.browser, client.os, client.device],
        "country": pending.country,
    }


def from_spool(records: list[dict]) -> tuple[list[Pending | events.PendingEvent], int]:
    """Admitted views and events back from spool records; records of sites deleted since are counted, not
    returned."""
    sites = Site.objects.in_bulk({record["site"] for record in records})
    pendings: list[Pending | events.PendingEvent] = []
    for record in records:
        site = sites.get(record["site"])
        if site is None:
            continue
        if record.get("kind") == "event":
            pendings.append(events.from_spool_record(record, site))
            continue
        public_id, view_id, url, hostname, path, referrer = record["event"]
        event = Event(public_id, view_id, url, hostname, path, referrer, record["width"], record["variant"])
        pendings.append(
            Pending(
                site,
                event,
                dt.datetime.fromisoformat(record["at"]),
                tuple(record["hashes"]),
                ClientInfo(*record["client"]),
                record["country"],
            )
        )
    return pendings, len(records) - len(pendings)


def store(pendings: Sequence[Pending | events.PendingEvent]) -> list[Accepted | events.Recorded]:
    """Store admitted views, then events, in one transaction: find or open sessions, insert views, link
    events to their views' sessions (``tracking.events``) and insert them. One result per item, in order.

    Idempotent by (site, view_id) and an event's (site, uid): a view or event already stored, or repeated
    in the batch, is reported as a duplicate and changes nothing. The first attempt trusts the unique
    constraints instead of looking ids up; when one fires (a retried beacon, a replayed spool), the
    transaction is rolled back and redone with lookups. A batch of views costs 7 round trips on
    PostgreSQL however many views it holds; its events 2 more.
    """
    if not pendings:
        return []
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _store(pendings, check_existing=attempt > 0)
        except IntegrityError:
            if attempt == 2:
                raise
        except OperationalError as exc:
            # Two batches inserting the same retried view id in opposite orders: PostgreSQL breaks the
            # deadlock by failing one; redoing it finds the other's rows.
            if attempt == 2 or getattr(exc.__cause__, "sqlstate", None) != "40P01":
                raise
    raise AssertionError("unreachable")


def _store(
    items: Sequence[Pending | events.PendingEvent], *, check_existing: bool
) -> list[Accepted | events.Recorded]:
    views = [item for item in items if isinstance(item, Pending)]
    tracked = [item for item in items if isinstance(item, events.PendingEvent)]
    stored_views, batch_views = _store_views(views, check_existing=check_existing) if views else ([], {})
    recorded = []
    if tracked:
        existing = events.stored_events(tracked) if check_existing else {}
        recorded = events.new_events(tracked, batch_views, existing)
        if new_events := [result.event for result in recorded if not result.duplicate]:
            _insert(new_events, ("site_id", "uid"))
    results = (iter(stored_views), iter(recorded))
    return [next(results[isinstance(item, events.PendingEvent)]) for item in items]


def _store_views(
    pendings: Sequence[Pending], *, check_existing: bool
) -> tuple[list[Accepted], dict[tuple[int, str], View]]:
    """Results in order, and the batch's views (new or already stored) by (site pk, view id)."""
    hashes = [p.hashes for p in pendings]
    sessions.lock_visitors(h[0] for h in hashes)
    existing = _stored_views(pendings) if check_existing else {}
    since = min(p.now for p in pendings) - sessions.SESSION_IDLE_TIMEOUT
    batch_sessions = _BatchSessions(
        sessions.recent_sessions((p.site.pk for p in pendings), (h for pair in hashes for h in pair), since)
    )
    results: list[Accepted | None] = [None] * len(pendings)
    new_views: list[tuple[int, View]] = []
    batch_views: dict[tuple[int, str], View] = {}
    for index in sorted(range(len(pendings)), key=lambda index: pendings[index].now):
        pending = pendings[index]
        key = (pending.site.pk, pending.event.view_id)
        duplicate_of = existing.get(key) or batch_views.get(key)
        if duplicate_of is not None:
            results[index] = Accepted(duplicate_of, duplicate=True)
            continue
        session = batch_sessions.add_view(pending, hashes[index])
        batch_views[key] = view = _new_view(pending, session)
        new_views.append((index, view))

    batch_sessions.save()
    if new_views:
        for _, view in new_views:
            view.session_id = view.session.pk
        _insert([view for _, view in new_views], ("site_id", "view_id"))
    for index, view in new_views:
        results[index] = Accepted(view)
    return results, {**existing, **batch_views}  # type: ignore[return-value]


def _stored_views(pendings: Sequence[Pending]) -> dict[tuple[int, str], View]:
    """The batch's views already stored, by (site pk, view id)."""
    return {
        (view.site_id, view.view_id): view
        for view in View.objects.filter(
            site_id__in={p.site.pk for p in pendings}, view_id__in={p.event.view_id for p in pendings}
        ).select_related("session")
    }


@dataclass
class _BatchSessions:
    """The sessions a batch touches: open ones it extends and new ones it opens, written by ``save``."""

    recent: dict[tuple[int, str], Session]  # (site pk, visitor hash) → latest session
    new: list[Session] = field(default_factory=list)
    extended: dict[int, list] = field(default_factory=dict)  # stored pk → [views added, latest time, page]

    def add_view(self, pending: Pending, hashes: tuple[str, str]) -> Session:
        """The visitor's open session (by today's or yesterday's hash) with this view counted, else a new
        session opened with today's hash. Views come in time order within a batch."""
        site, event, now = pending.site, pending.event, pending.now
        candidates = [
            session
            for visitor_hash in hashes
            if (session := self.recent.get((site.pk, visitor_hash))) is not None
            and sessions.is_open(session, now)
        ]
        if not candidates:
            session = _new_session(pending, hashes[0])
            self.new.append(session)
            self.recent[(site.pk, hashes[0])] = session
            return session
        session = max(candidates, key=lambda candidate: candidate.last_seen_at)
        session.pageviews += 1
        if now >= session.last_seen_at:
            session.last_seen_at, session.exit_page = now, event.path
        if session.pk is not None:
            change = self.extended.setdefault(session.pk, [0, now, event.path])
            change[0] += 1
            if now >= change[1]:
                change[1], change[2] = now, event.path
        return session

    def save(self) -> None:
        if self.new:
            _insert(self.new, ("site_id", "visitor_hash", "started_at"))
        sessions.extend_sessions(
            [(pk, added, seen, page) for pk, (added, seen, page) in self.extended.items()]
        )


def _new_view(pending: Pending, session: Session) -> View:
    event = pending.event
    return View(
        site=pending.site,
        session=session,
        view_id=event.view_id,
        created_at=pending.now,
        hostname=event.hostname[:253],
        page=event.path,
        screen_width=event.screen_width,
        variant=event.variant,
    )


def _insert(rows: Sequence[Session] | Sequence[View] | Sequence[CustomEvent], key: tuple[str, ...]) -> None:
    """INSERT model instances of one kind and set their primary keys.

    On PostgreSQL one ``INSERT ... SELECT FROM unnest(arrays)`` with one array parameter per column,
    bound on the server: the statement text and its planning cost stay the same for 1 or 500 rows.
    Primary keys are matched back by ``key`` (unique within a batch), not by RETURNING order.
    """
    model = type(rows[0])
    if db_connection.vendor != "postgresql":
        model.objects.bulk_create(rows)
        return
    fields = [field for field in model._meta.concrete_fields if not field.primary_key]
    quote = db_connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    arrays = ", ".join(f"%s::{field.db_type(db_connection)}[]" for field in fields)
    returning = ", ".join(quote(model._meta.get_field(name).column) for name in key)
    by_key = {tuple(getattr(row, name) for name in key): row for row in rows}
    with sessions.server_bound_cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({columns})"  # noqa: S608
            f" SELECT * FROM unnest({arrays}) RETURNING id, {returning}",
            [
                [field.get_db_prep_save(getattr(row, field.attname), db_connection) for row in rows]
                if field.get_internal_type() == "JSONField"  # psycopg takes a dict only wrapped as Jsonb
                else [getattr(row, field.attname) for row in rows]
                for field in fields
            ],
        )
        for pk, *values in cursor.fetchall():
            row = by_key[tuple(values)]
            row.pk = pk
            row._state.adding = False


def _new_session(pending: Pending, visitor_hash: str) -> Session:
    site, event, now, client = pending.site, pending.event, pending.now, pending.client
    referrer = referrers.referrer_source(event.referrer, site.domain)
    utm = channels.utm_from_url(event.url)
    return Session(
        site=site,
        visitor_hash=visitor_hash,
        started_at=now,
        last_seen_at=now,
        pageviews=1,
        entry_page=event.path,
        exit_page=event.path,
        hostname=event.hostname[:253],
        referrer=referrer.source[:253],
        referrer_domain=referrer.domain[:253],
        channel=channels.channel(
            referrer.source, referrer.domain, utm, channels.click_ids_from_url(event.url)
        ),
        utm_source=utm.source,
        utm_medium=utm.medium,
        utm_campaign=utm.campaign,
        utm_term=utm.term,
        utm_content=utm.content,
        country=pending.country,
        browser=client.browser[:64],
        os=client.os[:64],
        device=client.device,
    )


def warm_up() -> None:
    """At worker start: build what the first hit would otherwise pay for (user agent matchers, ~0.2 s),
    fetch the day's salts while the database answers, and start the buffer thread, which adopts the
    spool segments of stopped workers at once."""
    useragents.parse_user_agent(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/131.0.0.0 Safari/537.36"
    )
    try:
        visitors.visitor_hashes(dt.datetime.now(dt.UTC), 0, "", "")
    except DatabaseError:
        # Down at start: this worker answers 503 until it can read today's salt.
        db_connection.close()
    if settings.INGEST_BUFFER:
        get_buffer().start()
