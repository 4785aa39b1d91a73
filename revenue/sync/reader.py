"""Reading Stripe for one run: plain JSON GETs, lists newest first 100 at a time, counted on the run.

Each call also renews the run's lease on the connection lock when it is due.
"""

import datetime as dt
import time
from collections.abc import Iterator

import stripe
from django.utils import timezone

from revenue.models import StripeConnection, SyncRun

PAGE_SIZE = 100
# The lease is short and renewed on every Stripe call, so a killed sync blocks the next one for
# minutes, not half an hour.
LOCK_TTL = dt.timedelta(minutes=5)
RENEW_AFTER_SECONDS = 30


def ts(value: int | None) -> dt.datetime | None:
    """A Stripe timestamp (seconds since the epoch) as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(value, tz=dt.UTC) if value else None


def id_of(value) -> str:
    """An expandable field: an id string, an expanded object (dict) or null."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return value.get("id") or ""


def created_since(since: dt.datetime) -> dict:
    return {"created": {"gte": int(since.timestamp())}}


class StripeReader:
    def __init__(
        self, client: stripe.StripeClient, run: SyncRun, connection: StripeConnection, lock_token: str
    ):
        self.client = client
        self.run = run
        self.connection = connection
        self.lock_token = lock_token
        self._lease_renewed = time.monotonic()

    def get(self, path: str, params: dict) -> dict:
        """One GET through the official client, kept as plain JSON: a page of 100 expanded charges
        costs more to turn into StripeObjects than everything else the sync does with it."""
        self._renew_lease()
        response = self.client.raw_request("get", path, **params)
        return response.data

    def page(self, path: str, params: dict) -> tuple[list[dict], bool]:
        """One page and whether more follow; counts the page and its objects on the run."""
        body = self.get(path, params)
        self.run.pages += 1
        data = list(body.get("data") or [])
        self.run.objects_seen += len(data)
        return data, bool(body.get("has_more"))

    def pages(self, path: str, params: dict) -> Iterator[list[dict]]:
        """Newest first, a page (up to 100 objects) at a time, following ``starting_after``."""
        params = {**params, "limit": PAGE_SIZE}
        while True:
            data, has_more = self.page(path, params)
            if data:
                yield data
            if not has_more or not data:
                return
            params = {**params, "starting_after": data[-1]["id"]}

    def objects(self, path: str, params: dict) -> Iterator[dict]:
        """Newest first, 100 per page, following ``starting_after``; counts pages."""
        for page in self.pages(path, params):
            yield from page

    def _renew_lease(self) -> None:
        if self.lock_token and time.monotonic() - self._lease_renewed > RENEW_AFTER_SECONDS:
            self.connection.renew_lock(self.lock_token, timezone.now() + LOCK_TTL)
            self._lease_renewed = time.monotonic()
