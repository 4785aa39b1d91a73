"""The database drops in the middle of a sync: the run is closed on a fresh connection, never left running."""

import pytest
from django.db import OperationalError
from django.db import connection as db_connection

from revenue.models import StripeConnection, SyncRun
from revenue.sync import run as sync_run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _no_waiting(monkeypatch):
    monkeypatch.setattr(sync_run, "_DATABASE_RETRY_SECONDS", (0, 0, 0))


def drop_database_mid_run(monkeypatch):
    def run(syncer, kind):
        db_connection.close()  # the server went away: this connection is dead
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(sync_run, "_run", run)


def test_a_database_dropped_mid_sync_closes_the_run_and_releases_the_lock(connection, monkeypatch):
    drop_database_mid_run(monkeypatch)
    run = sync_run.sync_connection(connection.pk)
    run.refresh_from_db()
    connection.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and run.finished_at is not None
    assert "database connection was lost" in run.error and "next sync, at about" in run.error
    assert connection.status == StripeConnection.Status.ERROR and connection.last_error == run.error
    assert not connection.is_syncing()
    assert not SyncRun.objects.filter(status=SyncRun.Status.RUNNING).exists()


def test_a_database_that_stays_down_leaves_no_traceback_and_the_next_sync_closes_the_run(
    connection, monkeypatch, caplog
):
    drop_database_mid_run(monkeypatch)

    def still_down(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(SyncRun, "fail", still_down)
    run = sync_run.sync_connection(connection.pk)  # returns: no exception escapes
    (record,) = [r for r in caplog.records if r.name == "revenue.sync.run"]
    assert "database unreachable" in record.getMessage() and record.exc_info is None
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING
    monkeypatch.undo()
    StripeConnection.objects.filter(pk=connection.pk).update(locked_until=None)  # the lease ran out
    connection.refresh_from_db()
    connection.fail_interrupted_runs(connection.updated_at)
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.FAILED
