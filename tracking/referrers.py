"""Referrer source: where a visit came from, from ``document.referrer``, named as people expect, with
its category (search, social, email, AI assistant, video, shopping or other).

The sources come from maintained data, not hand lists: ``data/referrers/matomo.json`` is Matomo's
search engine, social network and AI assistant lists (CC0, refreshed by ``manage.py
update_referrer_data``), and ``data/referrers/overrides.json`` is the project's own small file on top
(webmail, video and shopping sites, renames, corrections). Pure functions over plain strings, cached
per input; ``tracking.channels`` turns categories into acquisition channels.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

DATA_DIR = Path(__file__).parent / "data" / "referrers"
MATOMO_DATA_PATH = DATA_DIR / "matomo.json"
OVERRIDES_PATH = DATA_DIR / "overrides.json"

SEARCH = "search"
SOCIAL = "social"
EMAIL = "email"
AI = "ai"
VIDEO = "video"
SHOPPING = "shopping"
OTHER = "other"
CATEGORIES = (SEARCH, SOCIAL, EMAIL, AI, VIDEO, SHOPPING, OTHER)


@dataclass(frozen=True, slots=True)
class Referrer:
    source: str  # normalised name ("Google") or the bare domain; "" when there is no source
    domain: str  # bare host without "www." (or an Android app's package); "" when there is no source
    category: str = ""  # one of CATEGORIES; "" when there is no source


NO_REFERRER = Referrer(source="", domain="")

# Second-level labels of country domains ("co.uk", "com.br"): the brand sits one label further left.
_COUNTRY_SECOND_LEVELS = frozenset({"com", "co", "org", "net", "edu", "gov", "ac", "ne", "or", "gob", "it"})
# Webmail front ends have telling host names (mail01.orange.fr, webmail.spectrum.net,
# email.t-online.de, lightmailer.gmx.net, deref-gmx.net, the GMX/Web.de link redirector) even when the
# provider is in no list; matched on a subdomain's first label only, so mail.ru itself is not email.
_WEBMAIL_LABEL_RE = re.compile(
    r"^(?:[a-z0-9]*-?mail\d*|webmail[\w-]*|lightmailer[\w-]*|messagerie[\w-]*|mailbusiness|owa)$"
)
_PACKAGE_ROOTS = frozenset({"com", "org", "net", "ru", "jp", "ch", "xyz", "tv", "ai"})
_WEBMAIL_REDIRECTOR_RE = re.compile(r"^deref-")


@dataclass(frozen=True, slots=True)
class _Entry:
    name: str
    category: str
    covers_subdomains: bool


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, _Entry], dict[str, _Entry]]:
    """``(hosts, names)``: host pattern → entry, and lower-case name or brand label → entry.

    Loaded on first use (~20 ms), not at import: most processes never classify a referrer.
    """
    matomo = json.loads(MATOMO_DATA_PATH.read_text(encoding="utf-8"))
    overrides = json.loads(OVERRIDES_PATH.read_text(encoding="utf-8"))
    rename, recategorise = overrides.get("rename", {}), overrides.get("recategorise", {})
    hosts: dict[str, _Entry] = {}

    def add(category: str, name: str, patterns: list[str]) -> None:
        # Search engines list their exact hosts; a parent domain there is a portal, not search.
        entry = _Entry(name, category, covers_subdomains=category != SEARCH)
        for pattern in patterns:
            if "/" not in pattern:
                hosts[pattern.lower().removeprefix("www.")] = entry

    for category in (SEARCH, SOCIAL, AI):
        for name, patterns in matomo.get(category, {}).items():
            add(recategorise.get(name, category), rename.get(name, name), patterns)
    for category, sources in overrides.get("sources", {}).items():
        for name, patterns in sources.items():
            add(category, name, patterns)
    return hosts, _name_index(hosts, overrides.get("utm_sources", {}))


def _name_index(hosts: dict[str, _Entry], aliases: dict[str, str]) -> dict[str, _Entry]:
    """utm_source spellings: each name ("hacker news", "hackernews") and each unambiguous brand label
    of its hosts ("google" of google.{}, "facebook" of l.facebook.com), plus the aliases."""
    by_name = {entry.name: entry for entry in hosts.values()}
    names: dict[str, _Entry] = {}
    labels: dict[str, set[_Entry]] = {}
    for pattern, entry in hosts.items():
        parts = [part for part in pattern.split(".") if part != "{}"]
        if len(parts) >= 2 and parts[-2] in _COUNTRY_SECOND_LEVELS and len(parts) >= 3:
            parts = parts[:-1]
        # Android packages ("com.whatsapp", "ai.perplexity.app.android") name no brand this way.
        if 2 <= len(parts) <= 3 and len(parts[-2]) >= 3 and parts[0] not in _PACKAGE_ROOTS:
            labels.setdefault(parts[-2], set()).add(entry)
    for label, entries in labels.items():
        if len({(e.name, e.category) for e in entries}) == 1:
            names[label] = next(iter(entries))
    for name, entry in by_name.items():
        names[name.lower()] = entry
    for name, entry in by_name.items():  # "hackernews"; never over an exact name ("google+" ≠ Google)
        names.setdefault(re.sub(r"[^a-z0-9]", "", name.lower()), entry)
    for alias, name in aliases.items():
        if name in by_name:
            names[alias] = by_name[name]
    return names


_HOST_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}\.)*[a-z0-9-]{1,63}$|^\[?[0-9a-f:.]+\]?$")


def bare_host(host: str) -> str:
    return host.strip().lower().rstrip(".").removeprefix("www.")


def _patterns(labels: list[str]) -> list[str]:
    """The table keys that could name this host: itself, with ``{}`` for a country code at the end
    (google.co.uk → google.{}) or for its first label ({}.search.yahoo.com), or both."""
    keys = [".".join(labels)]
    tails = []
    if len(labels) >= 2 and len(labels[-1]) <= 3:
        tails.append(labels[:-1])
        if len(labels) >= 3 and labels[-2] in _COUNTRY_SECOND_LEVELS:
            tails.append(labels[:-2])
    for head in tails:
        keys.append(".".join([*head, "{}"]))
    if len(labels) >= 3:
        keys.append(".".join(["{}", *labels[1:]]))
        for head in tails:
            if len(head) >= 2:
                keys.append(".".join(["{}", *head[1:], "{}"]))
    return keys


@lru_cache(maxsize=4096)
def classify_host(host: str) -> tuple[str, str] | None:
    """``(source name, category)`` of a bare host or Android package, or None when unknown.

    The most specific listed host wins (mail.google.com is Gmail, gemini.google.com Gemini, google.com
    Google); a listed host covers its subdomains except for search engines.
    """
    hosts = _table()[0]
    labels = host.split(".")
    for start in range(len(labels)):
        for key in _patterns(labels[start:]):
            entry = hosts.get(key)
            if entry is not None and (start == 0 or entry.covers_subdomains):
                return entry.name, entry.category
        if start == 0 and (
            _WEBMAIL_REDIRECTOR_RE.match(host) or (len(labels) >= 3 and _WEBMAIL_LABEL_RE.match(labels[0]))
        ):
            return host, EMAIL
    return None


def source_name_for_host(host: str) -> str | None:
    """The normalised source name of a bare host (e.g. "l.facebook.com" → "Facebook"), else None."""
    found = classify_host(host)
    return found[0] if found and found[0] != host else None


def category_for_domain(domain: str) -> str:
    """Category of a stored referrer domain (or Android package); "" for none, OTHER when unknown."""
    if not domain:
        return ""
    found = classify_host(bare_host(domain))
    return found[1] if found else OTHER


@lru_cache(maxsize=1024)
def classify_source(value: str) -> tuple[str, str] | None:
    """``(name, category)`` of a utm_source value ("google", "fb", "l.facebook.com"), else None."""
    value = value.strip().lower()
    if not value:
        return None
    if entry := _table()[1].get(value):
        return entry.name, entry.category
    if "." in value:
        return classify_host(bare_host(value.split("/", 1)[0]))
    return None


def is_same_site(host: str, site_domain: str) -> bool:
    """Whether ``host`` is the site's domain or one of its subdomains (www. ignored on both)."""
    site = bare_host(site_domain)
    host = bare_host(host)
    return bool(site) and (host == site or host.endswith("." + site))


def referrer_for_domain(domain: str) -> Referrer:
    """The source of a stored referrer domain (or Android package), as ingest would name it today."""
    domain = bare_host(domain)
    if not domain:
        return NO_REFERRER
    found = classify_host(domain)
    if found is None:
        return Referrer(source=domain, domain=domain, category=OTHER)
    return Referrer(source=found[0], domain=domain, category=found[1])


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
        return referrer_for_domain(package) if package else NO_REFERRER
    if scheme not in ("http", "https"):
        return NO_REFERRER
    host = bare_host(host)
    if not host or not _HOST_RE.match(host) or is_same_site(host, site_domain):
        return NO_REFERRER
    return referrer_for_domain(host[:253])


def referrer_source(referrer: str | None, site_domain: str) -> Referrer:
    """Where a visit came from, from ``document.referrer``.

    Empty, unparsable and non-web referrers (``file:``, ``about:``, ``chrome-extension:``) give no
    source, and so does the site itself or any of its subdomains: internal navigation is not a
    source. Known sites get their usual name ("Google" for google.co.uk, "Twitter" for t.co and
    x.com) and category; others are shown as the bare domain, category OTHER (webmail hosts such as
    mail01.orange.fr are EMAIL). ``android-app://`` referrers map the app's package.
    """
    referrer = (referrer or "").strip()
    if not referrer:
        return NO_REFERRER
    return _referrer_source(referrer[:2048], site_domain)
