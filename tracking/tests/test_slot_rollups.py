"""Quarter-hour rollups give the raw chart figures in any time zone, day, week or hour buckets alike.

The site is in America/New_York over eleven days around the start of daylight saving time (9 March
2025). A small pool of visitor hashes returns in many slots and days; views land in later slots than
their session's start, some past local midnight. The raw figures are counted here from the rows.
"""

import datetime as dt
import random
import zoneinfo
from itertools import pairwise

import pytest

from tracking import rollup_reads, rollups
from tracking.models import RollupDay, Session, Site, SlotRollup, View

START = dt.date(2025, 3, 4)
DAYS = 11
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
ZONES = ["Asia/Tokyo", "Asia/Kolkata", "Asia/Kathmandu", "America/St_Johns", "UTC", "America/New_York"]
RETURNING = "a" * 32
DST_DAY = dt.date(2025, 3, 9)


def at(day: dt.date, hour: int, minute: int, second: int = 0) -> dt.datetime:
    """New York wall time (before the gap for times inside it) as aware UTC."""
    return dt.datetime.combine(day, dt.time(hour, minute, second), tzinfo=NEW_YORK).astimezone(dt.UTC)


DONE = at(START + dt.timedelta(days=DAYS + 2), 6, 0)  # every day of the traffic is final


def add_session(site: Site, visitor_hash: str, started: dt.datetime, view_times: list[dt.datetime]) -> None:
    session = Session.objects.create(
        site=site,
        visitor_hash=visitor_hash,
        started_at=started,
        last_seen_at=max([started, *view_times]),
        pageviews=len(view_times),
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )
    View.objects.bulk_create(
        View(
            site=site,
            session=session,
            view_id=f"v{session.pk:09d}n{n:03d}",
            created_at=when,
            hostname=site.domain,
            page="/",
        )
        for n, when in enumerate(view_times)
    )


def build_traffic(site: Site, seed: int = 7, sessions: int = 300) -> None:
    rng = random.Random(seed)
    hashes = [f"{n:032x}" for n in range(25)]
    for _ in range(sessions):
        day = START + dt.timedelta(days=rng.randrange(DAYS))
        started = at(
            day, rng.choice([0, 1, 1, 2, 3, 9, 14, 20, 23, 23]), rng.randrange(60), rng.randrange(60)
        )
        times = [started]
        for _ in range(rng.choice([0, 1, 1, 2, 4])):
            times.append(times[-1] + dt.timedelta(minutes=rng.randrange(1, 50), seconds=rng.randrange(60)))
        # Some sessions have no view of their own start (a view already deleted, a beacon lost).
        add_session(site, rng.choice(hashes), started, times[rng.choice([0, 0, 0, 1]) :])
    # One visitor in several slots of a day, on several days, either side of the DST gap.
    for started in (
        at(DST_DAY - dt.timedelta(days=1), 23, 50),
        at(DST_DAY, 0, 5),
        at(DST_DAY, 0, 7),  # the same slot again
        at(DST_DAY, 1, 55),  # EST
        at(DST_DAY, 3, 5),  # EDT: a clock hour later, ten minutes after the one before
        at(DST_DAY + dt.timedelta(days=1), 12, 0),
        at(DST_DAY + dt.timedelta(days=3), 8, 44),
    ):
        add_session(site, RETURNING, started, [started + dt.timedelta(minutes=20)])


def raw_buckets(site: Site, edges: list[dt.datetime]) -> list[dict[str, int]]:
    """COUNT(DISTINCT visitor_hash) and sessions of the sessions started, views made, in each bucket."""
    sessions = list(Session.objects.filter(site=site).values_list("visitor_hash", "started_at"))
    views = list(View.objects.filter(site=site).values_list("created_at", flat=True))
    buckets = []
    for a, b in pairwise(edges):
        started = [visitor_hash for visitor_hash, started_at in sessions if a <= started_at < b]
        buckets.append(
            {
                "visitors": len(set(started)),
                "sessions": len(started),
                "pageviews": sum(a <= created_at < b for created_at in views),
            }
        )
    return buckets


def local_edges(zone: str, step: str) -> list[dt.datetime]:
    """UTC edges of ``zone``'s days, weeks (from Monday) or hours over the site's days and a margin."""
    tz = zoneinfo.ZoneInfo(zone)
    first, last = START - dt.timedelta(days=2), START + dt.timedelta(days=DAYS + 2)
    if step == "week":
        first -= dt.timedelta(days=first.weekday())
        return [rollups.local_midnight(first + dt.timedelta(weeks=n), tz) for n in range(4)]
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    midnights = [rollups.local_midnight(day, tz) for day in days]
    if step == "day":
        return midnights
    # Hours are counted in UTC: a local clock hour can repeat or vanish at a DST change.
    return [
        midnights[0] + dt.timedelta(hours=n)
        for n in range(int((midnights[-1] - midnights[0]) / dt.timedelta(hours=1)))
    ]


@pytest.fixture
def ny_site(db):
    site = Site.objects.create(name="ny", domain="ny.example", timezone="America/New_York")
    build_traffic(site)
    # Two runs, as the scheduled job does: the later days learn their visitors' earlier slots from the
    # sessions before their batch.
    assert rollups.roll_up_site(site.pk, at(START + dt.timedelta(days=5), 9, 0)) == 5
    assert rollups.roll_up_site(site.pk, DONE) == DAYS + 2 - 5
    return site


def slot_rows(site: Site) -> list[tuple]:
    return sorted(
        SlotRollup.objects.filter(site=site).values_list(
            "slot", "last_slot", "visitors", "sessions", "views"
        ),
        key=lambda row: (row[0], row[1] or dt.datetime.min.replace(tzinfo=dt.UTC)),
    )


@pytest.mark.parametrize("zone", ZONES)
def test_slot_buckets_equal_the_raw_counts_in_any_time_zone(ny_site, zone):
    for step in ("day", "week", "hour"):
        edges = local_edges(zone, step)
        assert rollup_reads.slot_buckets(ny_site, edges) == raw_buckets(ny_site, edges), (zone, step)


def test_a_returning_visitor_counts_once_per_bucket(ny_site):
    edges = [rollups.local_midnight(DST_DAY + dt.timedelta(days=n), NEW_YORK) for n in range(2)]
    assert edges[1] - edges[0] == dt.timedelta(hours=23)
    # Across the gap, the slot of 03:05 EDT points back at the slot of 01:55 EST, ten minutes before.
    after_gap = SlotRollup.objects.filter(
        site=ny_site,
        slot=rollup_reads.slot_of(at(DST_DAY, 3, 5)),
        last_slot=rollup_reads.slot_of(at(DST_DAY, 1, 55)),
    )
    assert after_gap.get().visitors >= 1
    # Summing every first appearance in a slot (last_slot ignored) would count returning visitors again.
    for zone in ("America/New_York", "Asia/Kathmandu"):
        week = local_edges(zone, "week")[1:3]
        every_appearance = sum(
            SlotRollup.objects.filter(site=ny_site, slot__gte=week[0], slot__lt=week[1]).values_list(
                "visitors", flat=True
            )
        )
        assert (
            every_appearance
            > raw_buckets(ny_site, week)[0]["visitors"]
            == rollup_reads.slot_buckets(ny_site, week)[0]["visitors"]
        )
    assert rollup_reads.slot_buckets(ny_site, edges) == raw_buckets(ny_site, edges)


def test_a_rebuild_writes_the_same_rows_once(ny_site):
    built = slot_rows(ny_site)
    assert len({(slot, last_slot) for slot, last_slot, *_ in built}) == len(built)
    # A hash seen again in the same slot is no new appearance (0:05 and 0:07 on the DST day).
    assert all(last_slot is None or last_slot < slot for slot, last_slot, *_ in built)
    rollups.invalidate_site(ny_site)
    assert not SlotRollup.objects.filter(site=ny_site).exists()
    # All days in one batch now: the earlier slots come from the batch itself.
    assert rollups.roll_up_site(ny_site.pk, DONE) == DAYS + 2
    assert slot_rows(ny_site) == built
    # A forgotten day (late rows, lost views) is replaced, slots and all, not added to.
    RollupDay.objects.filter(site=ny_site, day=DST_DAY).delete()
    assert rollups.roll_up_site(ny_site.pk, DONE) == 1
    assert slot_rows(ny_site) == built


@pytest.mark.parametrize(
    "edges",
    [
        [dt.datetime(2025, 3, 5, 0, 0, tzinfo=dt.UTC), dt.datetime(2025, 3, 5, 0, 10, tzinfo=dt.UTC)],
        [dt.datetime(2025, 3, 5, 0, 0, 30, tzinfo=dt.UTC), dt.datetime(2025, 3, 6, tzinfo=dt.UTC)],
        [dt.datetime(2025, 3, 5), dt.datetime(2025, 3, 6)],
        [dt.datetime(2025, 3, 6, tzinfo=dt.UTC), dt.datetime(2025, 3, 5, tzinfo=dt.UTC)],
        # Liberia kept -0:44:30 until 1972: its midnights then were no quarter hours.
        [
            dt.datetime(1970, 1, 1, tzinfo=zoneinfo.ZoneInfo("Africa/Monrovia")),
            dt.datetime(1970, 1, 2, tzinfo=zoneinfo.ZoneInfo("Africa/Monrovia")),
        ],
    ],
)
def test_edges_off_a_quarter_hour_or_out_of_order_are_refused(site, edges):
    with pytest.raises(ValueError):
        rollup_reads.slot_buckets(site, edges)
