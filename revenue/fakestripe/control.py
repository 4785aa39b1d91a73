"""Drive a fake Stripe server that another process started, through its /_fake endpoints."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any


class FakeStripeControlError(Exception):
    pass


class FakeStripeControl:
    """`FakeStripeControl(url).call("create_payment", amount=2000, currency="usd")` -> the method's result."""

    def __init__(self, url: str, timeout: float = 10):
        self.url = url.rstrip("/")
        self.timeout = timeout

    def call(self, method: str, *, account: str | None = None, **kwargs: Any) -> Any:
        """Run a builder; with ``account``, on that connected account."""
        payload: dict[str, Any] = {"method": method, "kwargs": kwargs}
        if account:
            payload["account"] = account
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        return self._request(urllib.request.Request(f"{self.url}/_fake/call", body, headers, method="POST"))

    def stats(self) -> dict[str, Any]:
        return self._request(urllib.request.Request(f"{self.url}/_fake/stats"))

    def _request(self, request: urllib.request.Request) -> Any:
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            try:
                error = json.load(exc).get("error", {})
            except ValueError:
                error = {}
            raise FakeStripeControlError(error.get("message") or f"HTTP {exc.code}") from exc
