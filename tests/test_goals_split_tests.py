"""A goal a split test uses (cross-app: tracking's own tests import nothing above tracking): it cannot be
deleted, and once the test has started what it matches cannot change; the page and the API say why."""

import pytest

from splittests.lifecycle import create_test
from splittests.models import SplitTest
from splittests.tests.conftest import spec
from tracking.apikeys import create_api_key
from tracking.goals import FunnelSpec, GoalSpec, save_funnel, save_goal
from tracking.models import Goal


@pytest.fixture
def signup(site):
    return save_goal(site, GoalSpec("Signup", "event", event="Signup"))


def measuring(site, goal, *, launch: bool) -> SplitTest:
    """A split test whose goal is ``goal`` (set on the row: only the protection matters here)."""
    test = create_test(site, spec(), launch=launch)
    SplitTest.objects.filter(pk=test.pk).update(goal=goal)
    return test


def page(site, suffix):
    return f"/sites/{site.public_id}/settings/goals/{suffix}"


def api(site, goal):
    return f"/api/v1/sites/{site.public_id}/goals/{goal.pk}"


def test_the_page_names_the_funnel_and_the_split_test_using_a_goal(client_as_owner, site, signup):
    thanks = save_goal(site, GoalSpec("Thanks", "page", page="/thanks"))
    save_funnel(site, FunnelSpec("Onboarding", (signup.pk, thanks.pk)))
    measuring(site, signup, launch=False)
    response = client_as_owner.post(page(site, f"{signup.pk}/delete/"), {"confirmed": "yes"}, follow=True)
    body = response.content.decode()
    assert response.status_code == 200
    assert "“Signup” is used by funnel “Onboarding” and split test “Pricing page”." in body
    assert "A split test keeps its goal: delete the test first to delete the goal." in body
    assert Goal.objects.filter(pk=signup.pk).exists()


def test_the_api_answers_409_for_a_goal_a_split_test_uses(client, site, signup):
    measuring(site, signup, launch=False)
    key = create_api_key(site, "ci")[1]
    response = client.delete(api(site, signup), HTTP_AUTHORIZATION=f"Bearer {key}")
    assert response.status_code == 409
    assert response.json()["error"].startswith("“Signup” is used by split test “Pricing page”.")
    SplitTest.objects.all().delete()
    assert client.delete(api(site, signup), HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 204


def test_a_started_tests_goal_can_be_renamed_but_not_redefined(client_as_owner, site, signup):
    test = measuring(site, signup, launch=True)
    form = {"name": "Signup", "type": "event", "event": "Other", "page": ""}
    response = client_as_owner.post(page(site, f"{signup.pk}/edit/"), form)
    assert response.status_code == 400
    assert f"split test “{test.name}” measures this goal and has started" in response.content.decode()
    patched = client_as_owner.patch(
        api(site, signup), {"type": "page", "page": "/x"}, content_type="application/json"
    )
    assert patched.status_code == 400 and "type: split test" in patched.json()["error"]
    renamed = client_as_owner.post(
        page(site, f"{signup.pk}/edit/"), {**form, "name": "Sign-up", "event": "Signup"}
    )
    assert renamed.status_code == 302
    signup.refresh_from_db()
    assert (signup.name, signup.event_name) == ("Sign-up", "Signup")


def test_a_draft_tests_goal_may_still_change(client_as_owner, site, signup):
    measuring(site, signup, launch=False)
    form = {"name": "Signup", "type": "event", "event": "Other", "page": ""}
    assert client_as_owner.post(page(site, f"{signup.pk}/edit/"), form).status_code == 302
    assert Goal.objects.get(pk=signup.pk).event_name == "Other"


def test_deleting_a_site_deletes_its_split_tests_and_the_goals_they_measure(client_as_owner, site, signup):
    thanks = save_goal(site, GoalSpec("Thanks", "page", page="/thanks"))
    save_funnel(site, FunnelSpec("Onboarding", (signup.pk, thanks.pk)))
    measuring(site, signup, launch=True)
    response = client_as_owner.post(f"/sites/{site.public_id}/settings/delete/", {"confirm": site.domain})
    assert response.status_code == 302
    assert not Goal.objects.exists() and not SplitTest.objects.exists()
