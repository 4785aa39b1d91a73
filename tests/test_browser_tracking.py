"""Tracking end to end: headless Chromium loads a page embedding the snippet from the real Django server.

The page comes from a separate static server (another origin, like a customer's site); the script and
the beacon go to pytest-django's live_server, and the test reads what ingest stored. The snippet
alone, against a recording server, is covered by test_snippet_browser.py.
"""

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from tracking.models import Membership, Session, Site, View

VIEW_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22,}$")
LANDING = "/landing?utm_source=newsletter&utm_medium=email&utm_campaign=launch"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>landing</title>
<script defer data-allow-local src="{src}"></script>
</head><body><h1>Landing</h1></body></html>
"""


@pytest.fixture
def localhost_site(owner):
    # Built through the ORM: the site form rejects "localhost" as a domain, which is right for
    # customers but is the only host name a test page can have here.
    site = Site.objects.create(name="Local", domain="localhost", timezone="UTC")
    Membership.objects.create(user=owner, site=site, role=Membership.Role.OWNER)
    return site


# The snippet posts with navigator.sendBeacon; when the browser refuses a beacon it falls back to
# fetch(keepalive). A cross-origin beacon is a no-cors request: the browser (and so Playwright) sees its
# status but not its body. The fetch fallback is a CORS request whose JSON answer can be read, so the
# tests that check the answer's body force it by making sendBeacon refuse.
REFUSE_BEACONS = "navigator.sendBeacon = function () { return false; };"


def serve_landing(static_page_server, live_server, site) -> None:
    static_page_server.serve(
        "/landing", PAGE.format(src=f"{live_server.url}/hmbl.min.js?id={site.public_id}")
    )


def is_beacon(live_server):
    def predicate(response) -> bool:
        return response.url == f"{live_server.url}/api/event" and response.request.method == "POST"

    return predicate


def wait_for_rows(queryset, count: int, timeout: float = 10.0) -> list:
    """Poll the database until ``count`` rows exist (bounded; the beacon is asynchronous)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = list(queryset.all())  # a fresh query each time: a QuerySet caches its first result
        if len(rows) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(rows) == count, f"expected {count} rows, got {rows}"
    return rows


def current_view_id(page) -> str:
    page.wait_for_function("() => window.Humblytics && window.Humblytics.viewId")
    return page.evaluate("window.Humblytics.viewId")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("transport", ["sendBeacon", "fetch"])
def test_page_views_from_a_browser_are_stored_with_their_view_ids(
    live_server, static_page_server, browser_context, localhost_site, transport
):
    serve_landing(static_page_server, live_server, localhost_site)
    if transport == "fetch":
        browser_context.add_init_script(REFUSE_BEACONS)
    page = browser_context.new_page()
    beacons = []
    page.on("response", lambda r: beacons.append(r) if is_beacon(live_server)(r) else None)

    # Wait for the first beacon's answer before navigating: the test is about what is stored, not
    # about two first views of one visitor racing each other.
    with page.expect_response(is_beacon(live_server)) as first_beacon:
        page.goto(static_page_server.url(LANDING), referer="https://www.google.com/")
    first_id = current_view_id(page)
    assert first_beacon.value.status == 202
    assert first_beacon.value.request.resource_type == {"sendBeacon": "ping", "fetch": "fetch"}[transport]
    if transport == "fetch":
        assert first_beacon.value.json() == {"ok": True}
    assert first_beacon.value.request.post_data_json["view_id"] == first_id

    with page.expect_response(is_beacon(live_server)) as second_beacon:
        page.evaluate("history.pushState({}, '', '/pricing')")
    second_id = current_view_id(page)
    assert second_beacon.value.status == 202
    if transport == "fetch":
        assert second_beacon.value.json() == {"ok": True}

    views = wait_for_rows(View.objects.filter(site=localhost_site).order_by("created_at", "pk"), 2)
    assert [v.view_id for v in views] == [first_id, second_id]
    assert first_id != second_id
    assert all(VIEW_ID_RE.match(v.view_id) for v in views)
    assert [v.page for v in views] == ["/landing", "/pricing"]
    assert {v.hostname for v in views} == {"localhost"}
    assert {v.screen_width for v in views} == {1280}
    assert {v.variant for v in views} == {""}

    [session] = Session.objects.filter(site=localhost_site)
    assert {v.session_id for v in views} == {session.pk}
    assert session.pageviews == 2
    assert session.entry_page == "/landing"
    assert session.exit_page == "/pricing"
    assert session.hostname == "localhost"
    assert session.referrer == "Google"
    assert (session.utm_source, session.utm_medium, session.utm_campaign) == ("newsletter", "email", "launch")
    # utm_medium=email outranks the search-engine referrer.
    assert session.channel == "Email"
    assert session.browser == "Chrome"
    assert session.os == "Linux"
    assert session.device == "desktop"
    assert session.country == ""  # loopback has no country

    assert [b.status for b in beacons] == [202, 202]
    assert browser_context.cookies([static_page_server.url("/"), live_server.url]) == []
    assert page.evaluate("document.cookie") == ""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_page_on_another_host_is_dropped(live_server, static_page_server, browser_context, localhost_site):
    serve_landing(static_page_server, live_server, localhost_site)
    browser_context.add_init_script(REFUSE_BEACONS)
    page = browser_context.new_page()

    with page.expect_response(is_beacon(live_server)) as beacon:
        page.goto(static_page_server.url(LANDING, host="127.0.0.1"), referer="https://www.google.com/")
    view_id = current_view_id(page)

    assert beacon.value.request.post_data_json["view_id"] == view_id
    assert beacon.value.status == 202
    assert beacon.value.json() == {"ok": True, "dropped": "hostname_mismatch"}
    assert View.objects.count() == 0
    assert Session.objects.count() == 0


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_headless_chrome_announcing_itself_is_dropped(
    live_server, static_page_server, browser, chrome_user_agent, localhost_site
):
    serve_landing(static_page_server, live_server, localhost_site)
    # Chromium's own user agent here: "HeadlessChrome/<version>".
    context = browser.new_context()
    context.add_init_script(REFUSE_BEACONS)
    try:
        page = context.new_page()
        with page.expect_response(is_beacon(live_server)) as beacon:
            page.goto(static_page_server.url(LANDING))
        assert "HeadlessChrome" in page.evaluate("navigator.userAgent")
        assert "HeadlessChrome" not in chrome_user_agent
        assert beacon.value.status == 202
        assert beacon.value.json() == {"ok": True, "dropped": "headless_browser"}
    finally:
        context.close()
    assert View.objects.count() == 0
    assert Session.objects.count() == 0


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


@pytest.mark.django_db(transaction=True)
def test_the_snippet_is_served_for_known_sites_only(live_server, localhost_site):
    for unknown in ("unknown1", "zzzzzzz", ""):
        status, headers, body = fetch(f"{live_server.url}/hmbl.min.js?id={unknown}")
        assert status == 404, unknown
        assert headers["Cache-Control"] == "no-store"
        assert b"unknown site id" in body
        assert "Set-Cookie" not in headers

    status, headers, body = fetch(f"{live_server.url}/hmbl.min.js?id={localhost_site.public_id}")
    assert status == 200
    assert headers["Content-Type"].split(";")[0] in ("text/javascript", "application/javascript")
    assert re.search(r"max-age=\d+", headers["Cache-Control"])
    assert "Set-Cookie" not in headers
    assert b"sendBeacon" in body
    assert b"/api/event" in body


@pytest.mark.django_db(transaction=True)
def test_the_event_endpoint_sets_no_cookie(live_server, localhost_site):
    request = urllib.request.Request(
        f"{live_server.url}/api/event",
        data=json.dumps(
            {
                "site": localhost_site.public_id,
                "view_id": "A" * 22,
                "url": "http://localhost/x",
                "type": "pageview",
            }
        ).encode(),
        headers={"Content-Type": "text/plain", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 202
        assert "Set-Cookie" not in response.headers
        assert json.loads(response.read()) == {"ok": True}
    assert View.objects.filter(site=localhost_site, view_id="A" * 22).exists()
