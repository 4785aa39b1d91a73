"""Demo traffic through the real ingest pipeline (``parse_event`` → ``ingest`` with a past ``now``), so
sessions, channels, countries and devices are what the product itself derives.

Besides page views, visitors do what the snippet reports as custom events: the sign-up form at
checkout sends ``Form: Submission`` and ``Signup`` {plan} (``Humblytics.track``) and most then land on
``/thanks/<plan>``; docs and blog readers follow outbound links (``Outbound Link: Click`` {url}) and
subscribe to the newsletter (``Form: Submission`` {path, form}), with the names and props the
automatic-events script sends. Those are drawn from their own generator, so the page views of the
visits are the same with or without them."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

from humblytics.demo.audience import (
    BOT_USER_AGENTS,
    HOUR_WEIGHTS,
    SESSION_LENGTHS,
    SOURCES,
    Source,
    Visitor,
    next_page,
    pick,
    visitors,
)
from humblytics.demo.shop import DEMO_DOMAIN, SEED, TEST_PAGE, TEST_VARIANT_PAGE, Log
from tracking import events as tracking_events
from tracking import ingest as tracking_ingest
from tracking.models import Site

# Sessions per day at scale 1, before weekday rhythm, growth and noise: ~12k views over 90 days,
# which ingest stores in ~40 s on a small machine with SQLite.
BASE_SESSIONS_PER_DAY = 68

# Of visits that end on /checkout, the share that sends the sign-up form, and of those the share that
# reaches the thank-you page (the others close the tab first).
SIGNUP_SHARE = 0.55
THANKS_SHARE = 0.85
PLANS = (("starter", 5), ("pro", 3), ("team", 1))
# Per docs or blog view: an outbound click; per blog view: a newsletter subscription.
OUTBOUND_SHARE = 0.07
NEWSLETTER_SHARE = 0.04
OUTBOUND_URLS = {
    "/docs": (
        "https://github.com/humblytics/examples",
        "https://docs.stripe.com/payments/payment-intents",
        "https://docs.djangoproject.com/en/5.2/",
    ),
    "/blog": (
        "https://news.ycombinator.com/item?id=41234567",
        "https://en.wikipedia.org/wiki/HTTP_cookie",
        "https://gdpr.eu/cookies/",
    ),
}


@dataclass
class TrafficSummary:
    views: int = 0
    sessions: int = 0
    events: int = 0
    dropped: Counter = field(default_factory=Counter)
    days: int = 0


@dataclass
class PlannedView:
    """A page view or a custom event. ``view_at``: for an event, or a thank-you page after a sign-up, the
    time of the view it follows (left out with that view when it is before the generated window)."""

    at: dt.datetime
    body: bytes
    visitor: tuple[str, str, str]
    view_at: dt.datetime | None = None


@dataclass(frozen=True)
class _Day:
    """One day of the generated period: ``index`` days before ``now`` (0 is today)."""

    index: int
    start: dt.datetime
    sessions: int
    spike: float


def _view_id(rng: random.Random) -> str:
    # What the snippet sends: 22 URL-safe characters from 16 random bytes.
    return base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode()


def _plan_session(
    rng: random.Random,
    site: Site,
    start: dt.datetime,
    visitor: Visitor,
    source: Source,
    test_running: bool,
    actions: random.Random,
) -> list[PlannedView]:
    """One visit: a landing view from its source, then SPA navigations (previous URL as referrer), and
    the custom events of the visit (``actions`` draws them)."""
    length = pick(rng, SESSION_LENGTHS)
    page = pick(rng, source.landings)
    query = source.query(rng, start.date()) if source.query else {}
    referrer = rng.choice(source.referrers)
    variant = ""
    views = []
    at = start
    for index in range(length):
        path = page
        view_variant = ""
        if page == TEST_PAGE and test_running:
            # The snippet assigns before first paint and reports the variant with the view.
            variant = variant or ("b" if rng.random() < 0.5 else "control")
            path = TEST_VARIANT_PAGE if variant == "b" else TEST_PAGE
            view_variant = variant
        url = f"https://{DEMO_DOMAIN}{path}"
        if index == 0 and query:
            url += "?" + urlencode(query)
        payload = {
            "site": site.public_id,
            "view_id": _view_id(rng),
            "url": url,
            "referrer": referrer,
            "screen_width": visitor.screen_width,
            "type": "pageview",
        }
        if view_variant:
            payload["variant"] = view_variant
        client = (visitor.ip, visitor.user_agent, visitor.country)
        views.append(PlannedView(at, json.dumps(payload).encode(), client))
        views += _plan_reading(actions, site, payload, path, at, client)
        last = (path, payload, at)
        if page == "/checkout" and rng.random() < 0.6:
            break
        referrer = url
        page = next_page(rng, page, variant)
        at = at + dt.timedelta(seconds=rng.randint(15, 240))
    last_path, last_view, last_at = last
    if last_path == "/checkout":
        views += _plan_signup(actions, site, last_view, last_at, visitor)
    return views


def _event(
    site: Site,
    view: dict,
    at: dt.datetime,
    client: tuple[str, str, str],
    view_at: dt.datetime,
    name: str,
    props: dict,
) -> PlannedView:
    """A custom event on ``view`` (sent at ``view_at``), as the snippet posts it."""
    body = {"site": site.public_id, "view_id": view["view_id"], "url": view["url"], "type": "event"}
    body |= {"name": name, "props": props}
    return PlannedView(at, json.dumps(body).encode(), client, view_at)


def _plan_reading(
    rng: random.Random, site: Site, view: dict, path: str, at: dt.datetime, client: tuple[str, str, str]
) -> list[PlannedView]:
    """A docs or blog reader's newsletter subscription and outbound click, 5 to 14 seconds into the
    view (the next view comes 15 seconds or more after it)."""
    section = path.split("/")[1] if path.count("/") > 1 else ""
    planned = []
    if section == "blog" and rng.random() < NEWSLETTER_SHARE:
        props = {"path": path, "form": "newsletter"}
        seconds = rng.randint(5, 9)
        planned.append(
            _event(site, view, at + dt.timedelta(seconds=seconds), client, at, "Form: Submission", props)
        )
    if section in ("blog", "docs") and rng.random() < OUTBOUND_SHARE:
        props = {"url": rng.choice(OUTBOUND_URLS[f"/{section}"])}
        seconds = rng.randint(10, 14)
        planned.append(
            _event(site, view, at + dt.timedelta(seconds=seconds), client, at, "Outbound Link: Click", props)
        )
    return planned


def _plan_signup(
    rng: random.Random, site: Site, view: dict, at: dt.datetime, visitor: Visitor
) -> list[PlannedView]:
    """A visit that ends on /checkout may send the sign-up form: the form's submission, the page's
    ``Humblytics.track("Signup", {plan})`` and, mostly, the thank-you page of the plan."""
    if rng.random() >= SIGNUP_SHARE:
        return []
    client = (visitor.ip, visitor.user_agent, visitor.country)
    plan = pick(rng, PLANS)
    sent = at + dt.timedelta(seconds=rng.randint(20, 150))
    form = {"path": "/checkout", "form": "signup"}
    planned = [
        _event(site, view, sent, client, at, "Form: Submission", form),
        _event(site, view, sent + dt.timedelta(seconds=1), client, at, "Signup", {"plan": plan}),
    ]
    if rng.random() < THANKS_SHARE:
        thanks = {
            "site": site.public_id,
            "view_id": _view_id(rng),
            "url": f"https://{DEMO_DOMAIN}/thanks/{plan}",
            "referrer": view["url"],
            "screen_width": visitor.screen_width,
            "type": "pageview",
        }
        planned.append(
            PlannedView(
                sent + dt.timedelta(seconds=rng.randint(2, 4)), json.dumps(thanks).encode(), client, at
            )
        )
    return planned


def _day(rng: random.Random, site: Site, *, now: dt.datetime, index: int, days: int, scale: float) -> _Day:
    """Weekends are quieter, traffic grows ~50% over the period and a Hacker News launch makes one spike."""
    start = now - dt.timedelta(days=index)
    progress = 1 - index / max(days, 1)
    rhythm = {5: 0.58, 6: 0.66}.get(start.astimezone(site.tzinfo).date().weekday(), 1.0)
    sessions = BASE_SESSIONS_PER_DAY * scale * rhythm * (0.8 + 0.45 * progress) * rng.uniform(0.88, 1.12)
    launch_day = max(1, days * 3 // 5)
    spike = 1.0 + (4.0 if index == launch_day else 1.2 if index == launch_day - 1 else 0)
    count = max(1, round(sessions + (spike - 1) * sessions * 0.25))
    return _Day(index, start, count, spike)


def _plan_visits(
    rng: random.Random,
    site: Site,
    day: _Day,
    pool: list[Visitor],
    test_started_at: dt.datetime | None,
    actions: random.Random,
) -> list[PlannedView]:
    planned: list[PlannedView] = []
    source_weights = [s.weight for s in SOURCES]
    for _ in range(day.sessions):
        visitor = rng.choice(pool)
        if day.spike > 1 and rng.random() < 1 - 1 / day.spike:
            source = next(s for s in SOURCES if s.name == "hackernews")
        else:
            source = rng.choices(SOURCES, weights=source_weights)[0]
        hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
        start = dt.datetime.combine(day.start.astimezone(dt.UTC).date(), dt.time(hour), dt.UTC)
        start += dt.timedelta(seconds=rng.randrange(3600))
        running = test_started_at is not None and start >= test_started_at
        planned.extend(_plan_session(rng, site, start, visitor, source, running, actions))
    return planned


def _plan_bots(rng: random.Random, site: Site, day: _Day) -> list[PlannedView]:
    """A few crawler hits a day, which ingest drops like on any real site."""
    planned = []
    for _ in range(rng.randint(2, 6)):
        start = day.start.replace(hour=rng.randrange(24), minute=rng.randrange(60))
        body = {"site": site.public_id, "view_id": _view_id(rng), "url": f"https://{DEMO_DOMAIN}/"}
        planned.append(
            PlannedView(start, json.dumps(body).encode(), ("203.0.113.7", rng.choice(BOT_USER_AGENTS), "US"))
        )
    return planned


def _ingest(planned: list[PlannedView], summary: TrafficSummary) -> None:
    for item in planned:
        event = tracking_ingest.parse_event(item.body)
        result = tracking_ingest.ingest(event, tracking_ingest.Visitor(*item.visitor), now=item.at)
        if isinstance(result, tracking_ingest.Dropped):
            summary.dropped[result.reason] += 1
        elif isinstance(result, tracking_events.Recorded):
            summary.events += not result.duplicate
        elif not result.duplicate:
            summary.views += 1
            if result.view.session.started_at == item.at:
                summary.sessions += 1


def generate_traffic(
    site: Site,
    *,
    now: dt.datetime,
    days: int,
    scale: float,
    test_started_at: dt.datetime | None,
    log: Log = lambda message: None,
) -> TrafficSummary:
    """Views and custom events for the ``days`` before ``now`` through the ingest pipeline, oldest first.

    Weekends are quieter, traffic grows ~50% over the period, a Hacker News launch makes one spike,
    and a few bot hits a day are dropped by ingest like on any real site.
    """
    rng = random.Random(SEED)
    actions = random.Random(SEED + 3)
    pool = visitors(rng, max(50, int(3000 * scale)))
    summary = TrafficSummary(days=days)
    window_start = now - dt.timedelta(days=days)
    for index in range(days, -1, -1):
        day = _day(rng, site, now=now, index=index, days=days, scale=scale)
        planned = _plan_visits(rng, site, day, pool, test_started_at, actions) + _plan_bots(rng, site, day)
        # Only the past: the window is (now - days, now], interleaved across visitors like real traffic.
        # An event goes with its page view: none whose view is before the window.
        planned = sorted(
            (
                p
                for p in planned
                if window_start < (p.view_at or p.at) and p.at <= now - dt.timedelta(minutes=1)
            ),
            key=lambda p: p.at,
        )
        _ingest(planned, summary)
        if index and index % 30 == 0 and index != days:
            log(f"  {days - index} of {days} days: {summary.views:,} views")
    return summary
