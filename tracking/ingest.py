"""Page-view ingest: parse → drop bots → resolve site → check hostname → enrich → hash → session → store.

``parse_event`` turns a request body into an ``Event`` or raises ``BadEvent``; ``ingest`` runs the named
steps and returns ``Accepted`` or ``Dropped(reason)``. The view maps those to status codes. Nothing here
stores the IP address or the user agent: they only feed the daily-salted visitor hash and enrichment.
"""

import datetime as dt
import json
import re
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction

from tracking import enrich, sessions, visitors
from tracking.models import Session, Site, View

MAX_BODY_BYTES = 8 * 1024
MAX_URL_LENGTH = 2048
MAX_PAGE_LENGTH = 500
SITE_ID_RE = re.compile(r"^[a-z0-9]{7}$")
VIEW_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
VARIANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BadEvent(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


class UnknownSite(Exception):
    pass


@dataclass(frozen=True)
class Event:
    site: str
    view_id: str
    url: str
    hostname: str
    path: str
    referrer: str
    screen_width: int | None
    variant: str


@dataclass(frozen=True)
class Visitor:
    """What the request tells about the browser. Used in memory only, never stored."""

    ip: str
    user_agent: str
    country_header: str = ""


@dataclass(frozen=True)
class Accepted:
    view: View
    duplicate: bool = False


@dataclass(frozen=True)
class Dropped:
    reason: str


def _string(data: dict, key: str, *, required: bool, max_length: int) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise BadEvent(f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise BadEvent(f"{key} must be a string")
    if len(value) > max_length:
        raise BadEvent(f"{key} is longer than {max_length} characters")
    return value


def parse_event(body: bytes) -> Event:
    """Validate a raw body strictly. Raises BadEvent (400, or 413 for an oversized body)."""
    if len(body) > MAX_BODY_BYTES:
        raise BadEvent(f"body is larger than {MAX_BODY_BYTES} bytes", status=413)
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadEvent("body is not UTF-8") from None
    except (json.JSONDecodeError, RecursionError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
        raise BadEvent(f"body is not valid JSON: {message}") from None
    if not isinstance(data, dict):
        raise BadEvent("body must be a JSON object")

    event_type = data.get("type", "pageview")
    if event_type != "pageview":
        raise BadEvent('type must be "pageview"')
    site = _string(data, "site", required=True, max_length=16)
    if not SITE_ID_RE.match(site):
        raise BadEvent("site must be a 7-character site id")
    view_id = _string(data, "view_id", required=True, max_length=64)
    if not VIEW_ID_RE.match(view_id):
        raise BadEvent("view_id must be 16 to 64 URL-safe characters (A-Z, a-z, 0-9, - and _)")
    url = _string(data, "url", required=True, max_length=MAX_URL_LENGTH)
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
    except ValueError:
        raise BadEvent("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise BadEvent("url must be an absolute http(s) URL")
    referrer = _string(data, "referrer", required=False, max_length=MAX_URL_LENGTH)
    screen_width = data.get("screen_width")
    if screen_width is not None and (
        isinstance(screen_width, bool)
        or not isinstance(screen_width, int)
        or not 0 <= screen_width <= 100_000
    ):
        raise BadEvent("screen_width must be an integer between 0 and 100000")
    variant = _string(data, "variant", required=False, max_length=64)
    if variant and not VARIANT_RE.match(variant):
        raise BadEvent("variant must be up to 64 URL-safe characters")
    path = (parts.path or "/")[:MAX_PAGE_LENGTH]
    return Event(
        site=site,
        view_id=view_id,
        url=url,
        hostname=hostname,
        path=path,
        referrer=referrer,
        screen_width=screen_width,
        variant=variant,
    )


_site_cache: dict[str, tuple[float, Site | None]] = {}
_SITE_CACHE_SECONDS = 30.0


def resolve_site(public_id: str) -> Site | None:
    """Site lookup with a short in-process cache (a hot path: every hit needs it)."""
    now = time.monotonic()
    cached = _site_cache.get(public_id)
    if cached is not None and cached[0] > now:
        return cached[1]
    site = Site.objects.filter(public_id=public_id).first()
    if len(_site_cache) > 10_000:
        _site_cache.clear()
    _site_cache[public_id] = (now + _SITE_CACHE_SECONDS, site)
    return site


def forget_site(public_id: str) -> None:
    _site_cache.pop(public_id, None)


def ingest(event: Event, visitor: Visitor, now: dt.datetime) -> Accepted | Dropped:
    """Store one page view, idempotently by (site, view_id). Raises UnknownSite."""
    reason = enrich.bot_reason(visitor.user_agent)
    if reason:
        return Dropped(reason)
    site = resolve_site(event.site)
    if site is None:
        raise UnknownSite(event.site)
    if not site.owns_hostname(event.hostname):
        return Dropped("hostname_mismatch")

    existing = View.objects.filter(site=site, view_id=event.view_id).first()
    if existing is not None:
        return Accepted(existing, duplicate=True)

    hashes = visitors.visitor_hashes(now, site.pk, visitor.ip, visitor.user_agent)
    try:
        with transaction.atomic():
            sessions.lock_visitor(hashes[0])
            session = sessions.find_open_session(site, hashes, now)
            if session is None:
                session = _open_session(site, event, visitor, hashes[0], now)
            else:
                sessions.extend_session(session, event.path, now)
            view = View.objects.create(
                site=site,
                session=session,
                view_id=event.view_id,
                created_at=now,
                hostname=event.hostname[:253],
                page=event.path,
                screen_width=event.screen_width,
                variant=event.variant,
            )
    except IntegrityError:
        # The same view id raced in from a retried beacon: the whole step rolled back, keep the first.
        return Accepted(View.objects.get(site=site, view_id=event.view_id), duplicate=True)
    return Accepted(view)


def _open_session(site: Site, event: Event, visitor: Visitor, visitor_hash: str, now: dt.datetime) -> Session:
    referrer = enrich.referrer_source(event.referrer, site.domain)
    utm = enrich.utm_from_url(event.url)
    client = enrich.parse_user_agent(visitor.user_agent, event.screen_width)
    return Session.objects.create(
        site=site,
        visitor_hash=visitor_hash,
        started_at=now,
        last_seen_at=now,
        pageviews=1,
        entry_page=event.path,
        exit_page=event.path,
        hostname=event.hostname[:253],
        referrer=referrer.source[:253],
        referrer_domain=referrer.domain[:253],
        channel=enrich.channel(referrer.source, referrer.domain, utm, enrich.click_ids_from_url(event.url)),
        utm_source=utm.source,
        utm_medium=utm.medium,
        utm_campaign=utm.campaign,
        utm_term=utm.term,
        utm_content=utm.content,
        country=enrich.country_for(visitor.ip, visitor.country_header),
        browser=client.browser[:64],
        os=client.os[:64],
        device=client.device,
    )
