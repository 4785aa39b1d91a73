"""Bot detection: whether a user agent is a person's browser, and if not, why (ingest's drop reason).

Every hit is checked before anything else, so the check is cheap: one precompiled regex and a bounded
cache per user agent string.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from functools import lru_cache
from typing import Any

from tracking.useragents import MAX_USER_AGENT_LENGTH

# Reasons returned by bot_reason(); ingest reports them as the drop reason.
EMPTY_USER_AGENT = "empty_user_agent"
SHORT_USER_AGENT = "short_user_agent"
HEADLESS_BROWSER = "headless_browser"
UPTIME_MONITOR = "uptime_monitor"
HTTP_LIBRARY = "http_library"
LINK_PREVIEW = "link_preview"
CRAWLER = "crawler"
BOT_USER_AGENT = "bot_user_agent"
BOT_REASONS = (
    EMPTY_USER_AGENT,
    SHORT_USER_AGENT,
    HEADLESS_BROWSER,
    UPTIME_MONITOR,
    HTTP_LIBRARY,
    LINK_PREVIEW,
    CRAWLER,
    BOT_USER_AGENT,
)

# Real browsers send 70+ characters; anything this short is a script or a stripped header.
MIN_USER_AGENT_LENGTH = 20

# Lower-case substrings per reason. They are compiled into ONE regex shaped as a trie (shared
# prefixes factored out): Python's re tries every branch of a flat alternation at every position,
# which for ~200 names costs ~140 µs per user agent; the trie costs ~4 µs.
# Electron is allowed on purpose: it is real people in desktop apps (Slack, Notion, VS Code); the
# scraping tools built on it announce themselves ("HeadlessChrome", "PhantomJS", "Nightmare").
# Headless Chromium announces itself ("HeadlessChrome/156"); automation that fakes a normal user
# agent passes here and is left to the snippet's navigator.webdriver check.
_BOT_SUBSTRINGS = {
    HEADLESS_BROWSER: (
        "headless",
        "phantomjs",
        "puppeteer",
        "playwright",
        "selenium",
        "webdriver",
        "slimerjs",
        "nightmare",
        "zombie.js",
        "jsdom",
        "htmlunit",
        "cypress",
    ),
    UPTIME_MONITOR: (
        "uptimerobot",
        "pingdom",
        "statuscake",
        "site24x7",
        "datadog",
        "newrelicpinger",
        "new relic",
        "better uptime",
        "betteruptime",
        "betterstack",
        "uptime-kuma",
        "uptime kuma",
        "gtmetrix",
        "lighthouse",
        "pagespeed",
        "page speed",
        "ptst/",
        "checkly",
        "freshping",
        "hetrixtools",
        "cronitor",
        "ohdear",
        "oh dear",
        "zabbix",
        "nagios",
        "check_http",
        "monitis",
        "uptrends",
        "updown.io",
        "catchpoint",
        "ruxitsynthetic",
        "montastic",
        "webpagetest",
        "speedcurve",
        "nodeping",
        "hyperping",
    ),
    HTTP_LIBRARY: (
        "curl/",
        "libcurl",
        "wget",
        "python-requests",
        "python-urllib",
        "python-httpx",
        "httpx",
        "aiohttp",
        "python/",
        "go-http-client",
        "okhttp",
        "java/",
        "java-http-client",
        "libwww-perl",
        "lwp::",
        "node-fetch",
        "node.js",
        "undici",
        "axios/",
        "postmanruntime",
        "insomnia",
        "httpie",
        "apache-httpclient",
        "jakarta commons",
        "dart/",
        "dart:io",
        "ruby",
        "faraday",
        "http.rb/",
        "guzzle",
        "php/",
        "deno/",
        "bun/",
        "reqwest",
        "got (",
        "winhttp",
        "mechanize",
        "scrapy",
        "cfnetwork/",
    ),
    LINK_PREVIEW: (
        "facebookexternalhit",
        "facebookcatalog",
        "meta-externalagent",
        "meta-externalfetcher",
        "facebot",
        "twitterbot",
        "linkedinbot",
        "slackbot",
        "slack-imgproxy",
        "discordbot",
        "telegrambot",
        "whatsapp/",
        "skypeuripreview",
        "microsoftpreview",
        "iframely",
        "embedly",
        "pinterestbot",
        "redditbot",
        "vkshare",
        "quora link preview",
        "google-pagerenderer",
        "cardyb",
        "mastodon/",
        "bitlybot",
        "flipboardproxy",
        "xing-contenttabreceiver",
    ),
    CRAWLER: (
        "googlebot",
        "google-inspectiontool",
        "storebot-google",
        "adsbot-google",
        "mediapartners-google",
        "apis-google",
        "feedfetcher-google",
        "google-read-aloud",
        "googleother",
        "google-safety",
        "bingbot",
        "bingpreview",
        "msnbot",
        "adidxbot",
        "yandexbot",
        "yandeximages",
        "yandexmetrika",
        "baiduspider",
        "duckduckbot",
        "duckassistbot",
        "applebot",
        "ahrefs",
        "semrush",
        "mj12bot",
        "petalbot",
        "gptbot",
        "chatgpt-user",
        "oai-searchbot",
        "claudebot",
        "claude-web",
        "claude-user",
        "claude-searchbot",
        "anthropic-ai",
        "ccbot",
        "bytespider",
        "perplexitybot",
        "perplexity-user",
        "amazonbot",
        "dotbot",
        "rogerbot",
        "exabot",
        "seznambot",
        "qwantify",
        "360spider",
        "yisouspider",
        "ia_archiver",
        "archive.org_bot",
        "mojeekbot",
        "coccocbot",
        "diffbot",
        "screaming frog",
        "serpstatbot",
        "dataforseobot",
        "blexbot",
        "imagesiftbot",
        "timpibot",
        "youbot",
        "cohere-ai",
        "omgili",
        "barkrowler",
        "seekport",
        "megaindex",
        "zoominfobot",
        "proximic",
        "grapeshot",
        "ltx71",
        "netcraft",
        "censys",
        "zgrab",
        "masscan",
        "nmap",
        "nessus",
        "nikto",
        "sqlmap",
        "wpscan",
    ),
    # Generic tokens last: a named family above is a better label for the same match.
    BOT_USER_AGENT: (
        "bot",
        "crawl",
        "spider",
        "slurp",
        "scrape",
        "+http",
        "fetcher",
        "preview",
        "archiver",
        "checker",
        "monitor",
        "scanner",
        "validator",
    ),
}
# Phone brands whose name contains "bot" (Cubot): a match on "bot" right after these is no bot.
_BOT_FALSE_PREFIXES = ("cu",)

_BOT_REASON_BY_SUBSTRING: dict[str, str] = {}
for _reason, _substrings in _BOT_SUBSTRINGS.items():
    for _substring in _substrings:
        _BOT_REASON_BY_SUBSTRING.setdefault(_substring, _reason)


def _trie_pattern(words: Collection[str]) -> str:
    """A regex matching any of ``words``, factored as a trie; at a position it prefers the longest."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        pattern = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{pattern})?" if "" in node else pattern

    return build(trie)


_BOT_RE = re.compile(_trie_pattern(_BOT_REASON_BY_SUBSTRING))


@lru_cache(maxsize=4096)
def _bot_reason(user_agent: str) -> str | None:
    if not user_agent:
        return EMPTY_USER_AGENT
    lowered = user_agent.lower()
    for match in _BOT_RE.finditer(lowered):
        found = match.group()
        start = match.start()
        if found == "bot" and lowered[max(0, start - 2) : start] in _BOT_FALSE_PREFIXES:
            continue
        return _BOT_REASON_BY_SUBSTRING[found]
    if len(user_agent) < MIN_USER_AGENT_LENGTH:
        return SHORT_USER_AGENT
    return None


def bot_reason(user_agent: str | None) -> str | None:
    """Why this user agent is not a person (one of ``BOT_REASONS``), or None for a browser.

    Crawlers, link-preview fetchers, uptime and speed monitors, headless browsers, HTTP libraries,
    generic "bot/crawl/spider" tokens, and empty or very short user agents. Only the user agent is
    judged: a headless browser that sends a real browser's user agent passes. Cached per string.
    """
    return _bot_reason((user_agent or "").strip()[:MAX_USER_AGENT_LENGTH])


def is_bot(user_agent: str | None) -> bool:
    return bot_reason(user_agent) is not None
