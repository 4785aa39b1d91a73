"""Sessions: a visitor's views with under 30 minutes of idle time between them."""

import datetime as dt

from django.db import connection
from django.db.models import F

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


def extend_session(session: Session, page: str, now: dt.datetime) -> None:
    """Count one more view; source, UTM and entry page stay as the first view set them."""
    Session.objects.filter(pk=session.pk).update(
        pageviews=F("pageviews") + 1, exit_page=page, last_seen_at=now
    )
    session.pageviews += 1
    session.exit_page = page
    session.last_seen_at = now


def lock_visitor(visitor_hash: str) -> None:
    """Serialise concurrent views of one visitor until the transaction ends.

    Two beacons of the same visitor at the same instant (a router's pushState on load) would both
    find no open session and open two. PostgreSQL takes a transaction-scoped advisory lock; SQLite
    needs none because it already serialises writers (BEGIN IMMEDIATE).
    """
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(bytes.fromhex(visitor_hash[:16]), "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
