"""The tracking snippet in a real browser (headless Chromium), against a tiny recording server.

This checks the script alone: a local http.server serves test pages and the minified snippet and records
what the snippet POSTs to /api/event. The end-to-end test against the Django server lives elsewhere.
"""

import json
import os
import re
import shutil
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tracking.snippet import CONFIG_MARKER
from tracking.snippet import minify as minify_js

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SNIPPET = Path(__file__).resolve().parent.parent / "static" / "humblytics.js"
SITE_ID = "abc1234"
VIEW_ID_RE = re.compile(r"^[A-Za-z0-9_-]{22,}$")

# /app/... pages carry data-allow-local (the server is on 127.0.0.1 and Playwright sets
# navigator.webdriver); /plain/... pages embed the snippet exactly as a customer would.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>snippet test</title>
<script>
  window.__events = [];
  window.addEventListener("humblytics:view", function (e) { window.__events.push(e.detail.viewId); });
  document.addEventListener("DOMContentLoaded", function () {
    window.__domReady = window.Humblytics && window.Humblytics.viewId;
  });
</script>
<script defer src="/hmbl.min.js?id=SITE"ATTRS></script>
<script defer src="/later.js"></script>
</head><body><h1 id="top">Page</h1><p style="height:3000px"></p><h2 id="more">More</h2></body></html>
"""
START_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>start</title></head>
<body><a id="go" href="HREF">go</a></body></html>
"""
LATER_JS = "window.__later = window.Humblytics && window.Humblytics.viewId;"


class Recorder:
    def __init__(self):
        self.lock = threading.Lock()
        self.events = []

    def add(self, event):
        with self.lock:
            self.events.append(event)

    def for_token(self, token):
        with self.lock:
            return [e for e in self.events if token in e["path"] or token in json.dumps(e["body"])]


def _handler(recorder, script):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status, body, content_type):
            data = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = urlsplit(self.path).path
            if path == "/hmbl.min.js":
                self._send(200, script, "application/javascript; charset=utf-8")
            elif path == "/later.js":
                self._send(200, LATER_JS, "application/javascript; charset=utf-8")
            elif path.startswith("/start/"):
                # /start/<token>/<target path...>: a page linking to the target (for the referrer).
                target = "/" + path.split("/", 3)[3]
                query = urlsplit(self.path).query
                href = target + ("?" + query if query else "")
                self._send(200, START_PAGE.replace("HREF", href), "text/html; charset=utf-8")
            elif path.startswith(("/app/", "/plain/")):
                attrs = " data-allow-local" if path.startswith("/app/") else ""
                self._send(
                    200, PAGE.replace("SITE", SITE_ID).replace("ATTRS", attrs), "text/html; charset=utf-8"
                )
            else:
                self._send(404, "not found", "text/plain")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8")
            if urlsplit(self.path).path != "/api/event":
                self._send(404, "not found", "text/plain")
                return
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"unparsable": raw}
            recorder.add(
                {
                    "path": self.path,
                    "body": body,
                    "content_type": self.headers.get("Content-Type", ""),
                    "cookie": self.headers.get("Cookie"),
                }
            )
            self._send(202, '{"ok": true}', "application/json")

    return Handler


@pytest.fixture(scope="module")
def server():
    recorder = Recorder()
    script = minify_js(SNIPPET.read_text(encoding="utf-8"))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(recorder, script))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    httpd.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.recorder = recorder
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def chromium():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing (CI is set, so this is an error)")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Counts, per tab, the events the page hands to the browser (sessionStorage survives the tab's
# same-origin navigations). The snippet sends synchronously while it runs, so once the page has done
# something this count is final: "nothing more was sent" is checked without waiting on a clock.
COUNT_SENDS = """(() => {
  const bump = () => {
    try { sessionStorage.setItem('__hmblSent', String(+(sessionStorage.getItem('__hmblSent') || 0) + 1)); } catch (e) {}
  };
  const isEvent = (url) => String(url).includes('/api/event');
  const beacon = navigator.sendBeacon.bind(navigator);
  navigator.sendBeacon = function (url, data) { const ok = beacon(url, data); if (ok && isEvent(url)) bump(); return ok; };
  const fetch = window.fetch.bind(window);
  window.fetch = function (url, options) { if (isEvent(url)) bump(); return fetch(url, options); };
})();"""


@pytest.fixture
def context(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 720})
    context.add_init_script(COUNT_SENDS)
    yield context
    context.close()


@pytest.fixture
def page(context):
    return context.new_page()


@pytest.fixture
def token():
    return uuid.uuid4().hex[:12]


def wait_events(server, token, count, timeout=5.0):
    """Poll the recorder until `count` events of this test have arrived (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        events = server.recorder.for_token(token)
        if len(events) >= count or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert len(events) >= count, f"expected {count} events, got {len(events)}: {events}"
    return [e["body"] for e in events]


def assert_no_more(page, server, token, count):
    """Exactly `count` events: the page handed exactly that many to the browser, and all arrived."""
    assert int(page.evaluate("sessionStorage.getItem('__hmblSent') || '0'")) == count
    if count:
        wait_events(server, token, count)
    events = server.recorder.for_token(token)
    assert len(events) == count, [e["body"] for e in events]


def push_state(page, url):
    page.evaluate("(url) => history.pushState({}, '', url)", url)


def view_id(page):
    return page.evaluate("window.Humblytics.viewId")


def test_first_view_is_posted_with_view_id_referrer_and_utm(server, context, page, token):
    start = f"{server.base_url}/start/{token}/app/{token}/landing?utm_source=news&utm_campaign=spring"
    page.goto(start)
    page.click("#go")
    page.wait_for_load_state("load")
    [event] = wait_events(server, token, 1)
    recorded = server.recorder.for_token(token)[0]

    current = view_id(page)
    assert VIEW_ID_RE.match(current)
    assert event["view_id"] == current
    assert event["site"] == SITE_ID
    assert event["type"] == "pageview"
    assert event["url"] == f"{server.base_url}/app/{token}/landing?utm_source=news&utm_campaign=spring"
    assert event["url"] == page.url
    assert event["referrer"] == start
    assert event["screen_width"] == 1280
    assert isinstance(event["screen_width"], int)
    assert "variant" not in event
    assert set(event) == {"site", "view_id", "url", "referrer", "screen_width", "type"}
    # CORS-safelisted body, never a cookie.
    assert recorded["content_type"].startswith("text/plain")
    assert recorded["cookie"] is None
    assert page.evaluate("document.cookie") == ""
    assert context.cookies() == []
    # The site's own deferred scripts and DOMContentLoaded handlers already see the id.
    assert page.evaluate("window.__later") == current
    assert page.evaluate("window.__domReady") == current
    assert page.evaluate("window.__events") == [current]
    assert_no_more(page, server, token, 1)


def test_view_ids_are_random_and_url_safe(server, page, token):
    ids = set()
    for _ in range(3):
        page.goto(f"{server.base_url}/app/{token}/page")
        ids.add(view_id(page))
    assert len(ids) == 3
    assert all(VIEW_ID_RE.match(i) and len(i) == 22 for i in ids)
    events = wait_events(server, token, 3)
    assert {e["view_id"] for e in events} == ids


def test_spa_navigations(server, page, token):
    base = f"{server.base_url}/app/{token}"
    page.goto(f"{base}/a")
    [first] = wait_events(server, token, 1)
    first_id = view_id(page)
    assert first["view_id"] == first_id

    # pushState to a new path: a new view with a new id, referrer = previous URL of the page.
    push_state(page, f"/app/{token}/b?x=1")
    second = wait_events(server, token, 2)[1]
    second_id = view_id(page)
    assert second_id != first_id
    assert second["view_id"] == second_id
    assert second["url"] == f"{base}/b?x=1"
    assert second["referrer"] == f"{base}/a"
    assert page.evaluate("window.__events") == [first_id, second_id]

    # replaceState to the same URL, and hash-only changes: no view, id unchanged.
    page.evaluate("history.replaceState({s: 1}, '', location.href)")
    page.evaluate("history.replaceState(null, '')")
    page.evaluate("location.hash = 'more'")
    page.evaluate("history.pushState({}, '', '#top')")
    assert view_id(page) == second_id
    assert_no_more(page, server, token, 2)

    # replaceState that changes the query is a navigation.
    page.evaluate("history.replaceState({}, '', '?x=2')")
    third = wait_events(server, token, 3)[2]
    assert third["url"] == f"{base}/b?x=2"
    assert third["referrer"] == f"{base}/b?x=1#top"
    assert third["view_id"] == view_id(page) != second_id

    push_state(page, f"/app/{token}/c")
    fourth = wait_events(server, token, 4)[3]
    assert fourth["url"] == f"{base}/c"

    # Back button (popstate) to a different path: a new view.
    page.go_back()
    page.wait_for_function("location.pathname.endsWith('/b')")
    fifth = wait_events(server, token, 5)[4]
    assert fifth["url"] == f"{base}/b?x=2"
    assert fifth["referrer"] == f"{base}/c"
    assert fifth["view_id"] == view_id(page)

    # History is now a, b?x=1, b?x=1#more, b?x=2 (replaced #top), c. Back to b?x=1#more: the query
    # changes, so a view; back again to b?x=1 is hash-only: no view.
    page.go_back()
    page.wait_for_function("location.hash === '#more'")
    sixth = wait_events(server, token, 6)[5]
    assert sixth["url"] == f"{base}/b?x=1#more"
    assert sixth["referrer"] == f"{base}/b?x=2"
    page.go_back()
    page.wait_for_function("location.hash === ''")
    assert page.url == f"{base}/b?x=1"
    assert_no_more(page, server, token, 6)
    ids = [e["view_id"] for e in wait_events(server, token, 6)]
    assert len(set(ids)) == 6
    assert page.evaluate("window.__events") == ids
    assert view_id(page) == ids[-1]


def test_variant_is_reported_and_removed_from_address_bar(server, page, token):
    page.goto(f"{server.base_url}/app/{token}/pricing?utm_source=x&hmbl_v=b&ref=1#plans")
    [event] = wait_events(server, token, 1)
    assert event["variant"] == "b"
    assert event["view_id"] == view_id(page)
    clean = f"{server.base_url}/app/{token}/pricing?utm_source=x&ref=1#plans"
    assert event["url"] == clean
    assert page.url == clean
    assert "hmbl_v" not in page.evaluate("location.href")
    assert len(page.evaluate("window.__events")) == 1
    # Removing the parameter is not a navigation; a later view carries no variant.
    assert_no_more(page, server, token, 1)
    push_state(page, f"/app/{token}/next")
    second = wait_events(server, token, 2)[1]
    assert "variant" not in second
    assert second["referrer"] == clean


def serve_with_tests(page, config):
    """This page gets the full snippet carrying ``config``, as the server inlines it."""
    script = minify_js(SNIPPET.read_text(encoding="utf-8")).replace(CONFIG_MARKER, json.dumps(config), 1)
    page.route(
        "**/hmbl.min.js*",
        lambda route: route.fulfill(status=200, content_type="application/javascript", body=script),
    )


def one_test(token, url):
    test = {"p": f"/app/{token}/home", "c": "control", "a": "b", "u": url, "v": [], "n": 0}
    return {"t": [test], "d": "alice.example.com"}


@pytest.mark.parametrize("url", ["/\\evil.example/x", "https://evil.example\\@alice.example.com/"])
def test_the_snippet_refuses_to_redirect_off_the_site(server, page, token, url):
    left = []
    page.route("**://evil.example/**", lambda route: (left.append(route.request.url), route.abort()))
    serve_with_tests(page, one_test(token, url))
    page.goto(f"{server.base_url}/app/{token}/home")
    [event] = wait_events(server, token, 1)
    # Not redirected, and not counted in the test either.
    assert "variant" not in event
    assert page.url == f"{server.base_url}/app/{token}/home"
    assert_no_more(page, server, token, 1)
    assert left == []


def test_the_snippet_redirects_to_a_variant_on_the_same_origin(server, page, token):
    serve_with_tests(page, one_test(token, f"/app/{token}/home-b"))
    page.goto(f"{server.base_url}/app/{token}/home")
    [event] = wait_events(server, token, 1)
    assert event["variant"] == "b"
    assert event["url"] == f"{server.base_url}/app/{token}/home-b"


def test_variant_only_parameter_leaves_a_clean_url(server, page, token):
    page.goto(f"{server.base_url}/app/{token}/pricing?hmbl_v=treatment-1")
    [event] = wait_events(server, token, 1)
    assert event["variant"] == "treatment-1"
    assert page.url == f"{server.base_url}/app/{token}/pricing"
    assert event["url"] == page.url


def test_nothing_sent_without_allow_local_but_view_id_exists(server, context, page, token):
    page.goto(f"{server.base_url}/plain/{token}/page?hmbl_v=b")
    first = view_id(page)
    assert VIEW_ID_RE.match(first)
    assert page.evaluate("window.__later") == first
    push_state(page, f"/plain/{token}/other")
    assert view_id(page) != first
    assert page.evaluate("window.__events.length") == 2
    page.evaluate("window.Humblytics.track('signup', {plan: 'pro'})")
    assert_no_more(page, server, token, 0)
    assert context.cookies() == []


def test_owner_opt_out(server, context, page, token):
    context.add_init_script("localStorage.setItem('humblytics_ignore', 'true')")
    page.goto(f"{server.base_url}/app/{token}/page")
    assert VIEW_ID_RE.match(view_id(page))
    push_state(page, f"/app/{token}/other")
    page.goto(f"{server.base_url}/app/{token}/again")
    assert_no_more(page, server, token, 0)


def test_window_opt_out(server, context, page, token):
    context.add_init_script("window.humblytics_ignore = true")
    page.goto(f"{server.base_url}/app/{token}/page")
    assert VIEW_ID_RE.match(view_id(page))
    assert_no_more(page, server, token, 0)


def test_track_sends_a_custom_event_on_the_current_view(server, page, token):
    page.goto(f"{server.base_url}/app/{token}/page")
    wait_events(server, token, 1)
    page.evaluate("window.Humblytics.track('signup', {plan: 'pro'})")
    view, event = wait_events(server, token, 2)
    assert event == {
        "site": SITE_ID,
        "view_id": view["view_id"],
        "url": view["url"],
        "type": "event",
        "name": "signup",
        "props": {"plan": "pro"},
    }
    recorded = server.recorder.for_token(token)[1]
    assert recorded["content_type"].startswith("text/plain")
    assert recorded["cookie"] is None
    assert_no_more(page, server, token, 2)


def test_fetch_fallback_when_beacon_refuses(server, context, page, token):
    context.add_init_script("navigator.sendBeacon = function () { return false; }")
    page.goto(f"{server.base_url}/app/{token}/page")
    [event] = wait_events(server, token, 1)
    assert event["view_id"] == view_id(page)
    recorded = server.recorder.for_token(token)[0]
    assert recorded["content_type"].startswith("text/plain")
    assert recorded["cookie"] is None


def test_loading_the_script_twice_keeps_one_view(server, page, token):
    page.goto(f"{server.base_url}/app/{token}/page")
    first = view_id(page)
    page.evaluate(
        """(site) => new Promise((resolve) => {
            const s = document.createElement('script');
            s.src = '/hmbl.min.js?id=' + site;
            s.setAttribute('data-allow-local', '');
            s.onload = resolve;
            document.head.appendChild(s);
        })""",
        SITE_ID,
    )
    assert view_id(page) == first
    push_state(page, f"/app/{token}/two")
    wait_events(server, token, 2)
    assert_no_more(page, server, token, 2)


def test_prerendered_page_sends_when_activated(server, context, page, token):
    # Simulate Chrome's prerendering (document.prerendering + prerenderingchange).
    context.add_init_script(
        "Object.defineProperty(document, 'prerendering', {configurable: true, get: () => !window.__activated})"
    )
    page.goto(f"{server.base_url}/app/{token}/page")
    current = view_id(page)
    assert VIEW_ID_RE.match(current)
    assert_no_more(page, server, token, 0)
    page.evaluate("window.__activated = true; document.dispatchEvent(new Event('prerenderingchange'))")
    [event] = wait_events(server, token, 1)
    assert event["view_id"] == current
    assert_no_more(page, server, token, 1)
