"""Whole months are read from their sums (``MonthRollup``) plus their returning visitors' day rows, and
give exactly the raw figures; a month whose days changed since it was summed is read day by day."""

import datetime as dt
import random
from dataclasses import replace

import pytest

from humblytics.reports import query as rq
from humblytics.reports import widgets
from tracking import rollup_reads, rollups
from tracking.models import MonthRollup, RollupDay, RollupMonth, Session, Site, View

FIRST = dt.date(2025, 1, 20)
DAYS = 72  # to 1 April: all of February and March (with New York's change to summer time)
PAGES = ["/", "/pricing", "/blog/a", "/docs/x", "/checkout"]


def build(site: Site, seed: int) -> None:
    """Sessions every day from a small pool of hashes, so most visitors come back with the same values
    on earlier days (rows with a ``last_day``), some around local midnight."""
    rng = random.Random(seed)
    hashes = [f"{n:032x}" for n in range(30)]
    views = []
    for n in range(420):
        day = FIRST + dt.timedelta(days=rng.randrange(DAYS))
        started = dt.datetime.combine(
            day, dt.time(rng.choice([0, 9, 15, 23]), rng.randrange(60)), tzinfo=site.tzinfo
        ).astimezone(dt.UTC)
        pages = [rng.choice(PAGES) for _ in range(rng.choice([1, 1, 2, 3]))]
        session = Session.objects.create(
            site=site,
            visitor_hash=rng.choice(hashes),
            started_at=started,
            last_seen_at=started + dt.timedelta(minutes=5 * (len(pages) - 1)),
            pageviews=len(pages),
            entry_page=pages[0],
            exit_page=pages[-1],
            channel=rng.choice(["Direct", "Email", "Organic Search"]),
            referrer=rng.choice(["", "Google"]),
            country=rng.choice(["US", "DE", ""]),
            browser=rng.choice(["Chrome", "Firefox"]),
            os="iOS",
            device=rng.choice(["desktop", "mobile"]),
        )
        for i, page in enumerate(pages):
            views.append(
                View(
                    site=site,
                    session=session,
                    view_id=f"m{site.pk}-{n}-{i}",
                    created_at=started + dt.timedelta(minutes=5 * i),
                    hostname=site.domain,
                    page=page,
                )
            )
    View.objects.bulk_create(views)


@pytest.fixture
def site(db):
    site = Site.objects.create(name="months", domain="months.example", timezone="America/New_York")
    build(site, 7)
    end = FIRST + dt.timedelta(days=DAYS + 1)
    rollups.roll_up_site(site.pk, rollups.local_midnight(end, site.tzinfo) + dt.timedelta(hours=3))
    return site


def query(site, first: dt.date, last: dt.date, **params) -> rq.Query:
    return rq.parse_query(site, {"start": first.isoformat(), "end": last.isoformat(), **params})


def assert_same_as_raw(q: rq.Query) -> None:
    raw = replace(q, rollups=False)
    assert widgets.overview(replace(q)) == widgets.overview(raw), q
    for dimension in ("page", "entry_page", "channel", "country"):
        assert widgets.breakdown(q, dimension) == widgets.breakdown(raw, dimension), (q, dimension)


RANGES = [
    (dt.date(2025, 2, 1), dt.date(2025, 2, 28), [dt.date(2025, 2, 1)]),
    (dt.date(2025, 1, 25), dt.date(2025, 3, 31), [dt.date(2025, 2, 1), dt.date(2025, 3, 1)]),
    (dt.date(2025, 2, 10), dt.date(2025, 4, 1), [dt.date(2025, 3, 1)]),
    (dt.date(2025, 2, 3), dt.date(2025, 3, 20), []),
]


def test_whole_months_are_summed_and_read_with_the_same_figures(site):
    assert set(RollupMonth.objects.filter(site=site).values_list("month", flat=True)) == {
        dt.date(2025, 2, 1),
        dt.date(2025, 3, 1),
    }  # January and April are not whole
    assert MonthRollup.objects.filter(site=site).exists()
    for first, last, months in RANGES:
        assert rollup_reads.current_months(site, first, last) == months
        assert_same_as_raw(query(site, first, last))
    # Another time zone reads the same site days.
    assert_same_as_raw(query(site, dt.date(2025, 1, 31), dt.date(2025, 3, 31), timezone="Asia/Kolkata"))


def test_a_month_whose_days_changed_is_read_day_by_day_until_summed_again(site):
    feb = dt.date(2025, 2, 1)
    q = query(site, dt.date(2025, 1, 25), dt.date(2025, 3, 31))
    # A view written late into a built day of February: the day is rebuilt, the month summed again.
    session = Session.objects.filter(site=site, started_at__month=2).order_by("pk").first()
    View.objects.create(
        site=site,
        session=session,
        view_id="late-view-000001",
        created_at=session.started_at + dt.timedelta(minutes=1),
        hostname=site.domain,
        page="/late",
    )
    marker = RollupMonth.objects.get(site=site, month=feb)
    later = rollups.local_midnight(FIRST + dt.timedelta(days=DAYS + 1), site.tzinfo) + dt.timedelta(hours=4)
    assert rollups.roll_up_site(site.pk, later) > 0
    assert RollupMonth.objects.get(site=site, month=feb).built_at > marker.built_at
    assert_same_as_raw(replace(q))
    assert widgets.breakdown(q, "page")[-1]["value"] == "/late"
    # Sums older than their days (a day rebuilt, the month not summed yet) are not read.
    RollupMonth.objects.filter(site=site, month=feb).update(built_at=marker.built_at)
    assert rollup_reads.current_months(site, q.start, q.end) == [dt.date(2025, 3, 1)]
    MonthRollup.objects.filter(site=site, month=feb).update(visitors=999)  # would show if read
    assert_same_as_raw(replace(q))
    # A forgotten day makes its month incomplete: read day by day (the day itself raw).
    RollupDay.objects.filter(site=site, day=dt.date(2025, 3, 10)).delete()
    assert rollup_reads.current_months(site, dt.date(2025, 3, 1), dt.date(2025, 3, 31)) == []
