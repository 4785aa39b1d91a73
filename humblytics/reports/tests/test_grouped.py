"""The dashboard's grouped traffic statement (PostgreSQL) gives exactly the per-widget raw figures.

It counts distinct visitors as sessions minus the surplus of repeat visitor hashes, counts views per
session before grouping them by their session's values, and adds the views of sessions started before
the range. The data is built to trip each of those: a visitor with several sessions with the same and
with different values (in one bucket and in several), sessions started before the range with views in
it (one with values no session in range has, one of a visitor also seen in range), views after the
range end and before its start, a session without any view in range, sessions over local midnight
and over the DST change, empty values, page, goal and several filters.
"""

import datetime as dt
import random
from dataclasses import replace
from itertools import count

import pytest
from django.db import connection, transaction

from humblytics.reports import goals as goals_half
from humblytics.reports import grouped, traffic, widgets
from humblytics.reports import query as rq
from tracking.dimensions import DIMENSIONS
from tracking.models import Goal, Session, Site, View

POSTGRES = connection.vendor == "postgresql"
postgres_only = pytest.mark.skipif(not POSTGRES, reason="grouped traffic is a PostgreSQL statement")

START = dt.date(2025, 3, 3)  # a Monday; New York moves its clocks forward on Sunday 2025-03-09
END = dt.date(2025, 3, 9)
_view_numbers = count()


def at(site: Site, day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=site.tzinfo).astimezone(dt.UTC)


def visit(site: Site, visitor: str, views: list[tuple[dt.datetime, str]], **values) -> Session:
    """A session of ``views`` (time, page), all stored; ``pageviews`` counts them, as ingest did, even
    if a caller deletes some."""
    started = min(when for when, _ in views)
    fields = {
        "channel": "Direct",
        "referrer": "",
        "utm_source": "",
        "utm_medium": "",
        "utm_campaign": "",
        "country": "US",
        "browser": "Chrome",
        "os": "macOS",
        "device": "desktop",
        "entry_page": views[0][1],
        "exit_page": views[-1][1],
        "pageviews": len(views),
        **values,
    }
    session = Session.objects.create(
        site=site,
        visitor_hash=visitor.ljust(32, "0"),
        started_at=started,
        last_seen_at=max(when for when, _ in views),
        **fields,
    )
    View.objects.bulk_create(
        View(
            site=site,
            session=session,
            view_id=f"v{next(_view_numbers):020d}",
            created_at=when,
            hostname=site.domain,
            page=page,
        )
        for when, page in views
    )
    return session


def build_traffic(site: Site) -> None:
    before, first, last, after = START - dt.timedelta(days=1), START, END, END + dt.timedelta(days=1)
    # One visitor, three sessions: two on one day (different channels, same country and page), one on
    # another day with the first's channel.
    visit(site, "a", [(at(site, first, 9), "/pricing"), (at(site, first, 9, 5), "/")], channel="Direct")
    visit(site, "a", [(at(site, first, 15), "/pricing")], channel="Email", utm_source="newsletter")
    visit(site, "a", [(at(site, first + dt.timedelta(days=2), 11), "/docs")], channel="Direct")
    # Started before the range, views on both sides of its start; its referrer appears nowhere else.
    visit(
        site,
        "b",
        [
            (at(site, before, 23, 50), "/pricing"),
            (at(site, first, 0, 10), "/pricing"),
            (at(site, first, 0, 20), "/docs"),
        ],
        channel="Referral",
        referrer="only-before.example",
        device="mobile",
    )
    # The same visitor hash again in range.
    visit(site, "b", [(at(site, first, 1), "/docs")], channel="Referral", referrer="news.example")
    # Started before the range, viewed /pricing only before it: outside page:/pricing.
    visit(site, "c", [(at(site, before, 22), "/pricing"), (at(site, first, 0, 5), "/blog")], country="DE")
    # Started before the range and over before it: nowhere.
    visit(site, "c", [(at(site, before, 12), "/")], country="DE", channel="Email")
    # The last day's late session: one view in range, one after the range end.
    visit(site, "d", [(at(site, last, 23, 55), "/pricing"), (at(site, after, 0, 5), "/checkout")], os="iOS")
    # A session over local midnight viewing the same page on both days.
    visit(
        site,
        "e",
        [
            (at(site, first + dt.timedelta(days=1), 23, 50), "/docs"),
            (at(site, first + dt.timedelta(days=2), 0, 10), "/docs"),
        ],
        utm_source="midnight",
    )
    # Over the DST change (02:00 does not exist on 2025-03-09 in New York).
    visit(
        site,
        "f",
        [(at(site, last, 1, 50), "/"), (at(site, last, 3, 10), "/pricing")],
        channel="Organic Search",
    )
    # A session in range without any stored view (pageviews says 1).
    ghost = visit(site, "g", [(at(site, first + dt.timedelta(days=3), 10), "/")], utm_campaign="ghost")
    View.objects.filter(session=ghost).delete()
    # A view stamped before its in-range session started: not in range.
    early = visit(site, "h", [(at(site, first + dt.timedelta(days=4), 8), "/")], country="")
    View.objects.create(
        site=site,
        session=early,
        view_id="early",
        created_at=at(site, before, 8),
        hostname=site.domain,
        page="/x",
    )
    # Seeded bulk: a small pool of hashes, so visitors return with other values, inside and across days.
    rng = random.Random(7)
    for _ in range(120):
        day = START + dt.timedelta(days=rng.randrange(-2, 9))
        start = at(site, day, rng.choice([0, 1, 3, 12, 22, 23]), rng.randrange(60))
        times = [
            start + dt.timedelta(minutes=sum(rng.randrange(1, 40) for _ in range(n)))
            for n in range(rng.randrange(1, 4))
        ]
        visit(
            site,
            f"p{rng.randrange(15)}",
            [(when, rng.choice(["/", "/pricing", "/docs", "/blog", ""])) for when in times],
            channel=rng.choice(["Direct", "Email", "Organic Search"]),
            referrer=rng.choice(["", "", "news.example"]),
            utm_campaign=rng.choice(["", "spring"]),
            country=rng.choice(["US", "US", "DE", ""]),
            browser=rng.choice(["Chrome", "Firefox"]),
            device=rng.choice(["desktop", "mobile"]),
        )


@pytest.fixture
def nyc(db):
    site = Site.objects.create(name="nyc", domain="nyc.example", timezone="America/New_York")
    build_traffic(site)
    Goal.objects.create(site=site, name="Read docs", kind=Goal.Kind.PAGE, page_pattern="/doc*")
    return site


def query(site: Site, start: dt.date = START, end: dt.date = END, **params) -> rq.Query:
    return rq.parse_query(site, {"start": start.isoformat(), "end": end.isoformat(), **params})


def raw_figures(q: rq.Query, granularity: str) -> tuple:
    raw = replace(q, rollups=False)
    return (
        traffic.traffic_summary(raw),
        {dimension: traffic.traffic_by_value(raw, dimension) for dimension in DIMENSIONS},
        traffic.traffic_buckets(raw, granularity),
    )


def assert_same_as_raw(q: rq.Query, granularity: str) -> grouped.GroupedTraffic:
    figures = grouped.traffic(q, granularity)
    summary, by_value, buckets = raw_figures(q, granularity)
    assert figures.summary == summary, (q.filters, granularity)
    assert list(figures.summary) == list(summary)
    for dimension in DIMENSIONS:
        assert figures.by_value[dimension] == by_value[dimension], (q.filters, dimension)
    assert figures.buckets == buckets, (q.filters, granularity)
    # Counts as ints, not the Decimal a PostgreSQL SUM of bigints gives (equal, but not to JSON).
    rows = [figures.summary, *figures.buckets.values()]
    rows += [row for values in figures.by_value.values() for row in values.values()]
    assert {type(value) for row in rows for key, value in row.items() if key != "duration"} <= {int}
    return figures


FILTERS = [
    [],
    ["channel:Direct"],
    ["referrer:"],
    ["page:/pricing"],
    ["page:/pricing", "country:US"],
    ["channel:Referral", "device:mobile"],
    ["page:"],
    ["goal:Read docs"],
    ["country:FR"],  # nobody
]


@postgres_only
@pytest.mark.parametrize("filters", FILTERS)
def test_grouped_figures_equal_the_raw_widgets(nyc, filters):
    for granularity in ("day", "week", "month", "hour"):
        assert_same_as_raw(query(nyc, filter=filters), granularity)
    # One day, and another time zone (the grouped path of an unfiltered range).
    assert_same_as_raw(query(nyc, START, START, filter=filters), "hour")
    assert_same_as_raw(query(nyc, filter=filters, timezone="UTC"), "day")
    # Many week and month buckets, the traffic in one of them (numbered buckets map to their starts).
    for granularity in ("week", "month"):
        assert_same_as_raw(
            query(nyc, dt.date(2025, 1, 15), dt.date(2025, 5, 20), filter=filters), granularity
        )


@postgres_only
def test_the_data_trips_every_shortcut(nyc):
    figures = assert_same_as_raw(query(nyc), "day")
    # Repeat visitors: fewer visitors than sessions, in total, per value and per page.
    assert figures.summary["visitors"] < figures.summary["sessions"]
    assert figures.by_value["country"]["US"]["visitors"] < figures.by_value["country"]["US"]["sessions"]
    pricing = figures.by_value["page"]["/pricing"]
    assert pricing["visitors"] < pricing["sessions"]
    # A value only a session started before the range has: its page views, no session.
    assert figures.by_value["referrer"]["only-before.example"] == {
        "visitors": 0,
        "sessions": 0,
        "pageviews": 2,
    }
    # A session in range without views in range; the page that only an early view has is not there.
    assert figures.by_value["utm_campaign"]["ghost"] == {"visitors": 1, "sessions": 1, "pageviews": 0}
    assert "/x" not in figures.by_value["page"] and "/checkout" not in figures.by_value["page"]
    # The same page on both sides of midnight: one session, its views in two buckets.
    midnight = assert_same_as_raw(query(nyc, filter=["utm_source:midnight"]), "day")
    assert midnight.by_value["page"] == {"/docs": {"visitors": 1, "sessions": 1, "pageviews": 2}}
    assert [row["pageviews"] for row in midnight.buckets.values()] == [1, 1]


@postgres_only
def test_a_range_without_traffic_is_all_zero(nyc):
    figures = assert_same_as_raw(query(nyc, dt.date(2024, 1, 1), dt.date(2024, 1, 31)), "day")
    assert figures.summary == {
        "sessions": 0,
        "visitors": 0,
        "bounces": 0,
        "session_views": 0,
        "duration": dt.timedelta(0),
        "pageviews": 0,
    }
    assert figures.buckets == {} and figures.by_value["page"] == {}


@postgres_only
def test_it_leaves_the_transactions_settings_as_they_were(nyc):
    settings = (
        "SELECT current_setting('work_mem'), current_setting('jit'), current_setting('enable_mergejoin')"
    )
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT set_config('work_mem', '5MB', true)")
        cursor.execute(settings)
        before = cursor.fetchone()
        assert grouped.traffic(query(nyc, filter=["channel:Direct"]), "day").summary["sessions"] > 0
        cursor.execute(settings)
        assert cursor.fetchone() == before
    assert before[0] == "5MB"


@pytest.mark.skipif(POSTGRES, reason="SQLite only")
def test_other_databases_run_each_widgets_own_queries(nyc):
    assert grouped.traffic(query(nyc), "day") is None


@postgres_only
@pytest.mark.parametrize("filters", [[], ["country:US"], ["page:/pricing"], ["goal:Read docs"]])
def test_page_goals_are_counted_with_the_traffic_as_the_goals_panel_counts_them_raw(nyc, filters):
    patterns = ["/doc*", "/pricing", "/*", "/nowhere"]
    goals = [Goal(site=nyc, name=p, kind=Goal.Kind.PAGE, page_pattern=p) for p in patterns]
    q = query(nyc, filter=filters)
    hashes = sorted(set(Session.objects.filter(site=nyc).values_list("visitor_hash", flat=True)))
    payers = hashes[::3]  # some visitors of the range, some not
    figures = grouped.traffic(q, "day", patterns, payers)
    raw = replace(q, rollups=False)
    assert [figures.page_goal_figures[p] for p in patterns] == goals_half.goal_figures(raw, goals)
    assert [figures.page_goal_payers[p] for p in patterns] == goals_half._payers_completing(
        raw, goals, payers
    )
    # The dashboard counts the site's page goals in its grouped statement, not in queries of their own.
    Goal.objects.create(site=nyc, name="Pricing", kind=Goal.Kind.PAGE, page_pattern="/pricing")
    dashboard = replace(q)
    widgets.overview(dashboard)
    assert goals_half._grouped(dashboard, list(Goal.objects.filter(site=nyc))) is not None
    # The data holds completions and paying completers, and not of every goal.
    assert figures.page_goal_figures["/nowhere"] == {"visitors": 0, "completions": 0}
    if not filters:
        assert all(figures.page_goal_figures[p]["visitors"] for p in patterns[:3])
        assert figures.page_goal_payers["/doc*"] and figures.page_goal_payers["/doc*"] < set(payers)
