"""Acquisition channel of a visit, from its referrer source and its landing URL's UTM tags and ad
click ids (GA4's default channel rules, simplified).

Pure functions over plain strings; query strings are parsed with a length cap.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from tracking.referrers import bare_host, source_name_for_host

DIRECT = "Direct"
ORGANIC_SEARCH = "Organic Search"
PAID_SEARCH = "Paid Search"
ORGANIC_SOCIAL = "Organic Social"
PAID_SOCIAL = "Paid Social"
EMAIL = "Email"
REFERRAL = "Referral"
CHANNELS = (DIRECT, ORGANIC_SEARCH, PAID_SEARCH, ORGANIC_SOCIAL, PAID_SOCIAL, EMAIL, REFERRAL)

SEARCH_SOURCES = frozenset(
    {
        "Google",
        "Bing",
        "DuckDuckGo",
        "Yahoo",
        "Yandex",
        "Baidu",
        "Ecosia",
        "Brave Search",
        "Qwant",
        "Startpage",
        "Kagi",
        "Naver",
        "Seznam",
    }
)
# Publishing and developer sites (GitHub, Stack Overflow, Medium, Substack) are named but stay
# Referral: a link there is a reference, not a social share.
SOCIAL_SOURCES = frozenset(
    {
        "Twitter",
        "Facebook",
        "Instagram",
        "LinkedIn",
        "Reddit",
        "Hacker News",
        "YouTube",
        "Pinterest",
        "TikTok",
        "Threads",
        "Bluesky",
        "Product Hunt",
        "Telegram",
        "Discord",
        "Slack",
    }
)
EMAIL_SOURCES = frozenset({"Gmail", "Outlook", "Yahoo Mail", "Proton Mail", "AOL Mail", "Fastmail"})
# AI assistants are Referral: the visitor followed a cited link, neither a search result nor a share.
AI_SOURCES = frozenset({"ChatGPT", "Perplexity", "Claude", "Gemini", "Copilot"})


UTM_MAX_LENGTH = 200
# Query strings are parsed up to this length; trackers' parameters come first in practice.
_MAX_QUERY_LENGTH = 4096


@dataclass(frozen=True, slots=True)
class Utm:
    source: str = ""
    medium: str = ""
    campaign: str = ""
    term: str = ""
    content: str = ""


NO_UTM = Utm()

_UTM_KEYS = {
    "utm_source": "source",
    "utm_medium": "medium",
    "utm_campaign": "campaign",
    "utm_term": "term",
    "utm_content": "content",
}
# Used for the source only when utm_source is absent ("?ref=producthunt").
_SOURCE_FALLBACK_KEYS = ("ref", "source")

# Ad-network click ids added by auto-tagging. Only the search ones make a visit paid: fbclid is
# appended to every outbound link on Facebook, ads or not.
PAID_SEARCH_CLICK_IDS = frozenset({"gclid", "gbraid", "wbraid", "dclid", "msclkid"})
CLICK_IDS = PAID_SEARCH_CLICK_IDS | {"fbclid", "ttclid", "twclid", "li_fat_id", "epik", "rdt_cid", "yclid"}


def _query_params(url: str) -> dict[str, str]:
    """First value of each query parameter, keys lower-cased. Never raises."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    if not query:
        return {}
    params: dict[str, str] = {}
    for key, value in parse_qsl(query[:_MAX_QUERY_LENGTH], keep_blank_values=True):
        params.setdefault(key.strip().lower(), value)
    return params


def _clean(value: str | None) -> str:
    return (value or "").strip()[:UTM_MAX_LENGTH].strip()


def utm_from_url(url: str | None) -> Utm:
    """UTM parameters of a page URL: percent-decoded, stripped, at most 200 characters, "" if absent.

    ``ref`` or ``source`` stand in for a missing ``utm_source``.
    """
    params = _query_params(url or "")
    if not params:
        return NO_UTM
    values = {field: _clean(params.get(key)) for key, field in _UTM_KEYS.items()}
    if not values["source"]:
        values["source"] = next((v for k in _SOURCE_FALLBACK_KEYS if (v := _clean(params.get(k)))), "")
    return Utm(**values)


def click_ids_from_url(url: str | None) -> frozenset[str]:
    """Names of the ad click ids present (with a value) in a page URL, e.g. ``{"gclid"}``."""
    params = _query_params(url or "")
    return frozenset(key for key in CLICK_IDS if params.get(key, "").strip())


_PAID_MEDIUM_RE = re.compile(r"^(?:.*cp.*|ppc|sem|retargeting|paid.*)$")
_PAID_SOCIAL_MEDIUMS = frozenset(
    {"paidsocial", "paid_social", "paid-social", "paid social", "social_paid", "social-paid"}
)
_EMAIL_MEDIUMS = frozenset({"email", "e-mail", "e_mail", "e mail", "newsletter", "mail"})
_SOCIAL_MEDIUMS = frozenset(
    {
        "social",
        "social-network",
        "social_network",
        "social network",
        "social-media",
        "social_media",
        "social media",
        "sm",
    }
)
_ORGANIC_MEDIUMS = frozenset({"organic", "seo"})

# utm_source spellings → source names. Each name's own lower-case spelling and space-less spelling
# are added below; domains ("google.com", "t.co") go through source_name_for_host.
_UTM_SOURCE_ALIASES = {
    "fb": "Facebook",
    "ig": "Instagram",
    "x": "Twitter",
    "tw": "Twitter",
    "li": "LinkedIn",
    "yt": "YouTube",
    "hn": "Hacker News",
    "ycombinator": "Hacker News",
    "ph": "Product Hunt",
    "tiktok": "TikTok",
    "bsky": "Bluesky",
    "openai": "ChatGPT",
    "email": "Email",
    "e-mail": "Email",
    "newsletter": "Email",
}
for _name in SEARCH_SOURCES | SOCIAL_SOURCES | EMAIL_SOURCES | AI_SOURCES:
    _UTM_SOURCE_ALIASES.setdefault(_name.lower(), _name)
    _UTM_SOURCE_ALIASES.setdefault(_name.lower().replace(" ", ""), _name)
_UTM_EMAIL_SOURCES = EMAIL_SOURCES | {"Email"}


def _source_name(value: str) -> str | None:
    value = value.strip().lower()
    if not value:
        return None
    if name := _UTM_SOURCE_ALIASES.get(value):
        return name
    if "." in value:
        return source_name_for_host(bare_host(value))
    return None


def channel(source: str, referrer_domain: str, utm: Utm, click_ids: Collection[str] = ()) -> str:
    """The acquisition channel of a visit (one of ``CHANNELS``), GA4's default rules simplified.

    ``source``/``referrer_domain`` come from ``referrer_source``; ``click_ids`` from
    ``click_ids_from_url``. A known utm_source wins over the referrer when both name a site; an
    unknown utm_source falls back to the referrer's source. In order:

    1. Paid: utm_medium cpc/ppc/sem/retargeting/paid…/…cp… or a search click id (gclid, msclkid,
       gbraid, wbraid, dclid) → Paid Social when the source is a social network (or the medium says
       paid social), else Paid Search. fbclid alone is not paid.
    2. Email: utm_medium email/e-mail/newsletter, or an email source (webmail, utm_source=newsletter).
    3. Organic Social: utm_medium social/social-network/social-media/sm.
    4. Organic Search: a search engine source, or utm_medium organic.
    5. Organic Social: a social network source.
    6. Referral: anything else with a referrer or a UTM tag, AI assistants included.
    7. Direct: nothing at all.
    """
    medium = utm.medium.strip().lower()
    named = next(filter(None, map(_source_name, (utm.source, source, referrer_domain))), None)
    is_social = named in SOCIAL_SOURCES

    if medium in _PAID_SOCIAL_MEDIUMS:
        return PAID_SOCIAL
    if _PAID_MEDIUM_RE.match(medium) or any(click_id in PAID_SEARCH_CLICK_IDS for click_id in click_ids):
        return PAID_SOCIAL if is_social else PAID_SEARCH
    if medium in _EMAIL_MEDIUMS or named in _UTM_EMAIL_SOURCES:
        return EMAIL
    if medium in _SOCIAL_MEDIUMS:
        return ORGANIC_SOCIAL
    if medium in _ORGANIC_MEDIUMS or named in SEARCH_SOURCES:
        return ORGANIC_SEARCH
    if is_social:
        return ORGANIC_SOCIAL
    if source or referrer_domain or utm != NO_UTM:
        return REFERRAL
    return DIRECT
