"""Enrichment of one page view: the visitor's IP address and country. The other steps have their own
modules: ``bots``, ``useragents`` (browser, OS, device), ``referrers`` and ``channels`` (UTM, click
ids, channel).

All are pure, typed functions over plain strings (no request objects), called once per hit by the
ingest pipeline, so each is cheap: precompiled regexes, and bounded caches where the same input recurs
(user agents). Nothing here stores anything; the only state is in-process caches.
"""

from __future__ import annotations

import ipaddress
import logging
from functools import lru_cache
from typing import Any

import maxminddb
from django.conf import settings
from iptocc import country_code as _iptocc_country_code

# Re-exported for tracking.snippet, which checks bots here until it imports tracking.bots.
from tracking.bots import is_bot as is_bot

# Not countries: unknown (Cloudflare "XX"), Tor ("T1"), anonymous proxy / satellite / other (MaxMind).
_NOT_COUNTRIES = frozenset({"XX", "T1", "A1", "A2", "O1", "EU", "AP", "ZZ"})


def _country_from_header(value: str | None) -> str:
    code = (value or "").strip().upper()
    if len(code) == 2 and code.isascii() and code.isalpha() and code not in _NOT_COUNTRIES:
        return code
    return ""


logger = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _geoip_reader(path: str) -> Any:
    """The MaxMind-format database at ``path``, opened once per process (memory-mapped); None when it
    cannot be read, so a bad path costs one log line, not every hit."""
    try:
        return maxminddb.open_database(path)
    except (OSError, ValueError) as exc:
        logger.error("GEOIP_DATABASE %s cannot be read (%s); using the built-in table", path, exc)
        return None


def _country_from_geoip(path: str, ip: str) -> str:
    reader = _geoip_reader(path)
    if reader is None:
        return ""
    try:
        record = reader.get(ip)
    except ValueError:
        return ""
    country = (record or {}).get("country") or (record or {}).get("registered_country") or {}
    code = country.get("iso_code") if isinstance(country, dict) else None
    return code.upper() if isinstance(code, str) and len(code) == 2 else ""


def country_for(ip: str | None, header_value: str | None = None) -> str:
    """ISO 3166 alpha-2 country of a visitor, "" when unknown.

    A proxy's country header (``COUNTRY_HEADER``, e.g. ``CF-IPCountry``) wins when it holds a real
    country code; then the MaxMind-format database at ``GEOIP_DATABASE`` when one is configured (a
    GeoLite2/GeoIP2 Country or City file, or any file with ``country.iso_code``); then the offline
    ``iptocc`` table (private and reserved addresses have no country). Not cached: a lookup costs
    about a microsecond, and a cache would keep visitors' IP addresses in memory for no gain.
    """
    if code := _country_from_header(header_value):
        return code
    if not ip:
        return ""
    if (path := getattr(settings, "GEOIP_DATABASE", "")) and (code := _country_from_geoip(path, ip)):
        return code
    try:
        code = _iptocc_country_code(ip)
    except (TypeError, ValueError):
        return ""
    return code.upper() if isinstance(code, str) and len(code) == 2 else ""


def _parse_ip(value: str) -> str | None:
    """Normalised address from an address, with or without a port ("1.2.3.4:80", "[::1]:443")."""
    value = value.strip().strip('"')
    if value.startswith("["):
        value = value[1:].split("]", 1)[0]
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return str(address)


def client_ip(remote_addr: str, forwarded_for: str | None, trusted_proxy_count: int) -> str:
    """The visitor's IP address behind ``trusted_proxy_count`` reverse proxies.

    With no trusted proxy it is ``REMOTE_ADDR``. With N trusted proxies, each appended the address it
    received from to ``X-Forwarded-For`` and the last one's address is ``REMOTE_ADDR``, so the client
    is the entry N places from the right of ``XFF entries + [REMOTE_ADDR]``: with N=1 the last XFF
    entry, with N=2 the second-to-last. Entries further left were supplied by the client and can be
    spoofed, so they are ignored; when the list is shorter than N+1, the left-most entry is used.
    This holds only if the app cannot be reached except through those proxies.
    Ports and brackets are stripped and IPv4-mapped IPv6 becomes IPv4. An invalid chosen entry falls
    back to ``REMOTE_ADDR``; an invalid ``REMOTE_ADDR`` gives "".
    """
    remote = _parse_ip(remote_addr or "") or ""
    if trusted_proxy_count <= 0:
        return remote
    entries = [entry for entry in (forwarded_for or "").split(",") if entry.strip()]
    entries.append(remote_addr or "")
    chosen = entries[max(0, len(entries) - 1 - trusted_proxy_count)]
    return _parse_ip(chosen) or remote
