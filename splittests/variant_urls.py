"""Test and variant URLs, checked as a browser will read them (WHATWG URL rules), not as Python does.

Python's ``urlsplit`` and a browser disagree exactly where a redirect can be turned against a site:
a browser reads a backslash as a slash in http(s) URLs (``/\\evil.example/x`` is the
protocol-relative ``//evil.example/x``, and ``https://evil.example\\@alice.example.com/`` has the
host ``evil.example`` with a user name), deletes tabs and newlines anywhere (``/\\t/evil.example``),
accepts ``https:evil.example`` and ``https:///evil.example`` as ``https://evil.example/``, and
decodes percent-escapes in host names. Rather than re-implement the browser's parser, only a small
subset on which every parser agrees is accepted, and everything else is refused with the reason:

* a path: ``/`` not followed by another ``/``;
* an ``https://`` URL whose host (letters, digits, dots and hyphens, with an optional port, no user
  name or password) is the site's domain or one of its subdomains;
* nowhere a backslash, a space, or a control character.

The snippet checks the destination again before it redirects (static/humblytics.js).
"""

from __future__ import annotations

import re
from typing import NamedTuple, Protocol

MAX_LENGTH = 500

_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\\]")
_ABSOLUTE = re.compile(
    r"^https://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?$",
    re.IGNORECASE | re.DOTALL,
)
_HOST = re.compile(
    r"^(?P<host>(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.?)"
    r"(?::(?P<port>[0-9]{1,5}))?$",
    re.IGNORECASE,
)


class OwnsHostnames(Protocol):
    domain: str

    def owns_hostname(self, hostname: str) -> bool: ...


class CheckedUrl(NamedTuple):
    url: str  # as given (surrounding whitespace removed)
    path: str  # its path, e.g. "/pricing-b"


class UnsafeUrl(ValueError):
    """The reason, as a phrase to follow the field's name ("must not contain a backslash")."""


def _path_of(rest: str) -> str:
    return re.split(r"[?#]", rest, maxsplit=1)[0] or "/"


def check_url(site: OwnsHostnames, value: str) -> CheckedUrl:
    """The URL and its path if ``value`` is a path or an https URL on the site; else UnsafeUrl."""
    value = (value or "").strip(" \t\r\n")
    on_site = f"must be a path like /pricing-b or an https:// URL on {site.domain}"
    if not value:
        raise UnsafeUrl("is required")
    if len(value) > MAX_LENGTH:
        raise UnsafeUrl(f"must be at most {MAX_LENGTH} characters")
    if "\\" in value:
        raise UnsafeUrl("must not contain a backslash (browsers read it as /)")
    if _FORBIDDEN.search(value):
        raise UnsafeUrl("must not contain spaces or control characters (encode them, e.g. %20)")
    if value.startswith("/"):
        if value.startswith("//"):
            raise UnsafeUrl(f"must not start with // (browsers read that as another site); {on_site}")
        return CheckedUrl(value, _path_of(value))
    match = _ABSOLUTE.match(value)
    if match is None:
        raise UnsafeUrl(on_site)
    authority = match["authority"]
    if "@" in authority:
        raise UnsafeUrl("must not contain a user name or password (@ before the host)")
    host = _HOST.match(authority)
    if host is None:
        raise UnsafeUrl(f"has an invalid host name; {on_site}")
    if not site.owns_hostname(host["host"]):
        raise UnsafeUrl(f"must be on {site.domain} or one of its subdomains")
    return CheckedUrl(value, _path_of(match["rest"] or "/"))


def is_safe(site: OwnsHostnames, value: str) -> bool:
    try:
        check_url(site, value)
    except UnsafeUrl:
        return False
    return True
