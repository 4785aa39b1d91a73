import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Django's test advice: a cheap hasher. PBKDF2 takes about half a second a password here, paid by
    every test whose fixtures make a user (most of them); what the tests check of passwords (set,
    changed, verified, throttled) does not depend on the algorithm, and the product keeps PBKDF2."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate-limit counters live in the cache, which outlives a test in the same process: without this, a
    test's requests count against the next test's user of the same primary key."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def owner(db):
    return get_user_model().objects.create_user("owner", "owner@example.com", "correct-horse-battery")


@pytest.fixture
def other_user(db):
    return get_user_model().objects.create_user("other", "other@example.com", "correct-horse-battery")


@pytest.fixture
def site(owner):
    from tracking.models import Membership, Site

    site = Site.objects.create(name="Example", domain="example.com", timezone="UTC")
    Membership.objects.create(user=owner, site=site, role=Membership.Role.OWNER)
    return site


@pytest.fixture
def other_site(other_user):
    from tracking.models import Membership, Site

    site = Site.objects.create(name="Other", domain="other.org", timezone="UTC")
    Membership.objects.create(user=other_user, site=site, role=Membership.Role.OWNER)
    return site


@pytest.fixture
def client_as_owner(client, owner):
    client.force_login(owner)
    return client


def pytest_collection_modifyitems(items):
    """Every test that drives Chromium carries the ``browser`` marker, whether or not its module says so,
    so ``-m "not browser"`` leaves out all of them."""
    for item in items:
        if "browser" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
