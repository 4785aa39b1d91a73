"""``/share/TOKEN/``: the dashboard read-only for anyone holding a live link, and nothing else."""

import pytest
from django.utils import timezone

from humblytics.reports.tests.test_dashboard import WEEK, by_id
from humblytics.reports.tests.test_widgets import build_shop
from tracking import sharing
from tracking.models import ApiKey, Membership, ShareLink


@pytest.fixture
def shop(site):
    return build_shop(site)


@pytest.fixture
def token(site, owner):
    return sharing.create_share_link(site, "Investors", created_by=owner)[1]


def shared_page(client, token, query=WEEK):
    response = client.get(f"/share/{token}/{query}")
    assert response.status_code == 200
    return response.content.decode()


def test_a_link_shows_the_dashboard_without_logging_in(client, site, shop, token):
    html = shared_page(client, token)
    assert by_id(html, "kpi-visitors") == "4"  # as the owner sees it (test_dashboard)
    assert "Example" in html and "read-only" in html


def test_the_token_is_long_random_and_stored_hashed(site, owner, token):
    row = ShareLink.objects.get(site=site)
    assert len(token) >= 32
    assert token not in row.token_hash and row.token_hash != token
    assert sharing.create_share_link(site, "Again", created_by=owner)[1] != token


def test_the_shared_page_leaks_no_internal_ids_keys_or_emails(client, site, owner, shop, token):
    ApiKey.objects.create(site=site, name="k", prefix="hk_secret1", key_hash="x" * 64)
    html = shared_page(client, token)
    for secret in (site.public_id, "hk_secret1", owner.email, "/settings/", "/payments/", "/split-tests/"):
        assert secret not in html, secret
    assert '<form method="post"' not in html  # nothing to change


def test_filters_and_periods_in_the_address_work(client, shop, token):
    html = shared_page(client, token, WEEK + "&filter=channel:Organic+Search")
    assert by_id(html, "kpi-visitors") == "2"
    assert "Channel is Organic Search" in by_id(html, "filters")


def test_a_token_shows_only_its_own_site(client, site, other_site, other_user, shop):
    other_token = sharing.create_share_link(other_site, "Theirs", created_by=other_user)[1]
    html = shared_page(client, other_token)
    assert "Other" in html and by_id(html, "no-views")
    assert "Example" not in html


def test_a_revoked_unknown_or_malformed_token_is_a_404(client, site, shop, token):
    ShareLink.objects.get(site=site).revoke(timezone.now())
    assert client.get(f"/share/{token}/").status_code == 404
    assert client.get(f"/share/{'A' * 32}/").status_code == 404
    assert client.get("/share/short/").status_code == 404
    assert client.get("/share/%00" + "a" * 40 + "/").status_code == 404


def test_the_shared_page_answers_only_get(client, token):
    assert client.post(f"/share/{token}/").status_code == 405


def test_owner_creates_a_link_shown_once_and_revokes_it_after_asking(client_as_owner, client, site, shop):
    url = f"/sites/{site.public_id}/settings/sharing/"
    created = client_as_owner.post(url, {"name": "Board"}).content.decode()
    link = created.split('<code id="new-link">')[1].split("</code>")[0]
    assert link.startswith("http://testserver/share/")
    assert link.split("/")[4] not in client_as_owner.get(url).content.decode()
    path = link.removeprefix("http://testserver")
    assert client.get(path).status_code == 200
    row = ShareLink.objects.get(site=site)
    revoke = f"{url}{row.pk}/revoke/"
    assert "Revoke the shared link" in client_as_owner.post(revoke).content.decode()
    assert client.get(path).status_code == 200
    client_as_owner.post(revoke, {"confirmed": "yes"})
    assert client.get(path).status_code == 404


def test_a_viewer_cannot_create_or_revoke_links(client, site, token, other_user):
    Membership.objects.create(user=other_user, site=site, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    url = f"/sites/{site.public_id}/settings/sharing/"
    assert client.get(url).status_code == 200
    assert client.post(url, {"name": "Mine"}).status_code == 403
    row = ShareLink.objects.get(site=site)
    assert client.post(f"{url}{row.pk}/revoke/", {"confirmed": "yes"}).status_code == 403
    assert ShareLink.objects.filter(site=site).count() == 1


def test_another_users_site_sharing_is_a_404(client_as_owner, other_site, other_user):
    row = sharing.create_share_link(other_site, "Theirs", created_by=other_user)[0]
    url = f"/sites/{other_site.public_id}/settings/sharing/"
    assert client_as_owner.get(url).status_code == 404
    assert client_as_owner.post(url, {"name": "x"}).status_code == 404
    assert client_as_owner.post(f"{url}{row.pk}/revoke/", {"confirmed": "yes"}).status_code == 404
    row.refresh_from_db()
    assert row.revoked_at is None


def test_a_bad_name_is_a_form_error(client_as_owner, site):
    response = client_as_owner.post(f"/sites/{site.public_id}/settings/sharing/", {"name": ""})
    assert response.status_code == 400
    assert not ShareLink.objects.exists()
