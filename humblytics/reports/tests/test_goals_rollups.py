"""Goal and event rollups give exactly the raw figures: random seeded traffic (``test_rollups``'s), custom
events on its page views (visitors completing a goal on many days, events whose page view is not stored
yet), event and page goals, ranges built fully, partly, with holes, a goal added or edited after the
build; the Events list from ``EventDaily`` against its raw grouped query."""

import datetime as dt
import random
from dataclasses import replace

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from humblytics.reports import goals as goals_half
from humblytics.reports import widgets
from humblytics.reports.tests.test_rollups import DAYS, RANGES, START, after, make_site, query
from tracking import event_rollups, goal_rollups, rollups
from tracking.models import CustomEvent, EventDaily, Goal, GoalDaily, GoalVisitor, RollupDay, View
from tracking.rolldays import ANALYZE_AFTER_DAYS

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


@pytest.mark.parametrize("built_until", [DAYS + 2, 11])
def test_another_time_zone_reads_the_site_days_inside_the_range_and_agrees(sites, built_until):
    """Goals, goal revenue and the Events list in another zone: whole site days from the rollups, the
    partial site days at either end raw, a visitor completing a goal in both parts counted once."""
    for site in sites:
        rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=built_until), site, hours=4))
        for zone in ("Asia/Tokyo", "Asia/Kolkata", "America/St_Johns"):
            for first, last in [(0, DAYS - 1), (2, 9), (10, DAYS)]:
                q = query(
                    site, START + dt.timedelta(days=first), START + dt.timedelta(days=last), timezone=zone
                )
                assert q.built_through is not None and q.tail().spans[0][0] == q.start_at
                assert_goals_same_as_raw(q)
                goals = goals_half.site_goals(q)
                raw = replace(q, rollups=False)
                assert goals_half.goal_revenue(replace(q), goals) == goals_half.goal_revenue(raw, goals)
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
    events = EventDaily.objects.filter(site=site).values_list(
        "name", "day", "last_day", "visitors", "completions"
    )
    events_before = sorted(events, key=str)
    tz = site.tzinfo
    # Five for the goals, one each for the event days' stale and pending look-ups.
    with django_assert_max_num_queries(7):
        assert goal_rollups.forget_stale(site) == 0
        assert goal_rollups.roll_up_goals(site, tz) == 0
    assert sorted(rows.all(), key=str) == before
    assert sorted(events.all(), key=str) == events_before


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


def assert_events_same_as_raw(q) -> None:
    raw = goals_half.event_figures(replace(q, rollups=False))
    assert raw, q
    assert goals_half.event_figures(replace(q)) == raw, q


def test_the_events_list_reads_event_days_and_equals_raw(sites):
    for site in sites:
        rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS + 2), site))
        markers = EventDaily.objects.filter(site=site, name=event_rollups.MARKER)
        assert markers.count() == RollupDay.objects.filter(site=site).count()
        # Visitors send a name on several days: rows with a last day exist.
        assert EventDaily.objects.filter(site=site, last_day__isnull=False).exists()
        for first, last in RANGES:
            assert_events_same_as_raw(
                query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
            )
    # The figures come from the rows: changing one changes them.
    q = query(site, START, START + dt.timedelta(days=DAYS))
    rolled = goals_half.event_figures(replace(q))
    EventDaily.objects.filter(site=site, name="Signup", last_day__isnull=True, day=START).update(
        completions=10_000
    )
    assert goals_half.event_figures(replace(q))["Signup"]["completions"] > rolled["Signup"]["completions"]


def test_the_events_list_adds_the_raw_tail_and_reads_missing_event_days_raw(sites):
    site = sites[1]
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=11), site, hours=4))
    tails = 0
    for first, last in RANGES:
        q = query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
        tails += q.built_through is not None and q.tail() is not None
        assert_events_same_as_raw(q)
    assert tails >= 3
    # Event days missing (not built yet) while the traffic days are: read raw, still exact.
    EventDaily.objects.filter(site=site, day=START + dt.timedelta(days=4)).delete()
    assert_events_same_as_raw(query(site, START, START + dt.timedelta(days=DAYS)))
    assert event_rollups.pending_days(site) == [START + dt.timedelta(days=4)]


def test_forgotten_traffic_days_forget_their_event_days(sites):
    site = sites[2]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)
    hole = START + dt.timedelta(days=6)
    RollupDay.objects.filter(site=site, day=hole).delete()
    pointing_back = set(EventDaily.objects.filter(site=site, last_day=hole).values_list("day", flat=True))
    assert pointing_back
    assert event_rollups.forget_stale(site) == len(pointing_back | {hole})
    assert not EventDaily.objects.filter(site=site, day__in=pointing_back | {hole}).exists()
    rollups.roll_up_site(site.pk, now)
    assert not event_rollups.pending_days(site)
    for first, last in RANGES:
        assert_events_same_as_raw(
            query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
        )


def test_goal_revenue_reads_goal_visitors_and_equals_raw(sites):
    for site in sites:
        rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=14), site, hours=4))
        goals = goals_half.site_goals(query(site, START, START))
        paid = 0
        for first, last in RANGES:
            q = query(site, START + dt.timedelta(days=first), START + dt.timedelta(days=last))
            assert len(goals_half._rolled(q, goals)) == (len(goals) if q.built_through else 0)
            fast = goals_half.goal_revenue(replace(q), goals)
            assert fast == goals_half.goal_revenue(replace(q, rollups=False), goals), q
            paid += sum(fast)
        assert paid > 0
    # The figures come from the rows: without a goal's visitors only the raw tail's payers are left.
    q = query(site, START, START + dt.timedelta(days=DAYS))
    before = goals_half.goal_revenue(replace(q), goals)
    GoalVisitor.objects.filter(site=site).delete()
    assert sum(goals_half.goal_revenue(replace(q), goals)) < sum(before)


def test_goal_visitors_are_built_and_forgotten_with_their_goal_days(sites):
    site = sites[1]
    now = after(START + dt.timedelta(days=DAYS + 2), site)
    rollups.roll_up_site(site.pk, now)

    def days_with_visitors():
        return set(GoalVisitor.objects.filter(site=site).values_list("goal_id", "day").distinct())

    def days_with_completions():
        return set(
            GoalDaily.objects.filter(site=site, completions__gt=0).values_list("goal_id", "day").distinct()
        )

    assert days_with_visitors() == days_with_completions() != set()
    RollupDay.objects.filter(site=site, day=START + dt.timedelta(days=6)).delete()
    goal_rollups.forget_stale(site)
    assert days_with_visitors() == days_with_completions()
    assert not GoalVisitor.objects.filter(site=site, day=START + dt.timedelta(days=6)).exists()
    Goal.objects.filter(site=site, name="Pricing").update(page_pattern="/blog/a")
    rollups.roll_up_site(site.pk, now)
    assert days_with_visitors() == days_with_completions()
    assert_goals_same_as_raw(query(site, START, START + dt.timedelta(days=DAYS)))


def test_the_dashboard_reads_goals_in_the_same_number_of_queries_whatever_their_number(sites):
    site = sites[1]
    now = after(START + dt.timedelta(days=16), site)
    rollups.roll_up_site(site.pk, now)
    q = query(site, START + dt.timedelta(days=2), START + dt.timedelta(days=DAYS))
    assert q.tail() is not None

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            widgets.overview(replace(q))
        return len(captured)

    before = queries()
    for n in range(4):
        Goal.objects.create(site=site, name=f"Page {n}", kind=Goal.Kind.PAGE, page_pattern=f"/blog/{n}*")
        Goal.objects.create(site=site, name=f"Event {n}", kind=Goal.Kind.EVENT, event_name=f"Thing {n}")
    rollups.roll_up_site(site.pk, now)
    assert len(goals_half._rolled(replace(q), goals_half.site_goals(q))) == 14
    assert queries() == before


def test_a_backfill_refreshes_the_statistics_of_every_rollup_table(sites):
    # Never analysed after a backfill, the goal-visitor table made a 12-month API summary time out.
    site = sites[0]
    with CaptureQueriesContext(connection) as queries:
        rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS), site))
    analysed = {query["sql"] for query in queries.captured_queries if query["sql"].startswith("ANALYZE")}
    expected = {f"ANALYZE {model._meta.db_table}" for model in rollups.ROLLUP_MODELS}
    assert analysed == (expected if connection.vendor == "postgresql" else set())
    assert {"tracking_goalvisitor", "tracking_eventdaily"} <= {
        m._meta.db_table for m in rollups.ROLLUP_MODELS
    }


def test_a_goal_backfill_alone_refreshes_the_statistics_of_the_goal_tables(sites):
    # A goal added to a built site is backfilled by goal runs alone; a benchmark drove those directly and
    # its never-analysed goal visitors made a 30-day API summary of a 10M-view site time out.
    site = sites[0]
    rollups.roll_up_site(site.pk, after(START + dt.timedelta(days=DAYS), site))
    for name, pattern in (("Any page", "/*"), ("Blog", "/blog/*")):
        Goal.objects.create(site=site, name=name, kind=Goal.Kind.PAGE, page_pattern=pattern)
    with CaptureQueriesContext(connection) as queries:
        assert goal_rollups.roll_up_goals(site, site.tzinfo) > ANALYZE_AFTER_DAYS
    analysed = {query["sql"] for query in queries.captured_queries if query["sql"].startswith("ANALYZE")}
    expected = {f"ANALYZE {model._meta.db_table}" for model in goal_rollups.GOAL_MODELS}
    assert analysed == (expected if connection.vendor == "postgresql" else set())
    # An idle run analyses nothing.
    with CaptureQueriesContext(connection) as queries:
        assert goal_rollups.roll_up_goals(site, site.tzinfo) == 0
    assert not [query for query in queries.captured_queries if query["sql"].startswith("ANALYZE")]
