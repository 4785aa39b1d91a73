"""Acquisition channel of a visit, from its referrer and its landing URL's UTM tags and ad click ids,
following GA4's default channel group (the README lists the rules), plus an AI Assistants channel.

Pure functions over plain strings; query strings are parsed with a length cap. Source categories
(search, social, video, shopping, email, AI) come from ``tracking.referrers``' maintained data.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from tracking import referrers

DIRECT = "Direct"
CROSS_NETWORK = "Cross-network"
PAID_SHOPPING = "Paid Shopping"
PAID_SEARCH = "Paid Search"
PAID_SOCIAL = "Paid Social"
PAID_VIDEO = "Paid Video"
DISPLAY = "Display"
PAID_OTHER = "Paid Other"
AI_ASSISTANTS = "AI Assistants"
ORGANIC_SHOPPING = "Organic Shopping"
ORGANIC_SOCIAL = "Organic Social"
ORGANIC_VIDEO = "Organic Video"
ORGANIC_SEARCH = "Organic Search"
REFERRAL = "Referral"
EMAIL = "Email"
AFFILIATES = "Affiliates"
AUDIO = "Audio"
SMS = "SMS"
MOBILE_PUSH = "Mobile Push Notifications"
UNASSIGNED = "Unassigned"
CHANNELS = (
    DIRECT,
    ORGANIC_SEARCH,
    PAID_SEARCH,
    ORGANIC_SOCIAL,
    PAID_SOCIAL,
    EMAIL,
    AI_ASSISTANTS,
    AFFILIATES,
    REFERRAL,
    DISPLAY,
    ORGANIC_VIDEO,
    PAID_VIDEO,
    CROSS_NETWORK,
    ORGANIC_SHOPPING,
    PAID_SHOPPING,
    PAID_OTHER,
    AUDIO,
    SMS,
    MOBILE_PUSH,
    UNASSIGNED,
)
# Channels only an ad click id can give when no paid utm_medium says so (click ids are not stored).
CLICK_ID_CHANNELS = frozenset({PAID_SEARCH, PAID_SOCIAL, DISPLAY})

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


# Ad-network click ids added by auto-tagging, and the channel each implies. fbclid is not here: Meta
# appends it to every outbound link, ads or not. dclid is Campaign Manager / DV360 display.
CLICK_ID_CHANNEL = {
    "gclid": PAID_SEARCH,
    "gbraid": PAID_SEARCH,
    "wbraid": PAID_SEARCH,
    "msclkid": PAID_SEARCH,
    "yclid": PAID_SEARCH,
    "dclid": DISPLAY,
    "ttclid": PAID_SOCIAL,
    "twclid": PAID_SOCIAL,
    "li_fat_id": PAID_SOCIAL,
    "sccid": PAID_SOCIAL,
    "epik": PAID_SOCIAL,
    "rdt_cid": PAID_SOCIAL,
}
CLICK_IDS = frozenset(CLICK_ID_CHANNEL) | {"fbclid"}


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


# GA4's regular expressions and lists, applied to lower-cased values.
_PAID_MEDIUM_RE = re.compile(r"^(?:.*cp.*|ppc|retargeting|paid.*)$")
_SHOP_CAMPAIGN_RE = re.compile(r"^(?:.*(?:(?:[^a-df-z]|^)shop|shopping).*)$")
_DISPLAY_MEDIUMS = frozenset({"display", "banner", "expandable", "interstitial", "cpm"})
_SOCIAL_MEDIUMS = frozenset(
    {"social", "social-network", "social-media", "sm", "social network", "social media"}
)
_REFERRAL_MEDIUMS = frozenset({"referral", "app", "link"})
# GA4 takes exactly email/e-mail/e_mail/e mail; a word of it anywhere ("email_newsletter",
# "newsletter", "e-mail-blast") is e-mail too here, as Plausible does.
_EMAIL_RE = re.compile(r"(?:^|[^a-z])(?:e[-_ ]?mail|newsletter)s?(?:[^a-z]|$)")
_PUSH_MEDIUM_RE = re.compile(r"push$|mobile|notification")
# Paid mediums on a source of these categories get that category's paid channel.
_PAID_BY_CATEGORY = {
    referrers.SEARCH: PAID_SEARCH,
    referrers.SOCIAL: PAID_SOCIAL,
    referrers.VIDEO: PAID_VIDEO,
}
_ORGANIC_BY_CATEGORY = {
    referrers.SHOPPING: ORGANIC_SHOPPING,
    referrers.SOCIAL: ORGANIC_SOCIAL,
    referrers.VIDEO: ORGANIC_VIDEO,
    referrers.SEARCH: ORGANIC_SEARCH,
}


@lru_cache(maxsize=2048)
def _source_category(utm_source: str, utm_medium: str, referrer_domain: str) -> str:
    """Category of the visit's source: a known utm_source wins; the referrer's when there is no
    utm_source, or no medium beside an unknown one ("?ref=spring_promo" does not hide Google)."""
    if found := referrers.classify_source(utm_source):
        return found[1]
    if utm_source and utm_medium:
        return ""
    return referrers.category_for_domain(referrer_domain)


def _is_email(value: str) -> bool:
    return bool(value) and (value in ("email", "e-mail", "e_mail", "e mail") or bool(_EMAIL_RE.search(value)))


def channel(source: str, referrer_domain: str, utm: Utm, click_ids: Collection[str] = ()) -> str:
    """The acquisition channel of a visit (one of ``CHANNELS``): GA4's default channel group.

    ``referrer_domain`` comes from ``referrer_source`` (``source`` is kept for callers; the domain
    decides); ``click_ids`` from ``click_ids_from_url``. GA4's rules in GA4's order (README, "Channels
    and sources"), with three additions: AI assistants are their own channel, a webmail referrer is
    Email, and a medium or source containing the word email or newsletter is Email.
    """
    medium = utm.medium.strip().lower()
    utm_source = utm.source.strip().lower()
    campaign = utm.campaign.strip().lower()
    category = _source_category(utm_source, medium, referrer_domain.strip().lower())
    tagged = bool(utm_source or medium or campaign)
    click_channel = next((CLICK_ID_CHANNEL[c] for c in sorted(click_ids) if c in CLICK_ID_CHANNEL), None)
    if not (tagged or referrer_domain or source or click_channel):
        return DIRECT
    if "cross-network" in campaign:
        return CROSS_NETWORK
    is_paid = bool(_PAID_MEDIUM_RE.match(medium))
    if is_paid:
        if "social" in medium:  # "paid_social", "paidsocial": the medium names the network type
            return PAID_SOCIAL
        if category == referrers.SHOPPING or _SHOP_CAMPAIGN_RE.match(campaign):
            return PAID_SHOPPING
        if paid := _PAID_BY_CATEGORY.get(category):
            return paid
    if medium in _DISPLAY_MEDIUMS:
        return DISPLAY
    if is_paid:
        return PAID_OTHER
    if click_channel:  # auto-tagging: the ad platform's click id outranks a manual non-paid tag
        return click_channel
    if category == referrers.AI:
        return AI_ASSISTANTS
    if category == referrers.SHOPPING or _SHOP_CAMPAIGN_RE.match(campaign):
        return ORGANIC_SHOPPING
    if organic := _ORGANIC_BY_CATEGORY.get(category):
        return organic
    if medium in _SOCIAL_MEDIUMS:
        return ORGANIC_SOCIAL
    if "video" in medium:
        return ORGANIC_VIDEO
    if medium == "organic":
        return ORGANIC_SEARCH
    if medium in _REFERRAL_MEDIUMS:
        return REFERRAL
    if category == referrers.EMAIL or _is_email(medium) or _is_email(utm_source):
        return EMAIL
    return _other_tagged_channel(medium, utm_source, tagged)


def _other_tagged_channel(medium: str, utm_source: str, tagged: bool) -> str:
    if medium == "affiliate":
        return AFFILIATES
    if medium == "audio":
        return AUDIO
    if utm_source == "sms" or medium == "sms":
        return SMS
    if utm_source == "firebase" or (medium and _PUSH_MEDIUM_RE.search(medium)):
        return MOBILE_PUSH
    # Untagged: GA4 gives a referrer the medium "referral".
    return UNASSIGNED if tagged else REFERRAL
