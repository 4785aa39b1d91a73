"""Why page views and custom events were refused: per site, reason and hour counts for Settings → General.

Ingest calls ``count_drop`` for every view or event it drops (a bot, a page on another host, an event
name or property key beyond the site's limits). Counting must not
cost the hot path much during a bot flood, so each process writes a given counter at most once a second
and adds what it counted meanwhile on its next write; a process that stops may lose its last second.
Counts older than two days are deleted whenever a site starts a new counter.
"""

import datetime as dt
import threading
import time
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from tracking import bots, events
from tracking.models import DropCount, Site

WINDOW = dt.timedelta(hours=24)
KEEP = dt.timedelta(days=2)
_WRITE_EVERY_SECONDS = 1.0
_SITE_IDS_SECONDS = 30.0

_lock = threading.Lock()
_pending: dict[tuple[int, dt.datetime, str, str], int] = {}
_last_write: dict[tuple[int, dt.datetime, str, str], float] = {}
_site_ids: dict[str, tuple[float, int | None]] = {}

LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")

# What each reason means and what the owner can do about it.
EXPLANATIONS = {
    "hostname_mismatch": (
        "The page is not on this site's domain or a subdomain of it.",
        "If that host is yours, change the domain in General below (subdomains count), or add a site for it.",
    ),
    "local_page": (
        "The page was on your own machine (localhost), which is not this site's domain.",
        "Expected while you develop. To count local views, add a site with the domain localhost.",
    ),
    bots.HEADLESS_BROWSER: (
        "A headless browser (Puppeteer, Playwright, Selenium…) announced itself in its user agent.",
        "Usually automated tests or scrapers. Nothing to do; test with a normal browser to see your views.",
    ),
    bots.CRAWLER: ("A search-engine or other crawler.", "Nothing to do: crawlers are not visitors."),
    bots.BOT_USER_AGENT: ("A user agent that calls itself a bot or spider.", "Nothing to do."),
    bots.LINK_PREVIEW: (
        "A link-preview fetcher (Slack, Twitter, WhatsApp…) opened the page to draw a preview.",
        "Nothing to do: previews are not visits.",
    ),
    bots.UPTIME_MONITOR: ("An uptime or speed monitor.", "Nothing to do."),
    bots.HTTP_LIBRARY: (
        "A program (curl, Python requests, Go…) rather than a browser.",
        "If you are testing with curl, send a browser's User-Agent header.",
    ),
    bots.EMPTY_USER_AGENT: ("The request had no user agent.", "Usually a script or a privacy proxy."),
    events.EVENT_LIMIT: (
        "A custom event brought a new event name or property key when the site already had as many "
        "distinct ones as it may keep (500 names and 200 property keys unless your install sets other "
        "limits). Events whose name and keys were seen before are still counted.",
        "Check Humblytics.track calls in your pages: names and property keys should be a fixed list, with "
        "anything variable (ids, prices, e-mails) in property values instead.",
    ),
    bots.SHORT_USER_AGENT: ("The user agent was too short to be a browser's.", "Usually a script."),
}


def count_drop(site_public_id: str, reason: str, hostname: str = "", now: dt.datetime | None = None) -> None:
    """Count one dropped view or event of the site with this public id (unknown ids are ignored). A page on a
    local host counts as ``local_page`` rather than ``hostname_mismatch``."""
    site_id = _site_id(site_public_id)
    if site_id is None:
        return
    if reason == "hostname_mismatch" and hostname.lower() in LOCAL_HOSTS:
        reason = "local_page"
    host = hostname[:253] if reason == "hostname_mismatch" else ""
    now = now or dt.datetime.now(dt.UTC)
    key = (site_id, now.replace(minute=0, second=0, microsecond=0), reason, host)
    clock = time.monotonic()
    with _lock:
        _pending[key] = _pending.get(key, 0) + 1
        if clock - _last_write.get(key, -_WRITE_EVERY_SECONDS) < _WRITE_EVERY_SECONDS:
            return
        _last_write[key] = clock
        count = _pending.pop(key)
        if len(_last_write) > 10_000:
            _last_write.clear()
    _add(key, count)


def _site_id(public_id: str) -> int | None:
    clock = time.monotonic()
    cached = _site_ids.get(public_id)
    if cached is not None and cached[0] > clock:
        return cached[1]
    site_id = Site.objects.filter(public_id=public_id).values_list("pk", flat=True).first()
    if len(_site_ids) > 10_000:
        _site_ids.clear()
    _site_ids[public_id] = (clock + _SITE_IDS_SECONDS, site_id)
    return site_id


def _add(key: tuple[int, dt.datetime, str, str], count: int) -> None:
    site_id, hour, reason, hostname = key
    rows = DropCount.objects.filter(site_id=site_id, hour=hour, reason=reason, hostname=hostname)
    if rows.update(count=F("count") + count):
        return
    try:
        with transaction.atomic():
            DropCount.objects.create(
                site_id=site_id, hour=hour, reason=reason, hostname=hostname, count=count
            )
    except IntegrityError:
        # Another process created the row first.
        rows.update(count=F("count") + count)
    else:
        # A new counter (at most one per site, reason and hour): the moment to forget the site's old ones.
        forget_old(hour, site_id=site_id)


def reset_for_tests() -> None:
    with _lock:
        _pending.clear()
        _last_write.clear()
    _site_ids.clear()


@dataclass(frozen=True)
class DropSummary:
    reason: str
    hostname: str
    count: int
    what: str
    fix: str


def recent_drops(site: Site, now: dt.datetime) -> list[DropSummary]:
    """The last 24 hours' drops of ``site`` by reason (and host), most first."""
    rows = (
        DropCount.objects.filter(site=site, hour__gte=now - WINDOW)
        .values("reason", "hostname")
        .annotate(total=Sum("count"))
        .order_by("-total", "reason", "hostname")
    )
    unknown = ("Refused for this reason.", "")
    return [
        DropSummary(row["reason"], row["hostname"], row["total"], *EXPLANATIONS.get(row["reason"], unknown))
        for row in rows
    ]


def forget_old(now: dt.datetime, *, site_id: int | None = None) -> int:
    """Delete counts older than two days (of one site, or all). Idempotent."""
    rows = DropCount.objects.filter(hour__lt=now - KEEP)
    if site_id is not None:
        rows = rows.filter(site_id=site_id)
    count, _ = rows.delete()
    return count
