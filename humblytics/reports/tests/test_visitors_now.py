""" "Visitors now": visitors with a page view in the last 5 minutes, on the dashboard and as JSON."""

import datetime as dt

import pytest
from django.utils import timezone

from humblytics.reports import widgets
from tracking import sharing
from tracking.models import Session, View


def visit(site, visitor: str, last_seen: dt.datetime, n: int = 0) -> None:
    session = Session.objects.create(
        site=site,
        visitor_hash=visitor * 32,
        started_at=last_seen - dt.timedelta(minutes=20),
        last_seen_at=last_seen,
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )
    View.objects.create(
        site=site,
        session=session,
        view_id=f"{visitor}{n}".ljust(22, "x"),
        created_at=last_seen,
        hostname="x",
        page="/",
    )


@pytest.fixture
def now():
    return timezone.now()


@pytest.fixture
def traffic(site, now):
    visit(site, "a", now - dt.timedelta(minutes=1))
    visit(site, "a", now - dt.timedelta(minutes=2), 1)  # the same visitor twice counts once
    visit(site, "b", now - dt.timedelta(minutes=4, seconds=50))
    visit(site, "c", now - dt.timedelta(minutes=6))  # gone
    return now


def test_it_counts_distinct_visitors_of_the_last_five_minutes(site, traffic):
    assert widgets.visitors_now(site, traffic) == 2
    assert widgets.visitors_now(site, traffic + dt.timedelta(minutes=10)) == 0


def test_the_dashboard_shows_it_and_polls_its_json(client_as_owner, site, traffic):
    html = client_as_owner.get(f"/sites/{site.public_id}/").content.decode()
    assert 'id="visitors-now" data-src="now/"' in html
    assert "<strong>2</strong>" in html
    assert "js/realtime.js" in html
    response = client_as_owner.get(f"/sites/{site.public_id}/now/")
    assert response.json() == {"visitors": 2}
    assert response["Cache-Control"] == "no-store"


def test_a_shared_link_gets_it_through_its_token(client, site, owner, traffic, other_site, other_user):
    token = sharing.create_share_link(site, "Board", created_by=owner)[1]
    assert client.get(f"/share/{token}/now/").json() == {"visitors": 2}
    assert 'data-src="now/"' in client.get(f"/share/{token}/").content.decode()
    other_token = sharing.create_share_link(other_site, "Theirs", created_by=other_user)[1]
    assert client.get(f"/share/{other_token}/now/").json() == {"visitors": 0}
    assert client.get(f"/share/{'x' * 32}/now/").status_code == 404


def test_it_requires_login_and_membership(client, client_as_owner, other_site, site):
    assert client_as_owner.get(f"/sites/{other_site.public_id}/now/").status_code == 404
    assert client_as_owner.post(f"/sites/{site.public_id}/now/").status_code == 405
    client_as_owner.logout()
    assert "/accounts/login/" in client.get(f"/sites/{site.public_id}/now/")["Location"]
