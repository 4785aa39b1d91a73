import datetime as dt
import json
import threading

import pytest
from django.db import connections

from tracking import buffer as ingest_buffer
from tracking import ingest, visitors
from tracking.models import Session, View

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _fresh_caches():
    ingest._site_cache.clear()
    visitors._cache.clear()
    yield


def pending(site, view_id, *, ip="203.0.113.9", now=T0, path="/pricing"):
    event = ingest.parse_event(
        json.dumps({"site": site.public_id, "view_id": view_id, "url": f"https://example.com{path}"}).encode()
    )
    visitor = ingest.Visitor(ip=ip, user_agent=CHROME)
    return ingest.prepare(ingest.admit(event, visitor), event, visitor, now)


@pytest.fixture
def quiet_buffer(monkeypatch):
    """The process buffer, with a thread that never flushes by itself during the test."""
    buffer = ingest_buffer.IngestBuffer(ingest.store, interval=3600, max_batch=500, max_pending=1000)
    monkeypatch.setattr(ingest_buffer, "_buffer", buffer)
    yield buffer
    buffer.close()


def test_a_batch_gives_one_visitors_views_one_session(site):
    minute = dt.timedelta(minutes=1)
    results = ingest.store(
        [
            pending(site, "a" * 22, now=T0, path="/"),
            pending(site, "b" * 22, now=T0 + minute, path="/pricing"),
            pending(site, "c" * 22, ip="198.51.100.1", now=T0),
            pending(site, "a" * 22, now=T0 + 2 * minute, path="/again"),
        ]
    )
    assert [result.duplicate for result in results] == [False, False, False, True]
    assert View.objects.count() == 3
    first, second = Session.objects.order_by("-pageviews")
    assert (first.pageviews, first.entry_page, first.exit_page) == (2, "/", "/pricing")
    assert first.last_seen_at == T0 + minute
    assert second.pageviews == 1


def test_a_batch_extends_a_stored_session_and_skips_stored_view_ids(site):
    ingest.store([pending(site, "a" * 22, now=T0, path="/")])
    later = T0 + dt.timedelta(minutes=10)
    results = ingest.store([pending(site, "a" * 22, now=later), pending(site, "b" * 22, now=later)])
    assert [result.duplicate for result in results] == [True, False]
    session = Session.objects.get()
    assert (session.pageviews, session.exit_page, session.last_seen_at) == (2, "/pricing", later)


def test_a_late_view_does_not_move_the_session_back(site):
    ingest.store([pending(site, "a" * 22, now=T0 + dt.timedelta(minutes=5), path="/late")])
    ingest.store([pending(site, "b" * 22, now=T0, path="/early")])
    session = Session.objects.get()
    assert (session.pageviews, session.exit_page) == (2, "/late")
    assert session.last_seen_at == T0 + dt.timedelta(minutes=5)


@pytest.mark.django_db(transaction=True)
def test_graceful_shutdown_writes_every_buffered_view(site, quiet_buffer):
    for n in range(3):
        assert quiet_buffer.add(pending(site, f"view{n}".ljust(22, "x")))
    assert View.objects.count() == 0  # the background thread has not written them yet
    ingest_buffer.close_buffer()  # what gunicorn's worker_exit, atexit and granian's exit finaliser call
    assert View.objects.count() == 3
    assert Session.objects.get().pageviews == 3
    assert len(quiet_buffer) == 0
    assert not quiet_buffer.add(pending(site, "late".ljust(22, "x")))  # closed: callers store directly


@pytest.mark.django_db(transaction=True)
def test_the_background_thread_writes_a_full_batch(site, monkeypatch):
    written = threading.Event()

    def store(batch):
        result = ingest.store(batch)
        written.set()
        return result

    buffer = ingest_buffer.IngestBuffer(store, interval=3600, max_batch=2, max_pending=1000)
    monkeypatch.setattr(ingest_buffer, "_buffer", buffer)
    buffer.add(pending(site, "a" * 22))
    buffer.add(pending(site, "b" * 22))
    assert written.wait(timeout=10)
    buffer.close()
    assert View.objects.count() == 2


def test_a_full_buffer_refuses(site):
    buffer = ingest_buffer.IngestBuffer(ingest.store, interval=3600, max_batch=500, max_pending=1)
    try:
        assert buffer.add(pending(site, "a" * 22))
        with pytest.raises(ingest_buffer.BufferFull):
            buffer.add(pending(site, "b" * 22))
    finally:
        buffer._items.clear()
        buffer.close()


@pytest.mark.django_db(transaction=True)
def test_the_api_answers_202_before_writing_when_buffered(client, site, settings, quiet_buffer):
    settings.INGEST_BUFFER = True
    body = {"site": site.public_id, "view_id": "V1abcdefghijklmnopqrstu", "url": "https://example.com/"}
    response = client.post("/api/event", json.dumps(body), content_type="text/plain", HTTP_USER_AGENT=CHROME)
    assert response.status_code == 202
    assert response.json() == {"ok": True}
    assert len(quiet_buffer) == 1 and View.objects.count() == 0
    quiet_buffer.flush()
    assert View.objects.get().view_id == "V1abcdefghijklmnopqrstu"


@pytest.mark.parametrize(
    "body, status",
    [
        ({"site": "SITE", "view_id": "short", "url": "https://example.com/"}, 400),
        ({"site": "zzzzzzz", "view_id": "V1abcdefghijklmnopqrstu", "url": "https://example.com/"}, 404),
        (
            {
                "site": "SITE",
                "view_id": "V1abcdefghijklmnopqrstu",
                "url": "https://example.com/" + "a" * 9000,
            },
            413,
        ),
    ],
)
def test_bad_events_are_still_answered_synchronously_when_buffered(
    client, site, settings, quiet_buffer, body, status
):
    settings.INGEST_BUFFER = True
    body = {key: value.replace("SITE", site.public_id) for key, value in body.items()}
    response = client.post("/api/event", json.dumps(body), content_type="text/plain", HTTP_USER_AGENT=CHROME)
    assert response.status_code == status
    assert len(quiet_buffer) == 0


def test_a_nul_character_is_bad_input(client, site):
    body = {"site": site.public_id, "view_id": "V1abcdefghijklmnopqrstu", "url": "https://example.com/a\x00b"}
    response = client.post("/api/event", json.dumps(body), content_type="text/plain", HTTP_USER_AGENT=CHROME)
    assert response.status_code == 400
    assert "NUL" in response.json()["error"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_batches_of_the_same_visitors_open_one_session_each(site):
    """Two workers flushing views of the same visitors at once must not open duplicate sessions."""
    now = dt.datetime.now(dt.UTC)
    visitors.salt_for(now.date())
    visitors.salt_for(now.date() - dt.timedelta(days=1))
    ips = [f"203.0.113.{n}" for n in range(10)]
    batches = [
        [pending(site, f"w{worker}v{n}".ljust(22, "x"), ip=ip, now=now) for n, ip in enumerate(ips)]
        for worker in range(3)
    ]
    barrier = threading.Barrier(len(batches))
    errors = []

    def flush(batch):
        try:
            barrier.wait(timeout=10)
            ingest.store(batch)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=flush, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert View.objects.count() == 30
    assert Session.objects.count() == 10
    assert set(Session.objects.values_list("pageviews", flat=True)) == {3}


def test_a_view_that_breaks_the_batch_costs_only_itself(site, quiet_buffer, monkeypatch):
    good = [pending(site, f"good{n}".ljust(22, "x")) for n in range(3)]
    bad = pending(site, "broken".ljust(22, "x"))

    def store(batch):
        if any(p is bad for p in batch):
            raise RuntimeError("a bug while storing one view")
        return ingest.store(batch)

    monkeypatch.setattr(quiet_buffer, "write", store)
    for item in [good[0], bad, *good[1:]]:
        assert quiet_buffer.add(item)
    quiet_buffer.flush()
    assert sorted(View.objects.values_list("view_id", flat=True)) == sorted(p.event.view_id for p in good)
    assert len(quiet_buffer) == 0
