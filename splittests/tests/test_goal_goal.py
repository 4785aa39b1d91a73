"""A split test whose goal is one of the site's goals (a custom event by name, or a page pattern): who
converts, the form and the API that choose it, and the results it gives."""

import datetime as dt
import itertools

import pytest
from django.db.models import RestrictedError

from splittests.lifecycle import create_test, stop_test
from splittests.models import SplitTest
from splittests.results import results_for
from splittests.tests.conftest import spec
from tracking.apikeys import create_api_key
from tracking.models import CustomEvent, Goal, Session, View

T0 = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(days=1)
_ids = itertools.count(1)


def minutes(n: float) -> dt.datetime:
    return T0 + dt.timedelta(minutes=n)


def session_of(site, visitor: str, at: dt.datetime) -> Session:
    return Session.objects.create(
        site=site,
        visitor_hash=visitor,
        started_at=at,
        last_seen_at=at,
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )


def visit(session: Session, page: str, at: dt.datetime, variant: str = "") -> View:
    return View.objects.create(
        site=session.site,
        session=session,
        view_id=f"view{next(_ids):018d}",
        created_at=at,
        hostname=session.site.domain,
        page=page,
        variant=variant,
    )


def track(site, session: Session | None, name: str, at: dt.datetime, visitor: str = "") -> CustomEvent:
    n = next(_ids)
    return CustomEvent.objects.create(
        site=site,
        session=session,
        view_id=f"view{n:018d}",
        uid=f"uid{n}",
        name=name,
        created_at=at,
        visitor_hash=session.visitor_hash if session else visitor,
    )


def exposed(site, visitor: str, variant: str, at: dt.datetime = T0 + dt.timedelta(minutes=1)) -> Session:
    """A visitor's session, exposed to ``variant`` (on its page) at ``at``."""
    session = session_of(site, visitor, at)
    visit(session, "/pricing" if variant == "control" else "/pricing-b", at, variant)
    return session


@pytest.fixture
def signup(site):
    return Goal.objects.create(site=site, name="Signed up", kind=Goal.Kind.EVENT, event_name="Signup")


@pytest.fixture
def thanks(site):
    return Goal.objects.create(site=site, name="Thank-you page", kind=Goal.Kind.PAGE, page_pattern="/thanks*")


@pytest.fixture
def foreign_goal(other_site):
    return Goal.objects.create(site=other_site, name="Theirs", kind=Goal.Kind.EVENT, event_name="Signup")


def launched(site, goal: Goal, **overrides) -> SplitTest:
    test = create_test(site, spec(goal_type="goal", goal_id=goal.pk, **overrides), launch=True)
    SplitTest.objects.filter(pk=test.pk).update(started_at=T0)
    test.refresh_from_db()
    return test


def conversions(test: SplitTest, now: dt.datetime = LATER) -> dict[str, tuple[int, int]]:
    results, _ = results_for(test, now)
    return {v.key: (v.visitors, v.conversions) for v in results.variants}


def test_an_event_goal_counts_each_visitor_once_and_only_after_exposure(site, other_site, signup):
    test = launched(site, signup)
    twice = exposed(site, "c1", "control")
    track(site, twice, "Signup", minutes(2))
    track(site, twice, "Signup", minutes(3))
    before = exposed(site, "c2", "control", minutes(5))
    track(site, before, "Signup", minutes(4))  # signed up, then saw the test: no conversion
    track(site, exposed(site, "b1", "b"), "Signup", minutes(2))
    track(site, exposed(site, "b2", "b"), "Newsletter", minutes(2))  # another event
    exposed(site, "b3", "b")
    track(site, None, "Signup", minutes(2), visitor="b3")  # its page view not stored yet
    exposed(site, "b4", "b")
    track(other_site, session_of(other_site, "b4", minutes(2)), "Signup", minutes(2))  # on another site
    track(site, session_of(site, "never-exposed", minutes(2)), "Signup", minutes(2))

    assert conversions(test) == {"control": (2, 1), "b": (4, 1)}


def test_an_event_counts_once_its_page_view_links_it_to_a_session(site, signup):
    test = launched(site, signup)
    session = exposed(site, "v1", "b")
    event = track(site, None, "Signup", minutes(2), visitor="v1")
    assert conversions(test)["b"] == (1, 0)
    event.session = session
    event.save()
    assert conversions(test)["b"] == (1, 1)


def test_a_page_goal_matches_its_pattern_after_exposure(site, thanks):
    test = launched(site, thanks)
    visit(exposed(site, "c1", "control"), "/thanks/pro", minutes(2))
    visit(exposed(site, "c2", "control"), "/pricing/thanks", minutes(2))  # not the pattern
    early = exposed(site, "b1", "b", minutes(5))
    visit(early, "/thanks", minutes(4))  # before exposure
    late = exposed(site, "b2", "b")
    visit(late, "/thanks", minutes(2))
    visit(late, "/thanks-again", minutes(3))

    assert conversions(test) == {"control": (2, 1), "b": (2, 1)}


def test_session_randomization_still_counts_a_visitor_once(site, signup):
    test = launched(site, signup, randomization="session")
    assert test.randomization == "session"
    first = exposed(site, "v1", "b")
    track(site, first, "Signup", minutes(2))
    second = exposed(site, "v1", "b", minutes(90))
    track(site, second, "Signup", minutes(91))
    assert conversions(test)["b"] == (1, 1)


def test_completions_after_the_test_stopped_do_not_count(site, signup):
    test = launched(site, signup)
    session = exposed(site, "v1", "b")
    stop_test(test)
    SplitTest.objects.filter(pk=test.pk).update(stopped_at=minutes(10))
    test.refresh_from_db()
    track(site, session, "Signup", minutes(11))
    assert conversions(test)["b"] == (1, 0)
    track(site, session, "Signup", minutes(10))
    assert conversions(test)["b"] == (1, 1)


def populate(site, key: str, visitors: int, converting: int) -> None:
    """``visitors`` exposed to ``key``, the first ``converting`` of them sending Signup, in bulk."""
    at = minutes(1)
    sessions = Session.objects.bulk_create(
        [
            Session(
                site=site,
                visitor_hash=f"{key}-{n}",
                started_at=at,
                last_seen_at=at,
                entry_page="/",
                exit_page="/",
                channel="Direct",
            )
            for n in range(visitors)
        ]
    )
    page = "/pricing" if key == "control" else "/pricing-b"
    View.objects.bulk_create(
        View(site=site, session=s, view_id=f"{key}v{n}", created_at=at, hostname="x", page=page, variant=key)
        for n, s in enumerate(sessions)
    )
    CustomEvent.objects.bulk_create(
        CustomEvent(
            site=site,
            session=s,
            view_id=f"{key}v{n}",
            uid=f"{key}u{n}",
            name="Signup",
            created_at=minutes(2),
            visitor_hash=s.visitor_hash,
        )
        for n, s in enumerate(sessions[:converting])
    )


def test_results_decide_on_the_goal_conversion_rate_with_every_statistic(client, site, signup):
    test = launched(site, signup, minimum_sample=100, minimum_conversions=10)
    populate(site, "control", 600, 60)
    populate(site, "b", 600, 120)
    results, _ = results_for(test, LATER)
    assert results.metric == "conversion_rate"
    control, b = results.variants
    assert (control.visitors, control.conversions, b.visitors, b.conversions) == (600, 60, 600, 120)
    assert b.lift == pytest.approx(1.0)  # 20% against 10%
    assert b.confidence > 0.95 and b.chance_to_beat_control > 0.99
    low, high = b.lift_interval
    assert 0 < low < 1.0 < high
    assert results.winner == "b" and results.guards == []

    key = create_api_key(site, "ci")[1]
    body = client.get(
        f"/api/v1/sites/{site.public_id}/split-tests/{test.pk}", HTTP_AUTHORIZATION=f"Bearer {key}"
    ).json()
    assert body["goal"] == {"type": "goal", "goal": signup.pk, "name": "Signed up"}
    reported = body["results"]
    assert {"srm_p_value", "status", "winner", "method", "guards"} <= reported.keys()
    fields = {"key", "name", "is_control", "visitors", "conversions", "conversion_rate", "revenue"}
    fields |= {"revenue_per_visitor", "lift", "confidence", "chance_to_beat_control", "lift_interval"}
    for variant in reported["variants"]:
        assert fields <= variant.keys()
    assert [(v["key"], v["visitors"], v["conversions"], v["revenue"]) for v in reported["variants"]] == [
        ("control", 600, 60, 0),
        ("b", 600, 120, 0),
    ]


def test_too_few_conversions_is_a_guard_not_a_winner(site, signup):
    test = launched(site, signup, minimum_sample=10, minimum_conversions=10)
    populate(site, "control", 50, 1)
    populate(site, "b", 50, 8)
    results, _ = results_for(test, LATER)
    assert results.winner is None and any("conversions" in guard for guard in results.guards)


# The form


FORM = {
    "name": "Pricing",
    "page": "/pricing",
    "randomization": "session",
    "revenue_mode": "any",
    "control_name": "Control",
    "control_weight": 50,
    "b_name": "B",
    "b_url": "/pricing-b",
    "b_weight": 50,
    "method": "sequential",
    "minimum_sample": 100,
    "minimum_conversions": 10,
    "cap_percentile": 99,
    "action": "launch",
}


def test_the_goal_choice_lists_revenue_page_view_and_the_sites_own_goals(
    client_as_owner, site, signup, thanks, foreign_goal
):
    page = client_as_owner.get(f"/sites/{site.public_id}/split-tests/new/").content.decode()
    assert '<option value="revenue" selected>Revenue</option>' in page
    assert '<option value="pageview">Page view</option>' in page
    assert f'<option value="goal:{signup.pk}">Signed up (event Signup)</option>' in page
    assert f'<option value="goal:{thanks.pk}">Thank-you page (visit /thanks*)</option>' in page
    assert f"goal:{foreign_goal.pk}" not in page and "Theirs" not in page


def test_the_form_points_to_settings_goals(client_as_owner, site):
    page = client_as_owner.get(f"/sites/{site.public_id}/split-tests/new/").content.decode()
    assert f'href="/sites/{site.public_id}/settings/goals/"' in page


def test_the_form_creates_a_test_on_a_goal_and_shows_it(client_as_owner, site, signup):
    url = f"/sites/{site.public_id}/split-tests/new/"
    response = client_as_owner.post(url, {**FORM, "goal_type": f"goal:{signup.pk}", "revenue_target": "x"})
    test = SplitTest.objects.get()
    assert response.status_code == 302
    assert (test.goal_type, test.goal, test.goal_page, test.revenue_target) == ("goal", signup, "", None)
    detail = client_as_owner.get(f"/sites/{site.public_id}/split-tests/{test.pk}/").content.decode()
    assert "Goal: Signed up" in detail and "custom event <code>Signup</code>" in detail
    assert "decided on the conversion rate" in detail
    listing = client_as_owner.get(f"/sites/{site.public_id}/split-tests/").content.decode()
    assert "Goal: Signed up" in listing


def test_the_form_refuses_another_sites_goal(client_as_owner, site, foreign_goal):
    response = client_as_owner.post(
        f"/sites/{site.public_id}/split-tests/new/", {**FORM, "goal_type": f"goal:{foreign_goal.pk}"}
    )
    assert response.status_code == 200
    assert "Choose Revenue, Page view or one of this site&#x27;s goals." in response.content.decode()
    assert not SplitTest.objects.exists()


def test_editing_a_draft_keeps_its_goal_selected(client_as_owner, site, signup, thanks):
    test = create_test(site, spec(goal_type="goal", goal_id=signup.pk))
    url = f"/sites/{site.public_id}/split-tests/{test.pk}/edit/"
    page = client_as_owner.get(url).content.decode()
    assert f'<option value="goal:{signup.pk}" selected>' in page
    client_as_owner.post(url, {**FORM, "goal_type": f"goal:{thanks.pk}", "action": "draft"})
    test.refresh_from_db()
    assert (test.goal_type, test.goal, test.status) == ("goal", thanks, "draft")
    client_as_owner.post(url, {**FORM, "goal_type": "pageview", "goal_page": "/thanks", "action": "draft"})
    test.refresh_from_db()
    assert (test.goal_type, test.goal, test.goal_page) == ("pageview", None, "/thanks")


def test_another_users_goal_test_is_a_404(client, site, signup, other_user):
    test = launched(site, signup)
    client.force_login(other_user)
    assert client.get(f"/sites/{site.public_id}/split-tests/{test.pk}/").status_code == 404
    assert client.get(f"/api/v1/sites/{site.public_id}/split-tests/{test.pk}").status_code == 404


def test_a_goal_in_a_split_test_cannot_be_deleted(site, signup):
    launched(site, signup)
    with pytest.raises(RestrictedError):
        signup.delete()


# The API


BODY = {
    "name": "Pricing",
    "page": "/pricing",
    "variants": [
        {"key": "control", "name": "Control", "url": "/pricing", "weight": 50, "is_control": True},
        {"key": "b", "name": "B", "url": "/pricing-b", "weight": 50, "is_control": False},
    ],
}


@pytest.fixture
def api(client, site):
    key = create_api_key(site, "ci")[1]
    base = f"/api/v1/sites/{site.public_id}/split-tests"

    def call(method: str, path: str = "", body=None):
        return getattr(client, method)(
            base + path, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )

    return call


def test_the_api_creates_and_shows_a_goal_test(api, signup):
    created = api("post", body={**BODY, "goal": {"type": "goal", "goal": signup.pk}, "status": "running"})
    assert created.status_code == 201
    assert created.json()["goal"] == {"type": "goal", "goal": signup.pk, "name": "Signed up"}
    listed = api("get").json()["results"]
    assert listed[0]["goal"] == {"type": "goal", "goal": signup.pk, "name": "Signed up"}
    detail = api("get", f"/{created.json()['id']}").json()
    assert detail["results"]["metric"] == "conversion_rate"
    # The other shapes stay as they were.
    revenue = api("post", body={**BODY, "goal": {"type": "revenue", "target": 900}})
    assert revenue.json()["goal"] == {"type": "revenue", "target": 900, "page": None}
    viewed = api("post", body={**BODY, "goal": {"type": "pageview", "page": "/thanks"}})
    assert viewed.json()["goal"] == {"type": "pageview", "target": None, "page": "/thanks"}


@pytest.mark.parametrize(
    "goal, needle",
    [
        ({"type": "goal", "goal": "FOREIGN"}, "is not one of this site's goals"),
        ({"type": "goal", "goal": 987654}, "987654 is not one of this site's goals"),
        ({"type": "goal"}, "give the id of one of this site's goals"),
        ({"type": "goal", "goal": None}, "give the id of one of this site's goals"),
        ({"type": "goal", "goal": "signup"}, "integer"),
        ({"type": "goal", "goal": 2**70}, "goal"),
        ({"type": "clicks"}, "type"),
    ],
)
def test_the_api_refuses_a_goal_that_is_not_the_sites(api, signup, foreign_goal, goal, needle):
    if goal.get("goal") == "FOREIGN":
        goal = {**goal, "goal": foreign_goal.pk}
    response = api("post", body={**BODY, "goal": goal})
    assert response.status_code == 400
    assert needle in response.json()["error"]
    assert not SplitTest.objects.exists()


def test_the_goal_cannot_change_through_patch(api, site, signup, thanks):
    test = launched(site, signup)
    response = api("patch", f"/{test.pk}", {"goal": {"type": "goal", "goal": thanks.pk}})
    assert response.status_code == 400 and "keeps its goal" in response.json()["error"]
    test.refresh_from_db()
    assert test.goal == signup
