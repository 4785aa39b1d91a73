"""Sign-up and Stripe key checks are throttled (issue 14): a new account cannot make this server test
Stripe keys without limit, and one address cannot create accounts without limit."""

import pytest
from django.core.cache import cache

from revenue import views as revenue_views
from revenue.stripe_client import KeyProblem
from tracking.models import Membership, Site


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def sign_up(client, n, **extra):
    return client.post(
        "/accounts/signup/",
        {"username": f"new{n}", "password1": "a-long-passphrase-42", "password2": "a-long-passphrase-42"},
        **extra,
    )


def test_sign_ups_are_throttled_per_client_address(client, settings, db):
    settings.SIGNUP_RATE_PER_IP = 2
    statuses = []
    for n in range(3):
        client.logout()
        statuses.append(sign_up(client, n, REMOTE_ADDR="198.51.100.7").status_code)
    assert statuses == [302, 302, 429]
    refused = sign_up(client, 9, REMOTE_ADDR="198.51.100.7")
    assert "Too many sign-up attempts" in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= 3601
    client.logout()
    assert sign_up(client, 3, REMOTE_ADDR="203.0.113.8").status_code == 302


def test_sign_up_throttle_uses_the_proxy_aware_address(client, settings, db):
    settings.SIGNUP_RATE_PER_IP = 1
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    assert sign_up(client, 1, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 302
    client.logout()
    assert sign_up(client, 2, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy).status_code == 429
    assert sign_up(client, 3, HTTP_X_FORWARDED_FOR="203.0.113.8", **proxy).status_code == 302


@pytest.fixture
def key_checks(monkeypatch):
    checked = []

    def connect_stripe(site, key, **kwargs):
        checked.append((site.public_id, key))
        raise KeyProblem("This key was refused by Stripe.")

    monkeypatch.setattr(revenue_views, "connect_stripe", connect_stripe)
    return checked


def post_key(client, site, key="sk_test_" + "a" * 24):
    return client.post(f"/sites/{site.public_id}/settings/revenue/", {"secret_key": key})


def test_stripe_key_checks_are_throttled_per_site(client_as_owner, site, settings, key_checks):
    settings.STRIPE_KEY_CHECKS_PER_HOUR = 3
    statuses = [post_key(client_as_owner, site).status_code for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert len(key_checks) == 3
    assert "Too many Stripe keys checked" in post_key(client_as_owner, site).content.decode()


def test_stripe_key_checks_are_throttled_per_user_across_sites(client_as_owner, owner, settings, key_checks):
    settings.STRIPE_KEY_CHECKS_PER_HOUR = 2
    sites = []
    for n in range(3):
        new = Site.objects.create(name=f"S{n}", domain=f"s{n}.example", timezone="UTC")
        Membership.objects.create(user=owner, site=new, role=Membership.Role.OWNER)
        sites.append(new)
    assert [post_key(client_as_owner, s).status_code for s in sites] == [200, 200, 429]
    assert len(key_checks) == 2


def test_a_non_owner_cannot_use_up_a_sites_key_checks(client, other_user, owner, site, settings, key_checks):
    settings.STRIPE_KEY_CHECKS_PER_HOUR = 2
    client.force_login(other_user)
    assert {post_key(client, site).status_code for _ in range(5)} == {404}
    client.force_login(owner)
    assert [post_key(client, site).status_code for _ in range(2)] == [200, 200]
    assert len(key_checks) == 2
