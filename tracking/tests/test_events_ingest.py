"""Custom events through POST /api/event (issue 18): parsing, drops, storage beside the views, the
linking pass, per-site limits, the buffer and spool, retention."""

import datetime as dt
import json

import psycopg
import pytest
from django.contrib.auth import get_user_model
from django.db import DatabaseError, ProgrammingError
from django.utils import timezone

from tracking import buffer as ingest_buffer
from tracking import drops, events, ingest, retention, spool, tasks, visitors
from tracking.models import CustomEvent, DropCount, EventTerm, Session, View
from tracking.tests.test_ingest import CHROME, IPHONE, body, post

T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)
IP = "203.0.113.9"
VIEW_ID = "V1abcdefghijklmnopqrstu"
HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
    "Safari/537.36"
)


def event_body(site_obj, **overrides):
    data = {
        "site": site_obj.public_id,
        "view_id": VIEW_ID,
        "url": "https://example.com/pricing",
        "referrer": "https://www.google.com/",
        "type": "event",
        "name": "Signup",
        "props": {"plan": "pro"},
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def parsed(site_obj, **overrides):
    return ingest.parse_event(json.dumps(event_body(site_obj, **overrides)).encode())


def track(site_obj, now, *, ip=IP, ua=CHROME, **overrides):
    return ingest.ingest(parsed(site_obj, **overrides), ingest.Visitor(ip=ip, user_agent=ua), now)


def view(site_obj, now, *, view_id=VIEW_ID, ip=IP, ua=CHROME):
    event = ingest.parse_event(json.dumps(body(site_obj, view_id=view_id)).encode())
    return ingest.ingest(event, ingest.Visitor(ip=ip, user_agent=ua), now)


def pending_of(site_obj, item, now=T0, ip=IP):
    visitor = ingest.Visitor(ip=ip, user_agent=CHROME)
    return ingest.prepare(ingest.admit(item, visitor), item, visitor, now)


def pending_view(site_obj, view_id=VIEW_ID, now=T0, ip=IP):
    return pending_of(
        site_obj, ingest.parse_event(json.dumps(body(site_obj, view_id=view_id)).encode()), now, ip
    )


def todays_hash(site_obj, now, ip=IP, ua=CHROME):
    return visitors.visitor_hashes(now, site_obj.pk, ip, ua)[0]


@pytest.fixture(autouse=True)
def _fresh_caches(monkeypatch):
    ingest._site_cache.clear()
    visitors._cache.clear()
    events.reset_for_tests()
    drops.reset_for_tests()
    monkeypatch.setattr(ingest, "_database_down_until", 0.0)
    yield
    events.reset_for_tests()
    drops.reset_for_tests()


# ---- parsing -----------------------------------------------------------------------------------------


def test_it_stores_an_event_on_its_views_session_and_answers_202(client, site):
    assert post(client, body(site)).status_code == 202
    response = post(
        client,
        event_body(
            site, name="  Signup  ", props={"plan": "pro", "seats": 3, "price": 9.5, "trial": True, "x": None}
        ),
    )
    assert response.status_code == 202
    assert response.json() == {"ok": True}
    row = CustomEvent.objects.get()
    session = Session.objects.get()
    assert (row.name, row.view_id, row.site_id) == ("Signup", VIEW_ID, site.pk)
    assert row.props == {"plan": "pro", "seats": "3", "price": "9.5", "trial": "true"}
    assert row.session_id == session.pk
    assert row.visitor_hash == session.visitor_hash
    assert len(row.uid) == 32
    assert "Set-Cookie" not in response.headers and not response.cookies


def test_props_are_optional(client, site):
    response = post(client, event_body(site, props=None))
    assert response.status_code == 202
    assert CustomEvent.objects.get().props == {}


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"name": None}, "name is required"),
        ({"name": 7}, "name must be a string"),
        ({"name": "   "}, "name must not be empty"),
        ({"name": "x" * 121}, "name is longer than 120 characters"),
        ({"name": "a\x00b"}, "name must not contain NUL characters"),
        ({"props": ["plan", "pro"]}, "props must be an object"),
        ({"props": "plan=pro"}, "props must be an object"),
        ({"props": {f"k{n}": "v" for n in range(31)}}, "props has more than 30 keys"),
        ({"props": {" ": "v"}}, "props keys must not be empty"),
        ({"props": {"k" * 65: "v"}}, "props keys must be at most 64 characters"),
        ({"props": {"a\x00": "v"}}, "props keys must not contain NUL characters"),
        ({"props": {"plan": {"tier": "pro"}}}, "props value of 'plan' must be a string, number or boolean"),
        ({"props": {"plan": ["pro"]}}, "props value of 'plan' must be a string, number or boolean"),
        ({"props": {"plan": "p" * 501}}, "props value of 'plan' is longer than 500 characters"),
        ({"props": {"plan": "p\x00"}}, "props value of 'plan' must not contain NUL characters"),
        ({"url": None}, "url is required"),
        ({"url": "/pricing"}, "url must be an absolute http(s) URL"),
        ({"view_id": None}, "view_id is required"),
        ({"view_id": "short"}, "view_id must be 16 to 64"),
        ({"site": "ABC"}, "site must be a 7-character site id"),
        ({"type": "Event"}, 'type must be "pageview" or "event"'),
    ],
)
def test_it_names_what_is_wrong(client, site, overrides, message):
    response = post(client, event_body(site, **overrides))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not CustomEvent.objects.exists()


def test_a_number_that_is_not_finite_is_a_400(client, site):
    raw = json.dumps(event_body(site)).replace('"pro"', "NaN")
    response = post(client, raw)
    assert response.status_code == 400
    assert response.json()["error"] == "props value of 'plan' must be a finite number"


def test_exactly_at_the_caps_is_accepted(client, site):
    props = {f"{n:02d}".ljust(64, "k"): "v" * 500 for n in range(12)}  # 8 KiB holds no more of these
    assert post(client, event_body(site, name="n" * 120, props=props)).status_code == 202
    assert post(client, event_body(site, props={f"k{n}": n for n in range(30)})).status_code == 202
    assert sorted(len(props) for props in CustomEvent.objects.values_list("props", flat=True)) == [12, 30]


def test_a_body_over_8_kib_is_413(client, site):
    props = {f"k{n}": "v" * 400 for n in range(25)}
    response = post(client, event_body(site, props=props))
    assert response.status_code == 413


# ---- drops -------------------------------------------------------------------------------------------


def test_bots_are_dropped_and_counted(client, site):
    response = post(client, event_body(site), ua=HEADLESS)
    assert response.json() == {"ok": True, "dropped": "headless_browser"}
    assert not CustomEvent.objects.exists()
    assert DropCount.objects.get().reason == "headless_browser"


def test_a_page_not_on_the_sites_domain_is_dropped(client, site):
    response = post(client, event_body(site, url="https://elsewhere.example.net/pricing"))
    assert response.json() == {"ok": True, "dropped": "hostname_mismatch"}
    assert not CustomEvent.objects.exists()
    assert DropCount.objects.get().hostname == "elsewhere.example.net"


def test_an_unknown_site_is_404(client, site):
    response = post(client, event_body(site, site="zzzzzzz"))
    assert response.status_code == 404
    assert not CustomEvent.objects.exists()


# ---- storage and linking -----------------------------------------------------------------------------


def test_in_one_batch_the_view_is_stored_first_so_the_event_finds_it(site):
    tracked = pending_of(site, parsed(site))
    results = ingest.store([tracked, pending_view(site)])
    assert isinstance(results[0], events.Recorded) and isinstance(results[1], ingest.Accepted)
    row = CustomEvent.objects.get()
    assert row.session_id == results[1].view.session_id
    assert row.visitor_hash == Session.objects.get().visitor_hash


def test_an_event_before_its_view_is_linked_by_the_pass(site):
    result = track(site, T0 + dt.timedelta(seconds=5))
    row = CustomEvent.objects.get()
    assert row.session_id is None
    assert row.visitor_hash == todays_hash(site, T0)
    view(site, T0)
    assert events.link_events(T0 + dt.timedelta(minutes=1)) == 1
    row.refresh_from_db()
    session = Session.objects.get()
    assert (row.session_id, row.visitor_hash) == (session.pk, session.visitor_hash)
    assert row.uid == result.event.uid
    assert events.link_events(T0 + dt.timedelta(minutes=2)) == 0  # idempotent


def test_the_scheduled_task_links_events(site):
    track(site, timezone.now())
    view(site, timezone.now())
    assert tasks.link_custom_events() == 1
    assert CustomEvent.objects.get().session_id == Session.objects.get().pk


def test_an_event_takes_the_sessions_hash_across_midnight(site):
    before = dt.datetime(2026, 11, 27, 23, 55, tzinfo=dt.UTC)
    after = before + dt.timedelta(minutes=10)
    view(site, before, view_id="A" * 22)
    view(site, after)  # the same visit, with yesterday's hash
    track(site, after)
    session = Session.objects.get()
    row = CustomEvent.objects.get()
    assert row.visitor_hash == session.visitor_hash != todays_hash(site, after)


def test_an_event_whose_view_never_comes_within_the_hour_keeps_no_session(site):
    track(site, T0)
    assert events.link_events(T0 + events.LINK_WINDOW + dt.timedelta(minutes=1)) == 0
    view(site, T0)
    assert events.link_events(T0 + events.LINK_WINDOW + dt.timedelta(minutes=1)) == 0
    assert CustomEvent.objects.get().session_id is None


def test_the_pass_is_bounded_and_skips_events_without_a_view(site):
    for n in range(3):
        track(site, T0, view_id=f"orphan{n}".ljust(22, "x"))
    for n in range(5):
        track(site, T0 + dt.timedelta(seconds=1), view_id=f"late{n}".ljust(22, "x"), ip=f"198.51.100.{n}")
        view(site, T0, view_id=f"late{n}".ljust(22, "x"), ip=f"198.51.100.{n}")
    assert events.link_events(T0 + dt.timedelta(minutes=1), batch=2, max_batches=2) == 4
    assert events.link_events(T0 + dt.timedelta(minutes=1), batch=2, max_batches=2) == 1
    assert CustomEvent.objects.filter(session__isnull=True).count() == 3


def test_storing_the_same_admitted_event_twice_stores_it_once(site):
    tracked = pending_of(site, parsed(site))
    first = ingest.store([tracked])[0]
    again = ingest.store([tracked, tracked])
    assert not first.duplicate
    assert [result.duplicate for result in again] == [True, True]
    assert again[0].event.pk == first.event.pk
    assert CustomEvent.objects.count() == 1


def test_a_forked_worker_does_not_repeat_its_parents_uids(monkeypatch):
    events._new_uid()
    state = events._uids[1].getstate()
    parents_next = events._new_uid()
    events._uids[1].setstate(state)  # a worker forked at that moment holds the same generator
    monkeypatch.setattr(events.os, "getpid", lambda: -1)
    childs_first = events._new_uid()
    assert childs_first != parents_next
    assert len(childs_first) == 32 and int(childs_first, 16) >= 0


def test_two_clicks_are_two_events(client, site):
    post(client, event_body(site))
    post(client, event_body(site))
    assert CustomEvent.objects.count() == 2


def test_the_sync_path_returns_the_stored_event(site):
    result = track(site, T0)
    assert isinstance(result, events.Recorded)
    assert result.event.pk == CustomEvent.objects.get().pk


# ---- buffer and spool --------------------------------------------------------------------------------


@pytest.fixture
def quiet_buffer(monkeypatch):
    buffer = ingest_buffer.IngestBuffer(ingest.store, interval=3600, max_batch=500, max_pending=1000)
    monkeypatch.setattr(ingest_buffer, "_buffer", buffer)
    yield buffer
    buffer.close()


@pytest.mark.django_db(transaction=True)
def test_a_buffered_event_is_answered_before_it_is_written(client, site, settings, quiet_buffer):
    settings.INGEST_BUFFER = True
    assert post(client, event_body(site)).status_code == 202
    assert post(client, body(site)).status_code == 202
    assert len(quiet_buffer) == 2 and not CustomEvent.objects.exists()
    quiet_buffer.flush()
    row = CustomEvent.objects.get()
    assert row.session_id == View.objects.get().session_id


def spooled_buffer(directory, write=ingest.store):
    return ingest_buffer.IngestBuffer(
        write,
        interval=3600,
        max_batch=500,
        max_pending=1000,
        spool_dir=directory,
        codec=ingest_buffer.Codec(ingest.spool_record, ingest.from_spool),
    )


@pytest.mark.django_db(transaction=True)
def test_events_left_by_a_killed_worker_are_stored_exactly_once(site, tmp_path):
    dead = spooled_buffer(tmp_path)
    tracked = [
        pending_of(site, parsed(site, props={"plan": f"p{n}", "n": n}), T0 + dt.timedelta(seconds=n))
        for n in range(3)
    ]
    dead.add(pending_view(site))
    for item in tracked:
        dead.add(item)
    text = "".join(path.read_text() for path in tmp_path.glob("views-*.jsonl"))
    assert IP not in text and "Mozilla" not in text
    ingest.store([item.pending for item in dead._items[:3]])  # committed; the worker died before noting it
    dead.spool.close()
    dead._items.clear()

    heir = spooled_buffer(tmp_path)
    heir.start()
    assert heir.replay() == 4
    heir.flush()
    heir.close()
    rows = CustomEvent.objects.order_by("created_at")
    assert [row.uid for row in rows] == [item.uid for item in tracked]
    assert [row.props for row in rows] == [{"plan": f"p{n}", "n": str(n)} for n in range(3)]
    assert {row.session_id for row in rows} == {View.objects.get().session_id}
    assert not list(tmp_path.glob("views-*.jsonl"))


@pytest.mark.django_db(transaction=True)
def test_a_database_taking_events_but_refusing_views_keeps_the_views(site, tmp_path):
    """An event written alone while the views fail must not make the views look bad (dead letter)."""
    refusing = True

    def write(batch):
        if refusing and any(isinstance(item, ingest.Pending) for item in batch):
            raise ProgrammingError("permission denied for table tracking_view")
        return ingest.store(batch)

    buffer = spooled_buffer(tmp_path, write)
    buffer.add(pending_of(site, parsed(site)))
    for n in range(4):
        buffer.add(pending_view(site, view_id=f"keep{n}".ljust(22, "x"), ip=f"198.51.100.{n}"))
    with pytest.raises(ProgrammingError):
        buffer.flush()
    assert CustomEvent.objects.count() == 1 and len(buffer) == 4
    refusing = False
    buffer.flush()
    buffer.close()
    assert View.objects.count() == 4
    assert not (tmp_path / spool.DEAD_LETTER).exists()


@pytest.mark.django_db(transaction=True)
def test_views_refused_until_a_permission_returns_mid_pass_are_kept(site, tmp_path):
    """The chaos test's race: the grant comes back while a pass writes one by one, so views after it
    succeed; the views refused before it were refused by the database, not bad, and are kept."""
    refusals = []

    def write(batch):
        if len(refusals) < 2 and any(isinstance(item, ingest.Pending) for item in batch):
            refusals.append(len(batch))
            error = ProgrammingError("permission denied for table tracking_view")
            error.__cause__ = psycopg.errors.InsufficientPrivilege(
                "permission denied for table tracking_view"
            )
            raise error
        return ingest.store(batch)

    buffer = spooled_buffer(tmp_path, write)
    buffer.add(pending_of(site, parsed(site)))
    for n in range(4):
        buffer.add(pending_view(site, view_id=f"race{n}".ljust(22, "x"), ip=f"198.51.100.{n}"))
    with pytest.raises(ProgrammingError):
        buffer.flush()
    buffer.flush()
    buffer.close()
    assert View.objects.count() == 4 and CustomEvent.objects.count() == 1
    assert not (tmp_path / spool.DEAD_LETTER).exists()


# ---- limits ------------------------------------------------------------------------------------------


def test_a_new_name_beyond_the_limit_is_dropped_and_known_names_keep_working(client, site, settings):
    settings.EVENT_NAMES_PER_SITE = 2
    for name in ("Signup", "Purchase"):
        assert post(client, event_body(site, name=name)).json() == {"ok": True}
    response = post(client, event_body(site, name="Clicked 123"))
    assert response.status_code == 202
    assert response.json() == {"ok": True, "dropped": "event_limit"}
    assert post(client, event_body(site, name="Signup")).json() == {"ok": True}
    events.reset_for_tests()  # another process, or after the refresh: the database says the same
    assert post(client, event_body(site, name="Purchase")).json() == {"ok": True}
    assert post(client, event_body(site, name="Other")).json()["dropped"] == "event_limit"
    assert sorted(CustomEvent.objects.values_list("name", flat=True)) == [
        "Purchase",
        "Purchase",
        "Signup",
        "Signup",
    ]
    assert DropCount.objects.get().reason == "event_limit"


def test_a_new_property_key_beyond_the_limit_drops_the_event(client, site, settings):
    settings.EVENT_PROP_KEYS_PER_SITE = 2
    assert post(client, event_body(site, props={"plan": "pro", "seats": 2})).json() == {"ok": True}
    response = post(client, event_body(site, props={"plan": "team", "coupon": "X"}))
    assert response.json() == {"ok": True, "dropped": "event_limit"}
    assert post(client, event_body(site, props={"seats": 9, "plan": None, "coupon": None})).json() == {
        "ok": True
    }
    assert CustomEvent.objects.count() == 2
    assert set(EventTerm.objects.values_list("kind", "value")) == {
        ("name", "Signup"),
        ("prop", "plan"),
        ("prop", "seats"),
    }


def test_an_event_refused_for_one_key_registers_none_of_its_terms(site, settings):
    settings.EVENT_PROP_KEYS_PER_SITE = 1
    assert isinstance(track(site, T0, name="Signup", props={"a": "1"}), events.Recorded)
    assert track(site, T0, name="New", props={"b": "1"}) == ingest.Dropped("event_limit")
    assert not EventTerm.objects.filter(value="New").exists()


def test_limits_are_per_site(site, other_site, settings):
    settings.EVENT_NAMES_PER_SITE = 1
    track(site, T0, name="A")
    event = ingest.parse_event(
        json.dumps(event_body(other_site, name="B", url="https://other.org/")).encode()
    )
    result = ingest.ingest(event, ingest.Visitor(ip=IP, user_agent=CHROME), T0)
    assert isinstance(result, events.Recorded)


def test_known_names_cost_no_query(site, django_assert_num_queries):
    track(site, T0)
    event = parsed(site)
    with django_assert_num_queries(0):
        assert events.limit_reason(site, event) is None


def test_a_full_site_refuses_a_new_name_without_asking_the_database(
    site, settings, django_assert_num_queries
):
    settings.EVENT_NAMES_PER_SITE = 1
    track(site, T0)
    event = parsed(site, name="Another")
    with django_assert_num_queries(0):
        assert events.limit_reason(site, event) == "event_limit"


def test_with_the_database_down_an_unknown_name_is_let_through(site, monkeypatch):
    def down(*args, **kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(events, "_load_terms", down)
    assert events.limit_reason(site, parsed(site, name="Brand new")) is None


def test_settings_explains_the_event_limit(client_as_owner, site):
    hour = timezone.now().replace(minute=0, second=0, microsecond=0)
    DropCount.objects.create(site=site, hour=hour, reason="event_limit", count=4)
    html = client_as_owner.get(f"/sites/{site.public_id}/settings/").content.decode()
    assert "event_limit" in html
    assert "new event name or property key" in html
    assert "These page views and custom events reached Humblytics" in html


# ---- retention, deletion, admin ----------------------------------------------------------------------


def test_retention_deletes_old_events_with_the_views(site):
    now = timezone.now()
    old = now - dt.timedelta(days=40)
    view(site, old, view_id="O" * 22)
    track(site, old, view_id="O" * 22)
    view(site, now, ip="198.51.100.1")
    track(site, now, ip="198.51.100.1")
    site.retention_days = 30
    site.save()
    assert retention.apply_retention(now) == 2
    assert list(CustomEvent.objects.values_list("view_id", flat=True)) == [VIEW_ID]
    assert retention.apply_retention(now) == 0


def test_deleting_the_site_deletes_its_events_and_terms(site):
    track(site, T0)
    retention.delete_site(site)
    assert not CustomEvent.objects.exists() and not EventTerm.objects.exists()


def test_operators_see_events_read_only(client, site):
    track(site, T0, ua=IPHONE)
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "correct-horse-battery")
    client.force_login(admin)
    listing = client.get("/admin/tracking/customevent/")
    assert listing.status_code == 200 and "Signup" in listing.content.decode()
    assert client.get("/admin/tracking/customevent/add/").status_code == 403
    row = CustomEvent.objects.get()
    assert client.post(f"/admin/tracking/customevent/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert CustomEvent.objects.exists()
