"""The running split tests a visitor's copy of the tracker carries, with their assignment."""

import datetime as dt

from django.utils import timezone

from splittests import assignment
from splittests.models import SplitTest
from tracking import sessions as session_rules
from tracking import snippet
from tracking.models import Site, View


def running_tests(site: Site) -> list[SplitTest]:
    return list(
        SplitTest.objects.filter(site=site, status=SplitTest.Status.RUNNING).prefetch_related("variants")
    )


def tests_config(site: Site, tests: list[SplitTest], hashes: tuple[str, str], now: dt.datetime) -> list[dict]:
    """Compact per-test entries for the snippet (see static/humblytics.js)."""
    entries = []
    session = None
    session_checked = False
    for test in tests:
        variants = list(test.variants.all())
        control = next((v for v in variants if v.is_control), None)
        weighted = [(v.key, v.weight) for v in variants if v.weight > 0]
        if control is None or not weighted:
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
        entries.append(
            {
                "p": control.path,
                "c": control.key,
                "a": chosen.key,
                "u": chosen.url,
                "v": sorted({v.path for v in variants if not v.is_control}),
                "n": 1 if test.canonical_to_control else 0,
            }
        )
    return entries


def render(site: Site, request) -> tuple[str, bool]:
    """(script, is_personalised) for ``GET /hmbl.min.js``. A personalised script carries this visitor's
    assignments and must not be cached by shared caches."""
    tests = running_tests(site)
    if not tests:
        return snippet.template(False), False
    now = timezone.now()
    hashes = snippet.visitor_hashes_for(site, request, now)
    if hashes is None:
        return snippet.template(False), False
    return snippet.with_config({"t": tests_config(site, tests, hashes, now)}), True
