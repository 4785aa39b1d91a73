import datetime as dt
import json
import threading
import time

import pytest
from django.db import IntegrityError, OperationalError, connection
from django.utils import timezone

from revenue.connections import connect_stripe
from revenue.models import Payment, StripeConnection, StripeObject, SyncRun
from revenue.tests.conftest import FULL_KEY, fake_stripe  # noqa: F401  (shared fixture)
from splittests.lifecycle import create_test
from splittests.models import SplitTest, Variant
from splittests.tests.conftest import spec
from tracking import ingest, retention, rollups, tasks
from tracking.apikeys import create_api_key
from tracking.models import ApiKey, Session, Site, View
from tracking.retention import apply_retention
from tracking.sites import create_site
from tracking.sitework import SiteWorkFailed

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


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


@pytest.mark.parametrize(
    "days, error", [(1_000_000, "less than or equal to 3650"), (0, "greater than or equal to 1")]
)
def test_retention_days_is_bounded_in_site_settings(client_as_owner, site, days, error):
    response = client_as_owner.post(
        f"/sites/{site.public_id}/settings/",
        {"name": "Example", "domain": "example.com", "timezone": "UTC", "retention_days": days},
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    site.refresh_from_db()
    assert site.retention_days is None


def test_a_huge_stored_retention_counts_as_ten_years_not_an_overflow(site, other_site):
    Site.objects.filter(pk=site.pk).update(retention_days=1_000_000)
    Site.objects.filter(pk=other_site.pk).update(retention_days=30)
    make_visit(site, 4000, "ancient")
    make_visit(site, 400, "kept")
    make_visit(other_site, 40, "old")
    assert apply_retention(timezone.now()) == 2
    assert list(View.objects.filter(site=site).values_list("view_id", flat=True)) == ["kept".ljust(22, "x")]
    assert not View.objects.filter(site=other_site).exists()


def test_one_sites_failing_retention_does_not_stop_the_others(site, other_site, monkeypatch, caplog):
    Site.objects.update(retention_days=30)
    make_visit(site, 40, "mine")
    make_visit(other_site, 40, "theirs")
    real = retention._apply_site_retention

    def failing_for_the_first(site_id, days, now):
        if site_id == site.pk:
            raise OverflowError("date value out of range")
        return real(site_id, days, now)

    monkeypatch.setattr(retention, "_apply_site_retention", failing_for_the_first)
    with pytest.raises(SiteWorkFailed, match=r"retention failed for 1 site\(s\)"):
        apply_retention(timezone.now())
    assert not View.objects.filter(site=other_site).exists()
    assert View.objects.filter(site=site).count() == 1
    assert "retention failed for site id" in caplog.text and "OverflowError" in caplog.text


def test_one_sites_failing_rollups_do_not_stop_the_others(site, other_site, monkeypatch):
    done = []

    def roll_up_site(site_id, now):
        if site_id == site.pk:
            raise ValueError("broken site")
        done.append(site_id)
        return 1

    monkeypatch.setattr(rollups, "roll_up_site", roll_up_site)
    with pytest.raises(SiteWorkFailed, match=r"rollups failed for 1 site\(s\)"):
        tasks.roll_up_reports()
    assert done == [other_site.pk]


@pytest.mark.django_db(transaction=True)
def test_deleting_a_site_while_views_arrive_succeeds(owner):
    """Views keep arriving (another thread, committed one by one) while the site is deleted."""
    site = create_site(owner, name="Busy", domain="busy.example", timezone="UTC")
    stop = threading.Event()
    outcomes = []

    def send_views():
        n = 0
        try:
            while not stop.is_set() and n < 2000:
                n += 1
                raw = json.dumps(
                    {
                        "site": site.public_id,
                        "view_id": f"race{n}".ljust(22, "x"),
                        "url": "https://busy.example/",
                    }
                ).encode()
                try:
                    ingest.ingest(
                        ingest.parse_event(raw),
                        ingest.Visitor(ip=f"198.51.100.{n % 250}", user_agent=CHROME),
                        timezone.now(),
                    )
                    outcomes.append("stored")
                except ingest.UnknownSite:
                    outcomes.append("unknown")
                except (IntegrityError, OperationalError):
                    # The site went away under this very view: not stored, and said so.
                    outcomes.append("refused")
        finally:
            connection.close()

    worker = threading.Thread(target=send_views)
    worker.start()
    try:
        deadline = time.monotonic() + 10
        while outcomes.count("stored") < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
        retention.delete_site(site)
    finally:
        stop.set()
        worker.join(30)
    assert outcomes.count("stored") >= 20
    assert not Site.objects.filter(pk=site.pk).exists()
    assert not View.objects.filter(site_id=site.pk).exists()
    assert not Session.objects.filter(site_id=site.pk).exists()
