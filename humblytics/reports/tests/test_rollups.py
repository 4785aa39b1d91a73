"""Rollups give exactly the raw figures: every widget, many ranges, built fully, partly or with holes.

The data is random but seeded: a small pool of visitor hashes (so visitors return on many days and
with many values), sessions that run over local midnight, pages seen twice in one session on two
days, payments attributed to older visits, refunds, a second currency. One site is in UTC, one in
America/New_York and one in Pacific/Chatham (UTC+13:45), with traffic near local midnight.
"""

import datetime as dt
import random
import re
import zoneinfo
from dataclasses import replace

import pytest
from django.db import connection
from django.utils import timezone

from humblytics.reports import query as rq
from humblytics.reports import widgets
from revenue.models import Payment
from tracking import rollups, tasks
from tracking.dimensions import DIMENSIONS
from tracking.models import DailyRollup, RollupDay, RollupState, Session, Site, View

START = dt.date(2025, 3, 1)
DAYS = 24
CHANNELS = ["Direct", "Organic Search", "Email", "Referral"]
REFERRERS = ["", "Google", "Bing", "news.example"]
PAGES = ["/", "/pricing", "/blog/a", "/blog/b", "/checkout"]
COUNTRIES = ["US", "DE", "", "FR"]
EVERY_ROW = 10**6  # an overview limit no breakdown here reaches


def build_traffic(site: Site, seed: int, sessions: int = 260) -> None:
    """Sessions over DAYS local days (and a day either side), bunched around local midnight."""
    rng = random.Random(seed)
    tz = site.tzinfo
    hashes = [f"{n:032x}" for n in range(40)]
    view_number = 0
    made = []
    for _ in range(sessions):
        day = START + dt.timedelta(days=rng.randrange(-1, DAYS + 1))
        hour = rng.choice([0, 0, 1, 12, 22, 23, 23])
        local = dt.datetime.combine(day, dt.time(hour, rng.randrange(60)), tzinfo=tz)
        started = local.astimezone(dt.UTC)
        times, pages = [started], [rng.choice(PAGES)]
        for _ in range(rng.choice([0, 0, 1, 2, 3])):
            times.append(times[-1] + dt.timedelta(minutes=rng.randrange(1, 45)))
            pages.append(rng.choice(PAGES))
        session = Session.objects.create(
            site=site,
            visitor_hash=rng.choice(hashes),
            started_at=started,
            last_seen_at=times[-1],
            pageviews=len(times),
            entry_page=pages[0],
            exit_page=pages[-1],
            channel=rng.choice(CHANNELS),
            referrer=rng.choice(REFERRERS),
            utm_source=rng.choice(["", "", "newsletter"]),
            utm_medium=rng.choice(["", "email"]),
            utm_campaign=rng.choice(["", "spring", "summer"]),
            country=rng.choice(COUNTRIES),
            browser=rng.choice(["Chrome", "Firefox"]),
            os=rng.choice(["iOS", "Windows", "macOS"]),
            device=rng.choice(["desktop", "mobile"]),
        )
        views = []
        for when, page in zip(times, pages, strict=True):
            view_number += 1
            views.append(
                View(
                    site=site,
                    session=session,
                    view_id=f"s{site.pk}v{view_number:018d}",
                    created_at=when,
                    hostname=site.domain,
                    page=page,
                )
            )
        View.objects.bulk_create(views)
        made.append((session, views))
    for n in range(70):
        session, views = rng.choice(made)
        attributed = rng.random() < 0.8
        view = rng.choice(views)
        created = view.created_at + dt.timedelta(minutes=rng.randrange(1, 60 * 24 * rng.choice([1, 1, 5])))
        amount = rng.choice([500, 1900, 4900])
        refunded = rng.choice([0, 0, 0, amount, amount // 2])
        Payment.objects.create(
            site=site,
            stripe_id=f"ch_{site.pk}_{n}",
            created_at=created,
            amount=amount,
            currency="usd",
            settlement_amount=amount,
            settlement_currency=rng.choice(["usd", "usd", "usd", "eur"]),
            refunded=refunded,
            net=amount - refunded,
            session=session if attributed else None,
            matched_view=view if attributed else None,
            view_id=view.view_id if attributed else "",
            unattributed_reason="" if attributed else Payment.Unattributed.NO_VIEW_ID,
        )


def make_site(name: str, tz: str, seed: int) -> Site:
    site = Site.objects.create(name=name, domain=f"{name}.example", timezone=tz)
    build_traffic(site, seed)
    return site


@pytest.fixture
def sites(db):
    return [
        make_site("utc", "UTC", 1),
        make_site("nyc", "America/New_York", 2),
        make_site("chatham", "Pacific/Chatham", 3),
    ]


def after(day: dt.date, site: Site, hours: float = 3) -> dt.datetime:
    """A moment ``hours`` after local midnight ending ``day``."""
    return rollups.local_midnight(day + dt.timedelta(days=1), site.tzinfo) + dt.timedelta(hours=hours)


def query(site: Site, start: dt.date, end: dt.date, **params) -> rq.Query:
    return rq.parse_query(site, {"start": start.isoformat(), "end": end.isoformat(), **params})


def assert_same_as_raw(q: rq.Query) -> None:
    raw = replace(q, rollups=False)
    # The whole dashboard (revenue from one pass over the payments) with every row of every breakdown,
    # and each widget on its own against it.
    for order_by in rq.ORDERS:
        full = widgets.overview(raw, order_by=order_by, limit=EVERY_ROW)
        assert widgets.overview(replace(q), order_by=order_by, limit=EVERY_ROW) == full, q
        for dimension in DIMENSIONS:
            rows = widgets.breakdown(q, dimension, order_by=order_by)
            assert rows == full.breakdowns[dimension], (q, dimension, order_by)
    assert widgets.breakdown(q, "page", limit=3) == widgets.breakdown(raw, "page")[:3], q
    assert widgets.summary(q) == widgets.summary(raw), q
    for granularity in ("day", "week", "month"):
        assert widgets.timeseries(q, granularity) == widgets.timeseries(raw, granularity), (q, granularity)


RANGES = [(0, DAYS - 1), (-5, DAYS + 3), (3, 3), (2, 9), (7, 20), (10, DAYS), (-30, 40), (DAYS - 2, DAYS + 1)]


def test_fully_built_rollups_equal_the_raw_figures(sites):
    for site in sites:
        assert rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site)) > 0
        for first, last in RANGES:
            q = query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
            assert q.built_through is not None, (site.timezone, first, last)
            assert_same_as_raw(q)


def test_a_partly_built_range_reads_the_rest_raw(sites):
    for site in sites:
        # Days up to START + 11 are built; the rest (the tail) is read from raw rows.
        rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=11), site, hours=4))
        assert RollupDay.objects.filter(site=site).order_by("day").last().day == START + dt.timedelta(days=11)
        for first, last in RANGES:
            q = query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
            if first <= 11:
                assert q.built_through is not None
            assert_same_as_raw(q)


def test_a_hole_in_the_built_days_is_read_raw(sites):
    site = sites[1]
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site))
    RollupDay.objects.filter(site=site, day=START + dt.timedelta(days=6)).delete()
    q = query(site, START + dt.timedelta(days=2), START + dt.timedelta(days=12))
    assert q.built_through == START + dt.timedelta(days=5)
    assert_same_as_raw(q)
    # The next run builds the missing day again.
    assert rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site)) == 1
    assert query(site, START, START + dt.timedelta(days=12)).built_through == START + dt.timedelta(days=12)


def test_filters_are_read_raw_and_agree(sites):
    site = sites[1]
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site))
    start, end = START + dt.timedelta(days=2), START + dt.timedelta(days=15)
    for params in (
        {"filter": "channel:Email"},
        {"filter": ["page:/pricing", "device:mobile"]},
        {"filter": "referrer:"},
        {"filter": "country:US", "timezone": "Asia/Tokyo"},
    ):
        q = query(site, start, end, **params)
        assert q.built_through is None
        assert_same_as_raw(q)
        # On PostgreSQL the dashboard reads them in three grouped statements (the figures above).
        grouped = replace(q)
        widgets.overview(grouped)
        assert (grouped.memo["grouped_traffic"] is not None) == (connection.vendor == "postgresql")


# Zones whose midnights cut the sites' days at every quarter hour offset: ahead, behind, +5:30, +5:45,
# -3:30 (with its own DST), and the sites' own zones seen from the others.
OTHER_ZONES = ["UTC", "Asia/Tokyo", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "Pacific/Chatham"]


def assert_dashboard_same_as_raw(q: rq.Query) -> None:
    """The whole dashboard and the chart at every granularity (lighter than ``assert_same_as_raw``)."""
    raw = replace(q, rollups=False)
    assert widgets.overview(replace(q)) == widgets.overview(raw), q
    for granularity in ("day", "week", "month"):
        assert widgets.timeseries(q, granularity) == widgets.timeseries(raw, granularity), (q, granularity)


@pytest.mark.parametrize("built_until", [DAYS + 2, 11])
def test_other_timezones_read_the_site_days_inside_the_range_and_agree(sites, built_until):
    """Another zone's range holds whole site days (read from rollups, the chart from quarter-hour slots)
    and a partial site day at either end (raw); a visitor in both parts counts once."""
    for site, zones in zip(sites, [OTHER_ZONES[1:4], OTHER_ZONES[3:], OTHER_ZONES[:3]], strict=True):
        rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=built_until), site, hours=4))
        for zone in zones:
            for first, last in [(0, DAYS - 1), (3, 5), (-5, DAYS + 3)]:
                q = query(
                    site, START + dt.timedelta(days=first), START + dt.timedelta(days=last), timezone=zone
                )
                assert q.built_through is not None, (site.timezone, zone, first, last)
                tail = q.tail()
                assert tail is not None and tail.spans[0][0] == q.start_at  # the partial first day is raw
                assert_dashboard_same_as_raw(q)
    # Every widget on its own, once.
    assert_same_as_raw(
        query(sites[1], START + dt.timedelta(days=2), START + dt.timedelta(days=12), timezone="Asia/Tokyo")
    )


def test_a_range_shorter_than_a_site_day_in_another_zone_is_raw(sites):
    site = sites[1]
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site))
    q = query(site, START + dt.timedelta(days=3), START + dt.timedelta(days=3), timezone="Asia/Tokyo")
    assert q.built_through is None
    assert_same_as_raw(q)


def test_hourly_timeseries_of_a_built_day_is_raw(sites):
    site = sites[2]
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site))
    q = query(site, START + dt.timedelta(days=4), START + dt.timedelta(days=4))
    assert widgets.timeseries(q, "hour") == widgets.timeseries(replace(q, rollups=False), "hour")


def test_days_ending_within_the_settle_time_or_with_open_sessions_wait(db):
    site = Site.objects.create(name="fresh", domain="fresh.example", timezone="Europe/Berlin")
    tz = site.tzinfo
    day = dt.date(2025, 5, 10)
    late = dt.datetime.combine(day, dt.time(23, 50), tzinfo=tz).astimezone(dt.UTC)
    session = Session.objects.create(
        site=site,
        visitor_hash="a" * 32,
        started_at=late,
        last_seen_at=late + dt.timedelta(hours=2),  # still going two hours after midnight
        pageviews=2,
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )
    View.objects.create(site=site, session=session, view_id="v" * 22, created_at=late, hostname="x", page="/")
    midnight = rollups.local_midnight(day + dt.timedelta(days=1), tz)
    # Ended 30 minutes ago: not final yet.
    assert rollups.roll_up_site(site.pk, midnight + dt.timedelta(minutes=30)) == 0
    # Ended two hours ago, but its late session was seen 30 minutes ago: it may still grow.
    assert rollups.roll_up_site(site.pk, midnight + dt.timedelta(hours=2, minutes=30)) == 0
    # Settled.
    assert rollups.roll_up_site(site.pk, midnight + dt.timedelta(hours=3, minutes=5)) == 1
    row = DailyRollup.objects.get(site=site, dimension="", day=day)
    assert (row.sessions, row.session_views, row.duration_us) == (1, 2, 2 * 3600 * 1_000_000)


def test_running_twice_changes_nothing_and_a_held_claim_is_skipped(sites):
    site = sites[0]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    before = sorted(
        DailyRollup.objects.filter(site=site).values_list("dimension", "value", "day", "visitors")
    )
    assert rollups.roll_up_site(site.pk, now) == 0
    assert (
        sorted(DailyRollup.objects.filter(site=site).values_list("dimension", "value", "day", "visitors"))
        == before
    )
    # Another run holds the site (the claim is wall-clock time): this one does nothing.
    RollupDay.objects.filter(site=site).delete()
    RollupState.objects.filter(site=site).update(
        locked_until=timezone.now() + dt.timedelta(minutes=5), lock_token="other"
    )
    assert rollups.roll_up_site(site.pk, now) == 0
    # A crashed holder's claim expires.
    RollupState.objects.filter(site=site).update(locked_until=timezone.now() - dt.timedelta(seconds=1))
    assert rollups.roll_up_site(site.pk, now) > 0


def test_deleted_page_views_rebuild_their_days(sites):
    site = sites[1]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    # Retention: every view before a cut-off in the middle of a day is gone; sessions stay.
    cutoff = rollups.local_midnight(START + dt.timedelta(days=8), site.tzinfo) + dt.timedelta(hours=13)
    View.objects.filter(site=site, created_at__lt=cutoff).delete()
    q = query(site, START, START + dt.timedelta(days=DAYS))
    rollups.roll_up_site(site.pk, now)
    assert q.built_through is not None
    assert_same_as_raw(q)
    assert_same_as_raw(query(site, START + dt.timedelta(days=8), START + dt.timedelta(days=14)))


def test_rows_written_later_into_built_days_rebuild_them(sites):
    site = sites[2]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    # A backdated import: a returning visitor (an existing hash) on day 5, with a page view.
    existing = Session.objects.filter(site=site).order_by("started_at")[40]
    at = rollups.local_midnight(START + dt.timedelta(days=5), site.tzinfo) + dt.timedelta(hours=10)
    late = Session.objects.create(
        site=site,
        visitor_hash=existing.visitor_hash,
        started_at=at,
        last_seen_at=at,
        entry_page="/late",
        exit_page="/late",
        channel="Email",
    )
    View.objects.create(
        site=site, session=late, view_id="late" * 6, created_at=at, hostname="x", page="/late"
    )
    q = query(site, START, START + dt.timedelta(days=DAYS))
    assert rollups.roll_up_site(site.pk, now) == DAYS + 2 - 5 + 1  # day 5 .. the last built day
    assert q.built_through is not None
    assert_same_as_raw(q)
    assert_same_as_raw(query(site, START + dt.timedelta(days=6), START + dt.timedelta(days=12)))


def test_a_new_timezone_rebuilds_every_day(sites):
    site = sites[0]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    site.timezone = "Asia/Kolkata"
    site.save()
    q = query(site, START, START + dt.timedelta(days=DAYS))
    assert q.built_through is None  # built in UTC: not used
    rollups.roll_up_site(site.pk, now)
    q = query(site, START, START + dt.timedelta(days=DAYS))
    assert q.built_through is not None
    assert_same_as_raw(q)


def test_a_range_before_the_first_data_counts_as_built_only_while_empty(sites):
    site = sites[0]
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site))
    q = query(site, START - dt.timedelta(days=60), START + dt.timedelta(days=3))
    assert q.built_through == START + dt.timedelta(days=3)
    assert_same_as_raw(q)
    Session.objects.create(
        site=site,
        visitor_hash="f" * 32,
        started_at=rollups.local_midnight(START - dt.timedelta(days=30), site.tzinfo),
        last_seen_at=rollups.local_midnight(START - dt.timedelta(days=30), site.tzinfo),
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )
    q = query(site, START - dt.timedelta(days=60), START + dt.timedelta(days=3))
    assert q.built_through is None


def test_the_scheduled_task_rolls_up_every_site(sites, settings):
    assert tasks.roll_up_reports() > 0
    assert set(RollupDay.objects.values_list("site", flat=True)) == {site.pk for site in sites}


def without_csrf(html: str) -> str:
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def test_the_dashboard_reads_rollups_with_the_same_figures(client_as_owner, owner, sites):
    site = sites[1]
    site.memberships.create(user=owner)
    url = f"/sites/{site.public_id}/?period=custom&from=2025-03-01&to=2025-03-20"
    raw = without_csrf(client_as_owner.get(url).content.decode())
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site))
    assert 'id="kpi-visitors"' in raw
    assert without_csrf(client_as_owner.get(url).content.decode()) == raw


def test_breakdowns_with_values_that_only_have_views_or_revenue(db):
    """A session started before the range with a view inside it, and a payment from it."""
    site = Site.objects.create(name="edge", domain="edge.example", timezone="UTC")
    tz = zoneinfo.ZoneInfo("UTC")
    before = dt.datetime(2025, 3, 1, 23, 50, tzinfo=tz)
    session = Session.objects.create(
        site=site,
        visitor_hash="b" * 32,
        started_at=before,
        last_seen_at=before + dt.timedelta(minutes=20),
        pageviews=2,
        entry_page="/",
        exit_page="/x",
        channel="Referral",
    )
    View.objects.create(
        site=site, session=session, view_id="e1" * 11, created_at=before, hostname="x", page="/"
    )
    inside = View.objects.create(
        site=site,
        session=session,
        view_id="e2" * 11,
        created_at=before + dt.timedelta(minutes=20),
        hostname="x",
        page="/x",
    )
    Payment.objects.create(
        site=site,
        stripe_id="ch_edge",
        created_at=before + dt.timedelta(hours=1),
        amount=100,
        currency="usd",
        settlement_amount=100,
        settlement_currency="usd",
        net=100,
        session=session,
        matched_view=inside,
    )
    rollups.roll_up_site(site.pk, dt.datetime(2025, 3, 5, tzinfo=tz))
    q = query(site, dt.date(2025, 3, 2), dt.date(2025, 3, 3))
    assert q.built_through == dt.date(2025, 3, 3)
    assert_same_as_raw(q)
    assert widgets.breakdown(q, "channel") == [
        {
            "value": "Referral",
            "visitors": 0,
            "sessions": 0,
            "pageviews": 1,
            "revenue": 100,
            "payments": 1,
            "conversion_rate": None,
            "revenue_per_visitor": None,
        }
    ]
