"""Fixed-window counters in the Django cache (Redis when configured, else per process)."""

import functools
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render


def anonymous(value: str) -> str:
    """A keyed digest for counter keys, so caches never hold raw IP addresses or user names."""
    return hmac.new(
        settings.SECRET_KEY.encode(), value.encode("utf-8", "replace"), hashlib.sha256
    ).hexdigest()[:24]


def hit(key: str, limit: int, window_seconds: int, now: float | None = None) -> bool:
    """Count one event for ``key``; True while the count in the current window is within ``limit``."""
    if limit <= 0:
        return True
    return count(key, window_seconds, now) <= limit


def peek(key: str, window_seconds: int, now: float | None = None) -> int:
    window = int((now if now is not None else time.time()) // window_seconds)
    return cache.get(f"rl:{key}:{window}", 0)


def count(key: str, window_seconds: int, now: float | None = None) -> int:
    """Add one to ``key``'s counter in the current window and return the new count."""
    window = int((now if now is not None else time.time()) // window_seconds)
    cache_key = f"rl:{key}:{window}"
    # Both steps are atomic (Redis: SET NX, then INCR; LocMem: under its lock), so concurrent
    # callers, in one process or many, never lose a count: no read-modify-write anywhere.
    for _ in range(3):
        if cache.add(cache_key, 1, timeout=window_seconds + 1):
            return 1
        try:
            return cache.incr(cache_key)
        except ValueError:
            continue  # expired between add and incr: add again
    return 1


def throttle_posts(
    keys: Callable[..., Iterable[str]], *, limit_setting: str, window_seconds: int, message: str
) -> Callable:
    """View decorator: every POST counts once on each of ``keys(request, kwargs)``; past the limit
    (the setting named ``limit_setting``; 0: no limit) on any of them it is answered 429 with
    ``message`` and a Retry-After, and the view does not run."""

    def decorator(view):
        @functools.wraps(view)
        def throttled(request, *args, **kwargs):
            limit = getattr(settings, limit_setting)
            if request.method == "POST" and limit > 0:
                now = time.time()
                if any(count(key, window_seconds, now) > limit for key in list(keys(request, kwargs))):
                    response = render(request, "throttled.html", {"message": message}, status=429)
                    response["Retry-After"] = str(int(window_seconds - now % window_seconds) + 1)
                    return response
            return view(request, *args, **kwargs)

        return throttled

    return decorator
