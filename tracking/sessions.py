"""Sessions: a visitor's views with under 30 minutes of idle time between them."""

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import psycopg
from django.db import connection
from django.db.models import Case, F, Value, When
from django.db.models.functions import Greatest

from tracking.models import Session, Site

SESSION_IDLE_TIMEOUT = dt.timedelta(minutes=30)


def find_open_session(site: Site, hashes: tuple[str, ...], now: dt.datetime) -> Session | None:
    """The visitor's latest session seen less than 30 minutes before ``now`` (by any of its hashes)."""
    return (
        Session.objects.filter(
            site=site, visitor_hash__in=hashes, last_seen_at__gt=now - SESSION_IDLE_TIMEOUT
        )
        .order_by("-last_seen_at")
        .first()
    )


@contextmanager
def server_bound_cursor() -> Iterator[psycopg.Cursor]:
    """A psycopg cursor on Django's PostgreSQL connection (same transaction) that binds on the server.

    Django's default psycopg cursor interpolates parameters into the SQL text on the client; for a
    batch's arrays of hundreds of values that costs more CPU than the whole statement. Parameters sent
    apart (binary) are nearly free. Errors are raised as Django's (IntegrityError, ...). PostgreSQL only.
    """
    connection.ensure_connection()
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        yield cursor


_RECENT_FIELDS = ("id", "site_id", "visitor_hash", "started_at", "last_seen_at", "pageviews", "exit_page")


def recent_sessions(
    site_ids: Iterable[int], hashes: Iterable[str], since: dt.datetime
) -> dict[tuple[int, str], Session]:
    """The latest session per (site, visitor hash) seen after ``since``: one query for a whole batch."""
    latest: dict[tuple[int, str], Session] = {}
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Session._meta.db_table)
        with server_bound_cursor() as cursor:
            cursor.execute(
                f"SELECT {', '.join(_RECENT_FIELDS)} FROM {table}"  # noqa: S608
                " WHERE site_id = ANY(%s) AND visitor_hash = ANY(%s) AND last_seen_at > %s",
                [sorted(set(site_ids)), sorted(set(hashes)), since],
            )
            rows = [Session(**dict(zip(_RECENT_FIELDS, row, strict=True))) for row in cursor.fetchall()]
    else:
        rows = Session.objects.filter(
            site_id__in=set(site_ids), visitor_hash__in=set(hashes), last_seen_at__gt=since
        ).only(*_RECENT_FIELDS)
    for session in rows:
        key = (session.site_id, session.visitor_hash)
        if key not in latest or latest[key].last_seen_at < session.last_seen_at:
            latest[key] = session
    return latest


def is_open(session: Session, now: dt.datetime) -> bool:
    return session.last_seen_at > now - SESSION_IDLE_TIMEOUT


def extend_sessions(extensions: Sequence[tuple[int, int, dt.datetime, str]]) -> None:
    """Apply (session id, views added, latest view time, that view's page) to stored sessions.

    Increments rather than overwrites the count, and never moves ``last_seen_at`` back: a view that
    reached another worker later but happened earlier must not shorten the visit. One statement on
    PostgreSQL for any number of sessions.
    """
    if not extensions:
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(Session._meta.db_table)
        ids, added, seen, pages = zip(*extensions, strict=True)
        with server_bound_cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS s SET pageviews = s.pageviews + u.added,"  # noqa: S608
                " exit_page = CASE WHEN u.seen >= s.last_seen_at THEN u.page ELSE s.exit_page END,"
                " last_seen_at = GREATEST(s.last_seen_at, u.seen)"
                " FROM unnest(%s::bigint[], %s::integer[], %s::timestamptz[], %s::text[])"
                " AS u(id, added, seen, page) WHERE s.id = u.id",
                [list(ids), list(added), list(seen), list(pages)],
            )
        return
    for session_id, added, seen, page in extensions:
        Session.objects.filter(pk=session_id).update(
            pageviews=F("pageviews") + added,
            exit_page=Case(When(last_seen_at__lte=seen, then=Value(page)), default=F("exit_page")),
            last_seen_at=Greatest(F("last_seen_at"), Value(seen)),
        )


def _lock_key(visitor_hash: str) -> int:
    return int.from_bytes(bytes.fromhex(visitor_hash[:16]), "big", signed=True)


def lock_visitors(visitor_hashes: Iterable[str]) -> None:
    """Serialise concurrent writers of the same visitors until the transaction ends.

    Two beacons of the same visitor at the same instant (a router's pushState on load), possibly
    buffered in two different workers, would both find no open session and open two. PostgreSQL
    takes transaction-scoped advisory locks, one round trip for a whole batch; the keys are taken in
    ascending order so two batches sharing visitors cannot deadlock. SQLite needs none because it
    already serialises writers (BEGIN IMMEDIATE).
    """
    if connection.vendor != "postgresql":
        return
    keys = sorted({_lock_key(visitor_hash) for visitor_hash in visitor_hashes})
    if not keys:
        return
    with server_bound_cursor() as cursor:
        if len(keys) == 1:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", keys)
        else:
            # unnest() yields the array in order, so the locks are taken in key order.
            cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k", [keys])
