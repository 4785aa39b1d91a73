"""Bot detection: whether a user agent is a person's browser, and if not, why (ingest's drop reason).

Three sources, checked in order: the project's own named families below (headless and automation
tools, synthetic monitors, HTTP libraries, link previews, the big crawlers: each with its reason);
the maintained ``crawler-user-agents`` list (MIT, a pinned PyPI package, refreshed by upgrading it),
less the few of its patterns that match real in-app browsers (``data/bots.json``); and generic
"bot", "crawler", "spider", "scanner" tokens, matched on word boundaries so that "Botswana" and
"CamScanner" are people. Every hit is checked before anything else, so the check is cheap:
precompiled regexes and a bounded cache per user agent string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection
from functools import lru_cache
from importlib import resources
from pathlib import Path
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
        # AI agents that drive a real browser for someone; they say so in the user agent.
        "google-agent",
        "manus/",
        "manus-user",
        "operator/",
        "browserbase",
        "browser-use",
        "steel-browser",
        "hyperbrowser",
        "anchorbrowser",
        "chatgpt agent",
        "mistralai-user",
        "amzn-user",
        "claude-code/",
        "dejaclick",
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
        "synthetic",
        "thousandeyes",
        "gomezagent",
        "dynatrace",
        "sitescope",
        "alertsite",
        "dotcom-monitor",
        "apica",
        "kuma/",
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
}

# Generic tokens, on word boundaries: "bot" ends a word (Googlebot, robot, "bots" too, never
# "Botswana"); "scanner", "monitor" and the like start one (never "CamScanner"). Cubot is a phone.
_GENERIC_BOT_RE = re.compile(
    r"(?<!cu)bots?(?![a-z])|crawl|spider|slurp|scrape|\+https?:"
    r"|(?<![a-z])(?:fetcher|preview|archiver|checker|monitor|scanner|validator)(?![a-z])"
)

# Every browser and web view that can run the snippet starts its user agent so (Opera before 15 said
# "Opera/9.80"); native HTTP stacks (CFNetwork, Dalvik, okhttp) and tools do not.
_BROWSER_PREFIXES = ("mozilla/", "opera/")

# crawler-user-agents: case-sensitive regexes, one per crawler; most are plain text.
_CRAWLER_DATA = resources.files("crawleruseragents").joinpath("crawler-user-agents.json")
_OVERRIDES_PATH = Path(__file__).parent / "data" / "bots.json"
_ISBOT_PATH = Path(__file__).parent / "data" / "isbot" / "patterns.json"
_CASE_CLASS_RE = re.compile(r"\[([a-zA-Z])([a-zA-Z])\]")
_REGEX_CHARS_RE = re.compile(r"[\[\]()^$|?*+{}]")


def _fold_case_class(match: re.Match) -> str:
    first, second = match.groups()
    return first if first.lower() == second.lower() else match.group()


def _crawler_patterns() -> tuple[list[str], list[str]]:
    """``(texts, regexes)`` of the crawler list, lower-cased (matched case-insensitively, as the
    package's own case-insensitive mode does), less the patterns ``data/bots.json`` ignores. Most
    patterns are plain text once "[bB]ot"-style classes are folded: those join the one trie below."""
    ignored = set(json.loads(_OVERRIDES_PATH.read_text(encoding="utf-8"))["ignored_crawler_patterns"])
    texts, regexes = [], []
    for entry in json.loads(_CRAWLER_DATA.read_text(encoding="utf-8")):
        pattern = entry["pattern"]
        if pattern in ignored:
            continue
        folded = _CASE_CLASS_RE.sub(_fold_case_class, pattern).lower()
        if _REGEX_CHARS_RE.search(re.sub(r"\\.", "", folded)):
            regexes.append(folded)
        else:
            texts.append(re.sub(r"\\(.)", r"\1", folded))
    return texts, regexes


_CRAWLER_TEXTS, _CRAWLER_REGEXES = _crawler_patterns()
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
_CRAWLER_TEXT_RE = re.compile(_trie_pattern(_CRAWLER_TEXTS))
_CRAWLER_REGEX_RE = re.compile("|".join(f"(?:{pattern})" for pattern in _CRAWLER_REGEXES))


def _isbot_patterns() -> tuple[re.Pattern, re.Pattern]:
    """isbot's patterns (Unlicense, vendored in data/isbot/) for lower-cased user agents: those
    anchored at the start, tried once at position 0, and the rest, searched for anywhere."""
    replacements = json.loads(_OVERRIDES_PATH.read_text(encoding="utf-8"))["isbot_replacements"]
    patterns = [replacements.get(p, p) for p in json.loads(_ISBOT_PATH.read_text(encoding="utf-8"))]
    anchored = [p[1:] for p in patterns if p.startswith("^")]
    floating = [p for p in patterns if not p.startswith("^")]
    return (
        re.compile("|".join(f"(?:{pattern})" for pattern in anchored)),
        re.compile("|".join(f"(?:{pattern})" for pattern in floating)),
    )


_ISBOT_START_RE, _ISBOT_RE = _isbot_patterns()


@lru_cache(maxsize=4096)
def _bot_reason(user_agent: str) -> str | None:
    if not user_agent:
        return EMPTY_USER_AGENT
    lowered = user_agent.lower()
    # The project's named families first: they carry the most telling reason.
    if match := _BOT_RE.search(lowered):
        return _BOT_REASON_BY_SUBSTRING[match.group()]
    if len(user_agent) < MIN_USER_AGENT_LENGTH:
        return SHORT_USER_AGENT
    if _CRAWLER_TEXT_RE.search(lowered) or _CRAWLER_REGEX_RE.search(lowered):
        return CRAWLER
    if _GENERIC_BOT_RE.search(lowered) or _ISBOT_START_RE.match(lowered) or _ISBOT_RE.search(lowered):
        return BOT_USER_AGENT
    if not lowered.startswith(_BROWSER_PREFIXES):
        return HTTP_LIBRARY
    return None


def bot_reason(user_agent: str | None) -> str | None:
    """Why this user agent is not a person (one of ``BOT_REASONS``), or None for a browser.

    Crawlers, link-preview fetchers, uptime, speed and synthetic monitors, headless browsers and
    browser-driving agents, HTTP libraries, the crawler-user-agents list, generic "bot/crawl/spider"
    tokens on word boundaries, and empty or very short user agents. Only the user agent is
    judged: a headless browser that sends a real browser's user agent passes. Cached per string.
    """
    return _bot_reason((user_agent or "").strip()[:MAX_USER_AGENT_LENGTH])


def is_bot(user_agent: str | None) -> bool:
    return bot_reason(user_agent) is not None
