"""Goal rollups give exactly the raw figures: random seeded traffic (``test_rollups``'s), custom events on
its page views (visitors completing a goal on many days, events whose page view is not stored yet),
event and page goals, ranges built fully, partly, with holes, a goal added or edited after the build."""

import datetime as dt
import random
from dataclasses import replace

import pytest

from humblytics.reports import goals as goals_half
from humblytics.reports import widgets
from humblytics.reports.tests.test_rollups import DAYS, RANGES, START, after, make_site, query
from tracking import goal_rollups, rollups
from tracking.models import CustomEvent, Goal, GoalDaily, RollupDay, View

NAMES = ["Signup", "Signup", "Download", "Play video"]


def add_events(site, seed: int) -> None:
    """About one custom event per three page views, on the view's session; a few not linked yet."""
    rng = random.Random(seed)
    made = []
    for n, (view_id, session_id, created_at, visitor_hash) in enumerate(
        View.objects.filter(site=site)
        .order_by("pk")
        .values_list("view_id", "session_id", "created_at", "session__visitor_hash")
    ):
        if rng.random() > 0.35:
            continue
        linked = rng.random() > 0.05
        made.append(
            CustomEvent(
                site=site,
                session_id=session_id if linked else None,
                view_id=view_id,
                uid=f"u{site.pk}-{n}",
                name=rng.choice(NAMES),
                props={"plan": rng.choice(["free", "pro"]), "source": rng.choice(["nav", "footer", "hero"])},
                created_at=created_at + dt.timedelta(seconds=rng.randrange(1, 90)),
                visitor_hash=visitor_hash,
            )
        )
    CustomEvent.objects.bulk_create(made)


def add_goals(site) -> list[Goal]:
    return [
        Goal.objects.create(site=site, name="Signed up", kind=Goal.Kind.EVENT, event_name="Signup"),
        Goal.objects.create(site=site, name="Downloaded", kind=Goal.Kind.EVENT, event_name="Download"),
        Goal.objects.create(site=site, name="Never sent", kind=Goal.Kind.EVENT, event_name="Nothing"),
        Goal.objects.create(site=site, name="Read the blog", kind=Goal.Kind.PAGE, page_pattern="/blog/*"),
        Goal.objects.create(site=site, name="Pricing", kind=Goal.Kind.PAGE, page_pattern="/pricing"),
        Goal.objects.create(site=site, name="Checkout", kind=Goal.Kind.PAGE, page_pattern="/check*"),
    ]


@pytest.fixture
def sites(db):
    made = []
    for name, tz, seed in (
        ("utc", "UTC", 11),
        ("nyc", "America/New_York", 12),
        ("chatham", "Pacific/Chatham", 13),
    ):
        site = make_site(name, tz, seed)
        add_events(site, seed)
        add_goals(site)
        made.append(site)
    return made


def assert_goals_same_as_raw(q) -> None:
    raw = replace(q, rollups=False)
    goals = goals_half.site_goals(q)
    assert goals_half.goal_figures(replace(q), goals) == goals_half.goal_figures(raw, goals), q
    visitors = widgets.summary(raw)["visitors"]
    assert goals_half.goals_report(replace(q), visitors) == goals_half.goals_report(raw, visitors), q


def test_built_goal_days_equal_the_raw_figures(sites):
    for site in sites:
        rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site))
        assert GoalDaily.objects.filter(site=site).exists()
        for first, last in RANGES:
            q = query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
            assert q.built_through is not None
            assert_goals_same_as_raw(q)


def test_a_partly_built_range_adds_the_raw_tail(sites):
    for site in sites:
        rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=11), site, hours=4))
        for first, last in RANGES:
            q = query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
            assert_goals_same_as_raw(q)


def test_every_goal_day_has_one_marker_row_and_visitors_count_once(sites):
    site = sites[0]
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site))
    built_days = RollupDay.objects.filter(site=site).count()
    for goal in Goal.objects.filter(site=site):
        markers = GoalDaily.objects.filter(goal=goal, last_day__isnull=True).exclude(
            day=goal_rollups.FINGERPRINT_DAY
        )
        assert markers.count() == built_days == markers.values("day").distinct().count()
    # Visitors complete goals on several days: rows with a last day exist, and the range is still exact.
    assert GoalDaily.objects.filter(site=site, last_day__isnull=False).exists()
    assert_goals_same_as_raw(query(site, START, START + dt.timedelta(days=DAYS)))


def test_the_whole_dashboard_agrees_with_raw(sites):
    site = sites[1]
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=16), site))
    q = query(site, START + dt.timedelta(days=2), START + dt.timedelta(days=DAYS))
    assert q.built_through is not None and q.tail() is not None
    assert widgets.overview(replace(q)) == widgets.overview(replace(q, rollups=False))


def test_a_new_goal_is_read_raw_until_its_days_are_built(sites, django_assert_max_num_queries):
    site = sites[2]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    Goal.objects.create(site=site, name="Played", kind=Goal.Kind.EVENT, event_name="Play video")
    Goal.objects.create(site=site, name="Home", kind=Goal.Kind.PAGE, page_pattern="/")
    q = query(site, START, START + dt.timedelta(days=DAYS - 3))
    assert_goals_same_as_raw(q)
    rollups.roll_up_site(site.pk, now)
    assert GoalDaily.objects.filter(goal__name="Played").exists()
    assert_goals_same_as_raw(q)


def test_an_edited_goal_is_read_raw_until_rebuilt(sites):
    site = sites[0]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    q = query(site, START, START + dt.timedelta(days=DAYS))
    # Edited by whatever means (nobody tells the rollups): the rows' fingerprint no longer matches.
    Goal.objects.filter(site=site, name="Pricing").update(page_pattern="/blog/a")
    Goal.objects.filter(site=site, name="Signed up").update(event_name="Download")
    Goal.objects.filter(site=site, name="Downloaded").update(kind=Goal.Kind.PAGE, page_pattern="/")
    assert_goals_same_as_raw(q)
    edited = GoalDaily.objects.filter(goal__name="Pricing", day__gte=START)
    stale = sorted(edited.values_list("day", "last_day", "visitors"), key=str)
    rollups.roll_up_site(site.pk, now)
    assert sorted(edited.all().values_list("day", "last_day", "visitors"), key=str) != stale
    assert_goals_same_as_raw(q)
    pricing = Goal.objects.get(site=site, name="Pricing")
    assert goal_rollups.is_built(
        pricing,
        goal_rollups.built_figures(site, q.start, q.built_through),
        goal_rollups.built_day_count(site, q.start, q.built_through),
    )


def test_forgotten_traffic_days_forget_their_goal_days(sites):
    site = sites[1]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    # A hole (deleted by hand) and retention of the oldest page views: both rebuilt by the next run.
    RollupDay.objects.filter(site=site, day=START + dt.timedelta(days=6)).delete()
    cutoff = rollups.local_midnight(START + dt.timedelta(days=8), site.tzinfo) + dt.timedelta(hours=13)
    View.objects.filter(site=site, created_at__lt=cutoff).delete()
    rollups.roll_up_site(site.pk, now)
    for first, last in RANGES:
        assert_goals_same_as_raw(
            query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
        )


def test_a_new_timezone_rebuilds_every_goal_day(sites):
    site = sites[0]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    site.timezone = "Asia/Kolkata"
    site.save()
    rollups.roll_up_site(site.pk, now)
    q = query(site, START, START + dt.timedelta(days=DAYS))
    assert q.built_through is not None
    assert_goals_same_as_raw(q)
    assert_goals_same_as_raw(query(site, START + dt.timedelta(days=3), START + dt.timedelta(days=9)))


def test_running_twice_builds_nothing_more(sites, django_assert_max_num_queries):
    site = sites[0]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    rows = GoalDaily.objects.filter(site=site).values_list(
        "goal", "day", "last_day", "visitors", "completions"
    )
    before = sorted(rows, key=str)
    tz = site.tzinfo
    with django_assert_max_num_queries(5):
        assert goal_rollups.forget_stale(site) == 0
        assert goal_rollups.roll_up_goals(site, tz) == 0
    assert sorted(rows.all(), key=str) == before


def test_a_long_backfill_goes_on_in_the_next_runs(sites):
    site = sites[0]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    GoalDaily.objects.filter(site=site).delete()
    # No time left: each run builds one batch (the first), then stops.
    assert goal_rollups.roll_up_goals(site, site.tzinfo, seconds=0) > 0
    assert GoalDaily.objects.filter(site=site).values("goal").distinct().count() == 1
    q = query(site, START, START + dt.timedelta(days=DAYS))
    assert_goals_same_as_raw(q)  # the other goals read raw meanwhile
    while goal_rollups.roll_up_goals(site, site.tzinfo, seconds=0):
        pass
    built = goal_rollups.built_figures(site, q.start, q.built_through)
    days = goal_rollups.built_day_count(site, q.start, q.built_through)
    assert all(goal_rollups.is_built(goal, built, days) for goal in Goal.objects.filter(site=site))
    assert_goals_same_as_raw(q)
