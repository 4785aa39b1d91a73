import datetime as dt
import json
from urllib.parse import quote_from_bytes

import pytest
from django.db import connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracking import ingest
from tracking.models import Salt, Session, Site, View
from tracking.tasks import rotate_salts
from tracking.visitors import rotate_salts as rotate_salts_at

CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)
T0 = dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC)


def body(site_obj, **overrides):
    data = {
        "site": site_obj.public_id,
        "view_id": "V1abcdefghijklmnopqrstu",
        "url": "https://example.com/pricing?utm_source=newsletter&utm_medium=email&utm_campaign=launch",
        "referrer": "https://www.google.com/",
        "screen_width": 1440,
        "type": "pageview",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def post(client, payload, **extra):
    raw = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
    return client.post(
        "/api/event",
        raw,
        content_type=extra.pop("content_type", "text/plain"),
        HTTP_USER_AGENT=extra.pop("ua", CHROME),
        **extra,
    )


def run(site, now, *, view_id, ip="203.0.113.9", ua=CHROME, **overrides):
    event = ingest.parse_event(json.dumps(body(site, view_id=view_id, **overrides)).encode())
    return ingest.ingest(event, ingest.Visitor(ip=ip, user_agent=ua), now)


@pytest.fixture(autouse=True)
def _fresh_caches():
    ingest._site_cache.clear()
    from tracking import visitors

    visitors._cache.clear()
    yield


def test_it_stores_a_view_and_answers_202(client, site):
    response = post(client, body(site))
    assert response.status_code == 202
    assert response.json() == {"ok": True}
    view = View.objects.get()
    session = view.session
    assert (view.view_id, view.page, view.hostname, view.screen_width) == (
        "V1abcdefghijklmnopqrstu",
        "/pricing",
        "example.com",
        1440,
    )
    assert session.entry_page == "/pricing"
    assert (session.utm_source, session.utm_medium, session.utm_campaign) == ("newsletter", "email", "launch")
    assert session.referrer == "Google"
    assert session.channel == "Email"
    assert (session.browser, session.os, session.device) == ("Chrome", "Windows", "desktop")
    assert "Set-Cookie" not in response.headers and not response.cookies


def test_it_accepts_application_json(client, site):
    response = post(client, body(site), content_type="application/json")
    assert response.status_code == 202
    assert View.objects.count() == 1


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"{not json", "body is not valid JSON"),
        (b"[1, 2]", "body must be a JSON object"),
        (b'"text"', "body must be a JSON object"),
        (b"\xff\xfe", "body is not UTF-8"),
    ],
)
def test_it_rejects_malformed_bodies(client, site, payload, message):
    response = post(client, payload)
    assert response.status_code == 400
    assert message in response.json()["error"]


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"site": None}, "site is required"),
        ({"site": 12}, "site must be a string"),
        ({"site": "ABC"}, "site must be a 7-character site id"),
        ({"view_id": "short"}, "view_id must be 16 to 64"),
        ({"view_id": "x" * 20 + "!"}, "view_id must be 16 to 64"),
        ({"url": "ftp://example.com/"}, "url must be an absolute http(s) URL"),
        ({"url": "/relative"}, "url must be an absolute http(s) URL"),
        ({"url": "https://example.com/" + "a" * 3000}, "url is longer than 2048"),
        ({"screen_width": "wide"}, "screen_width must be an integer"),
        ({"screen_width": True}, "screen_width must be an integer"),
        ({"screen_width": -5}, "screen_width must be an integer"),
        ({"variant": "bad key!"}, "variant must be"),
        ({"type": "click"}, 'type must be "pageview" or "event"'),
    ],
)
def test_it_names_what_is_wrong(client, site, overrides, message):
    response = post(client, body(site, **overrides))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not View.objects.exists()


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"url": "https://example.com/?utm_source=a%00b"}, "url has a NUL character (%00) in its utm_source"),
        (
            {"url": "https://example.com/?UTM_Campaign=%00"},
            "url has a NUL character (%00) in its utm_campaign",
        ),
        ({"url": "https://example.com/?ref=news%00"}, "url has a NUL character (%00) in its ref value"),
        (
            {"referrer": "https://t.co/?utm_medium=%00x"},
            "referrer has a NUL character (%00) in its utm_medium",
        ),
        ({"referrer": "https://t.co/?ref=%00"}, "referrer has a NUL character (%00) in its ref value"),
    ],
)
def test_it_refuses_a_nul_in_a_campaign_value(client, site, overrides, message):
    response = post(client, body(site, **overrides))
    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not View.objects.exists()


def test_a_percent_00_outside_campaign_values_is_stored_as_written(client, site):
    response = post(client, body(site, url="https://example.com/a%00b?q=%00&utm_source=ok"))
    assert response.status_code == 202
    assert View.objects.get().page == "/a%00b"


@pytest.mark.parametrize(
    "raw",
    [
        '{"site": "SITE", "view_id": "V1abcdefghijklmnopqrstu", "url": "https://example.com/\\ud800"}',
        '{"site": "SITE", "view_id": "V1abcdefghijklmnopqrstu", "url": "https://example.com/", "referrer": "https://a.b/\\udfff"}',
        '{"site": "SITE", "view_id": "V1abcdefghijklmnopqrstu", "url": "https://example.com/", "\\udc00": 1}',
        '{"site": "SITE", "view_id": "V1abcdefghijklmnopqrstu", "url": "https://example.com/", "x": [{"y": "\\ud83d"}]}',
    ],
)
def test_it_refuses_lone_surrogates_anywhere(client, site, raw):
    response = post(client, raw.replace("SITE", site.public_id))
    assert response.status_code == 400
    assert "lone surrogate" in response.json()["error"]
    assert not View.objects.exists()


def test_a_surrogate_pair_escape_is_a_normal_character(client, site):
    raw = json.dumps(body(site, url="https://example.com/caf\u00e9/\ud83d\ude00"))
    assert "\\ud83d" in raw
    assert post(client, raw).status_code == 202


@pytest.mark.parametrize("where", ["screen_width", "extra"])
def test_an_integer_over_4300_digits_is_a_400(client, site, where):
    raw = json.dumps(body(site, **{where: 7})).replace(": 7", ": " + "9" * 5000)
    response = post(client, raw)
    assert response.status_code == 400
    assert "a number is too long" in response.json()["error"]


def test_a_site_deleted_by_another_worker_is_forgotten_within_seconds(site, monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(ingest.time, "monotonic", lambda: clock[0])
    assert ingest.resolve_site(site.public_id) == site
    Site.objects.filter(pk=site.pk).delete()  # another worker: this one's cache is not told
    clock[0] += 1
    assert ingest.resolve_site(site.public_id) == site
    clock[0] += 3
    assert ingest.resolve_site(site.public_id) is None


def test_unknown_site_is_404(client, site):
    response = post(client, body(site, site="zzzzzzz"))
    assert response.status_code == 404
    assert "unknown site" in response.json()["error"]


def test_oversized_body_is_413(client, site):
    response = post(client, body(site, referrer="https://a.com/" + "x" * 9000))
    assert response.status_code == 413
    assert not View.objects.exists()


def test_get_is_405(client, site):
    assert client.get("/api/event").status_code == 405


def test_preflight_is_allowed_from_any_origin(client):
    response = client.options("/api/event", HTTP_ORIGIN="https://example.com")
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == "*"


@pytest.mark.parametrize(
    "ua",
    [
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        "curl/8.5.0",
        "python-requests/2.32.3",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/120.0.0.0 Safari/537.36",
        "Mozilla/5.0+(compatible; UptimeRobot/2.0; http://www.uptimerobot.com/)",
        "",
    ],
)
def test_it_drops_bot_user_agents(client, site, ua):
    response = post(client, body(site), ua=ua)
    assert response.status_code == 202
    assert response.json()["ok"] is True
    assert response.json()["dropped"]
    assert not View.objects.exists() and not Session.objects.exists()


@pytest.mark.parametrize(
    "url", ["https://evil.com/", "https://example.com.evil.com/", "https://notexample.com/"]
)
def test_it_drops_pages_not_on_the_sites_domain(client, site, url):
    response = post(client, body(site, url=url))
    assert response.status_code == 202
    assert response.json()["dropped"] == "hostname_mismatch"
    assert not View.objects.exists()


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/",
        "https://www.example.com/",
        "https://shop.example.com/a",
        "https://EXAMPLE.com:8443/",
    ],
)
def test_it_accepts_the_domain_and_its_subdomains(client, site, url):
    response = post(client, body(site, url=url))
    assert response.json() == {"ok": True}


def test_a_duplicate_view_id_is_idempotent(client, site):
    post(client, body(site))
    response = post(client, body(site, url="https://example.com/other"))
    assert response.status_code == 202
    assert View.objects.count() == 1
    assert Session.objects.get().pageviews == 1
    assert View.objects.get().page == "/pricing"


def test_views_29_minutes_apart_share_a_session(site):
    run(site, T0, view_id="a" * 22)
    run(
        site,
        T0 + dt.timedelta(minutes=29),
        view_id="b" * 22,
        url="https://example.com/checkout",
        referrer="https://example.com/pricing",
    )
    session = Session.objects.get()
    assert session.pageviews == 2
    assert (session.entry_page, session.exit_page) == ("/pricing", "/checkout")
    assert session.referrer == "Google"
    assert session.duration_seconds == 29 * 60


def test_views_31_minutes_apart_open_a_new_session(site):
    run(site, T0, view_id="a" * 22)
    run(site, T0 + dt.timedelta(minutes=31), view_id="b" * 22)
    assert Session.objects.count() == 2
    assert len(set(Session.objects.values_list("visitor_hash", flat=True))) == 1


def test_a_session_survives_the_salt_rollover_at_midnight(site):
    before = dt.datetime(2026, 11, 27, 23, 50, tzinfo=dt.UTC)
    run(site, before, view_id="a" * 22)
    run(site, before + dt.timedelta(minutes=20), view_id="b" * 22)
    assert Session.objects.count() == 1
    assert Session.objects.get().pageviews == 2


def test_the_next_day_is_a_different_visitor_hash(site):
    run(site, T0, view_id="a" * 22)
    run(site, T0 + dt.timedelta(days=1), view_id="b" * 22)
    hashes = set(Session.objects.values_list("visitor_hash", flat=True))
    assert len(hashes) == 2


def test_different_browsers_are_different_visitors(site):
    run(site, T0, view_id="a" * 22, ua=CHROME)
    run(site, T0, view_id="b" * 22, ua=IPHONE)
    run(site, T0, view_id="c" * 22, ip="198.51.100.1")
    assert Session.objects.count() == 3
    assert Session.objects.values("visitor_hash").distinct().count() == 3


def test_same_visitor_on_two_sites_gets_two_hashes(site, other_site):
    run(site, T0, view_id="a" * 22)
    run(other_site, T0, view_id="b" * 22, url="https://other.org/")
    assert Session.objects.values("visitor_hash").distinct().count() == 2


def test_salt_rotation_keeps_today_and_yesterday_only(db):
    for offset in (3, 2, 1, 0):
        rotate_salts_at(T0 - dt.timedelta(days=offset))
    days = sorted(Salt.objects.values_list("day", flat=True))
    assert days == [T0.date() - dt.timedelta(days=1), T0.date()]


def test_the_scheduled_task_deletes_old_salts(db):
    Salt.objects.create(day=dt.date(2020, 1, 1), secret=b"x" * 32)
    rotate_salts()
    assert not Salt.objects.filter(day=dt.date(2020, 1, 1)).exists()
    assert Salt.objects.count() == 1


def test_no_raw_ip_or_user_agent_is_stored_anywhere(client, site):
    ip = "203.0.113.77"
    ua = CHROME + " UniqueMarker/9.9"
    post(client, body(site), ua=ua, REMOTE_ADDR=ip)
    assert View.objects.count() == 1
    needles = [ip, "UniqueMarker", "203.0.113"]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            for row in cursor.fetchall():
                text = " ".join(str(value) for value in row)
                for needle in needles:
                    assert needle not in text, f"{needle!r} stored in {table}"


def test_country_comes_from_the_configured_header(client, site, settings):
    settings.COUNTRY_HEADER = "CF-IPCountry"
    post(client, body(site), HTTP_CF_IPCOUNTRY="de")
    assert Session.objects.get().country == "DE"


def test_country_comes_from_the_offline_table(client, site):
    post(client, body(site), REMOTE_ADDR="8.8.8.8")
    assert Session.objects.get().country == "US"


def test_forwarded_for_is_ignored_without_trusted_proxies(client, site):
    post(client, body(site), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="8.8.8.8")
    assert Session.objects.get().country == ""


def test_forwarded_for_is_used_behind_one_trusted_proxy(client, site, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    post(client, body(site), REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 8.8.8.8")
    assert Session.objects.get().country == "US"


def test_variant_is_stored_with_the_view(client, site):
    post(client, body(site, variant="b"))
    assert View.objects.get().variant == "b"


# Page URLs and referrers with arbitrary percent-encoded campaign values (NUL, invalid UTF-8, anything).
query_urls = st.tuples(
    st.sampled_from(["utm_source", "utm_campaign", "UTM_TERM", "ref", "source", "q"]), st.binary(max_size=12)
).map(lambda kv: f"https://example.com/p?{kv[0]}={quote_from_bytes(kv[1])}")
surrogates = st.tuples(st.integers(0xD800, 0xDFFF), st.integers(0xD800, 0xDFFF), st.booleans()).map(
    lambda t: f"x\\u{t[0]:04x}" + (f"\\u{t[1]:04x}" if t[2] else "")
)
VALID_BODY = '{"site": "SITEID", "view_id": "V1abcdefghijklmnopqrstu", "url": "https://example.com/"}'

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=50),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    raw=st.one_of(
        st.binary(max_size=300),
        json_values.map(lambda v: json.dumps(v).encode()),
        st.fixed_dictionaries(
            {},
            optional={
                "site": st.one_of(st.just("SITEID"), st.text(max_size=9), st.integers()),
                "view_id": st.one_of(st.text(min_size=15, max_size=70), json_values),
                "url": st.one_of(
                    st.just("https://example.com/x"),
                    st.text(max_size=40),
                    st.just("http://[::1"),
                    query_urls,
                ),
                "referrer": st.one_of(json_values, query_urls),
                "screen_width": json_values,
                "variant": json_values,
                "type": st.one_of(st.just("pageview"), json_values),
            },
        ).map(lambda d: json.dumps(d).encode()),
        # Escapes json.dumps never writes: lone surrogates, and integers too long for Python to convert.
        st.tuples(st.sampled_from(["url", "referrer", "variant", "zz"]), surrogates).map(
            lambda kv: (VALID_BODY[:-1] + f', "{kv[0]}": "{kv[1]}"}}').encode()
        ),
        st.integers(min_value=4000, max_value=6000).map(
            lambda digits: (VALID_BODY[:-1] + ', "screen_width": ' + "9" * digits + "}").encode()
        ),
    )
)
def test_event_endpoint_never_answers_500(client, site, raw):
    raw = raw.replace(b"SITEID", site.public_id.encode())
    response = client.post("/api/event", raw, content_type="text/plain", HTTP_USER_AGENT=CHROME)
    assert response.status_code in (202, 400, 404, 413)
    assert "error" in response.json() or response.json().get("ok") is True
