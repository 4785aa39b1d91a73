"""The tracker as served: static/humblytics.js, minified once, with per-site config inlined.

Sites without a running split test get the core script (the split-test block removed); the
others get the full script with their visitor's assignments inlined (``splittests.snippet_config``
decides which, since split tests sit above tracking).
"""

import functools
import json
import re

import rjsmin
from django.conf import settings

from tracking import enrich, visitors
from tracking.models import Site

CONFIG_MARKER = "/*!HMBL_CONFIG*/null"
_SPLIT_BLOCK = re.compile(r"^\s*// <split-tests>.*?^\s*// </split-tests>\s*$", re.MULTILINE | re.DOTALL)


def tag_for(request, site: Site) -> str:
    """The one script tag a site pastes into its pages (a localhost site's tag allows local pages, which
    the script otherwise skips)."""
    src = request.build_absolute_uri(f"/hmbl.min.js?id={site.public_id}")
    allow_local = " data-allow-local" if site.domain == "localhost" else ""
    return f'<script defer{allow_local} src="{src}"></script>'


def minify(source: str) -> str:
    """rjsmin, keeping "bang" comments: the config marker is one."""
    return rjsmin.jsmin(source, keep_bang_comments=True)


@functools.lru_cache(maxsize=2)
def template(with_split_tests: bool) -> str:
    source = (settings.BASE_DIR / "static" / "humblytics.js").read_text(encoding="utf-8")
    if not with_split_tests:
        source = _SPLIT_BLOCK.sub("", source)
    minified = minify(source)
    if CONFIG_MARKER not in minified:
        raise RuntimeError("static/humblytics.js lost its /*!HMBL_CONFIG*/null marker")
    return minified


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


def with_config(config: dict) -> str:
    """The full script (split tests included) carrying ``config``."""
    # "</" cannot appear inside the JSON of a script, so no one can break out with a test URL.
    payload = json.dumps(config, separators=(",", ":")).replace("</", "<\\/")
    return template(True).replace(CONFIG_MARKER, payload, 1)
