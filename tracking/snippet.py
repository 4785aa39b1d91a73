"""The tracker as served: static/humblytics.js, minified once, with per-site config inlined.

Sites without a running split test get the core script (the split-test block removed); the
others get the full script with their visitor's assignments inlined (``splittests.snippet_config``
decides which, since split tests sit above tracking).

Automatic events (outbound links, downloads, forms, CSS-class tagging) are a second script,
static/humblytics-auto.js at ``/hmbl.auto.js``: only the page's tag says whether a site wants them,
so the core fetches it when the tag asks, and the server cannot inline it. The core names it with
its content's version, so it can be cached for a year and still change the day it is deployed.
"""

import functools
import gzip
import hashlib
import json
import re
from dataclasses import dataclass

import brotli
import rjsmin
from django.conf import settings

from tracking import enrich, visitors
from tracking.models import Site

CONFIG_MARKER = "/*!HMBL_CONFIG*/null"
AUTO_PATH = "/hmbl.auto.js"
_AUTO_LITERAL = f'"{AUTO_PATH}"'


def _optional_block(name: str) -> re.Pattern:
    """The lines from ``// <name>`` to ``// </name>`` in static/humblytics.js: code only some sites get."""
    return re.compile(rf"^\s*// <{name}>.*?^\s*// </{name}>\s*$", re.MULTILINE | re.DOTALL)


_SPLIT_BLOCK = _optional_block("split-tests")
_PAYMENT_LINKS_BLOCK = _optional_block("payment-links")


def tag_for(request, site: Site) -> str:
    """The one script tag a site pastes into its pages (a localhost site's tag allows local pages, which
    the script otherwise skips)."""
    src = request.build_absolute_uri(f"/hmbl.min.js?id={site.public_id}")
    allow_local = " data-allow-local" if site.domain == "localhost" else ""
    return f'<script defer{allow_local} src="{src}"></script>'


def minify(source: str) -> str:
    """rjsmin, keeping "bang" comments: the config marker is one."""
    return rjsmin.jsmin(source, keep_bang_comments=True)


@functools.lru_cache(maxsize=4)
def template(with_split_tests: bool, with_payment_links: bool = False) -> str:
    """The minified script with only the optional blocks a site uses: split tests (a running test) and
    Payment Link tagging (a Stripe connection). A site that uses neither gets the smallest script."""
    source = (settings.BASE_DIR / "static" / "humblytics.js").read_text(encoding="utf-8")
    if not with_split_tests:
        source = _SPLIT_BLOCK.sub("", source)
    if not with_payment_links:
        source = _PAYMENT_LINKS_BLOCK.sub("", source)
    minified = minify(source)
    if CONFIG_MARKER not in minified:
        raise RuntimeError("static/humblytics.js lost its /*!HMBL_CONFIG*/null marker")
    if minified.count(_AUTO_LITERAL) != 1:
        raise RuntimeError(f"static/humblytics.js must name {_AUTO_LITERAL} exactly once")
    return minified.replace(_AUTO_LITERAL, f'"{AUTO_PATH}?v={auto_version()}"')


@functools.lru_cache(maxsize=1)
def auto_script() -> str:
    """The automatic-events script, minified (the same for every site: it reads its tag's attributes)."""
    return minify((settings.BASE_DIR / "static" / "humblytics-auto.js").read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def auto_version() -> str:
    """A digest of ``auto_script()``: the ``?v=`` the core asks for, which makes it cacheable for good."""
    return hashlib.blake2b(auto_script().encode("utf-8"), digest_size=4).hexdigest()


def visitor_hashes_for(site: Site, request, now) -> tuple[str, str] | None:
    """Today's and yesterday's cookie-free visitor hashes of the requester, or None for a bot (bots are
    never put in a split test)."""
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:1000]
    if enrich.is_bot(user_agent):
        return None
    ip = enrich.client_ip(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        settings.TRUSTED_PROXY_COUNT,
    )
    return visitors.visitor_hashes(now, site.pk, ip, user_agent)


def with_config(config: dict, with_payment_links: bool = False) -> str:
    """The script with split tests carrying ``config``."""
    # "</" cannot appear inside the JSON of a script, so no one can break out with a test URL.
    payload = json.dumps(config, separators=(",", ":")).replace("</", "<\\/")
    return template(True, with_payment_links).replace(CONFIG_MARKER, payload, 1)


@dataclass(frozen=True)
class Encoded:
    """The script as sent: ``body`` in ``encoding`` ("br", "gzip" or "" for none), with a strong ETag
    that differs per encoding (one representation, one tag)."""

    body: bytes
    encoding: str
    etag: str


def encode(script: str, accept_encoding: str) -> Encoded:
    """The script compressed for a client sending this ``Accept-Encoding``: brotli if accepted, else
    gzip, else as is.

    Compressed once per distinct script and kept: there are two templates, and a site's personalised
    scripts differ only by the variants assigned, so a few hundred entries cover every running test.
    Brotli at its best quality costs ~10 ms per script, paid once.
    """
    return _encoded(script, _preferred_encoding(accept_encoding))


def _preferred_encoding(accept_encoding: str) -> str:
    accepted = set()
    for part in accept_encoding.lower().split(","):
        name, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if quality > 0:
            accepted.add(name)
    for encoding in ("br", "gzip"):
        if encoding in accepted:
            return encoding
    return ""


@functools.lru_cache(maxsize=512)
def _encoded(script: str, encoding: str) -> Encoded:
    raw = script.encode("utf-8")
    if encoding == "br":
        body = brotli.compress(raw, mode=brotli.MODE_TEXT, quality=11)
    elif encoding == "gzip":
        body = gzip.compress(raw, compresslevel=9, mtime=0)
    else:
        body = raw
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    return Encoded(body=body, encoding=encoding, etag=f'"{digest}{"-" + encoding if encoding else ""}"')
