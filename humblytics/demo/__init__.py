"""Demo data for a first run: a demo login, a demo site, traffic, payments, a running split test, and
two goals with a funnel over them.

Traffic goes through the real ingest pipeline (``traffic``) and payments are built in the project's
fake Stripe server and imported by the real sync (``payments``), so sessions, channels and
attribution are what the product itself derives.

Everything is deterministic: a fixed seed, view timestamps relative to the moment of generation, and
a payment plan computed from the stored views alone (``conversions`` says why that matters).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from humblytics.demo.goals import create_goals
from humblytics.demo.payments import PaymentsOutcome, StripeSummary, is_local_url, setup_payments
from humblytics.demo.shop import (
    DEMO_DOMAIN,
    DEMO_EMAIL,
    DEMO_PASSWORD,
    DEMO_SITE_NAME,
    DEMO_STRIPE_KEY,
    DEMO_TIMEZONE,
    DEMO_USERNAME,
    TEST_NAME,
    Log,
)
from humblytics.demo.splittest import create_split_test, find_split_test
from humblytics.demo.traffic import TrafficSummary, generate_traffic
from tracking import ingest as tracking_ingest
from tracking.models import Membership, Site
from tracking.sites import create_site
from tracking.visitors import rotate_salts

__all__ = [
    "DEMO_DOMAIN",
    "DEMO_PASSWORD",
    "DEMO_SITE_NAME",
    "DEMO_STRIPE_KEY",
    "DEMO_USERNAME",
    "TEST_NAME",
    "PaymentsOutcome",
    "StripeSummary",
    "TrafficSummary",
    "build_site",
    "delete_site",
    "ensure_user",
    "find_site",
    "find_split_test",
    "is_local_url",
    "setup_payments",
]


def ensure_user():
    """The demo user, created with the documented password if missing. Returns (user, created)."""
    user_model = get_user_model()
    user = user_model.objects.filter(username=DEMO_USERNAME).first()
    if user is not None:
        return user, False
    return user_model.objects.create_user(DEMO_USERNAME, DEMO_EMAIL, DEMO_PASSWORD), True


def find_site(user) -> Site | None:
    return (
        Site.objects.filter(
            domain=DEMO_DOMAIN, memberships__user=user, memberships__role=Membership.Role.OWNER
        )
        .order_by("pk")
        .first()
    )


def delete_site(site: Site) -> None:
    """The site and everything hanging off it (sessions, views, payments, connection, split tests)."""
    public_id = site.public_id
    with transaction.atomic():
        site.delete()
    tracking_ingest.forget_site(public_id)


def build_site(user, *, now: dt.datetime, days: int, scale: float, log: Log) -> tuple[Site, TrafficSummary]:
    """Create the demo site, its split test and its traffic in one transaction (all or nothing)."""
    # Django's query log (DEBUG) formats every statement; over ~30k statements that is ~15% of the time.
    debug, settings.DEBUG = settings.DEBUG, False
    try:
        with transaction.atomic():
            site, summary = _build_site(user, now=now, days=days, scale=scale, log=log)
    finally:
        settings.DEBUG = debug
    # Backdated views created a salt per past day; keep only today's and yesterday's (privacy rule).
    rotate_salts(now)
    return site, summary


def _build_site(user, *, now: dt.datetime, days: int, scale: float, log: Log) -> tuple[Site, TrafficSummary]:
    site = create_site(user, name=DEMO_SITE_NAME, domain=DEMO_DOMAIN, timezone=DEMO_TIMEZONE)
    test_started_at = now - dt.timedelta(days=min(30, max(1, days // 3)))
    create_split_test(site, test_started_at)
    create_goals(site)
    summary = generate_traffic(
        site, now=now, days=days, scale=scale, test_started_at=test_started_at, log=log
    )
    return site, summary
