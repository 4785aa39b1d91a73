"""The report budget: a cluster-wide cap on concurrent reports and a statement timeout (PostgreSQL)."""

import json
import threading

import pytest
from django.db import connection, connections
from django.http import JsonResponse
from django.test import RequestFactory

from humblytics.reports.budget import _LOCK_CLASS, budgeted

POSTGRES = connection.vendor == "postgresql"


@budgeted(api=True)
def sleepy_report(request, seconds: float):
    with connection.cursor() as cursor:
        if POSTGRES:
            cursor.execute("SELECT pg_sleep(%s)", [seconds])
        else:
            cursor.execute("SELECT 1")
    return JsonResponse({"ok": True})


@budgeted(api=False)
def sleepy_page(request, seconds: float):
    return sleepy_report.__wrapped__(request, seconds)


def hold_slot(slot: int, taken: threading.Event, release: threading.Event) -> None:
    """Another web worker's report: holds ``slot`` until told to let go."""
    other = connections.create_connection("default")
    try:
        with other.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, slot])
            taken.set()
            release.wait(10)
            cursor.execute("COMMIT")
    finally:
        other.close()


@pytest.mark.django_db
def test_a_query_past_the_statement_timeout_is_stopped_with_a_message(settings):
    settings.REPORT_STATEMENT_TIMEOUT_MS = 100
    response = sleepy_report(RequestFactory().get("/"), 1.0)
    if POSTGRES:
        assert response.status_code == 503
        assert "took longer than 0.1 s" in json.loads(response.content)["error"]
        assert response["Retry-After"] == "30"
    else:  # SQLite has no statement timeout: the report simply runs
        assert response.status_code == 200


@pytest.mark.django_db
def test_the_page_says_so_in_words(settings, client):
    settings.REPORT_STATEMENT_TIMEOUT_MS = 100
    response = sleepy_page(RequestFactory().get("/"), 1.0)
    if POSTGRES:
        assert response.status_code == 503
        assert b"Try a shorter period or fewer filters" in response.content
    else:
        assert response.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_report_waits_for_a_free_slot_then_gives_up_with_503(settings):
    settings.REPORT_CONCURRENCY = 1
    settings.REPORT_QUEUE_SECONDS = 0
    if not POSTGRES:
        assert sleepy_report(RequestFactory().get("/"), 0).status_code == 200
        return
    taken, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_slot, args=(0, taken, release))
    holder.start()
    try:
        assert taken.wait(10)
        busy = sleepy_report(RequestFactory().get("/"), 0)
        assert busy.status_code == 503
        assert busy["Retry-After"] == "5"
        settings.REPORT_CONCURRENCY = 2  # a second slot is free
        assert sleepy_report(RequestFactory().get("/"), 0).status_code == 200
    finally:
        release.set()
        holder.join()
    settings.REPORT_CONCURRENCY = 1
    assert sleepy_report(RequestFactory().get("/"), 0).status_code == 200
