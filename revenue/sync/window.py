"""The import window: everything created since a moment, listed by ``created``, 100 at a time.

The first run (the backfill) imports the configured number of days this way; reconciliation re-lists
the recent past the same way. Charges, refunds and disputes are listed from the window's start;
invoices (with their payments) and checkout sessions from a little earlier, since they may predate
the charge they explain.
"""

import datetime as dt

from revenue.sync.cache import INVOICE_LOOKBACK, LINK_MARGIN
from revenue.sync.events import EVENTS_KEPT, newest_event, process_events
from revenue.sync.reader import created_since, ts
from revenue.sync.syncer import Syncer


def import_window(syncer: Syncer, since: dt.datetime, *, track_backfill: bool = False) -> None:
    """List everything created since ``since`` and upsert it (batch: one call per 100 objects)."""
    stripe, writer, connection = syncer.stripe, syncer.writer, syncer.connection
    for charges in stripe.pages(
        "/v1/charges",
        {**created_since(since), "expand": ["data.balance_transaction", "data.payment_intent"]},
    ):
        writer.upsert_charges(charges)
        if track_backfill:
            reached = min(ts(charge["created"]) for charge in charges)
            if connection.backfill_reached_at is None or reached < connection.backfill_reached_at:
                connection.record_backfill_progress(reached)
    syncer.cache.load_invoices(since - INVOICE_LOOKBACK)
    syncer.cache.load_checkout_sessions(since - LINK_MARGIN)
    for refund in stripe.objects(
        "/v1/refunds", {**created_since(since), "expand": ["data.balance_transaction"]}
    ):
        writer.upsert_refund(refund)
    for dispute in stripe.objects("/v1/disputes", created_since(since)):
        writer.upsert_dispute(dispute)


def backfill(syncer: Syncer) -> None:
    """The first import: ``backfill_days`` before the first attempt started, then the events since."""
    connection, now = syncer.connection, syncer.now
    # An attempt resumed after Stripe dropped its cursor's events (30 days) starts over.
    stale = connection.events_cursor_at is not None and connection.events_cursor_at < now - EVENTS_KEPT
    if connection.backfill_started_at is None or stale:
        # The cursor is taken once, before the first attempt lists anything, and kept through
        # restarts: the first incremental run then replays every change made since (say a tag
        # added to a subscription the interrupted attempt had already cached).
        cursor, cursor_at = newest_event(syncer)
        connection.start_backfill(cursor, cursor_at or now, now)
    connection.record_backfill_progress(None)
    import_window(
        syncer,
        connection.backfill_started_at - dt.timedelta(days=connection.backfill_days),
        track_backfill=True,
    )
    # Changes made while this import (or an interrupted earlier attempt) listed are applied now,
    # so a completed first import is already right.
    process_events(syncer)
    connection.complete_backfill(now)
