"""Reconciliation: re-list the recent past to catch what no event announced.

It runs every day, and whenever the events cursor is older than the 30 days Stripe keeps events.
Normally it re-lists the last 35 days (or back to a day before the last success, if longer). With a
stale cursor the events in between are gone, so it re-lists the whole gap, forgets cached
subscription and customer tags (they may have changed unseen) and takes a fresh cursor.
"""

import datetime as dt

from revenue.models import StripeConnection
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
        attribute_payments(syncer)
        connection.mark_reconciled(now)
        return
    # Events older than 30 days are gone: cached subscription and customer tags may have changed
    # unseen, so forget them (deleted customers keep theirs) and take a fresh cursor.
    if connection.events_cursor_at is not None:
        since = min(since, connection.events_cursor_at - dt.timedelta(days=1))
    syncer.cache.forget_subscriptions_and_customers()
    cursor, cursor_at = newest_event(syncer)
    import_window(syncer, since)
    attribute_payments(syncer)
    connection.mark_reconciled(now, cursor=(cursor, cursor_at or now))
