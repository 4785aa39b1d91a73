"""The Goals panel: goals, events and their figures over ``test_widgets``'s shop, counted by hand.

On top of the shop's week (2025-03-01..07, UTC; visitors v1..v4 started sessions in it, v5's visit began
the evening before; payments P1 v1 10000, P2 v2 3000, P3 v5 4000, P6 v4 1500 are attributed), these
custom events:

    event  session  visitor  time (UTC)         name         props
    E1     S1       v1       03-01 10:03        Signup       plan=pro
    E2     S2       v1       03-02 09:01        Signup       plan=free
    E3     S4       v3       03-05 23:55        Signup       plan=pro
    E4     (none)   v9       03-06 12:00        Signup       plan=pro     (its page view not stored yet)
    E5     S6       v6       03-08 00:01        Signup                    (after the week)
    E6     S3       v2       03-03 12:02        Clicked CTA  where=hero
    E7     S5       v4       03-07 08:00:30     Clicked CTA  where=nav
    E8     S3       v2       03-03 12:03        Clicked CTA  where=hero

and goals "Signed up" (event Signup), "Pricing" (page /pricing), "Checkout" (page /check*) and
"Refund asked" (event Refund, never sent).
"""

import itertools
from dataclasses import replace
from types import SimpleNamespace

import pytest

from humblytics.reports import goals as goals_half
from humblytics.reports import widgets
from humblytics.reports.tests.test_dashboard import by_id, page
from humblytics.reports.tests.test_widgets import at, build_shop, week_of_shop
from tracking import sharing
from tracking.models import CustomEvent, Funnel, FunnelStep, Goal

_uids = itertools.count()

WEEK = "?period=custom&from=2025-03-01&to=2025-03-07"


def event(site, session, name, when, props=None, visitor=None):
    view = next(iter(session.view.values())) if session is not None else None
    return CustomEvent.objects.create(
        site=site,
        session=session,
        view_id=view.view_id if view else "pending-view-id-000000",
        uid=f"e{next(_uids)}",
        name=name,
        props=props or {},
        created_at=at(when),
        visitor_hash=visitor or session.visitor_hash,
    )


def build_goal_shop(site) -> SimpleNamespace:
    shop = build_shop(site)
    event(site, shop.s1, "Signup", "2025-03-01 10:03", {"plan": "pro"})
    event(site, shop.s2, "Signup", "2025-03-02 09:01", {"plan": "free"})
    event(site, shop.s4, "Signup", "2025-03-05 23:55", {"plan": "pro"})
    event(site, None, "Signup", "2025-03-06 12:00", {"plan": "pro"}, visitor="v9")
    event(site, shop.s6, "Signup", "2025-03-08 00:01")
    event(site, shop.s3, "Clicked CTA", "2025-03-03 12:02", {"where": "hero"})
    event(site, shop.s5, "Clicked CTA", "2025-03-07 08:00:30", {"where": "nav"})
    event(site, shop.s3, "Clicked CTA", "2025-03-03 12:03", {"where": "hero"})
    shop.signed_up = Goal.objects.create(site=site, name="Signed up", kind="event", event_name="Signup")
    shop.pricing = Goal.objects.create(site=site, name="Pricing", kind="page", page_pattern="/pricing")
    shop.checkout = Goal.objects.create(site=site, name="Checkout", kind="page", page_pattern="/check*")
    shop.refund = Goal.objects.create(site=site, name="Refund asked", kind="event", event_name="Refund")
    return shop


def make_funnel(site, name, *goals) -> Funnel:
    funnel = Funnel.objects.create(site=site, name=name)
    for position, goal in enumerate(goals, start=1):
        FunnelStep.objects.create(funnel=funnel, goal=goal, position=position)
    return funnel


@pytest.fixture
def goal_shop(site):
    return build_goal_shop(site)


def panel(q):
    return goals_half.goals_report(q, widgets.summary(q)["visitors"])


def test_goal_figures_match_the_hand_count(site, goal_shop):
    report = panel(week_of_shop(site))
    by_name = {row["name"]: row for row in report.goals}
    assert {name: (r["visitors"], r["completions"], r["revenue"]) for name, r in by_name.items()} == {
        "Pricing": (4, 5, 18500),  # v5 (S0 at 00:01), v1 twice, v2, v4; every attributed payer
        "Signed up": (3, 4, 10000),  # v1 twice, v3, v9 (not linked yet); only v1 paid (P1)
        "Checkout": (2, 2, 4500),  # v2 (P2 3000) and v4 (P6 1500)
        "Refund asked": (0, 0, 0),
    }
    assert by_name["Pricing"]["conversion_rate"] == 1.0  # 4 of the week's 4 visitors
    assert by_name["Signed up"]["conversion_rate"] == 0.75
    assert by_name["Checkout"]["conversion_rate"] == 0.5
    assert by_name["Refund asked"]["conversion_rate"] == 0.0
    assert [row["name"] for row in report.goals] == ["Pricing", "Signed up", "Checkout", "Refund asked"]
    assert by_name["Signed up"]["id"] == goal_shop.signed_up.pk and by_name["Signed up"]["kind"] == "event"


def test_the_events_list_shows_every_event_name_goal_or_not(site, goal_shop):
    report = panel(week_of_shop(site))
    assert report.events == [
        {"name": "Signup", "visitors": 3, "completions": 4, "is_goal": True},
        {"name": "Clicked CTA", "visitors": 2, "completions": 3, "is_goal": False},
    ]
    assert report.total_events == 7  # E5 is after the week


def test_the_raw_path_gives_the_same_panel(site, goal_shop):
    q = week_of_shop(site)
    assert panel(q) == panel(replace(q, rollups=False))


def test_the_dashboard_shows_the_goals_panel(client_as_owner, site, goal_shop):
    html = page(client_as_owner, site, WEEK)
    rows = by_id(html, f"goal-{goal_shop.signed_up.pk}")
    assert rows.split() == ["Signed", "up", "3", "4", "75.0%", "$100.00"]
    assert by_id(html, f"goal-{goal_shop.checkout.pk}").split() == ["Checkout", "2", "2", "50.0%", "$45.00"]
    # Clicking a goal filters the dashboard by it.
    assert "?period=custom&amp;from=2025-03-01&amp;to=2025-03-07&amp;filter=goal%3ASigned+up" in html
    assert f'href="/sites/{site.public_id}/settings/goals/"' in html
    events = by_id(html, "events")
    assert "Clicked CTA" in events and "not a goal" in events
    assert 'id="properties"' not in html  # no event goal selected


def test_funnels_are_linked_from_the_panel(client_as_owner, site, goal_shop):
    funnel = make_funnel(site, "Buy", goal_shop.pricing, goal_shop.checkout)
    html = page(client_as_owner, site, WEEK)
    assert f'href="funnels/{funnel.pk}/?period=custom&amp;from=2025-03-01&amp;to=2025-03-07"' in html


def test_without_goals_the_panel_says_how_to_add_one(client_as_owner, site):
    shop = build_shop(site)
    event(site, shop.s1, "Signup", "2025-03-01 10:03")
    html = page(client_as_owner, site, WEEK)
    empty = by_id(html, "goals-empty")
    assert "No goals yet" in empty and "Add a goal in Settings → Goals" in empty
    assert f'<a href="/sites/{site.public_id}/settings/goals/">Add a goal' in html
    # The events that arrive are listed all the same, so the owner sees what to make a goal of.
    assert "Signup" in by_id(html, "events")


def test_a_shared_dashboard_shows_goals_without_settings_links(client, site, owner, goal_shop):
    make_funnel(site, "Buy", goal_shop.pricing, goal_shop.checkout)
    token = sharing.create_share_link(site, "Board", created_by=owner)[1]
    html = client.get(f"/share/{token}/{WEEK}").content.decode()
    assert f"goal-{goal_shop.signed_up.pk}" in html
    assert "/settings/goals/" not in html and "funnels/" not in html


def test_the_dashboards_query_count_does_not_grow_with_goals(
    client_as_owner, site, goal_shop, django_assert_max_num_queries
):
    with django_assert_max_num_queries(62) as few:
        page(client_as_owner, site, WEEK)
    for n in range(12):
        kind = "page" if n % 2 else "event"
        Goal.objects.create(site=site, name=f"g{n}", kind=kind, event_name=f"e{n}", page_pattern=f"/p{n}*")
    with django_assert_max_num_queries(len(few.captured_queries)):
        page(client_as_owner, site, WEEK)


def test_the_csv_export_has_the_goals_table(client_as_owner, site, goal_shop):
    body = client_as_owner.get(f"/sites/{site.public_id}/export.csv{WEEK}").content.decode()
    assert "goal,visitors,completions,conversion_rate,revenue,currency" in body
    assert "Signed up,3,4,0.7500,100.00,USD" in body
    assert "event,visitors,completions" in body and "Clicked CTA,2,3" in body


def test_a_page_goal_matches_the_same_pages_whatever_form_its_query_takes(db):
    """On PostgreSQL a pattern without a wildcard or with one at the end is an equality or a prefix match
    instead of a regular expression: the same pages as the pattern's own rule (``page_matches``), with
    LIKE's own wildcards and regular-expression characters taken literally."""
    from tracking.goals import page_matches
    from tracking.models import Session, Site, View

    site = Site.objects.create(name="paths", domain="paths.example")
    session = Session.objects.create(
        site=site,
        visitor_hash="h" * 32,
        started_at=at("2025-03-01 10:00"),
        last_seen_at=at("2025-03-01 10:00"),
    )
    pages = [
        "/docs",
        "/docs/",
        "/docs/a",
        "/Docs/a",
        "/docsx",
        "/a_b",
        "/axb",
        "/a%b",
        "/a.b",
        "/aXb",
        "/pricing",
    ]
    for n, path in enumerate(pages):
        View.objects.create(
            site=site,
            session=session,
            view_id=f"paths-view-{n:06d}",
            created_at=at("2025-03-01 10:00"),
            page=path,
        )
    for pattern in ["/docs/*", "/docs*", "/docs", "/a_b", "/a_*", "/a%*", "/a.b", "/a*b", "*", "/pricing"]:
        goal = Goal(site=site, name=pattern, kind=Goal.Kind.PAGE, page_pattern=pattern)
        found = set(
            View.objects.filter(goals_half.completes_page(goal), site=site).values_list("page", flat=True)
        )
        assert found == {path for path in pages if page_matches(pattern, path)}, pattern
