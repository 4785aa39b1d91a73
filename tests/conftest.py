"""Shared browser fixtures for the cross-app tests: headless Chromium and a tiny static page server.

Chromium is the system one (/usr/bin/chromium); browsers are never downloaded. Without it a browser
test is skipped locally and fails in CI (CI is set), so a broken CI image cannot pass silently.
"""

import os
import shutil
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_executable() -> str:
    """The Chromium binary to drive; skips the test (fails it when CI is set) when there is none."""
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    found = shutil.which("chromium")
    if found:
        return found
    if os.environ.get("CI"):
        pytest.fail(f"{CHROMIUM} is missing (CI is set, so this is an error)")
    pytest.skip(f"{CHROMIUM} is missing")


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium, one per test module (Django's async guard is relaxed only meanwhile)."""
    executable = chromium_executable()
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API leaves an asyncio event loop registered as running on the main
        # thread, so Django's async-safety guard refuses every ORM call the test makes between
        # Playwright calls ("You cannot call this from an async context"). Those calls are plain
        # synchronous code on the main thread, never inside the loop, so the guard is a false alarm.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as p:
            launched = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            yield launched
            launched.close()


class StaticPageServer:
    """Serves HTML registered per path (query ignored) on 127.0.0.1; anything else is a 404.

    Reach it as ``http://localhost:PORT`` or ``http://127.0.0.1:PORT``: the two are different page
    hostnames for the same server, which is what hostname checks need.
    """

    def __init__(self) -> None:
        self._pages: dict[str, str] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def serve(self, path: str, html: str) -> None:
        with self._lock:
            self._pages[path] = html

    def url(self, path_and_query: str, host: str = "localhost") -> str:
        return f"http://{host}:{self.port}{path_and_query}"

    def _page(self, path: str) -> str | None:
        with self._lock:
            return self._pages.get(path)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                html = server._page(urlsplit(self.path).path)
                status, body = (200, html) if html is not None else (404, "not found")
                data = body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "text/html; charset=utf-8" if html else "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(data)

        return Handler

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def static_page_server() -> Iterator[StaticPageServer]:
    server = StaticPageServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def chrome_user_agent(browser) -> str:
    """What a visitor's desktop Chrome of this version sends (reduced UA: major version only).

    Headless Chromium announces itself as "HeadlessChrome", which ingest rightly drops as a bot.
    """
    major = browser.version.split(".")[0]
    return (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        f"Chrome/{major}.0.0.0 Safari/537.36"
    )


@pytest.fixture
def browser_context(browser, chrome_user_agent):
    """A fresh context (no cookies, no storage) per test, with a visitor's desktop Chrome UA."""
    context = browser.new_context(viewport={"width": 1280, "height": 720}, user_agent=chrome_user_agent)
    yield context
    context.close()
