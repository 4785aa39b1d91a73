"""Who visits the demo shop, from where, and how they move through it: the weights traffic is drawn from."""

from __future__ import annotations

import base64
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass

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


def pick(rng: random.Random, weighted) -> object:
    items, weights = zip(*weighted, strict=True)
    return rng.choices(items, weights=weights)[0]


@dataclass
class Visitor:
    ip: str
    user_agent: str
    screen_width: int
    country: str


def visitors(rng: random.Random, count: int) -> list[Visitor]:
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


def next_page(rng: random.Random, page: str, variant: str) -> str:
    section = "/" + page.strip("/").split("/")[0] if page != "/" else "/"
    if section == "/pricing-b":
        section = "/pricing"
    choices = NEXT_PAGES[section]
    if section == "/pricing":
        choices = tuple((p, CHECKOUT_WEIGHT[variant] if p == "/checkout" else w) for p, w in choices)
    target = pick(rng, choices)
    if target == "/blog":
        return rng.choice([p for p in BLOG_POSTS if p != page])
    if target == "/docs":
        return rng.choice([p for p in DOCS_PAGES if p != page])
    return target
