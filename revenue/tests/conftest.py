import datetime as dt

import pytest
from django.utils import timezone

from revenue.connections import connect_stripe
from revenue.fakestripe import FakeStripe, FakeStripeServer
from tracking.models import Session, View

FULL_KEY = "sk_test_fullaccess4242"


@pytest.fixture
def fake_stripe(settings):
    state = FakeStripe(keys={FULL_KEY: None})
    with FakeStripeServer(state) as server:
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_REQUESTS_PER_SECOND_TEST = 1000
        settings.STRIPE_REQUESTS_PER_SECOND_LIVE = 1000
        settings.STRIPE_BACKOFF_SECONDS = 0.01
        settings.STRIPE_MAX_NETWORK_RETRIES = 2
        settings.STRIPE_TIMEOUT_SECONDS = 5
        yield state


@pytest.fixture
def connection(site, fake_stripe):
    return connect_stripe(site, FULL_KEY)


@pytest.fixture
def make_view(site):
    counter = iter(range(1_000_000))

    def make(view_id: str, *, channel="Organic Search", referrer="Google", country="DE", target_site=None):
        target = target_site or site
        now = timezone.now() - dt.timedelta(hours=1)
        session = Session.objects.create(
            site=target,
            visitor_hash=f"{next(counter):032x}",
            started_at=now,
            last_seen_at=now,
            entry_page="/pricing",
            exit_page="/pricing",
            referrer=referrer,
            channel=channel,
            country=country,
            browser="Chrome",
            os="macOS",
            device="desktop",
        )
        return View.objects.create(
            site=target,
            session=session,
            view_id=view_id,
            created_at=now,
            hostname=target.domain,
            page="/pricing",
        )

    return make
