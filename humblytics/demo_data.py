"""Demo data for a first run: a demo login, a demo site, traffic, payments and a running split test.

Traffic goes through the real ingest pipeline (``parse_event`` → ``ingest`` with a past ``now``), so
sessions, channels, countries and devices are what the product itself derives. Payments are built in
the project's fake Stripe server and imported by the real sync, so attribution is the real one too.

Everything is deterministic: a fixed seed, view timestamps relative to the moment of generation, and
a payment plan computed from the stored views alone. That last point matters because the fake Stripe
keeps its state in memory: on a later ``make run`` it starts empty, and replaying the same plan into
it recreates the very same Stripe ids (the fake numbers them in creation order), so the next sync
finds nothing new instead of failing on a cursor that no longer exists or importing doubles.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from revenue.connections import connect_stripe
from revenue.fakestripe import FakeStripeControl, FakeStripeControlError
from revenue.models import VIEW_ID_KEY, Payment, StripeConnection, SyncRun
from revenue.stripe_client import KeyProblem
from revenue.sync import describe, sync_connection
from splittests.lifecycle import TestSpec, VariantSpec, create_test
from splittests.models import SplitTest
from tracking import ingest as tracking_ingest
from tracking.models import Membership, Site, View
from tracking.sites import create_site
from tracking.visitors import rotate_salts

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo-humblytics"
DEMO_EMAIL = "demo@example.com"
DEMO_SITE_NAME = "Demo Shop"
DEMO_DOMAIN = "shop.example.com"
DEMO_TIMEZONE = "Europe/Berlin"
# The fake serves any key it is started with; check_key wants 8+ characters after the prefix.
DEMO_STRIPE_KEY = "sk_test_humblyticsdemo"
SEED = 20_250_401
TEST_NAME = "Pricing page: annual plan first"
TEST_PAGE = "/pricing"
TEST_VARIANT_PAGE = "/pricing-b"
# Sessions per day at scale 1, before weekday rhythm, growth and noise: ~12k views over 90 days,
# which ingest stores in ~40 s on a small machine with SQLite.
BASE_SESSIONS_PER_DAY = 68

Log = Callable[[str], None]


# ---------------------------------------------------------------------------------------------------
# The demo login and site
# ---------------------------------------------------------------------------------------------------


def ensure_user():
    """The demo user, created with the documented password if missing. Returns (user, created)."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    if user is not None:
        return user, False
    return user_model.objects.create_user(DEMO_USERNAME, DEMO_EMAIL, DEMO_PASSWORD), True


def find_site(user) -> Site | None:
    return (
        Site.objects.filter(
            domain=DEMO_DOMAIN, memberships__user=user, memberships__role=Membership.Role.OWNER
        )
        .order_by("pk")
        .first()
    )


def delete_site(site: Site) -> None:
    """The site and everything hanging off it (sessions, views, payments, connection, split tests)."""
    public_id = site.public_id
    site.delete()
    tracking_ingest.forget_site(public_id)


# ---------------------------------------------------------------------------------------------------
# Traffic
# ---------------------------------------------------------------------------------------------------

# Real browser user agents: (user agent, screen widths, weight).
BROWSERS = [
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        (1920, 1536, 1366, 1280),
        30,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15",
        (1440, 1512, 1728),
        12,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36",
        (1440, 1512, 1920),
        11,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        (390, 393, 430, 375),
        16,
    ),
    (
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Mobile Safari/537.36",
        (412, 384, 360),
        11,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        (384, 412),
        2,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
        (1920, 1536, 2560),
        6,
    ),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0", (1920, 2560), 3),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
        (1920, 1536, 1280),
        5,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        (820, 1024, 768),
        4,
    ),
]
# Crawlers and scripts the pipeline drops; a few a day, as on any real site.
BOT_USER_AGENTS = [
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 "
    "Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
]
COUNTRIES = {
    "US": 30,
    "DE": 13,
    "GB": 9,
    "FR": 6,
    "IN": 6,
    "CA": 5,
    "NL": 4,
    "BR": 3,
    "JP": 3,
    "AU": 3,
    "ES": 3,
    "SE": 2,
    "PL": 2,
    "IT": 2,
    "CH": 2,
    "AT": 2,
    "SG": 1,
    "MX": 1,
}
EURO_COUNTRIES = frozenset({"DE", "FR", "NL", "ES", "IT", "AT"})

BLOG_POSTS = [
    "/blog/cookie-free-analytics",
    "/blog/stripe-revenue-attribution",
    "/blog/ab-testing-pricing-pages",
    "/blog/gdpr-without-banners",
    "/blog/spa-tracking",
]
DOCS_PAGES = [
    "/docs/getting-started",
    "/docs/install-snippet",
    "/docs/stripe",
    "/docs/split-tests",
    "/docs/api",
]


@dataclass(frozen=True)
class Source:
    """One way visitors arrive: a referrer and/or a landing URL query, and likely landing pages."""

    name: str
    weight: float
    referrers: tuple[str, ...] = ("",)
    query: Callable[[random.Random, dt.date], dict[str, str]] | None = None
    landings: tuple[tuple[str, float], ...] = (("/", 1.0),)


def _newsletter(rng: random.Random, day: dt.date) -> dict[str, str]:
    return {
        "utm_source": "newsletter",
        "utm_medium": "email",
        "utm_campaign": f"{day:%Y-%m}-product-update",
    }


def _google_ads(rng: random.Random, day: dt.date) -> dict[str, str]:
    campaign = rng.choice(["brand", "brand", "competitors", "cookie-free-analytics"])
    return {
        "utm_source": "google",
        "utm_medium": "cpc",
        "utm_campaign": campaign,
        "gclid": base64.urlsafe_b64encode(rng.randbytes(18)).decode(),
    }


def _facebook_ads(rng: random.Random, day: dt.date) -> dict[str, str]:
    return {"utm_source": "facebook", "utm_medium": "paid_social", "utm_campaign": "retarget-pricing"}


def _fbclid(rng: random.Random, day: dt.date) -> dict[str, str]:
    return {"fbclid": base64.urlsafe_b64encode(rng.randbytes(24)).decode()}


def _chatgpt(rng: random.Random, day: dt.date) -> dict[str, str]:
    return {"utm_source": "chatgpt.com"} if rng.random() < 0.5 else {}


def _product_hunt(rng: random.Random, day: dt.date) -> dict[str, str]:
    return {"ref": "producthunt"}


CONTENT = tuple((page, 1.0) for page in BLOG_POSTS) + tuple((page, 0.6) for page in DOCS_PAGES)
SOURCES = [
    Source(
        "direct", 21, landings=(("/", 6), ("/pricing", 2), ("/docs/getting-started", 1.5), ("/features", 1))
    ),
    Source(
        "google",
        24,
        ("https://www.google.com/", "https://www.google.de/", "https://www.google.co.uk/"),
        landings=(("/", 3), ("/features", 1), *CONTENT),
    ),
    Source("bing", 3, ("https://www.bing.com/",), landings=(("/", 2), *CONTENT)),
    Source("duckduckgo", 3, ("https://duckduckgo.com/",), landings=(("/", 2), *CONTENT)),
    Source(
        "twitter",
        5,
        ("https://t.co/",),
        landings=(("/", 2), ("/blog/cookie-free-analytics", 2), ("/pricing", 1)),
    ),
    Source(
        "reddit",
        4,
        ("https://www.reddit.com/r/SaaS/", "https://www.reddit.com/r/webdev/", "https://old.reddit.com/"),
        landings=(("/", 2), ("/blog/gdpr-without-banners", 2), ("/blog/cookie-free-analytics", 1)),
    ),
    Source(
        "hackernews",
        4,
        ("https://news.ycombinator.com/",),
        landings=(("/", 3), ("/blog/stripe-revenue-attribution", 2), ("/blog/spa-tracking", 1)),
    ),
    Source(
        "linkedin",
        3,
        ("https://www.linkedin.com/",),
        landings=(("/", 2), ("/blog/ab-testing-pricing-pages", 2)),
    ),
    Source("facebook", 2, ("https://l.facebook.com/",), _fbclid, landings=(("/", 2), ("/features", 1))),
    Source(
        "github",
        3,
        ("https://github.com/",),
        landings=(("/docs/getting-started", 3), ("/docs/api", 2), ("/", 1)),
    ),
    Source(
        "chatgpt",
        3,
        ("https://chatgpt.com/",),
        _chatgpt,
        landings=(("/", 2), ("/pricing", 2), ("/features", 1)),
    ),
    Source(
        "newsletter",
        6,
        ("",),
        _newsletter,
        landings=(("/blog/ab-testing-pricing-pages", 2), ("/features", 1)),
    ),
    Source(
        "google_ads",
        7,
        ("https://www.google.com/",),
        _google_ads,
        landings=(("/pricing", 3), ("/features", 2), ("/", 1)),
    ),
    Source(
        "facebook_ads", 2, ("https://m.facebook.com/",), _facebook_ads, landings=(("/pricing", 2), ("/", 1))
    ),
    Source("producthunt", 2, ("https://www.producthunt.com/",), _product_hunt, landings=(("/", 1),)),
]
# Where a visitor goes next from a page (a stop is drawn separately, by session length).
NEXT_PAGES = {
    "/": (("/features", 3), ("/pricing", 3.5), ("/blog", 1.5), ("/docs", 2)),
    "/features": (("/pricing", 5.5), ("/docs", 2.5), ("/", 2)),
    "/blog": (("/pricing", 3), ("/", 3), ("/blog", 2.5), ("/features", 1.5)),
    "/docs": (("/docs", 5), ("/pricing", 3), ("/", 2)),
    "/pricing": (("/checkout", 3), ("/features", 2.5), ("/docs", 2), ("/", 1.5)),
    "/checkout": (("/docs", 5), ("/", 5)),
}
# Share of /pricing views that go on to /checkout per variant: "annual plan first" sells better.
CHECKOUT_WEIGHT = {"": 3.0, "control": 2.8, "b": 3.3}
SESSION_LENGTHS = ((1, 45), (2, 22), (3, 15), (4, 10), (5, 8))
# UTC hours, weighted: Europe in the morning, the Americas in the evening.
HOUR_WEIGHTS = [1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 9, 10, 10, 9, 9, 8, 7, 6, 4, 3, 2]


def _pick(rng: random.Random, weighted) -> object:
    items, weights = zip(*weighted, strict=True)
    return rng.choices(items, weights=weights)[0]


def _view_id(rng: random.Random) -> str:
    # What the snippet sends: 22 URL-safe characters from 16 random bytes.
    return base64.urlsafe_b64encode(rng.randbytes(16)).rstrip(b"=").decode()


@dataclass
class Visitor:
    ip: str
    user_agent: str
    screen_width: int
    country: str


def _visitors(rng: random.Random, count: int) -> list[Visitor]:
    """A pool of people: documentation-range IPs (never a real person's) plus a country header."""
    pool = []
    browsers = [(ua, widths) for ua, widths, _ in BROWSERS]
    weights = [w for _, _, w in BROWSERS]
    countries, country_weights = zip(*COUNTRIES.items(), strict=True)
    for index in range(count):
        ua, widths = rng.choices(browsers, weights=weights)[0]
        if index % 3 == 0:
            ip = f"2001:db8:{rng.randrange(1, 0xFFFF):x}::{rng.randrange(1, 0xFFFF):x}"
        else:
            ip = f"{rng.choice(['192.0.2', '198.51.100', '203.0.113'])}.{rng.randrange(1, 255)}"
        pool.append(Visitor(ip, ua, rng.choice(widths), rng.choices(countries, weights=country_weights)[0]))
    return pool


def _next_page(rng: random.Random, page: str, variant: str) -> str:
    section = "/" + page.strip("/").split("/")[0] if page != "/" else "/"
    if section == "/pricing-b":
        section = "/pricing"
    choices = NEXT_PAGES[section]
    if section == "/pricing":
        choices = tuple((p, CHECKOUT_WEIGHT[variant] if p == "/checkout" else w) for p, w in choices)
    target = _pick(rng, choices)
    if target == "/blog":
        return rng.choice([p for p in BLOG_POSTS if p != page])
    if target == "/docs":
        return rng.choice([p for p in DOCS_PAGES if p != page])
    return target


@dataclass
class TrafficSummary:
    views: int = 0
    sessions: int = 0
    dropped: Counter = field(default_factory=Counter)
    days: int = 0


@dataclass
class PlannedView:
    at: dt.datetime
    body: bytes
    visitor: tuple[str, str, str]


def _plan_session(
    rng: random.Random,
    site: Site,
    start: dt.datetime,
    visitor: Visitor,
    source: Source,
    test_running: bool,
) -> list[PlannedView]:
    """One visit: a landing view from its source, then SPA navigations (previous URL as referrer)."""
    length = _pick(rng, SESSION_LENGTHS)
    page = _pick(rng, source.landings)
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
        views.append(
            PlannedView(at, json.dumps(payload).encode(), (visitor.ip, visitor.user_agent, visitor.country))
        )
        if page == "/checkout" and rng.random() < 0.6:
            break
        referrer = url
        page = _next_page(rng, page, variant)
        at = at + dt.timedelta(seconds=rng.randint(15, 240))
    return views


def generate_traffic(
    site: Site,
    *,
    now: dt.datetime,
    days: int,
    scale: float,
    test_started_at: dt.datetime | None,
    log: Log = lambda message: None,
) -> TrafficSummary:
    """Views for the ``days`` before ``now`` through the ingest pipeline, oldest first.

    Weekends are quieter, traffic grows ~50% over the period, a Hacker News launch makes one spike,
    and a few bot hits a day are dropped by ingest like on any real site.
    """
    rng = random.Random(SEED)
    pool = _visitors(rng, max(50, int(3000 * scale)))
    tz = site.tzinfo
    summary = TrafficSummary(days=days)
    source_weights = [s.weight for s in SOURCES]
    launch_day = max(1, days * 3 // 5)
    for day_index in range(days, -1, -1):
        day_start = now - dt.timedelta(days=day_index)
        local_day = day_start.astimezone(tz).date()
        progress = 1 - day_index / max(days, 1)
        rhythm = {5: 0.58, 6: 0.66}.get(local_day.weekday(), 1.0)
        sessions = BASE_SESSIONS_PER_DAY * scale * rhythm * (0.8 + 0.45 * progress) * rng.uniform(0.88, 1.12)
        spike = 1.0 + (4.0 if day_index == launch_day else 1.2 if day_index == launch_day - 1 else 0)
        planned: list[PlannedView] = []
        count = max(1, round(sessions + (spike - 1) * sessions * 0.25))
        for _ in range(count):
            visitor = rng.choice(pool)
            if spike > 1 and rng.random() < 1 - 1 / spike:
                source = next(s for s in SOURCES if s.name == "hackernews")
            else:
                source = rng.choices(SOURCES, weights=source_weights)[0]
            hour = rng.choices(range(24), weights=HOUR_WEIGHTS)[0]
            start = dt.datetime.combine(day_start.astimezone(dt.UTC).date(), dt.time(hour), dt.UTC)
            start += dt.timedelta(seconds=rng.randrange(3600))
            running = test_started_at is not None and start >= test_started_at
            planned.extend(_plan_session(rng, site, start, visitor, source, running))
        for _ in range(rng.randint(2, 6)):
            start = day_start.replace(hour=rng.randrange(24), minute=rng.randrange(60))
            body = {"site": site.public_id, "view_id": _view_id(rng), "url": f"https://{DEMO_DOMAIN}/"}
            planned.append(
                PlannedView(
                    start, json.dumps(body).encode(), ("203.0.113.7", rng.choice(BOT_USER_AGENTS), "US")
                )
            )
        # Only the past: the window is (now - days, now], interleaved across visitors like real traffic.
        window_start = now - dt.timedelta(days=days)
        planned = sorted(
            (p for p in planned if window_start < p.at <= now - dt.timedelta(minutes=1)), key=lambda p: p.at
        )
        for item in planned:
            event = tracking_ingest.parse_event(item.body)
            result = tracking_ingest.ingest(event, tracking_ingest.Visitor(*item.visitor), now=item.at)
            if isinstance(result, tracking_ingest.Dropped):
                summary.dropped[result.reason] += 1
            elif not result.duplicate:
                summary.views += 1
                if result.view.session.started_at == item.at:
                    summary.sessions += 1
        if day_index and day_index % 30 == 0 and day_index != days:
            log(f"  {days - day_index} of {days} days: {summary.views:,} views")
    return summary


def create_split_test(site: Site, started_at: dt.datetime) -> SplitTest:
    spec = TestSpec(
        name=TEST_NAME,
        page=TEST_PAGE,
        randomization=SplitTest.Randomization.SESSION,
        goal_type=SplitTest.GoalType.REVENUE,
        revenue_target=None,
        variants=[
            VariantSpec(key="control", name="Monthly plan first", url=TEST_PAGE, weight=50, is_control=True),
            VariantSpec(
                key="b", name="Annual plan first", url=TEST_VARIANT_PAGE, weight=50, is_control=False
            ),
        ],
    )
    test = create_test(site, spec, launch=True)
    # Launching stamps "now"; the demo's test has been running for a while already.
    SplitTest.objects.filter(pk=test.pk).update(started_at=started_at)
    test.refresh_from_db()
    return test


def build_site(user, *, now: dt.datetime, days: int, scale: float, log: Log) -> tuple[Site, TrafficSummary]:
    """Create the demo site, its split test and its traffic in one transaction (all or nothing)."""
    # Django's query log (DEBUG) formats every statement; over ~30k statements that is ~15% of the time.
    debug, settings.DEBUG = settings.DEBUG, False
    try:
        with transaction.atomic():
            site, summary = _build_site(user, now=now, days=days, scale=scale, log=log)
    finally:
        settings.DEBUG = debug
    # Backdated views created a salt per past day; keep only today's and yesterday's (privacy rule).
    rotate_salts(now)
    return site, summary


def _build_site(user, *, now: dt.datetime, days: int, scale: float, log: Log) -> tuple[Site, TrafficSummary]:
    site = create_site(user, name=DEMO_SITE_NAME, domain=DEMO_DOMAIN, timezone=DEMO_TIMEZONE)
    test_started_at = now - dt.timedelta(days=min(30, max(1, days // 3)))
    create_split_test(site, test_started_at)
    summary = generate_traffic(
        site, now=now, days=days, scale=scale, test_started_at=test_started_at, log=log
    )
    return site, summary


# ---------------------------------------------------------------------------------------------------
# Payments
# ---------------------------------------------------------------------------------------------------

# (amount in minor units, currency) per plan; EUR and JPY prices are the local price list.
PRICES = {
    ("starter", "monthly", "usd"): 2900,
    ("pro", "monthly", "usd"): 7900,
    ("starter", "annual", "usd"): 29000,
    ("pro", "annual", "usd"): 79000,
    ("starter", "monthly", "eur"): 2700,
    ("pro", "monthly", "eur"): 7500,
    ("starter", "annual", "eur"): 27000,
    ("pro", "annual", "eur"): 75000,
    ("starter", "monthly", "jpy"): 4500,
    ("pro", "monthly", "jpy"): 12000,
    ("starter", "annual", "jpy"): 45000,
    ("pro", "annual", "jpy"): 120000,
}
EXCHANGE_RATES = {"eur": 1.085, "jpy": 0.0067}
ONE_OFF_PLACEMENTS = (("payment_intent", 4), ("checkout_session", 3), ("invoice", 1.5), ("customer", 1.5))
RECURRING_PLACEMENTS = (("subscription", 4.5), ("checkout_session", 3.5), ("customer", 2))
# The first conversions cover every metadata placement, whatever the scale.
FIRST_PLACEMENTS = [
    ("subscription", "monthly"),
    ("payment_intent", "annual"),
    ("checkout_session", "annual"),
    ("invoice", "annual"),
    ("customer", "monthly"),
    ("checkout_session", "monthly"),
]
MONTH = 30 * 86400
UNKNOWN_VIEW_ID = "a9Zq3LmX0pTr7uVw2yBc4d"


@dataclass
class Conversion:
    view_id: str
    at: int  # unix seconds of the payment
    country: str
    variant: str


@dataclass
class StripeSummary:
    charges: int = 0
    subscriptions: int = 0
    renewals: int = 0
    refunds: int = 0
    disputes: int = 0
    untagged: int = 0
    currencies: Counter = field(default_factory=Counter)
    placements: Counter = field(default_factory=Counter)


def conversions(site: Site) -> tuple[list[Conversion], int]:
    """Which visits bought, decided from the stored views alone (see the module docstring).

    Returns the conversions, oldest first, and the anchor: the newest view's time, after which no
    payment, renewal, refund or dispute is dated.
    """
    rng = random.Random(SEED + 1)
    rows = (
        View.objects.filter(site=site, page__in=("/checkout", TEST_PAGE, TEST_VARIANT_PAGE))
        .order_by("created_at", "view_id")
        .values_list("view_id", "page", "created_at", "variant", "session_id", "session__country")
    )
    last_view = (
        View.objects.filter(site=site).order_by("-created_at").values_list("created_at", flat=True).first()
    )
    if last_view is None:
        return [], 0
    anchor = int(last_view.timestamp())
    session_variant: dict[int, str] = {}
    pricing_view: dict[int, tuple[str, dt.datetime, str]] = {}
    decided: set[int] = set()
    result = []
    for view_id, page, created_at, variant, session_id, country in rows:
        if page != "/checkout":
            session_variant.setdefault(session_id, variant)
            pricing_view.setdefault(session_id, (view_id, created_at, country))
            continue
        if session_id in decided:
            continue
        decided.add(session_id)
        variant = session_variant.get(session_id, "")
        chance = {"": 0.32, "control": 0.3, "b": 0.34}[variant]
        if rng.random() < chance:
            # Some shops tag the pricing view the visitor came from rather than the checkout view.
            tagged = view_id
            if session_id in pricing_view and rng.random() < 0.2:
                tagged = pricing_view[session_id][0]
            result.append(
                Conversion(tagged, int(created_at.timestamp()) + rng.randint(120, 540), country, variant)
            )
    # A few buy later by invoice after only reading the pricing page ("contact sales").
    for session_id, (view_id, created_at, country) in sorted(
        pricing_view.items(), key=lambda item: item[1][1]
    ):
        if session_id not in decided and rng.random() < 0.012:
            at = int(created_at.timestamp()) + rng.randint(600, 3600)
            result.append(Conversion(view_id, at, country, session_variant.get(session_id, "")))
    result = sorted((c for c in result if c.at <= anchor), key=lambda c: (c.at, c.view_id))
    return result, anchor


class _Builder:
    """Calls the fake Stripe's builder methods, counting what it made."""

    def __init__(self, control: FakeStripeControl):
        self.control = control
        self.summary = StripeSummary()

    def call(self, method: str, **kwargs) -> dict:
        return self.control.call(method, **kwargs)

    def customer(self, email: str, at: int, view_id: str | None = None) -> str:
        metadata = {VIEW_ID_KEY: view_id} if view_id else None
        return self.call("create_customer", email=email, metadata=metadata, created=at)["customer"]


def populate_fake_stripe(
    site: Site, control: FakeStripeControl, log: Log = lambda message: None
) -> StripeSummary:
    """Create the demo's charges in the fake Stripe, deterministically from the site's views."""
    rng = random.Random(SEED + 2)
    plan, anchor = conversions(site)
    builder = _Builder(control)
    summary = builder.summary
    charges: list[tuple[str, int, int, str]] = []  # (charge id, created, amount, kind)
    forced = list(FIRST_PLACEMENTS)
    jpy_done = False
    for index, conversion in enumerate(plan):
        tag = {VIEW_ID_KEY: conversion.view_id}
        if forced:
            placement, billing = forced.pop(0)
        else:
            annual_share = {"": 0.35, "control": 0.3, "b": 0.5}[conversion.variant]
            billing = "annual" if rng.random() < annual_share else "monthly"
            placement = _pick(rng, ONE_OFF_PLACEMENTS if billing == "annual" else RECURRING_PLACEMENTS)
        tier = "pro" if rng.random() < 0.35 else "starter"
        currency = "eur" if conversion.country in EURO_COUNTRIES else "usd"
        if not jpy_done and (conversion.country == "JP" or index == 7):
            currency, jpy_done = "jpy", True
        elif index == 4 and not summary.currencies["eur"]:
            currency = "eur"  # even a small demo shows a foreign currency settled in USD
        amount = PRICES[(tier, billing, currency)]
        settle = {"settlement_currency": "usd", "exchange_rate": EXCHANGE_RATES.get(currency)}
        at = conversion.at
        email = f"customer{index + 1}@example.org"
        summary.placements[placement] += 1
        summary.currencies[currency] += 1
        if billing == "annual":
            if placement == "payment_intent":
                ids = builder.call(
                    "create_payment", amount=amount, currency=currency, metadata=tag, created=at, **settle
                )
            elif placement == "checkout_session":
                ids = builder.call(
                    "create_checkout_payment",
                    amount=amount,
                    currency=currency,
                    session_metadata=tag,
                    created=at,
                    **settle,
                )
            elif placement == "invoice":
                customer = builder.customer(email, at)
                ids = builder.call(
                    "create_invoice_payment",
                    customer=customer,
                    amount=amount,
                    currency=currency,
                    invoice_metadata=tag,
                    created=at,
                    **settle,
                )
            else:
                customer = builder.customer(email, at, conversion.view_id)
                ids = builder.call(
                    "create_payment",
                    amount=amount,
                    currency=currency,
                    customer=customer,
                    created=at,
                    **settle,
                )
            charges.append((ids["charge"], at, amount, "one-off"))
            summary.charges += 1
            continue
        if placement == "subscription":
            customer = builder.customer(email, at)
            ids = builder.call(
                "create_subscription",
                customer=customer,
                amount=amount,
                currency=currency,
                metadata=tag,
                created=at,
                **settle,
            )
        elif placement == "checkout_session":
            customer = builder.customer(email, at)
            ids = builder.call(
                "create_subscription",
                customer=customer,
                amount=amount,
                currency=currency,
                checkout_session_metadata=tag,
                created=at,
                **settle,
            )
        else:
            customer = builder.customer(email, at, conversion.view_id)
            ids = builder.call(
                "create_subscription",
                customer=customer,
                amount=amount,
                currency=currency,
                created=at,
                **settle,
            )
        summary.subscriptions += 1
        summary.charges += 1
        charges.append((ids["charge"], at, amount, "subscription"))
        renewal = at + MONTH
        while renewal <= anchor:
            builder.call("renew_subscription", subscription=ids["subscription"], created=renewal)
            summary.renewals += 1
            summary.charges += 1
            renewal += MONTH

    # Payments nobody can attribute: paid by bank transfer or from a page without the snippet...
    start = min((c.at for c in plan), default=anchor - 86400)
    for index in range(4):
        at = start + (anchor - start) * (index + 1) // 5
        if index % 2:
            customer = builder.customer(f"enterprise{index}@example.org", at)
            builder.call(
                "create_invoice_payment", customer=customer, amount=150000, currency="usd", created=at
            )
        else:
            builder.call("create_payment", amount=4900, currency="usd", description="Phone order", created=at)
        summary.untagged += 1
        summary.charges += 1
    # ...and one whose view never reached the tracker (an ad blocker ate the beacon).
    builder.call(
        "create_payment",
        amount=7900,
        currency="usd",
        metadata={VIEW_ID_KEY: UNKNOWN_VIEW_ID},
        created=anchor - 3 * 86400,
    )
    summary.untagged += 1
    summary.charges += 1

    # A partial refund and a dispute lost, on payments old enough for the story to have played out.
    old_enough = [c for c in charges if c[1] + 12 * 86400 <= anchor]
    # Refund an annual plan (the usual "we changed our mind" case) when there is one.
    old_enough.sort(key=lambda c: c[3] != "one-off")
    if old_enough:
        charge, at, amount, _ = old_enough.pop(0)
        builder.call(
            "refund",
            charge=charge,
            amount=amount // 2,
            reason="requested_by_customer",
            created=at + 3 * 86400,
        )
        summary.refunds += 1
    if old_enough:
        charge, at, _, _ = old_enough[len(old_enough) // 2]
        dispute = builder.call("dispute", charge=charge, reason="fraudulent", created=at + 2 * 86400)[
            "dispute"
        ]
        builder.call("close_dispute", id=dispute, status="lost", created=at + 11 * 86400)
        summary.disputes += 1
    return summary


def is_local_url(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host in ("localhost", "127.0.0.1", "::1")


@dataclass
class PaymentsOutcome:
    message: str
    created: StripeSummary | None = None
    run: SyncRun | None = None


def setup_payments(site: Site, *, url: str, key: str, days: int) -> PaymentsOutcome:
    """Fill the fake Stripe at ``url`` (if empty), connect the site with ``key`` and sync once.

    Idempotent: an empty fake gets the same plan again (same Stripe ids, so the sync finds nothing
    new); a fake that already holds charges is only synced, or left alone if the site is not
    connected to it (its charges belong to an earlier demo site).
    """
    control = FakeStripeControl(url, timeout=30)
    try:
        existing = len(control.call("ground_truth"))
    except (FakeStripeControlError, OSError) as exc:
        return PaymentsOutcome(f"Payments skipped: no fake Stripe answers at {url} ({exc}).")
    connection = StripeConnection.objects.filter(site=site).first()
    created = None
    if existing == 0:
        created = populate_fake_stripe(site, control)
        known = set(Payment.objects.filter(site=site).values_list("stripe_id", flat=True))
        if known - set(control.call("ground_truth")):
            return PaymentsOutcome(
                "Payments skipped: the rebuilt fake Stripe data does not match the payments imported "
                "earlier; run `manage.py demo --reset` to rebuild the demo.",
                created,
            )
    elif connection is None:
        return PaymentsOutcome(
            f"Payments skipped: the fake Stripe at {url} already holds {existing} charges from an earlier "
            "demo. Restart it (`make run` starts a fresh one) to import demo payments."
        )
    # The throttle protects a real Stripe account's shared rate limit; a loopback fake has none.
    saved = settings.STRIPE_REQUESTS_PER_SECOND_TEST
    settings.STRIPE_REQUESTS_PER_SECOND_TEST = max(saved, 500)
    try:
        if connection is None:
            try:
                connection = connect_stripe(site, key, backfill_days=days + 2)
            except KeyProblem as exc:
                return PaymentsOutcome(
                    f"Payments skipped: the fake Stripe refused the demo key: {exc}", created
                )
        run = sync_connection(connection.pk)
    finally:
        settings.STRIPE_REQUESTS_PER_SECOND_TEST = saved
    return PaymentsOutcome(f"Stripe sync: {describe(run)}", created, run)
