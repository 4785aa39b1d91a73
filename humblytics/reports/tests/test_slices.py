"""Filter slices (``tracking.slices``): a dashboard filtered by one of the heaviest values reads rollups
and gives exactly the raw figures (every widget, the Goals panel, the Events list), built fully or partly;
slices are chosen by share, rebuilt for a new page goal, forgotten with their traffic days."""

import datetime as dt
from dataclasses import replace

import pytest

from humblytics.reports import widgets
from humblytics.reports.tests.test_goals_rollups import add_events, add_goals, assert_goals_same_as_raw
from humblytics.reports.tests.test_rollups import DAYS, START, after, assert_same_as_raw, make_site, query
from tracking import rolldays, rollups, slices
from tracking.models import Goal, RollupDay, RollupSlice, RollupState, Session, SliceDay, SliceRollup, View

RANGES = [(0, DAYS - 1), (-5, DAYS + 3), (3, 3), (2, 9), (10, DAYS)]


@pytest.fixture(autouse=True)
def small_slices(monkeypatch):
    """Slices for the values of this small test data: at least 40 sessions and 30% of them."""
    monkeypatch.setattr(slices, "MIN_SESSIONS", 40)
    monkeypatch.setattr(slices, "SLICE_SHARE", 0.30)
    monkeypatch.setattr(slices, "KEEP_SHARE", 0.20)


@pytest.fixture
def sites(db):
    made = []
    for name, tz, seed in (("nyc", "America/New_York", 21), ("chatham", "Pacific/Chatham", 22)):
        site = make_site(name, tz, seed)
        add_events(site, seed)
        add_goals(site)
        made.append(site)
    return made


def built(site, days: int = DAYS + 2, hours: float = 3) -> None:
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=days), site, hours))


def chosen(site) -> list[tuple[str, str]]:
    return sorted(RollupSlice.objects.filter(site=site).values_list("dimension", "value"))


def sliced(site, first: int, last: int, value: str, **params):
    return query(
        site, START + dt.timedelta(days=first), START + dt.timedelta(days=last), filter=value, **params
    )


def assert_all_same_as_raw(q) -> None:
    assert_same_as_raw(q)
    assert_goals_same_as_raw(q)


def test_the_heaviest_values_become_slices(sites, settings):
    site = sites[0]
    built(site)
    picked = chosen(site)
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    assert picked == sorted(slices.heaviest(site, now))
    assert ("device", "desktop") in picked and ("browser", "Chrome") in picked
    assert all(value for _, value in picked)  # never an empty value
    # Each holds at least 30% of the sessions of the window; a lighter value is not a slice.
    assert ("channel", "Email") not in picked
    assert (
        SliceDay.objects.filter(slice__site=site).count()
        == len(picked) * RollupDay.objects.filter(site=site).count()
    )

    settings.ROLLUP_SLICES = 2
    RollupState.objects.filter(site=site).update(slices_chosen_at=None)
    built(site)
    assert len(chosen(site)) == 2
    assert (
        not SliceRollup.objects.filter(slice__site=site).exclude(slice__in=RollupSlice.objects.all()).exists()
    )


def test_slices_are_chosen_again_only_after_a_week_and_kept_above_the_lower_share(sites, monkeypatch):
    site = sites[0]
    built(site)
    picked = chosen(site)
    monkeypatch.setattr(slices, "SLICE_SHARE", 0.99)
    built(site, hours=5)
    assert chosen(site) == picked  # not a week yet
    RollupState.objects.filter(site=site).update(slices_chosen_at=None)
    built(site, hours=6)
    assert chosen(site) == picked  # none new at 99%, but every old one still holds 20%
    monkeypatch.setattr(slices, "KEEP_SHARE", 0.99)
    RollupState.objects.filter(site=site).update(slices_chosen_at=None)
    built(site, hours=7)
    assert chosen(site) == []
    assert not SliceRollup.objects.exists()


def test_sliced_dashboards_read_rollups_and_equal_raw(sites):
    for site in sites:
        built(site)
        values = [f"{d}:{v}" for d, v in chosen(site)]
        assert len(values) >= 3
        for value in values[:3]:
            for first, last in RANGES:
                q = sliced(site, first, last, value)
                assert q.rollup_slice is not None and q.built_through is not None, q
                assert_all_same_as_raw(q)


def test_a_partly_built_range_reads_its_tail_raw(sites):
    for site in sites:
        built(site, days=11, hours=4)
        value = "device:desktop"
        for first, last in RANGES:
            q = sliced(site, first, last, value)
            assert q.rollup_slice is not None
            assert_all_same_as_raw(q)


def test_other_filters_and_zones_stay_raw(sites):
    site = sites[0]
    built(site)
    for params in (
        {"value": "channel:Email"},  # not a slice
        {"value": ["device:desktop", "browser:Chrome"]},  # two filters
        {"value": "device:desktop", "timezone": "Asia/Tokyo"},
    ):
        value = params.pop("value")
        q = sliced(site, 0, DAYS - 1, value, **params)
        assert q.built_through is None
        assert widgets.overview(replace(q)) == widgets.overview(replace(q, rollups=False))


def test_a_new_page_goal_reads_raw_until_the_slice_days_are_rebuilt(sites):
    site = sites[0]
    built(site)
    Goal.objects.create(site=site, name="Blog A", kind=Goal.Kind.PAGE, page_pattern="/blog/a")
    q = sliced(site, 0, DAYS - 1, "device:desktop")
    assert q.rollup_slice is not None and q.built_through is None
    assert_all_same_as_raw(q)
    built(site, hours=5)
    q = sliced(site, 0, DAYS - 1, "device:desktop")
    assert q.built_through is not None
    assert SliceRollup.objects.filter(slice=q.rollup_slice, dimension="goal", value="/blog/a").exists()
    assert_all_same_as_raw(q)


def test_forgotten_traffic_days_forget_their_slice_days(sites):
    site = sites[0]
    built(site)
    first = View.objects.filter(site=site).order_by("created_at").first()
    day = first.created_at.astimezone(site.tzinfo).date()
    View.objects.filter(site=site, created_at__lt=first.created_at + dt.timedelta(hours=30)).delete()
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site, 5))
    assert SliceDay.objects.filter(slice__site=site, day=day).exists()  # rebuilt in the same run
    for first_day, last_day in RANGES:
        assert_all_same_as_raw(sliced(site, first_day, last_day, "device:desktop"))


def test_a_new_slice_is_built_alone(sites, monkeypatch):
    site = sites[0]
    built(site)
    before = dict(SliceDay.objects.filter(slice__site=site).values_list("pk", "slice_id"))
    monkeypatch.setattr(slices, "SLICE_SHARE", 0.22)
    RollupState.objects.filter(site=site).update(slices_chosen_at=None)
    built(site, hours=5)
    new = RollupSlice.objects.filter(site=site).exclude(pk__in=set(before.values()))
    assert new.exists()
    # The old slices' days were left as they were; the new ones have every built day.
    assert set(
        SliceDay.objects.filter(slice__site=site).exclude(slice__in=new).values_list("pk", flat=True)
    ) == set(before)
    for rollup_slice in new:
        assert rollup_slice.days.count() == RollupDay.objects.filter(site=site).count()
        q = sliced(site, 0, DAYS - 1, f"{rollup_slice.dimension}:{rollup_slice.value}")
        assert q.rollup_slice == rollup_slice and q.built_through is not None
        assert_all_same_as_raw(q)


def test_first_appearances_carry_across_build_batches(sites, monkeypatch):
    """Days built in batches of four: a visitor's first appearance with a value is looked up in the
    raw rows before each batch."""
    monkeypatch.setattr(rolldays, "BATCH_DAYS", 4)
    monkeypatch.setattr(rollups, "BATCH_DAYS", 4)
    site = sites[1]
    built(site)
    assert SliceDay.objects.filter(slice__site=site).exists()
    for value in ("device:desktop", "browser:Chrome"):
        for first, last in RANGES:
            assert_all_same_as_raw(sliced(site, first, last, value))


def test_a_traffic_day_rebuilt_behind_the_slices_back_is_read_raw_until_they_follow(sites, monkeypatch):
    """Sessions changed and their days rebuilt in a run that had already looked for stale slice days (a
    reclassify meanwhile): the slice days were made from the old build, so they are not read."""
    site = sites[0]
    built(site)
    later = rollups.local_midnight(START + dt.timedelta(days=10), site.tzinfo)
    Session.objects.filter(site=site, device="mobile", started_at__gte=later).update(device="desktop")
    RollupDay.objects.filter(site=site, day__gte=START + dt.timedelta(days=10)).delete()
    with monkeypatch.context() as patched:
        patched.setattr(slices, "forget_stale", lambda site: 0)
        patched.setattr(slices, "roll_up_slices", lambda site, tz: 0)
        built(site, hours=5)
    q = sliced(site, 0, DAYS - 1, "device:desktop")
    assert q.rollup_slice is not None and q.built_through is None
    assert_all_same_as_raw(q)
    built(site, hours=6)
    q = sliced(site, 0, DAYS - 1, "device:desktop")
    assert q.built_through is not None
    assert_all_same_as_raw(q)
