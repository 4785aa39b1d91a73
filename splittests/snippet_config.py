"""The running split tests a visitor's copy of the tracker carries, with their assignment."""

import datetime as dt
import enum
import json

from django.utils import timezone

from revenue.models import StripeConnection
from splittests import assignment
from splittests.models import SplitTest
from splittests.variant_urls import is_safe
from tracking import sessions as session_rules
from tracking import snippet
from tracking.models import Site, View

#: The tests inlined into one tracker stop here (the lifecycle also caps running tests per site):
#: a test that does not fit is left out for this visitor, who then simply sees the control page
#: and is not counted in it.
MAX_CONFIG_BYTES = 16 * 1024


class Caching(enum.Enum):
    """How a served tracker may be cached."""

    SHARED = "shared"  # no running test: the same script for everyone
    PERSONAL = "personal"  # carries this visitor's assignments
    PER_AGENT = "per_agent"  # test-free because the requester is a bot: not for everyone else


def running_tests(site: Site) -> list[SplitTest]:
    """Oldest first, so that when the config is full the tests already running keep their place."""
    return list(
        SplitTest.objects.filter(site=site, status=SplitTest.Status.RUNNING)
        .order_by("started_at", "pk")
        .prefetch_related("variants")
    )


def _servable(site: Site, variants) -> bool:
    """Every URL passes today's check: a test stored before it (or edited in the database) whose
    URL a browser would read as another site is never served."""
    return all(is_safe(site, v.url) for v in variants)


def tests_config(site: Site, tests: list[SplitTest], hashes: tuple[str, str], now: dt.datetime) -> list[dict]:
    """Compact per-test entries for the snippet (see static/humblytics.js)."""
    entries = []
    size = 0
    session = None
    session_checked = False
    for test in tests:
        variants = list(test.variants.all())
        control = next((v for v in variants if v.is_control), None)
        weighted = [(v.key, v.weight) for v in variants if v.weight > 0]
        if control is None or not weighted or not _servable(site, variants):
            continue
        if test.randomization == SplitTest.Randomization.USER:
            key = assignment.assign_user_level(test.pk, hashes[0], weighted)
        else:
            if not session_checked:
                session = session_rules.find_open_session(site, hashes, now)
                session_checked = True
            existing = None
            if session is not None:
                existing = (
                    View.objects.filter(
                        session=session,
                        variant__in=[v.key for v in variants],
                        page__in=[v.path for v in variants],
                    )
                    .values_list("variant", flat=True)
                    .first()
                )
            key = assignment.assign_session_level(existing, weighted)
        chosen = next(v for v in variants if v.key == key)
        entry = {
            "p": control.path,
            "c": control.key,
            "a": chosen.key,
            "u": chosen.url,
            "v": sorted({v.path for v in variants if not v.is_control}),
            "n": 1 if test.canonical_to_control else 0,
        }
        size += len(json.dumps(entry, separators=(",", ":"))) + 1
        if size > MAX_CONFIG_BYTES:
            break
        entries.append(entry)
    return entries


def render(site: Site, request) -> tuple[str, Caching]:
    """The script for ``GET /hmbl.min.js`` and how it may be cached. The site's domain rides along
    so that the snippet can refuse to redirect anywhere else (static/humblytics.js)."""
    # Payment Link tagging only matters to a site whose Stripe revenue we read.
    links = StripeConnection.objects.filter(site=site).exists()
    tests = running_tests(site)
    if not tests:
        return snippet.template(False, links), Caching.SHARED
    now = timezone.now()
    hashes = snippet.visitor_hashes_for(site, request, now)
    if hashes is None:
        # Bots get no test; a shared cache must not hand this test-free script to everyone.
        return snippet.template(False, links), Caching.PER_AGENT
    config = {"t": tests_config(site, tests, hashes, now), "d": site.domain.lower()}
    return snippet.with_config(config, links), Caching.PERSONAL
