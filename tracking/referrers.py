"""Referrer source: where a visit came from, from ``document.referrer``, named as people expect.

Pure functions over plain strings, cached per (referrer, site domain). ``tracking.channels`` groups the
names into acquisition channels.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Referrer:
    source: str  # normalised name ("Google") or the bare domain; "" when there is no source
    domain: str  # bare host without "www."; "" when there is no source


NO_REFERRER = Referrer(source="", domain="")
# Exact hosts (after "www." is stripped). Checked before the domain table, so mail.google.com and
# gemini.google.com are not Google.
_HOST_NAMES = {
    "mail.google.com": "Gmail",
    "inbox.google.com": "Gmail",
    "gemini.google.com": "Gemini",
    "bard.google.com": "Gemini",
    "news.google.com": "Google",
    "search.brave.com": "Brave Search",
    "outlook.live.com": "Outlook",
    "outlook.office.com": "Outlook",
    "outlook.office365.com": "Outlook",
    "mail.yahoo.com": "Yahoo Mail",
    "mail.aol.com": "AOL Mail",
    "mail.proton.me": "Proton Mail",
    "mail.protonmail.com": "Proton Mail",
    "app.fastmail.com": "Fastmail",
    "news.ycombinator.com": "Hacker News",
    "copilot.microsoft.com": "Copilot",
    "chat.openai.com": "ChatGPT",
    "web.telegram.org": "Telegram",
}

# Domains whose every subdomain is the same source (l.facebook.com, old.reddit.com, x.substack.com).
_DOMAIN_NAMES = {
    "bing.com": "Bing",
    "duckduckgo.com": "DuckDuckGo",
    "ecosia.org": "Ecosia",
    "qwant.com": "Qwant",
    "startpage.com": "Startpage",
    "kagi.com": "Kagi",
    "naver.com": "Naver",
    "seznam.cz": "Seznam",
    "baidu.com": "Baidu",
    "chatgpt.com": "ChatGPT",
    "perplexity.ai": "Perplexity",
    "claude.ai": "Claude",
    "t.co": "Twitter",
    "twitter.com": "Twitter",
    "x.com": "Twitter",
    "fb.com": "Facebook",
    "fb.me": "Facebook",
    "lnkd.in": "LinkedIn",
    "youtu.be": "YouTube",
    "pin.it": "Pinterest",
    "tiktok.com": "TikTok",
    "threads.net": "Threads",
    "threads.com": "Threads",
    "bsky.app": "Bluesky",
    "ya.ru": "Yandex",
    "producthunt.com": "Product Hunt",
    "medium.com": "Medium",
    "substack.com": "Substack",
    "stackoverflow.com": "Stack Overflow",
    "github.com": "GitHub",
    "t.me": "Telegram",
    "telegram.org": "Telegram",
    "discord.com": "Discord",
    "discordapp.com": "Discord",
    "slack.com": "Slack",
}

# Brands with a site per country (google.co.uk, yandex.com.tr, pinterest.de, facebook.com).
_BRAND_TLD_RE = re.compile(
    r"^(?:(?P<sub>[a-z0-9.-]+)\.)?(?P<brand>google|bing|yahoo|yandex|baidu|duckduckgo|qwant|naver"
    r"|facebook|instagram|linkedin|pinterest|reddit|youtube)\.(?:com?\.)?[a-z]{2,3}$"
)
_BRAND_NAMES = {
    "google": "Google",
    "bing": "Bing",
    "yahoo": "Yahoo",
    "yandex": "Yandex",
    "baidu": "Baidu",
    "duckduckgo": "DuckDuckGo",
    "qwant": "Qwant",
    "naver": "Naver",
    "facebook": "Facebook",
    "instagram": "Instagram",
    "linkedin": "LinkedIn",
    "pinterest": "Pinterest",
    "reddit": "Reddit",
    "youtube": "YouTube",
}
# google.* subdomains that are search; the rest (docs, sites, groups, drive) are ordinary referrals.
_GOOGLE_SEARCH_SUBDOMAINS = frozenset({"m", "images", "scholar", "news"})

# android-app://<package> referrers, sent by Android apps that open a browser.
_ANDROID_APP_NAMES = {
    "com.google.android.gm": "Gmail",
    "com.google.android.googlequicksearchbox": "Google",
    "com.google.android.gms": "Google",
    "com.google.android.youtube": "YouTube",
    "com.microsoft.office.outlook": "Outlook",
    "com.yahoo.mobile.client.android.mail": "Yahoo Mail",
    "ch.protonmail.android": "Proton Mail",
    "com.twitter.android": "Twitter",
    "com.facebook.katana": "Facebook",
    "com.facebook.orca": "Facebook",
    "com.instagram.android": "Instagram",
    "com.linkedin.android": "LinkedIn",
    "com.reddit.frontpage": "Reddit",
    "com.pinterest": "Pinterest",
    "com.zhiliaoapp.musically": "TikTok",
    "com.instagram.barcelona": "Threads",
    "xyz.blueskyweb.app": "Bluesky",
    "org.telegram.messenger": "Telegram",
    "com.discord": "Discord",
    "com.slack": "Slack",
    "com.openai.chatgpt": "ChatGPT",
    "ai.perplexity.app.android": "Perplexity",
    "com.anthropic.claude": "Claude",
    "com.duckduckgo.mobile.android": "DuckDuckGo",
}

_HOST_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}\.)*[a-z0-9-]{1,63}$|^\[?[0-9a-f:.]+\]?$")


def bare_host(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("www.")


def source_name_for_host(host: str) -> str | None:
    """The normalised source name of a bare host (e.g. "l.facebook.com" → "Facebook"), else None."""
    if name := _HOST_NAMES.get(host):
        return name
    parent = host
    while True:
        if name := _DOMAIN_NAMES.get(parent):
            return name
        dot = parent.find(".")
        if dot < 0:
            break
        parent = parent[dot + 1 :]
    if match := _BRAND_TLD_RE.match(host):
        brand, sub = match["brand"], match["sub"]
        if brand == "google" and sub is not None and sub not in _GOOGLE_SEARCH_SUBDOMAINS:
            return None
        if brand == "yahoo" and sub is not None and "mail" in sub.split("."):
            return "Yahoo Mail"
        return _BRAND_NAMES[brand]
    return None


def is_same_site(host: str, site_domain: str) -> bool:
    """Whether ``host`` is the site's domain or one of its subdomains (www. ignored on both)."""
    site = bare_host(site_domain)
    host = bare_host(host)
    return bool(site) and (host == site or host.endswith("." + site))


@lru_cache(maxsize=2048)
def _referrer_source(referrer: str, site_domain: str) -> Referrer:
    try:
        parts = urlsplit(referrer)
        host = parts.hostname or ""
    except ValueError:  # e.g. an unbalanced "[" in the host
        return NO_REFERRER
    scheme = parts.scheme.lower()
    if scheme == "android-app":
        # Apps differ in case ("com.Slack"); the table is lower-case.
        package = parts.netloc.strip().lower()[:253]
        if not package:
            return NO_REFERRER
        return Referrer(source=_ANDROID_APP_NAMES.get(package, package), domain=package)
    if scheme not in ("http", "https"):
        return NO_REFERRER
    host = bare_host(host)
    if not host or not _HOST_RE.match(host) or is_same_site(host, site_domain):
        return NO_REFERRER
    host = host[:253]
    return Referrer(source=source_name_for_host(host) or host, domain=host)


def referrer_source(referrer: str | None, site_domain: str) -> Referrer:
    """Where a visit came from, from ``document.referrer``.

    Empty, unparsable and non-web referrers (``file:``, ``about:``, ``chrome-extension:``) give no
    source, and so does the site itself or any of its subdomains: internal navigation is not a
    source. Known sites get their usual name ("Google" for google.co.uk, "Twitter" for t.co and
    x.com); others are shown as the bare domain. ``android-app://`` referrers map the app's package.
    """
    referrer = (referrer or "").strip()
    if not referrer:
        return NO_REFERRER
    return _referrer_source(referrer[:2048], site_domain)
