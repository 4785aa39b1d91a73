"""Reconciliation: re-list the recent past to catch what no event announced.

It runs every day, and whenever the events cursor is older than the 30 days Stripe keeps events.
Normally it re-lists the last 35 days (or back to a day before the last success, if longer). With a
stale cursor the events in between are gone, so it re-lists the whole gap, forgets cached
subscription and customer tags for a refresh (they may have changed unseen; the tags we saw count
until a fetch answers) and takes a fresh cursor.

Disputes close 60-75 days after they open, later under appeal: every dispute not yet closed is
fetched again, whatever its age, until it closes.
"""

import datetime as dt

from revenue.models import Dispute, StripeConnection
from revenue.sync.attribute import attribute_payments
from revenue.sync.events import EVENTS_KEPT, newest_event, process_events
from revenue.sync.syncer import Syncer
from revenue.sync.window import import_window

RECONCILE_EVERY = dt.timedelta(hours=24)
RECONCILE_WINDOW = dt.timedelta(days=35)


def reconciliation_due(connection: StripeConnection, now: dt.datetime) -> bool:
    stale_cursor = connection.events_cursor_at is not None and connection.events_cursor_at < now - EVENTS_KEPT
    due = connection.last_reconciled_at is None or connection.last_reconciled_at < now - RECONCILE_EVERY
    return stale_cursor or due


def reconcile(syncer: Syncer) -> None:
    connection, now = syncer.connection, syncer.now
    since = now - RECONCILE_WINDOW
    if connection.last_success_at:
        since = min(since, connection.last_success_at - dt.timedelta(days=1))
    stale = connection.events_cursor_at is None or connection.events_cursor_at < now - EVENTS_KEPT
    if not stale:
        process_events(syncer)
        import_window(syncer, since)
        refresh_open_disputes(syncer, since)
        attribute_payments(syncer)
        connection.mark_reconciled(now)
        return
    # Events older than 30 days are gone: cached subscription and customer tags may have changed
    # unseen, so forget them (deleted customers keep theirs) and take a fresh cursor.
    if connection.events_cursor_at is not None:
        since = min(since, connection.events_cursor_at - dt.timedelta(days=1))
    syncer.cache.refresh_subscriptions_and_customers()
    cursor, cursor_at = newest_event(syncer)
    import_window(syncer, since)
    refresh_open_disputes(syncer, since)
    attribute_payments(syncer)
    connection.mark_reconciled(now, cursor=(cursor, cursor_at or now))


def refresh_open_disputes(syncer: Syncer, listed_since: dt.datetime) -> None:
    """Fetch every dispute opened before the window just listed that has not closed yet."""
    open_disputes = (
        Dispute.objects.filter(payment__site=syncer.connection.site, created_at__lt=listed_since)
        .exclude(status__in=Dispute.CLOSED_STATUSES)
        .values_list("stripe_id", flat=True)
    )
    for dispute_id in sorted(set(open_disputes)):
        syncer.writer.upsert_dispute(syncer.stripe.get(f"/v1/disputes/{dispute_id}", {}))
