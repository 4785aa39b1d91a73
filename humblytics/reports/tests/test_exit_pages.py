"""Exit pages: a session dimension like entry pages, in the dashboard, the API, filters and rollups."""

import datetime as dt
import importlib

from django.apps import apps
from django.utils import timezone

from humblytics.reports import query as rq
from humblytics.reports import widgets
from humblytics.reports.tests.test_rollups import build_traffic
from tracking import rollups
from tracking.apikeys import create_api_key
from tracking.dimensions import DIMENSIONS, LABELS
from tracking.models import DailyRollup, RollupDay, Session, View

DAY = dt.datetime(2026, 11, 10, 9, tzinfo=dt.UTC)
FORGET = importlib.import_module("tracking.migrations.0009_rebuild_rollups_for_exit_page").forget_built_days


def visit(site, visitor: str, pages: list[str], hours: int) -> Session:
    started = DAY + dt.timedelta(hours=hours)
    session = Session.objects.create(
        site=site,
        visitor_hash=visitor * 32,
        started_at=started,
        last_seen_at=started + dt.timedelta(minutes=len(pages)),
        pageviews=len(pages),
        entry_page=pages[0],
        exit_page=pages[-1],
        channel="Direct",
    )
    for n, page in enumerate(pages):
        View.objects.create(
            site=site,
            session=session,
            view_id=f"{visitor}{hours}{n}".ljust(22, "x"),
            created_at=started + dt.timedelta(minutes=n),
            hostname=site.domain,
            page=page,
        )
    return session


def three_visits(site):
    visit(site, "a", ["/", "/pricing"], 0)
    visit(site, "b", ["/blog", "/pricing"], 1)
    visit(site, "c", ["/"], 2)


def test_exit_page_is_a_dimension_after_pages():
    assert DIMENSIONS[DIMENSIONS.index("page") + 1] == "exit_page"
    assert LABELS["exit_page"] == ("Exit pages", "Exit page")


def test_the_breakdown_counts_sessions_by_their_last_page(site):
    three_visits(site)
    q = rq.Query(site=site, start=DAY.date(), end=DAY.date(), tz=site.tzinfo)
    rows = {row["value"]: row["visitors"] for row in widgets.breakdown(q, "exit_page", order_by="visitors")}
    assert rows == {"/pricing": 2, "/": 1}


def test_the_dashboard_shows_exit_pages_and_filters_by_one(client_as_owner, site):
    three_visits(site)
    url = f"/sites/{site.public_id}/?period=custom&from=2026-11-10&to=2026-11-10"
    html = client_as_owner.get(url).content.decode()
    assert 'id="breakdown-exit_page"' in html and "Exit pages" in html
    filtered = client_as_owner.get(url + "&filter=exit_page:/pricing").content.decode()
    assert "Exit page is <strong>/pricing</strong>" in filtered


def test_the_api_accepts_exit_page(client, site):
    three_visits(site)
    key = create_api_key(site, "reports")[1]
    response = client.get(
        f"/api/v1/sites/{site.public_id}/breakdown",
        {"start": "2026-11-10", "end": "2026-11-10", "dimension": "exit_page"},
        HTTP_AUTHORIZATION=f"Bearer {key}",
    )
    assert response.status_code == 200
    assert {row["value"]: row["sessions"] for row in response.json()["results"]} == {"/pricing": 2, "/": 1}
    schema = client.get("/api/v1/schema/", HTTP_ACCEPT="application/json").content.decode()
    assert "exit_page" in schema


def test_the_migration_forgets_built_days_so_they_are_rebuilt_with_exit_pages(site):
    build_traffic(site, seed=7, sessions=40)
    now = timezone.now()
    rollups.roll_up_site(site.pk, now)
    assert RollupDay.objects.filter(site=site).exists()
    DailyRollup.objects.filter(site=site, dimension="exit_page").delete()  # as built before exit pages
    FORGET(apps, None)
    assert not RollupDay.objects.exists() and not DailyRollup.objects.exists()
    rollups.roll_up_site(site.pk, now)
    assert DailyRollup.objects.filter(site=site, dimension="exit_page").exists()
