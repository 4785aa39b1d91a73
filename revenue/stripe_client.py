"""The one seam to Stripe: builds the official client, throttles it and counts its calls.

Nothing else in the project imports ``stripe`` to make requests. Tests and the demo point
``STRIPE_API_BASE`` at the project's fake Stripe server; the code path is the same.
"""

import logging
import random
import re
import threading
import time
from dataclasses import dataclass, field

import stripe
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

API_VERSION = "2026-10-28.endive"
logger = logging.getLogger(__name__)


@dataclass
class CallCounter:
    calls: int = 0
    by_path: dict[str, int] = field(default_factory=dict)

    def add(self, url: str) -> None:
        path = url.split("?", 1)[0]
        for prefix in ("http://", "https://"):
            if path.startswith(prefix):
                path = "/" + path[len(prefix) :].split("/", 1)[-1]
        self.calls += 1
        self.by_path[path] = self.by_path.get(path, 0) + 1


class ThrottledRequestsClient(stripe.RequestsClient):
    """Stays under a request rate and backs off on plain 429s.

    Stripe's limit is per account and shared with the merchant's own traffic, so the sync keeps well
    below it. The stripe library retries a 429 only when Stripe sends ``Stripe-Should-Retry: true``;
    a plain 429 would raise at once, so we wait and try again here, transparently to list paging.
    """

    def __init__(
        self, *, requests_per_second: float, counter: CallCounter, rate_limit_retries: int = 4, **kwargs
    ):
        super().__init__(**kwargs)
        self._interval = 1.0 / requests_per_second if requests_per_second > 0 else 0.0
        self._next_slot = 0.0
        self._lock = threading.Lock()
        self.counter = counter
        self.rate_limit_retries = rate_limit_retries
        self.backoff_base = settings.STRIPE_BACKOFF_SECONDS

    def _wait_for_slot(self) -> None:
        if not self._interval:
            return
        with self._lock:
            now = time.monotonic()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + self._interval
        if wait > 0:
            time.sleep(wait)

    def request(self, method, url, headers, post_data=None):
        attempt = 0
        while True:
            self._wait_for_slot()
            self.counter.add(url)
            response = super().request(method, url, headers, post_data)
            _, status, response_headers = response
            should_retry_header = response_headers is not None and "stripe-should-retry" in response_headers
            if status != 429 or should_retry_header or attempt >= self.rate_limit_retries:
                return response
            attempt += 1
            delay = self.backoff_base * (2 ** (attempt - 1))
            time.sleep(delay * (0.5 + random.random() / 2))


def is_live_key(secret_key: str) -> bool:
    return secret_key.startswith(("sk_live_", "rk_live_"))


def key_hint(secret_key: str) -> str:
    """``sk_live_…4242``: enough to recognise a key, never enough to use it."""
    prefix = "_".join(secret_key.split("_")[:2]) + "_" if secret_key.count("_") >= 2 else ""
    return f"{prefix}…{secret_key[-4:]}"


def requests_per_second(secret_key: str) -> float:
    if is_live_key(secret_key):
        return settings.STRIPE_REQUESTS_PER_SECOND_LIVE
    return settings.STRIPE_REQUESTS_PER_SECOND_TEST


ACCOUNT_ID_RE = re.compile(r"^acct_[A-Za-z0-9]{1,64}$")


@sensitive_variables("secret_key")
def build_client(
    secret_key: str, counter: CallCounter | None = None, *, account_id: str = ""
) -> tuple[stripe.StripeClient, CallCounter]:
    """The client for one connection. With ``account_id`` (Connect), every request carries
    ``Stripe-Account`` and reads that connected account with the platform's key."""
    counter = counter or CallCounter()
    http_client = ThrottledRequestsClient(
        timeout=settings.STRIPE_TIMEOUT_SECONDS,
        requests_per_second=requests_per_second(secret_key),
        counter=counter,
    )
    client = stripe.StripeClient(
        secret_key,
        base_addresses={"api": settings.STRIPE_API_BASE},
        max_network_retries=settings.STRIPE_MAX_NETWORK_RETRIES,
        http_client=http_client,
        stripe_version=API_VERSION,
        stripe_account=account_id or None,
    )
    return client, counter


# Every list endpoint the sync reads, with the restricted-key permission Stripe names for it.
READ_ENDPOINTS = (
    ("charges", "rak_charge_read"),
    ("refunds", "rak_charge_read"),
    ("disputes", "rak_dispute_read"),
    ("payment_intents", "rak_payment_intent_read"),
    ("invoices", "rak_invoice_read"),
    ("subscriptions", "rak_subscription_read"),
    ("checkout.sessions", "rak_checkout_session_read"),
    ("customers", "rak_customer_read"),
    ("balance_transactions", "rak_balance_transaction_source_read"),
    ("events", "rak_event_read"),
)
REQUIRED_PERMISSIONS = tuple(dict.fromkeys(permission for _, permission in READ_ENDPOINTS))
_PERMISSION_RE = re.compile(r"\b(rak_[a-z_]+)\b")


class KeyProblem(Exception):
    """Why a key cannot be used, in words for the person who pasted it."""


KEY_FORMAT_RE = re.compile(r"^(sk|rk)_(live|test)_[A-Za-z0-9]{8,247}$")


@sensitive_variables("secret_key")
def check_key(secret_key: str, account_id: str = "") -> None:
    """Call every endpoint the sync uses with ``limit=1`` (as the connected account, if one is
    named). Raises KeyProblem naming what is wrong."""
    if not KEY_FORMAT_RE.match(secret_key):
        raise KeyProblem(
            "This does not look like a Stripe secret or restricted key (it starts with sk_live_, sk_test_, "
            "rk_live_ or rk_test_)."
        )
    if account_id and not ACCOUNT_ID_RE.match(account_id):
        raise KeyProblem(
            "A connected account id looks like acct_1A2b3C… (leave it empty for your own account)."
        )
    client, _ = build_client(secret_key, account_id=account_id)
    missing: list[str] = []
    for path, permission in READ_ENDPOINTS:
        resource = client.v1
        for part in path.split("."):
            resource = getattr(resource, part)
        try:
            resource.list(params={"limit": 1})
        except stripe.AuthenticationError:
            raise KeyProblem(
                "Stripe rejected this key. Check that you copied the whole key and that it is not revoked."
            ) from None
        except stripe.PermissionError as exc:
            if "does not have access to account" in str(exc.user_message or exc):
                raise KeyProblem(
                    f"This key cannot read the account {account_id}: check that it is connected to your "
                    "platform and that the key is your platform's."
                ) from None
            named = _PERMISSION_RE.findall(str(exc.user_message or exc))
            missing.extend(named or [permission])
        except (stripe.APIConnectionError, stripe.RateLimitError, stripe.APIError):
            raise KeyProblem(
                "Could not reach Stripe to check this key. Nothing was saved; try again in a minute."
            ) from None
        except stripe.StripeError as exc:
            raise KeyProblem(f"Stripe refused the check: {exc.user_message or exc}") from None
        except Exception as exc:
            # Never let a crash carry the key into an error report (frames hold it): say what broke.
            logger.error("Checking a Stripe key failed unexpectedly: %s", type(exc).__name__)
            raise KeyProblem("Checking the key failed unexpectedly. Nothing was saved; try again.") from None
    if missing:
        names = ", ".join(dict.fromkeys(missing))
        raise KeyProblem(
            f"This restricted key is missing read permissions: {names}. "
            "Grant them in the Stripe Dashboard and save again."
        )
