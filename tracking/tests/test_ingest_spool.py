"""A 202 is a promise: the spool, database-level failures, outages at the site lookup and the salt."""

import datetime as dt
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import InternalError, OperationalError, ProgrammingError

from humblytics.lib import database
from tracking import buffer as ingest_buffer
from tracking import ingest, spool, visitors
from tracking.models import Session, View

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IP = "203.0.113.77"
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
CODEC = ingest_buffer.Codec(ingest.spool_record, ingest.from_spool)
# The buffer closes its thread's database connection, which is the test's own here.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch):
    ingest._site_cache.clear()
    visitors._cache.clear()
    monkeypatch.setattr(ingest, "_database_down_until", 0.0)


def pending(site, view_id, *, now=T0, path="/pricing"):
    event = ingest.parse_event(
        json.dumps({"site": site.public_id, "view_id": view_id, "url": f"https://example.com{path}"}).encode()
    )
    visitor = ingest.Visitor(ip=IP, user_agent=CHROME)
    return ingest.prepare(ingest.admit(event, visitor), event, visitor, now)


def spooled_buffer(directory, write=ingest.store, max_pending=1000):
    return ingest_buffer.IngestBuffer(
        write, interval=3600, max_batch=500, max_pending=max_pending, spool_dir=directory, codec=CODEC
    )


def segments(directory):
    return sorted(path.name for path in directory.glob("views-*.jsonl"))


def test_the_spool_holds_neither_the_ip_address_nor_the_user_agent(site, tmp_path):
    buffer = spooled_buffer(tmp_path)
    buffer.add(pending(site, "a" * 22))
    text = "".join(path.read_text() for path in tmp_path.glob("views-*.jsonl"))
    assert "a" * 22 in text
    assert IP not in text and "Mozilla" not in text and "Chrome/131" not in text
    buffer.flush()
    buffer.close()


def test_a_segment_is_deleted_once_every_view_in_it_is_stored(site, tmp_path):
    buffer = spooled_buffer(tmp_path)
    buffer.start()
    buffer.spool.segment_views = 2
    for n in range(3):
        buffer.add(pending(site, f"seg{n}".ljust(22, "x")))
    assert len(segments(tmp_path)) == 2
    buffer.flush()
    assert len(segments(tmp_path)) == 1  # the current one, empty of work: kept until it rotates
    buffer.close()
    assert segments(tmp_path) == []
    assert View.objects.count() == 3


def test_views_left_by_a_stopped_worker_are_stored_exactly_once(site, tmp_path):
    """SIGTERM with the database down leaves the spool; kill -9 after a commit leaves stored views in it."""
    dead = spooled_buffer(tmp_path)
    for n in range(4):
        dead.add(pending(site, f"left{n}".ljust(22, "x")))
    ingest.store(
        [item.pending for item in dead._items[:2]]
    )  # committed, but the worker died before noting it
    dead.spool.close()  # its locks go with it, as when the process ends
    dead._items.clear()
    assert len(segments(tmp_path)) == 1

    heir = spooled_buffer(tmp_path)
    heir.start()
    assert heir.replay() == 4
    heir.flush()
    heir.close()
    assert sorted(View.objects.values_list("view_id", flat=True)) == [
        f"left{n}".ljust(22, "x") for n in range(4)
    ]
    assert Session.objects.get().pageviews == 4
    assert segments(tmp_path) == []


def test_a_live_workers_segments_are_never_adopted(site, tmp_path):
    live = spooled_buffer(tmp_path)
    live.add(pending(site, "live".ljust(22, "x")))
    other = spooled_buffer(tmp_path)
    other.start()
    assert other.replay() == 0
    live.flush()
    live.close()
    other.close()
    assert View.objects.count() == 1


@pytest.mark.parametrize(
    "error",
    [
        InternalError("cannot execute INSERT in a read-only transaction"),
        ProgrammingError("permission denied"),
    ],
)
def test_a_database_that_refuses_every_write_keeps_every_view(site, tmp_path, error):
    refusing = True

    def write(batch):
        if refusing:
            raise error
        return ingest.store(batch)

    buffer = spooled_buffer(tmp_path, write)
    for n in range(5):
        buffer.add(pending(site, f"keep{n}".ljust(22, "x")))
    for _ in range(3):
        with pytest.raises(type(error)):
            buffer.flush()
    assert len(buffer) == 5 and View.objects.count() == 0
    refusing = False
    buffer.flush()
    buffer.close()
    assert View.objects.count() == 5
    assert not (tmp_path / spool.DEAD_LETTER).exists()


def test_a_view_failing_alone_while_others_succeed_goes_to_the_dead_letter_file(site, tmp_path, caplog):
    bad = pending(site, "poison".ljust(22, "x"))

    def write(batch):
        if any(p is bad for p in batch):
            raise InternalError("a value the database refuses")
        return ingest.store(batch)

    buffer = spooled_buffer(tmp_path, write)
    for item in [pending(site, "good0".ljust(22, "x")), bad, pending(site, "good1".ljust(22, "x"))]:
        buffer.add(item)
    buffer.flush()
    buffer.close()
    assert View.objects.count() == 2
    (line,) = (tmp_path / spool.DEAD_LETTER).read_text().splitlines()
    assert json.loads(line)["view"]["event"][1] == "poison".ljust(22, "x")
    assert sum("dropped view" in record.message for record in caplog.records) == 1
    assert segments(tmp_path) == []


def test_a_connection_error_keeps_the_batch_without_writing_views_one_by_one(site, tmp_path):
    calls = []

    def write(batch):
        calls.append(len(batch))
        raise OperationalError("server closed the connection unexpectedly")

    buffer = spooled_buffer(tmp_path, write)
    for n in range(3):
        buffer.add(pending(site, f"conn{n}".ljust(22, "x")))
    with pytest.raises(OperationalError):
        buffer.flush()
    assert calls == [3] and len(buffer) == 3
    buffer._items.clear()
    buffer.close()


def test_a_full_buffer_answers_503_with_retry_after(client, site, settings, monkeypatch, tmp_path):
    settings.INGEST_BUFFER = True
    monkeypatch.setattr(ingest_buffer, "_buffer", spooled_buffer(tmp_path, max_pending=1))
    answers = []
    for n in range(2):
        body = {"site": site.public_id, "view_id": f"full{n}".ljust(22, "x"), "url": "https://example.com/"}
        answers.append(
            client.post("/api/event", json.dumps(body), content_type="text/plain", HTTP_USER_AGENT=CHROME)
        )
    assert [answer.status_code for answer in answers] == [202, 503]
    assert answers[1]["Retry-After"] and answers[1]["Access-Control-Allow-Origin"] == "*"
    ingest_buffer._buffer.flush()
    ingest_buffer._buffer.close()


def break_queries(monkeypatch):
    def fail(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr("django.db.models.query.QuerySet.first", fail)
    monkeypatch.setattr("django.db.models.query.QuerySet.get", fail)
    monkeypatch.setattr("django.db.models.query.QuerySet.create", fail)


def post(client, site_id, view_id="outage-view-0000000000"):
    body = {"site": site_id, "view_id": view_id, "url": "https://example.com/"}
    return client.post("/api/event", json.dumps(body), content_type="text/plain", HTTP_USER_AGENT=CHROME)


def test_a_known_site_is_served_from_the_stale_cache_while_the_database_is_down(client, site, monkeypatch):
    assert post(client, site.public_id, "warm".ljust(22, "x")).status_code == 202
    monkeypatch.setattr(ingest, "_SITE_CACHE_SECONDS", -1.0)  # every entry expired
    break_queries(monkeypatch)
    assert ingest.resolve_site(site.public_id) == site
    unknown = post(client, "zzzzzzz")
    assert unknown.status_code == 503 and unknown["Access-Control-Allow-Origin"] == "*"
    assert "unavailable" in unknown.json()["error"]


def test_without_todays_salt_and_the_database_down_the_answer_is_503(client, site, monkeypatch):
    ingest.resolve_site(site.public_id)
    visitors._cache.clear()
    break_queries(monkeypatch)
    monkeypatch.setattr(
        "django.db.models.query.QuerySet.values_list",
        lambda *a, **k: (_ for _ in ()).throw(OperationalError("down")),
    )
    response = post(client, site.public_id)
    assert response.status_code == 503 and response["Retry-After"]
    assert View.objects.count() == 0


def test_an_unexpected_failure_is_still_a_json_answer_with_cors(client, site, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(ingest, "submit", boom)
    response = post(client, site.public_id)
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json" and response["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "message, is_configuration",
    [
        (
            'connection to server at "127.0.0.1", port 5432 failed: FATAL:  password authentication failed',
            True,
        ),
        ('connection to server failed: FATAL:  database "humblytics" does not exist', True),
        ('connection to server failed: FATAL:  role "app" does not exist', True),
        ("failed to resolve host 'db.example': [Errno -2] Name or service not known", True),
        ('connection to server at "127.0.0.1", port 5432 failed: Connection refused', False),
        ("FATAL:  the database system is starting up", False),
    ],
)
def test_a_wrong_database_url_is_told_apart_from_a_database_that_is_down(message, is_configuration):
    assert (database.configuration_problem(OperationalError(message)) is not None) is is_configuration


def test_a_wrong_database_url_stops_start_up(monkeypatch):
    def refuse(self):
        raise OperationalError('FATAL:  password authentication failed for user "app"')

    monkeypatch.setattr("django.db.backends.base.base.BaseDatabaseWrapper.ensure_connection", refuse)
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL"):
        database.check_database()
    monkeypatch.setattr(
        "django.db.backends.base.base.BaseDatabaseWrapper.ensure_connection",
        lambda self: (_ for _ in ()).throw(OperationalError("Connection refused")),
    )
    assert database.check_database() is False
