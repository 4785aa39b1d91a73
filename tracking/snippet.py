"""The tracker as served: static/humblytics.js, minified once, with per-site config inlined.

Sites without a running split test get the core script (the split-test block removed); the
others get the full script with their visitor's assignments inlined.
"""

import functools
import json
import re

from django.conf import settings
from django.utils import timezone

from humblytics.lib.jsmin import minify_js
from tracking import enrich, visitors
from tracking.models import Site

CONFIG_MARKER = "/*HMBL_CONFIG*/null"
_SPLIT_BLOCK = re.compile(r"^\s*// <split-tests>.*?^\s*// </split-tests>\s*$", re.MULTILINE | re.DOTALL)


@functools.lru_cache(maxsize=2)
def template(with_split_tests: bool) -> str:
    source = (settings.BASE_DIR / "static" / "humblytics.js").read_text(encoding="utf-8")
    if not with_split_tests:
        source = _SPLIT_BLOCK.sub("", source)
    minified = minify_js(source)
    if CONFIG_MARKER not in minified:
        raise RuntimeError("static/humblytics.js lost its /*HMBL_CONFIG*/null marker")
    return minified


def render(site: Site, request) -> tuple[str, bool]:
    """(script, is_personalised). A personalised script must not be cached by shared caches."""
    from splittests.snippet_config import running_tests, tests_config

    tests = running_tests(site)
    user_agent = request.META.get("HTTP_USER_AGENT", "")[:1000]
    if not tests or enrich.is_bot(user_agent):
        # Bots are never put in a test: they get the core script.
        return template(False), False
    now = timezone.now()
    ip = enrich.client_ip(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        settings.TRUSTED_PROXY_COUNT,
    )
    hashes = visitors.visitor_hashes(now, site.pk, ip, user_agent)
    config = {"t": tests_config(site, tests, hashes, now)}
    # "</" cannot appear inside the JSON of a script, so no one can break out with a test URL.
    payload = json.dumps(config, separators=(",", ":")).replace("</", "<\\/")
    return template(True).replace(CONFIG_MARKER, payload, 1), True
