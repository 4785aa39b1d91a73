"""Stripe sync without webhooks.

First run: remember the newest event, then backfill N days by listing charges, refunds, disputes,
invoices (with their payments) and checkout sessions by ``created``, 100 at a time. Later runs read
the events feed from the remembered event on (``ending_before``: oldest to newest) and fetch only what
changed, in batches. Every day, and whenever the cursor is older than the 30 days Stripe keeps events,
a reconciliation re-lists the last 35 days (or the whole gap).

Every write is an upsert keyed by Stripe ids, so runs can repeat, overlap (a lock per connection
keeps them apart anyway) or die half-way without losing or doubling anything. The events cursor only
moves after the rows it covers are committed.

Modules: ``run`` (one run: the lock, the kind, the outcome), ``window`` (the import window and the
first import), ``events`` (the events feed), ``reconcile``, and the pieces they share: ``reader``
(Stripe calls), ``cache`` (Stripe objects attribution needs), ``writer`` (payments, refunds,
disputes), ``attribute`` (attributing what a run touched) and ``syncer`` (what a run carries).
"""

from revenue.sync.run import (
    KEY_REVOKED_MESSAGE,
    claim,
    describe,
    permission_message,
    release,
    sync_all,
    sync_connection,
)

__all__ = [
    "KEY_REVOKED_MESSAGE",
    "claim",
    "describe",
    "permission_message",
    "release",
    "sync_all",
    "sync_connection",
]
