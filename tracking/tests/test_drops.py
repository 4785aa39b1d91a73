import datetime as dt

import pytest
from django.utils import timezone

from tracking import drops
from tracking.models import DropCount, Membership
from tracking.tests.test_ingest import body, post

HEADLESS = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/131.0.0.0 "
    "Safari/537.36"
)


@pytest.fixture(autouse=True)
def _fresh_counters():
    drops.reset_for_tests()
    yield
    drops.reset_for_tests()


def test_it_counts_a_dropped_bot_view_by_reason_and_hour_and_nothing_about_the_visitor(client, site):
    response = post(client, body(site), ua=HEADLESS, REMOTE_ADDR="203.0.113.9")
    assert response.json() == {"ok": True, "dropped": "headless_browser"}
    row = DropCount.objects.get()
    assert (row.site, row.reason, row.count, row.hostname) == (site, "headless_browser", 1, "")
    assert row.hour.minute == 0 and row.hour.second == 0
    stored = " ".join(str(value) for value in DropCount.objects.values().get().values())
    assert "203.0.113.9" not in stored and "HeadlessChrome" not in stored


def test_a_page_on_another_host_is_counted_with_that_host_and_localhost_separately(client, site):
    post(client, body(site, url="https://staging.example.net/pricing"))
    post(client, body(site, url="http://localhost:3000/"))
    rows = set(DropCount.objects.values_list("reason", "hostname", "count"))
    assert rows == {("hostname_mismatch", "staging.example.net", 1), ("local_page", "", 1)}


def test_accepted_views_and_unknown_sites_count_nothing(client, site):
    post(client, body(site))
    post(client, body(site, site="zzzzzzz"), ua=HEADLESS)
    assert not DropCount.objects.exists()


def test_a_flood_writes_each_counter_at_most_once_a_second_and_loses_nothing_after(site, monkeypatch):
    now = timezone.now()
    for _ in range(5):
        drops.count_drop(site.public_id, "crawler", now=now)
    assert DropCount.objects.get().count == 1
    monkeypatch.setattr(drops, "_WRITE_EVERY_SECONDS", 0.0)
    drops.count_drop(site.public_id, "crawler", now=now)
    assert DropCount.objects.get().count == 6


def test_settings_lists_the_last_24_hours_with_what_to_do(client_as_owner, site):
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    DropCount.objects.create(
        site=site, hour=hour, reason="hostname_mismatch", hostname="shop.example.net", count=7
    )
    DropCount.objects.create(site=site, hour=hour - dt.timedelta(hours=3), reason="headless_browser", count=2)
    DropCount.objects.create(site=site, hour=hour - dt.timedelta(hours=30), reason="crawler", count=99)
    html = client_as_owner.get(f"/sites/{site.public_id}/settings/").content.decode()
    panel = html[html.index('id="drops"') :]
    assert "Dropped in the last 24 hours" in panel
    assert "hostname_mismatch" in panel and "shop.example.net" in panel and ">7<" in panel
    assert "change the domain" in panel
    assert "headless_browser" in panel and "automated tests" in panel
    assert "crawler" not in panel.split("</section>")[0]


def test_settings_says_none_were_dropped_and_shows_no_other_sites_drops(client, site, other_site, other_user):
    DropCount.objects.create(site=site, hour=timezone.now(), reason="crawler", count=3)
    client.force_login(other_user)
    html = client.get(f"/sites/{other_site.public_id}/settings/").content.decode()
    assert "None: every page view and custom event that reached Humblytics was counted" in html
    assert client.get(f"/sites/{site.public_id}/settings/").status_code == 404


def test_a_viewer_sees_the_panel_too(client, site, other_user):
    Membership.objects.create(user=other_user, site=site, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    assert "Dropped in the last 24 hours" in client.get(f"/sites/{site.public_id}/settings/").content.decode()


def test_counts_older_than_two_days_are_forgotten_when_a_new_counter_starts(site, other_site):
    now = timezone.now()
    DropCount.objects.create(site=site, hour=now - dt.timedelta(days=3), reason="crawler", count=1)
    DropCount.objects.create(site=other_site, hour=now - dt.timedelta(days=3), reason="crawler", count=1)
    DropCount.objects.create(site=site, hour=now - dt.timedelta(hours=1), reason="crawler", count=1)
    drops.count_drop(site.public_id, "crawler", now=now)
    assert DropCount.objects.filter(site=site).count() == 2
    assert DropCount.objects.filter(site=other_site).count() == 1


def test_the_snippet_box_has_a_copy_button_and_mentions_data_allow_local(client_as_owner, site):
    html = client_as_owner.get(f"/sites/{site.public_id}/settings/").content.decode()
    assert 'data-copy="snippet"' in html
    assert "data-allow-local" in html


def test_the_empty_dashboard_says_views_arrived_but_were_dropped(client_as_owner, site):
    DropCount.objects.create(
        site=site, hour=timezone.now(), reason="hostname_mismatch", hostname="a.test", count=4
    )
    html = client_as_owner.get(f"/sites/{site.public_id}/").content.decode()
    notice = html[html.index('id="dropped-notice"') :]
    assert "4 hostname_mismatch (a.test)" in notice and "#drops" in notice
