import datetime as dt

import pytest

from revenue.models import StripeConnection, SyncRun

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
TTL = dt.timedelta(minutes=5)


@pytest.fixture
def connection(site):
    return StripeConnection.objects.create(
        site=site, secret_key="sk_test_models4242", key_hint="sk_test_…4242", mode="test"
    )


def stored(connection):
    return StripeConnection.objects.get(pk=connection.pk)


def test_claim_lock_takes_a_free_lock_and_returns_its_token(connection):
    token = connection.claim_lock(T0, TTL)
    assert token
    row = stored(connection)
    assert (row.lock_token, row.locked_until) == (token, T0 + TTL)
    assert (connection.lock_token, connection.locked_until) == (token, T0 + TTL)


def test_claim_lock_is_refused_while_another_token_holds_an_unexpired_lease(connection):
    first = connection.claim_lock(T0, TTL)
    other = StripeConnection(pk=connection.pk)
    assert other.claim_lock(T0 + TTL - dt.timedelta(seconds=1), TTL) is None
    assert other.lock_token == ""
    assert stored(connection).lock_token == first


def test_claim_lock_takes_over_an_expired_lease_with_a_new_token(connection):
    first = connection.claim_lock(T0, TTL)
    second = StripeConnection(pk=connection.pk).claim_lock(T0 + TTL + dt.timedelta(seconds=1), TTL)
    assert second not in (None, first)
    assert stored(connection).lock_token == second


def test_claim_lock_of_a_deleted_connection_returns_none(connection):
    pk = connection.pk
    connection.delete()
    assert StripeConnection(pk=pk).claim_lock(T0, TTL) is None


def test_only_the_holder_releases_the_lock(connection):
    token = connection.claim_lock(T0, TTL)
    assert connection.release_lock("not-the-token") is False
    assert stored(connection).lock_token == token
    assert connection.release_lock(token) is True
    row = stored(connection)
    assert (row.lock_token, row.locked_until) == ("", None)


def test_only_the_holder_renews_the_lease(connection):
    token = connection.claim_lock(T0, TTL)
    later = T0 + dt.timedelta(minutes=4)
    assert connection.renew_lock("not-the-token", later + TTL) is False
    assert stored(connection).locked_until == T0 + TTL
    assert connection.renew_lock(token, later + TTL) is True
    assert stored(connection).locked_until == later + TTL


def test_transitions_write_only_their_own_fields(connection):
    stale = stored(connection)
    StripeConnection.objects.filter(pk=connection.pk).update(backfill_days=30, key_hint="sk_test_…9999")
    stale.advance_cursor("evt_2", T0)
    stale.mark_reconciled(T0)
    stale.record_backfill_progress(T0 - dt.timedelta(days=3))
    row = stored(connection)
    assert (row.backfill_days, row.key_hint) == (30, "sk_test_…9999")
    assert (row.events_cursor, row.events_cursor_at, row.last_reconciled_at) == ("evt_2", T0, T0)
    assert row.backfill_reached_at == T0 - dt.timedelta(days=3)


def test_mark_reconciled_can_restart_the_events_cursor(connection):
    connection.advance_cursor("evt_old", T0 - dt.timedelta(days=40))
    connection.mark_reconciled(T0, cursor=("evt_new", T0 - dt.timedelta(minutes=1)))
    row = stored(connection)
    assert (row.events_cursor, row.events_cursor_at) == ("evt_new", T0 - dt.timedelta(minutes=1))
    assert row.last_reconciled_at == T0


def test_a_first_import_counts_as_a_reconciliation(connection):
    connection.start_backfill("evt_1", T0, T0)
    connection.complete_backfill(T0 + dt.timedelta(hours=1))
    row = stored(connection)
    assert (row.events_cursor, row.backfill_started_at) == ("evt_1", T0)
    assert row.backfill_completed_at == row.last_reconciled_at == T0 + dt.timedelta(hours=1)


def test_mark_failed_keeps_the_last_success_and_mark_synced_clears_the_error(connection):
    connection.mark_synced(T0)
    connection.mark_failed(StripeConnection.Status.KEY_REVOKED, "Stripe rejected the key", T0 + TTL)
    row = stored(connection)
    assert (row.status, row.last_error) == (StripeConnection.Status.KEY_REVOKED, "Stripe rejected the key")
    assert (row.last_sync_at, row.last_success_at) == (T0 + TTL, T0)
    connection.mark_synced(T0 + 2 * TTL)
    row = stored(connection)
    assert (row.status, row.last_error) == (StripeConnection.Status.CONNECTED, "")
    assert row.last_sync_at == row.last_success_at == T0 + 2 * TTL


def test_runs_left_running_are_failed_as_interrupted(connection):
    dead = SyncRun.objects.create(connection=connection, kind=SyncRun.Kind.INCREMENTAL)
    done = SyncRun.objects.create(connection=connection, kind=SyncRun.Kind.BACKFILL)
    done.finish(12, T0)
    assert connection.fail_interrupted_runs(T0 + TTL) == 1
    dead.refresh_from_db()
    done.refresh_from_db()
    assert (dead.status, dead.finished_at) == (SyncRun.Status.FAILED, T0 + TTL)
    assert "Interrupted" in dead.error
    assert (done.status, done.api_calls, done.error) == (SyncRun.Status.OK, 12, "")


def test_a_stopped_run_stays_running_with_its_counts(connection):
    run = SyncRun.objects.create(connection=connection, kind=SyncRun.Kind.INCREMENTAL)
    run.pages = 3
    run.stop(4, T0)
    run.refresh_from_db()
    assert (run.status, run.pages, run.api_calls, run.finished_at) == (SyncRun.Status.RUNNING, 3, 4, T0)


def test_a_failed_run_keeps_its_message(connection):
    run = SyncRun.objects.create(connection=connection, kind=SyncRun.Kind.INCREMENTAL)
    run.fail("Stripe did not answer in time", 2, T0)
    run.refresh_from_db()
    assert (run.status, run.error, run.api_calls) == (
        SyncRun.Status.FAILED,
        "Stripe did not answer in time",
        2,
    )
