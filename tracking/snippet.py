"""The tracker as served: static/humblytics.js, minified once, with per-site config inlined."""

import functools
import json

from django.conf import settings

from humblytics.lib.jsmin import minify_js
from tracking.models import Site

CONFIG_MARKER = "/*HMBL_CONFIG*/null"


@functools.lru_cache(maxsize=1)
def _template() -> str:
    source = (settings.BASE_DIR / "static" / "humblytics.js").read_text(encoding="utf-8")
    minified = minify_js(source)
    if CONFIG_MARKER not in minified:
        raise RuntimeError("static/humblytics.js lost its /*HMBL_CONFIG*/null marker")
    return minified


def site_config(site: Site, request) -> dict | None:
    """Per-site configuration inlined into the script (split tests join this later)."""
    return None


def render(site: Site, request) -> str:
    config = site_config(site, request)
    if config is None:
        return _template()
    # "</" cannot appear inside the JSON of a script, so no one can break out with a test name.
    payload = json.dumps(config, separators=(",", ":")).replace("</", "<\\/")
    return _template().replace(CONFIG_MARKER, payload, 1)
