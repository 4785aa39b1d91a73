"""One sync run of one connection: take the lock, choose the kind, run it, record the outcome.

The lock is a lease on the connection row (a conditional UPDATE that must change exactly one row),
renewed on every Stripe call and released in ``finally``. Failures are recorded on the run and the
connection in words the site owner can act on; nothing imported before a failure is lost.
"""

import datetime as dt
import logging
import time

import stripe
from django.conf import settings
from django.db import DatabaseError
from django.db import connection as db_connection
from django.utils import timezone

from humblytics.lib.encryption import DecryptionError
from revenue.models import StripeConnection, SyncRun
from revenue.stripe_client import CallCounter, build_client
from revenue.sync.events import process_events
from revenue.sync.reader import LOCK_TTL
from revenue.sync.reconcile import reconcile, reconciliation_due
from revenue.sync.syncer import Syncer
from revenue.sync.window import backfill

logger = logging.getLogger(__name__)

KEY_REVOKED_MESSAGE = (
    "Stripe rejected the saved key (revoked, rolled or deleted). Create a new restricted key in the "
    "Stripe Dashboard and save it here; payments imported so far are kept."
)


def permission_message(exc: stripe.PermissionError) -> str:
    return (
        f"The key lacks a permission the sync needs: {exc.user_message or exc}. "
        "Edit the restricted key in the Stripe Dashboard to grant read access, then press Sync now."
    )


def claim(connection_id: int, now: dt.datetime) -> str | None:
    """Take the per-connection lock with a conditional UPDATE that must change exactly one row."""
    # Claimed before the row is read, so the run then reads what the previous holder committed.
    return StripeConnection(pk=connection_id).claim_lock(now, LOCK_TTL)


def release(connection_id: int, token: str) -> None:
    StripeConnection(pk=connection_id).release_lock(token)


def sync_connection(
    connection_id: int, *, now: dt.datetime | None = None, force_kind: str | None = None
) -> SyncRun | None:
    """Run one sync for one connection. Returns the SyncRun, or None when another run holds the lock."""
    now = now or timezone.now()
    token = claim(connection_id, now)
    if token is None:
        return None
    # Everything after the claim releases the lock in `finally`, even a key that no longer decrypts.
    connection = StripeConnection.objects.select_related("site").defer("secret_key").get(pk=connection_id)
    kind = force_kind or _choose_kind(connection, now)
    connection.fail_interrupted_runs(now)
    run = SyncRun.objects.create(connection=connection, kind=kind, started_at=now)
    counter = CallCounter()
    try:
        secret_key = StripeConnection.objects.values_list("secret_key", flat=True).get(pk=connection_id)
        client, counter = build_client(secret_key, counter, account_id=connection.account_id)
        _run(Syncer.start(connection, client, run, now, token), kind)
    except DatabaseError as exc:
        # The database dropped mid-run: the cleanup must not run on the dead connection.
        _fail_on_fresh_connection(run, connection, token, counter.calls, now, exc)
        token = None
    except Exception as exc:
        status, message = _failure(exc, connection_id)
        run.fail(message, counter.calls, timezone.now())
        connection.mark_failed(status, message, now)
    except BaseException:
        # Interrupted (Ctrl-C, SystemExit): keep what it counted; the next run marks it interrupted.
        run.stop(counter.calls, timezone.now())
        connection.mark_sync_stopped(now)
        raise
    else:
        run.finish(counter.calls, timezone.now())
        connection.mark_synced(now)
    finally:
        if token is not None:
            connection.release_lock(token)
    return run


# Waits between attempts to record a failure caused by the database itself (about half a minute in all).
_DATABASE_RETRY_SECONDS = (0, 1, 2, 4, 8, 15)


def _fail_on_fresh_connection(
    run: SyncRun, connection: StripeConnection, token: str, calls: int, now: dt.datetime, exc: DatabaseError
) -> None:
    """Close the run, record the error for the owner and release the lock, each time on a new database
    connection, while the database comes back. If it stays down, the lock's lease runs out and the next run
    marks this one interrupted: nothing is lost either way (the cursor moves only after commits)."""
    retry_at = timezone.now() + dt.timedelta(minutes=settings.STRIPE_SYNC_INTERVAL_MINUTES)
    message = (
        f"The database connection was lost during the sync ({type(exc).__name__}). Nothing imported was "
        f"lost; the next sync, at about {retry_at:%H:%M} UTC, resumes from where this one stopped."
    )
    for delay in _DATABASE_RETRY_SECONDS:
        time.sleep(delay)
        db_connection.close()
        try:
            run.fail(message, calls, timezone.now())
            connection.mark_failed(StripeConnection.Status.ERROR, message, now)
            connection.release_lock(token)
            return
        except DatabaseError:
            continue
    logger.error(
        "Stripe sync of connection %s: database unreachable (%s); run %s is closed by the next sync",
        connection.pk,
        exc,
        run.pk,
    )


def _choose_kind(connection: StripeConnection, now: dt.datetime) -> str:
    if connection.backfill_completed_at is None:
        return SyncRun.Kind.BACKFILL
    return SyncRun.Kind.RECONCILE if reconciliation_due(connection, now) else SyncRun.Kind.INCREMENTAL


def _run(syncer: Syncer, kind: str) -> None:
    if kind == SyncRun.Kind.INCREMENTAL:
        process_events(syncer)
    elif kind == SyncRun.Kind.BACKFILL:
        backfill(syncer)
    else:
        reconcile(syncer)


def _failure(exc: Exception, connection_id: int) -> tuple[str, str]:
    """The connection status and the message for the owner; call from the ``except`` block."""
    if isinstance(exc, stripe.AuthenticationError):
        return StripeConnection.Status.KEY_REVOKED, KEY_REVOKED_MESSAGE
    if isinstance(exc, stripe.PermissionError):
        return StripeConnection.Status.MISSING_PERMISSION, permission_message(exc)
    if isinstance(exc, stripe.RateLimitError | stripe.APIConnectionError | stripe.APIError):
        return StripeConnection.Status.ERROR, (
            f"Stripe did not answer in time ({type(exc).__name__}). Nothing imported was lost; "
            "the next sync resumes from where this one stopped."
        )
    if isinstance(exc, DecryptionError):
        return StripeConnection.Status.ERROR, (
            "The saved Stripe key cannot be decrypted with FIELD_ENCRYPTION_KEYS (was a key removed before "
            "running rotate_encryption_keys?). Restore the old key, or save the Stripe key again."
        )
    if isinstance(exc, stripe.StripeError):
        return StripeConnection.Status.ERROR, f"Stripe returned an error: {exc.user_message or exc}"
    logger.exception("Stripe sync of connection %s failed", connection_id)
    return StripeConnection.Status.ERROR, f"The sync failed unexpectedly ({type(exc).__name__})."


def sync_all(now: dt.datetime | None = None) -> list[tuple[StripeConnection, SyncRun | None]]:
    results = []
    for connection in StripeConnection.objects.select_related("site").order_by("pk"):
        results.append((connection, sync_connection(connection.pk, now=now)))
    return results


def describe(run: SyncRun | None) -> str:
    if run is None:
        return "skipped: another sync of this connection is running"
    if run.status == SyncRun.Status.FAILED:
        return f"failed: {run.error}"
    return (
        f"ok ({run.get_kind_display().lower()}): "
        f"{run.payments_new} new, {run.payments_updated} updated payments, "
        f"{run.refunds_seen} refunds, {run.disputes_seen} disputes, {run.attributed} newly attributed, "
        f"{run.api_calls} API calls"
    )
