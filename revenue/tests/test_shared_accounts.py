import datetime as dt

from revenue.models import Payment, StripeConnection
from revenue.shared_accounts import shared_account_warning, sites_sharing_account
from tracking.models import Membership, Site

KEY = "sk_test_" + "a" * 30


def connect(site, key=KEY):
    return StripeConnection.objects.create(site=site, secret_key=key, key_hint="sk_test_…aaaa")


def pay(site, stripe_id):
    return Payment.objects.create(
        site=site,
        stripe_id=stripe_id,
        created_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC),
        amount=1000,
        currency="usd",
        settlement_amount=1000,
        settlement_currency="usd",
        net=1000,
    )


def second_site(user, name="Blog", domain="blog.test"):
    site = Site.objects.create(name=name, domain=domain)
    Membership.objects.create(user=user, site=site)
    return site


def test_the_same_key_on_two_sites_is_found_before_any_payment(site, owner):
    blog = second_site(owner)
    connect(site)
    connect(blog)
    assert sites_sharing_account(site) == [blog]


def test_the_same_charges_on_two_sites_are_found_whatever_the_keys(site, owner):
    blog = second_site(owner)
    connect(site)
    connect(blog, "rk_test_" + "b" * 30)
    pay(site, "ch_1")
    pay(blog, "ch_1")
    assert sites_sharing_account(site) == [blog]
    assert sites_sharing_account(blog) == [site]


def test_different_accounts_are_not_flagged(site, owner):
    blog = second_site(owner)
    connect(site)
    connect(blog, "rk_test_" + "b" * 30)
    pay(site, "ch_1")
    pay(blog, "ch_2")
    assert sites_sharing_account(site) == []


def test_the_dashboard_warns_and_names_only_my_own_sites(client_as_owner, site, owner, other_user):
    blog = second_site(owner)
    theirs = second_site(other_user, "Their secret project", "secret.test")
    for each in (site, blog, theirs):
        connect(each)
    body = client_as_owner.get(f"/sites/{site.public_id}/").content.decode()
    assert "also connected to “Blog”" in body
    assert "Their secret project" not in body
    warning = shared_account_warning(theirs, other_user)
    assert "another site on this Humblytics" in warning and "Blog" not in warning


def test_the_revenue_tab_warns_too_naming_only_my_own_sites(client_as_owner, site, owner, other_user):
    blog = second_site(owner)
    theirs = second_site(other_user, "Their secret project", "secret.test")
    for each in (site, blog, theirs):
        connect(each)
    body = client_as_owner.get(f"/sites/{site.public_id}/settings/revenue/").content.decode()
    assert 'id="shared-account"' in body
    assert "also connected to “Blog”" in body
    assert "Their secret project" not in body


def test_the_revenue_tab_says_nothing_for_a_lone_account(client_as_owner, site):
    connect(site)
    body = client_as_owner.get(f"/sites/{site.public_id}/settings/revenue/").content.decode()
    assert 'id="shared-account"' not in body
