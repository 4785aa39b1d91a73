"""Custom events from a real browser: ``Humblytics.track`` and the automatic events of hmbl.auto.js.

Headless Chromium loads pages from a separate static server (a customer's site on ``localhost``); the
script, the automatic-events script and the events come from and go to pytest-django's live_server.
Each test reads the bodies the browser sends to /api/event (Playwright sees every request, beacons
included, in the order the page issues them) and what ingest stored.

"Nothing more was sent" is checked with a barrier: after the actions, the page (or the page a link led
to) posts a marker to /api/event itself; every event the snippet sent earlier was issued before it.
"""

import json
import time

import pytest

from tests.test_browser_tracking import wait_for_rows
from tracking.models import CustomEvent, Membership, Site, View

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

STUB = (
    "<script>window.Humblytics=window.Humblytics||"
    "{q:[],track:function(){Humblytics.q.push(arguments)}}</script>"
)
ALL_AUTO = "data-track-outbound data-track-downloads data-track-forms data-track-tagged"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>shop</title>
{head}
<script defer data-allow-local {attrs} src="{src}"></script>
</head><body>
<a id="out" href="https://outbound.test/pricing?ref=shop">Partner</a>
<a id="out-blank" href="https://outbound.test/blank" target="_blank">Partner, new tab</a>
<a id="inside" href="/inside">Inside</a>
<a id="mail" href="mailto:hello@example.com">Mail</a>
<a id="pdf" href="/files/Report.PDF?v=2">Report</a>
<a id="mobi" href="/files/book.mobi">Book</a>
<a id="attr" href="/export" download>Export</a>
<button id="signup" class="btn humblytics-event-name=Signup humblytics-event-plan=pro">Sign up</button>
<div class="card humblytics-event-name=Card+Click humblytics-event-position=top+left">
  <p><span id="in-card">Card</span></p>
</div>
<a id="tagged-out" class="humblytics-event-name=Partner" href="https://outbound.test/tagged">Tagged</a>
<form id="contact" action="/thanks" method="get"><input name="email" value="a@example.com">
  <button id="send">Send</button></form>
<form name="newsletter" class="humblytics-event-name=Newsletter humblytics-event-list=weekly"
  action="/thanks" method="get"><button id="subscribe">Subscribe</button></form>
<form id="js-form"><button id="js-send">Send</button></form>
<script>
  document.getElementById("js-form").addEventListener("submit", (e) => e.preventDefault());
</script>
</body></html>
"""
THANKS = "<!doctype html><title>thanks</title><p>Thanks</p>"
REFUSE_BEACONS = "navigator.sendBeacon = function () { return false; };"


@pytest.fixture
def localhost_site(owner):
    # Through the ORM: the site form rightly refuses "localhost", the only host name a test page has.
    site = Site.objects.create(name="Local", domain="localhost", timezone="UTC")
    Membership.objects.create(user=owner, site=site, role=Membership.Role.OWNER)
    return site


class Recorder:
    """What the browser sends to /api/event (bodies, in order) and whether it fetched hmbl.auto.js."""

    def __init__(self, context, live_server, static_page_server):
        self.api = f"{live_server.url}/api/event"
        self.site_origin = static_page_server.url("")
        self.bodies: list[dict] = []
        self.auto_requests: list[str] = []
        context.on("request", self._seen)
        context.route(
            "https://outbound.test/**",
            lambda route: route.fulfill(status=200, content_type="text/html", body="<title>away</title>"),
        )

    def _seen(self, request):
        if request.url == self.api and request.method == "POST":
            self.bodies.append(request.post_data_json)
        elif "/hmbl.auto.js" in request.url:
            self.auto_requests.append(request.url)

    def is_event(self, name: str):
        def predicate(request) -> bool:
            if request.url != self.api or request.method != "POST":
                return False
            body = request.post_data_json
            return body.get("name") == name or body.get("barrier") == name

        return predicate

    def barrier(self, page) -> list[dict]:
        """Every body sent before now (the marker itself left out)."""
        if not page.url.startswith(self.site_origin):
            # A page a link led to may not post to a local server (Chrome's private network rules).
            page.goto(f"{self.site_origin}/thanks")
        marker = f"barrier-{len(self.bodies)}-{time.monotonic_ns()}"
        with page.expect_request(self.is_event(marker)):
            page.evaluate(
                "([api, body]) => fetch(api, {method: 'POST', body, mode: 'no-cors', keepalive: true})",
                [self.api, json.dumps({"barrier": marker})],
            )
        return [b for b in self.bodies if "barrier" not in b]

    def events(self, page) -> list[tuple[str, dict | None]]:
        sent = self.barrier(page)
        return [(b["name"], b.get("props")) for b in sent if b["type"] == "event"]


@pytest.fixture
def recorder(browser_context, live_server, static_page_server):
    static_page_server.serve("/thanks", THANKS)
    return Recorder(browser_context, live_server, static_page_server)


@pytest.fixture
def downloads(browser_context):
    """Files answer as attachments: the page stays where it is."""
    browser_context.route(
        "**/files/**",
        lambda route: route.fulfill(
            status=200,
            headers={"Content-Type": "application/octet-stream", "Content-Disposition": "attachment"},
            body=b"%PDF-1.4",
        ),
    )
    browser_context.route(
        "**/export",
        lambda route: route.fulfill(status=200, content_type="text/csv", body="a,b\n"),
    )


def open_page(page, static_page_server, live_server, site, *, attrs: str = ALL_AUTO, head: str = "") -> str:
    src = f"{live_server.url}/hmbl.min.js?id={site.public_id}"
    static_page_server.serve("/shop", PAGE.format(src=src, attrs=attrs, head=head))
    static_page_server.serve("/thanks", THANKS)
    static_page_server.serve("/inside", THANKS)
    page.goto(static_page_server.url("/shop?from=ad"))
    page.wait_for_function("() => window.Humblytics && window.Humblytics.viewId")
    if "data-track-" in attrs:
        page.wait_for_function("() => window.Humblytics.auto === true")
    return page.evaluate("window.Humblytics.viewId")


def assert_view_first(bodies: list[dict], view_id: str, url: str) -> None:
    """The page view went out before any event, and every event carries its id and page."""
    assert bodies[0]["type"] == "pageview"
    assert bodies[0]["view_id"] == view_id
    for body in bodies[1:]:
        assert body["type"] == "event", body
        assert body["view_id"] == view_id
        assert body["url"] == url
        assert body["site"] == bodies[0]["site"]


def test_track_sends_events_after_the_page_view_including_calls_made_before_the_script(
    browser_context, recorder, static_page_server, live_server, localhost_site
):
    early = STUB + (
        "<script>Humblytics.track('Early', {n: 1}); window.__track = Humblytics.track;"
        "addEventListener('humblytics:view', () => Humblytics.track('Listener'));</script>"
    )
    page = browser_context.new_page()
    view_id = open_page(page, static_page_server, live_server, localhost_site, attrs="", head=early)
    page.evaluate("Humblytics.track('Signup', {plan: 'pro', seats: 3, annual: true})")
    page.evaluate("Humblytics.track('Bare')")
    # A reference to the stub taken before the script loaded still works.
    page.evaluate("window.__track('Through the stub', {via: 'q'})")

    url = static_page_server.url("/shop?from=ad")
    bodies = recorder.barrier(page)
    assert_view_first(bodies, view_id, url)
    assert [(b["name"], b.get("props")) for b in bodies[1:]] == [
        ("Early", {"n": 1}),
        ("Listener", None),
        ("Signup", {"plan": "pro", "seats": 3, "annual": True}),
        ("Bare", None),
        ("Through the stub", {"via": "q"}),
    ]
    assert set(bodies[3]) == {"site", "view_id", "url", "type", "name", "props"}
    assert recorder.auto_requests == []

    rows = wait_for_rows(CustomEvent.objects.filter(site=localhost_site).order_by("name"), 5)
    assert [r.name for r in rows] == ["Bare", "Early", "Listener", "Signup", "Through the stub"]
    assert {r.view_id for r in rows} == {view_id}
    signup = next(r for r in rows if r.name == "Signup")
    assert signup.props == {"plan": "pro", "seats": "3", "annual": "true"}
    [view] = wait_for_rows(View.objects.filter(site=localhost_site), 1)
    assert view.view_id == view_id


def test_an_event_after_a_single_page_navigation_carries_the_new_view(
    browser_context, recorder, static_page_server, live_server, localhost_site
):
    page = browser_context.new_page()
    first = open_page(page, static_page_server, live_server, localhost_site, attrs="")
    page.evaluate("history.pushState({}, '', '/checkout')")
    second = page.evaluate("Humblytics.viewId")
    page.evaluate("Humblytics.track('Purchase', {amount: 49})")

    bodies = recorder.barrier(page)
    assert [(b["type"], b["view_id"]) for b in bodies] == [
        ("pageview", first),
        ("pageview", second),
        ("event", second),
    ]
    assert bodies[2]["url"] == static_page_server.url("/checkout")


def test_events_wait_for_their_page_view_while_the_page_is_prerendered(
    browser_context, recorder, static_page_server, live_server, localhost_site
):
    browser_context.add_init_script(
        "Object.defineProperty(document, 'prerendering', {configurable: true, get: () => !window.__on})"
    )
    page = browser_context.new_page()
    view_id = open_page(
        page,
        static_page_server,
        live_server,
        localhost_site,
        attrs="",
        head=STUB + "<script>Humblytics.track('Early')</script>",
    )
    page.evaluate("Humblytics.track('While prerendered')")
    assert recorder.barrier(page) == []

    page.evaluate("window.__on = true; document.dispatchEvent(new Event('prerenderingchange'))")
    bodies = recorder.barrier(page)
    assert_view_first(bodies, view_id, static_page_server.url("/shop?from=ad"))
    assert [b.get("name") for b in bodies] == [None, "Early", "While prerendered"]


@pytest.mark.parametrize(
    "switch", ["localStorage.setItem('humblytics_ignore', 'true')", "window.humblytics_ignore = true"]
)
def test_the_owner_opt_out_silences_events_too(
    browser_context, recorder, static_page_server, live_server, localhost_site, switch
):
    browser_context.add_init_script(switch)
    page = browser_context.new_page()
    src = f"{live_server.url}/hmbl.min.js?id={localhost_site.public_id}"
    static_page_server.serve("/shop", PAGE.format(src=src, attrs=ALL_AUTO, head=STUB))
    page.goto(static_page_server.url("/shop"))
    page.wait_for_function("() => window.Humblytics && window.Humblytics.viewId")
    page.evaluate("Humblytics.track('Signup')")
    page.click("#signup")
    assert recorder.barrier(page) == []
    # Opted out: the automatic-events script is not even fetched.
    assert recorder.auto_requests == []


def test_without_the_attributes_nothing_automatic_is_sent(
    browser_context, recorder, static_page_server, live_server, localhost_site, downloads
):
    page = browser_context.new_page()
    view_id = open_page(page, static_page_server, live_server, localhost_site, attrs="")
    with browser_context.expect_page():
        page.click("#out-blank")
    with page.expect_download():
        page.click("#pdf")
    page.click("#signup")
    page.click("#in-card")
    page.click("#js-send")
    page.click("#send")
    page.wait_for_url("**/thanks?**")
    bodies = recorder.barrier(page)
    assert [(b["type"], b["view_id"]) for b in bodies] == [("pageview", view_id)]
    assert recorder.auto_requests == []
    assert page.evaluate("window.Humblytics === undefined")  # the thanks page has no snippet


def test_the_automatic_events_script_is_fetched_once_versioned_and_compressed(
    browser_context, recorder, static_page_server, live_server, localhost_site
):
    page = browser_context.new_page()
    responses = []
    page.on("response", lambda r: responses.append(r) if "/hmbl.auto.js" in r.url else None)
    open_page(page, static_page_server, live_server, localhost_site)
    [url] = recorder.auto_requests
    assert url.startswith(f"{live_server.url}/hmbl.auto.js?v=")
    [response] = responses
    assert response.status == 200
    assert response.headers["content-encoding"] == "br"
    assert "immutable" in response.headers["cache-control"]
    # The tag's data-track-* attributes travelled to the script's own tag.
    assert page.evaluate(
        "document.querySelector('script[src*=\"hmbl.auto.js\"]').hasAttribute('data-track-outbound')"
    )


def test_outbound_links_are_counted_once_without_breaking_new_tabs(
    browser_context, recorder, static_page_server, live_server, localhost_site
):
    page = browser_context.new_page()
    view_id = open_page(page, static_page_server, live_server, localhost_site, attrs="data-track-outbound")
    url = static_page_server.url("/shop?from=ad")
    for how in ({"modifiers": ["Control"]}, {"button": "middle"}):
        with browser_context.expect_page() as opened:
            page.click("#out", **how)
        opened.value.close()
    with browser_context.expect_page() as opened:
        page.click("#out-blank")
    opened.value.close()
    page.click("#inside", modifiers=["Control"])  # same host: not outbound
    page.click("#mail", button="right")
    page.click("#signup")  # tagging is off
    assert page.url == url

    bodies = recorder.barrier(page)
    assert_view_first(bodies, view_id, url)
    outbound = "https://outbound.test/pricing?ref=shop"
    assert [(b["name"], b["props"]) for b in bodies[1:]] == [
        ("Outbound Link: Click", {"url": outbound}),
        ("Outbound Link: Click", {"url": outbound}),
        ("Outbound Link: Click", {"url": "https://outbound.test/blank"}),
    ]

    # A plain click leaves the page, and its event still gets out.
    with page.expect_request(recorder.is_event("Outbound Link: Click")):
        page.click("#out")
    page.wait_for_url(outbound)
    assert recorder.events(page)[3:] == [("Outbound Link: Click", {"url": outbound})]
    rows = wait_for_rows(CustomEvent.objects.filter(site=localhost_site, name="Outbound Link: Click"), 4)
    assert {r.view_id for r in rows} == {view_id}
    assert {r.props["url"] for r in rows} == {outbound, "https://outbound.test/blank"}


def test_an_outbound_click_gets_out_through_fetch_when_beacons_are_refused(
    browser_context, recorder, static_page_server, live_server, localhost_site
):
    browser_context.add_init_script(REFUSE_BEACONS)
    page = browser_context.new_page()
    view_id = open_page(page, static_page_server, live_server, localhost_site, attrs="data-track-outbound")
    with page.expect_request(recorder.is_event("Outbound Link: Click")) as sent:
        page.click("#out")
    page.wait_for_url("https://outbound.test/**")
    assert sent.value.resource_type == "fetch"
    assert recorder.events(page) == [
        ("Outbound Link: Click", {"url": "https://outbound.test/pricing?ref=shop"})
    ]
    [row] = wait_for_rows(CustomEvent.objects.filter(site=localhost_site), 1)
    assert row.view_id == view_id


def test_downloads_by_extension_and_download_attribute(
    browser_context, recorder, static_page_server, live_server, localhost_site, downloads
):
    page = browser_context.new_page()
    view_id = open_page(page, static_page_server, live_server, localhost_site, attrs="data-track-downloads")
    for link in ("#pdf", "#mobi", "#attr"):
        with page.expect_download():
            page.click(link)
    page.click("#out", modifiers=["Control"])  # outbound tracking is off

    bodies = recorder.barrier(page)
    assert_view_first(bodies, view_id, static_page_server.url("/shop?from=ad"))
    # mobi is not in the default list.
    assert [(b["name"], b["props"]) for b in bodies[1:]] == [
        ("File Download", {"url": static_page_server.url("/files/Report.PDF?v=2")}),
        ("File Download", {"url": static_page_server.url("/export")}),
    ]


def test_a_download_list_on_the_tag_replaces_the_default(
    browser_context, recorder, static_page_server, live_server, localhost_site, downloads
):
    page = browser_context.new_page()
    open_page(
        page, static_page_server, live_server, localhost_site, attrs='data-track-downloads="MOBI, epub"'
    )
    for link in ("#pdf", "#mobi"):
        with page.expect_download():
            page.click(link)
    assert recorder.events(page) == [("File Download", {"url": static_page_server.url("/files/book.mobi")})]


def test_form_submissions(browser_context, recorder, static_page_server, live_server, localhost_site):
    page = browser_context.new_page()
    view_id = open_page(page, static_page_server, live_server, localhost_site, attrs="data-track-forms")
    page.click("#js-send")  # a form the page handles itself (preventDefault) still counts
    page.click("#subscribe")  # tagging is off: only the submission
    page.wait_for_url("**/thanks?**")

    bodies = recorder.barrier(page)
    assert_view_first(bodies, view_id, static_page_server.url("/shop?from=ad"))
    assert [(b["name"], b["props"]) for b in bodies[1:]] == [
        ("Form: Submission", {"path": "/shop", "form": "js-form"}),
        ("Form: Submission", {"path": "/shop", "form": "newsletter"}),
    ]
    wait_for_rows(CustomEvent.objects.filter(site=localhost_site, name="Form: Submission"), 2)


def test_css_class_tagging(browser_context, recorder, static_page_server, live_server, localhost_site):
    page = browser_context.new_page()
    view_id = open_page(page, static_page_server, live_server, localhost_site, attrs="data-track-tagged")
    page.click("#signup")
    page.click("#in-card")  # the tagged element is an ancestor
    page.click("#tagged-out", modifiers=["Control"])  # a tagged link sends its own event only
    page.click("#subscribe")  # a tagged form: on submit, not on the click inside it
    page.wait_for_url("**/thanks?**")

    bodies = recorder.barrier(page)
    assert_view_first(bodies, view_id, static_page_server.url("/shop?from=ad"))
    assert [(b["name"], b["props"]) for b in bodies[1:]] == [
        ("Signup", {"plan": "pro"}),
        ("Card Click", {"position": "top left"}),
        ("Partner", {}),
        ("Newsletter", {"list": "weekly"}),
    ]
    rows = wait_for_rows(CustomEvent.objects.filter(site=localhost_site).order_by("name"), 4)
    assert [(r.name, r.props) for r in rows] == [
        ("Card Click", {"position": "top left"}),
        ("Newsletter", {"list": "weekly"}),
        ("Partner", {}),
        ("Signup", {"plan": "pro"}),
    ]


def test_everything_at_once_sends_each_event_once(
    browser_context, recorder, static_page_server, live_server, localhost_site, downloads
):
    page = browser_context.new_page()
    view_id = open_page(page, static_page_server, live_server, localhost_site, head=STUB)
    # The tracker loading the script twice, or a second copy by hand, adds no second set of listeners.
    page.evaluate(
        """(src) => new Promise((resolve) => {
            const s = document.createElement('script');
            s.src = src; s.setAttribute('data-track-outbound', ''); s.onload = resolve;
            document.head.appendChild(s);
        })""",
        recorder.auto_requests[0],
    )
    page.click("#out", modifiers=["Control"])
    with page.expect_download():
        page.click("#pdf")
    page.click("#signup")
    page.evaluate("Humblytics.track('Manual')")
    page.click("#send")
    page.wait_for_url("**/thanks?**")

    bodies = recorder.barrier(page)
    assert_view_first(bodies, view_id, static_page_server.url("/shop?from=ad"))
    assert [b["name"] for b in bodies[1:]] == [
        "Outbound Link: Click",
        "File Download",
        "Signup",
        "Manual",
        "Form: Submission",
    ]
