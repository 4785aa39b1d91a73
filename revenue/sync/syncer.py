"""What one run carries from phase to phase: the connection and the run, the time the run started,
its Stripe reader, the object cache and the writer. The phases (the import window, the events feed,
reconciliation, attribution) are functions over it."""

import datetime as dt
from dataclasses import dataclass

import stripe

from revenue.models import StripeConnection, SyncRun
from revenue.sync.cache import ObjectCache
from revenue.sync.reader import StripeReader
from revenue.sync.writer import Writer


@dataclass
class Syncer:
    connection: StripeConnection
    run: SyncRun
    now: dt.datetime
    stripe: StripeReader
    cache: ObjectCache
    writer: Writer

    @classmethod
    def start(
        cls,
        connection: StripeConnection,
        client: stripe.StripeClient,
        run: SyncRun,
        now: dt.datetime,
        lock_token: str,
    ) -> "Syncer":
        """``lock_token`` holds the connection's lock; every Stripe call renews its lease."""
        reader = StripeReader(client, run, connection, lock_token)
        cache = ObjectCache(connection, reader, now)
        return cls(connection, run, now, reader, cache, Writer(connection, run, now, cache))
