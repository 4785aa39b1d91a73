"""The fake Stripe speaking real HTTP on loopback, plus the /_fake control endpoint."""

from __future__ import annotations

import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from .api import ApiRequest, handle
from .state import CONTROL_METHODS, FakeStripe, NotFound


def control(state: FakeStripe, method: str, path: str, body: bytes) -> tuple[int, Any]:
    """`GET /_fake/stats`, and `POST /_fake/call` with {"method": name, "kwargs": {...}}; with
    "account": "acct_…" the method runs on that connected account."""
    if method == "GET" and path == "/_fake/stats":
        return 200, state.stats()
    if method != "POST" or path != "/_fake/call":
        return 404, {"error": {"type": "not_found", "message": f"Unknown control endpoint {method} {path}"}}
    try:
        payload = json.loads(body or b"{}")
    except json.JSONDecodeError as exc:
        return 400, {"error": {"type": "invalid_json", "message": str(exc)}}
    name = payload.get("method")
    kwargs = payload.get("kwargs") or {}
    if name not in CONTROL_METHODS or not isinstance(kwargs, dict):
        return 400, {"error": {"type": "unknown_method", "message": f"Not a control method: {name!r}"}}
    account = payload.get("account")
    if account:
        if account not in state.connected_accounts:
            return 400, {"error": {"type": "unknown_account", "message": f"No connected account {account!r}"}}
        state = state.connected_accounts[account]
    try:
        return 200, getattr(state, name)(**kwargs)
    except (TypeError, ValueError, NotFound) as exc:
        return 400, {"error": {"type": type(exc).__name__, "message": str(exc)}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeStripe/1.0"
    # Headers and body go out in two writes; without this, delayed ACKs add ~40 ms per request.
    disable_nagle_algorithm = True
    # Idle keep-alive connections from stopped clients must not pin handler threads forever.
    timeout = 60
    server: _HTTPServer

    def do_GET(self) -> None:
        self._respond()

    def do_POST(self) -> None:
        self._respond()

    def do_DELETE(self) -> None:
        self._respond()

    def _respond(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        state = self.server.state
        headers: dict[str, str] = {}
        if url.path.startswith("/_fake/"):
            status, payload = control(state, self.command, url.path, body)
        else:
            response = handle(
                state,
                ApiRequest(
                    method=self.command,
                    path=url.path,
                    query=url.query,
                    body=body.decode("utf-8", errors="replace"),
                    authorization=self.headers.get("Authorization"),
                    idempotency_key=self.headers.get("Idempotency-Key"),
                    stripe_account=self.headers.get("Stripe-Account"),
                ),
            )
            status, payload, headers = response.status, response.body, response.headers
        data = json.dumps(payload, indent=2).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (e.g. its timeout fired during an injected delay).
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"fakestripe: {format % args}\n")


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], state: FakeStripe, verbose: bool):
        self.state = state
        self.verbose = verbose
        super().__init__(address, _Handler)


class FakeStripeServer:
    """Serves `state` on http://host:port (port 0 = any free port, bound at construction).

    `with FakeStripeServer(state) as server:` starts it on a daemon thread and stops it on exit.
    """

    def __init__(
        self, state: FakeStripe | None = None, host: str = "127.0.0.1", port: int = 0, verbose: bool = False
    ):
        self.state = state if state is not None else FakeStripe()
        self._httpd = _HTTPServer((host, port), self.state, verbose)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeStripeServer:
        if self._thread is None:
            serve = self._httpd.serve_forever
            self._thread = threading.Thread(target=serve, args=(0.05,), name="fakestripe", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def __enter__(self) -> FakeStripeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
