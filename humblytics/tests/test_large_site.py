"""The benchmark's generated site: consistent rows, stored in time order as ingest writes them."""

import datetime as dt
import zoneinfo

import pytest
from django.db.models import Count, Max, Min

from humblytics.demo.large_site import build_large_site
from revenue.models import Payment
from tracking.models import CustomEvent, Session, View

pytestmark = pytest.mark.django_db

END = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)


@pytest.fixture
def made():
    return build_large_site(
        owner="bench",
        domain="large.example",
        tz=zoneinfo.ZoneInfo("America/New_York"),
        end=END,
        views=1500,
        sessions=500,
        payments=40,
        days=20,
        seed=7,
    )


def test_rows_are_numbered_in_time_order(made):
    sessions = list(
        Session.objects.filter(site=made.site).order_by("pk").values_list("started_at", flat=True)
    )
    views = list(View.objects.filter(site=made.site).order_by("pk").values_list("created_at", flat=True))
    events = list(
        CustomEvent.objects.filter(site=made.site).order_by("pk").values_list("created_at", flat=True)
    )
    assert len(sessions) == made.sessions and len(views) == made.views and len(events) == made.events > 0
    assert sessions == sorted(sessions)
    assert views == sorted(views)
    assert events == sorted(events)
    assert sessions[-1] - sessions[0] > dt.timedelta(days=15)


def test_sessions_agree_with_their_views(made):
    """Renumbering kept every view with its own session: counts, first and last view, entry and exit."""
    figures = {
        row["session"]: row
        for row in View.objects.filter(site=made.site)
        .values("session")
        .annotate(n=Count("id"), first=Min("created_at"), last=Max("created_at"))
    }
    for session in Session.objects.filter(site=made.site):
        views = figures[session.pk]
        assert (views["n"], views["first"], views["last"]) == (
            session.pageviews,
            session.started_at,
            session.last_seen_at,
        )
        pages = list(session.views.order_by("created_at", "pk").values_list("page", flat=True))
        assert (pages[0], pages[-1]) == (session.entry_page, session.exit_page)


def test_payments_and_events_point_at_their_sessions(made):
    attributed = Payment.objects.filter(site=made.site, matched_view__isnull=False).select_related(
        "matched_view"
    )
    assert attributed.exists()
    for payment in attributed:
        assert payment.matched_view.session_id == payment.session_id
        assert payment.created_at > payment.matched_view.created_at
    for event in CustomEvent.objects.filter(site=made.site).select_related("session"):
        view = View.objects.get(site=made.site, view_id=event.view_id)
        assert view.session_id == event.session_id
        assert event.visitor_hash == event.session.visitor_hash
        assert event.created_at > view.created_at
