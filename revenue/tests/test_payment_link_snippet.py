"""The snippet makes Payment Links attributable with no code: a click on a link to one carries the
view id as ``client_reference_id`` (headless Chromium against a tiny local server)."""

import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from revenue.attribution import CLIENT_REFERENCE_RE
from tracking.snippet import minify

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
SNIPPET = Path(__file__).resolve().parents[2] / "static" / "humblytics.js"
PAGE = """<!doctype html><html><head><meta charset="utf-8">
<script defer src="/hmbl.min.js?id=abc1234" data-allow-local data-payment-link-domains="pay.example.com"></script>
</head><body>
<a id="plain" href="https://buy.stripe.com/test_aEU5lq?prefilled_email=a%40example.com">Buy</a>
<a id="custom" href="https://pay.example.com/b/xyz">Buy</a>
<a id="other" href="https://example.org/pricing?plan=pro">Elsewhere</a>
<a id="own" href="https://buy.stripe.com/test_aEU5lq?client_reference_id=cart_42">Cart</a>
<script>
  // Keep the page: record where each click would go instead of leaving.
  document.addEventListener("click", (e) => { e.preventDefault(); });
</script>
</body></html>"""


@pytest.fixture(scope="module")
def server():
    script = minify(SNIPPET.read_text(encoding="utf-8"))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            body, kind = (script, "application/javascript") if "hmbl" in self.path else (PAGE, "text/html")
            data = body.encode()
            self.send_response(200)
            self.send_header("Content-Type", kind + "; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="module")
def page(server):
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(server + "/shop")
        page.wait_for_function("window.Humblytics && window.Humblytics.viewId")
        yield page
        browser.close()


def href_after_click(page, link_id: str) -> str:
    page.click(f"#{link_id}")
    return page.get_attribute(f"#{link_id}", "href")


def test_a_payment_link_gets_the_view_id_and_keeps_its_query(page):
    view_id = page.evaluate("window.Humblytics.viewId")
    url = urlsplit(href_after_click(page, "plain"))
    assert (url.hostname, url.path) == ("buy.stripe.com", "/test_aEU5lq")
    assert parse_qs(url.query) == {"prefilled_email": ["a@example.com"], "client_reference_id": [view_id]}
    assert CLIENT_REFERENCE_RE.match(view_id)


def test_a_custom_payment_link_domain_listed_on_the_tag_is_covered(page):
    view_id = page.evaluate("window.Humblytics.viewId")
    assert href_after_click(page, "custom") == f"https://pay.example.com/b/xyz?client_reference_id={view_id}"


def test_other_links_and_a_reference_of_the_sites_own_are_left_alone(page):
    assert href_after_click(page, "other") == "https://example.org/pricing?plan=pro"
    assert href_after_click(page, "own") == "https://buy.stripe.com/test_aEU5lq?client_reference_id=cart_42"


def test_a_new_view_replaces_the_id_it_put_there(page):
    href_after_click(page, "plain")
    page.evaluate("history.pushState({}, '', '/checkout')")
    view_id = page.evaluate("window.Humblytics.viewId")
    assert parse_qs(urlsplit(href_after_click(page, "plain")).query)["client_reference_id"] == [view_id]


def test_view_ids_fit_stripes_client_reference_id_rule(page):
    """22 characters from the URL-safe alphabet: letters, digits, - and _ (Stripe allows up to 200)."""
    # 200 ids, 4,400 characters: base64's "+" and "/" (1 in 32 before replacement) would show up.
    ids = page.evaluate(
        """() => Array.from({length: 200}, (_, i) => {
            history.pushState({}, "", "/ids/" + i);
            return window.Humblytics.viewId;
        })"""
    )
    assert len(set(ids)) == 200
    assert all(len(view_id) == 22 and CLIENT_REFERENCE_RE.match(view_id) for view_id in ids)
