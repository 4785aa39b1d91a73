from revenue import sync


def sync_all_connections() -> int:
    """Scheduled every STRIPE_SYNC_INTERVAL_MINUTES; safe to run twice (per-connection lock, upserts)."""
    return len(sync.sync_all())


def sync_connection(connection_id: int) -> str:
    """Enqueued by "Sync now"."""
    return sync.describe(sync.sync_connection(connection_id))
