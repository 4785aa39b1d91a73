import datetime as dt

from django.utils import timezone

from revenue.connections import connect_stripe
from revenue.models import Payment, StripeConnection, StripeObject, SyncRun
from revenue.tests.conftest import FULL_KEY, fake_stripe  # noqa: F401  (shared fixture)
from splittests.lifecycle import create_test
from splittests.models import SplitTest, Variant
from splittests.tests.conftest import spec
from tracking.apikeys import create_api_key
from tracking.models import ApiKey, Session, Site, View
from tracking.retention import apply_retention


def make_visit(site, days_ago, view_id):
    at = timezone.now() - dt.timedelta(days=days_ago)
    session = Session.objects.create(
        site=site,
        visitor_hash=view_id.ljust(32, "0")[:32],
        started_at=at,
        last_seen_at=at,
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )
    View.objects.create(
        site=site,
        session=session,
        view_id=view_id.ljust(22, "x"),
        created_at=at,
        hostname=site.domain,
        page="/",
    )
    return session


def test_retention_deletes_old_views_and_keeps_visits_and_payments(site, other_site):
    site.retention_days = 30
    site.save()
    old = make_visit(site, 40, "old")
    make_visit(site, 10, "new")
    make_visit(other_site, 400, "theirs")
    Payment.objects.create(
        site=site,
        stripe_id="ch_1",
        created_at=old.started_at,
        amount=100,
        currency="usd",
        settlement_amount=100,
        settlement_currency="usd",
        net=100,
        session=old,
    )
    assert apply_retention(timezone.now()) == 1
    assert list(View.objects.filter(site=site).values_list("view_id", flat=True)) == ["new".ljust(22, "x")]
    assert Session.objects.filter(site=site).count() == 2
    assert Payment.objects.get().session_id == old.pk
    assert View.objects.filter(site=other_site).count() == 1
    assert apply_retention(timezone.now()) == 0


def test_retention_is_set_in_site_settings(client_as_owner, site):
    client_as_owner.post(
        f"/sites/{site.public_id}/settings/",
        {"name": "Example", "domain": "example.com", "timezone": "UTC", "retention_days": 180},
    )
    site.refresh_from_db()
    assert site.retention_days == 180


def test_deleting_a_site_removes_all_its_data(client_as_owner, site, other_site, fake_stripe):  # noqa: F811
    make_visit(site, 1, "mine")
    make_visit(other_site, 1, "theirs")
    fake_stripe.create_payment(1000, "usd")
    connection = connect_stripe(site, FULL_KEY)
    from revenue.sync import sync_connection

    sync_connection(connection.pk)
    create_api_key(site, "k")
    create_test(site, spec(), launch=True)
    assert Payment.objects.filter(site=site).count() == 1

    wrong = client_as_owner.post(f"/sites/{site.public_id}/settings/delete/", {"confirm": "nope.com"})
    assert wrong.status_code == 302 and Site.objects.filter(pk=site.pk).exists()

    response = client_as_owner.post(f"/sites/{site.public_id}/settings/delete/", {"confirm": "example.com"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert not Site.objects.filter(pk=site.pk).exists()
    for model in (
        View,
        Session,
        Payment,
        ApiKey,
        SplitTest,
        Variant,
        StripeConnection,
        StripeObject,
        SyncRun,
    ):
        remaining = model.objects.all()
        if model in (View, Session):
            remaining = remaining.exclude(site=other_site)
        assert not remaining.exists(), model.__name__
    assert View.objects.filter(site=other_site).count() == 1
    assert client_as_owner.get(f"/hmbl.min.js?id={site.public_id}").status_code == 404


def test_only_owners_delete_and_others_get_404(client, other_user, site):
    from tracking.models import Membership

    client.force_login(other_user)
    assert (
        client.post(f"/sites/{site.public_id}/settings/delete/", {"confirm": "example.com"}).status_code
        == 404
    )
    Membership.objects.create(user=other_user, site=site, role=Membership.Role.VIEWER)
    assert (
        client.post(f"/sites/{site.public_id}/settings/delete/", {"confirm": "example.com"}).status_code
        == 403
    )
    assert Site.objects.filter(pk=site.pk).exists()
