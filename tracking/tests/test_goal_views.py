"""Settings → Goals: the goals and funnels pages, for owners, viewers, strangers and nobody."""

import datetime as dt

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from tracking import goals
from tracking.goals import FunnelSpec, GoalSpec, save_funnel, save_goal
from tracking.models import CustomEvent, Funnel, FunnelStep, Goal, Membership, Session, View


def url(site, suffix=""):
    return f"/sites/{site.public_id}/settings/goals/{suffix}"


@pytest.fixture
def viewer(site):
    user = get_user_model().objects.create_user("viewer", "viewer@example.com", "correct-horse-battery")
    Membership.objects.create(user=user, site=site, role=Membership.Role.VIEWER)
    return user


@pytest.fixture
def signup(site):
    return save_goal(site, GoalSpec("Signup", "event", event="Signup"))


@pytest.fixture
def thanks(site):
    return save_goal(site, GoalSpec("Thank you page", "page", page="/thanks*"))


@pytest.fixture
def funnel(site, signup, thanks):
    return save_funnel(site, FunnelSpec("Signup to thanks", (signup.pk, thanks.pk)))


def event_goal(name="Signup", event="Signup"):
    return {"name": name, "type": "event", "event": event, "page": ""}


def page_goal(name="Thanks", page="/thanks*"):
    return {"name": name, "type": "page", "event": "", "page": page}


# ---- the list ------------------------------------------------------------------------------------


def test_the_empty_page_says_how_to_send_events(client_as_owner, site):
    response = client_as_owner.get(url(site))
    body = response.content.decode()
    assert response.status_code == 200
    assert "No goals yet" in body and "Humblytics.track(&#x27;Signup&#x27;)" in body
    assert f"/sites/{site.public_id}/settings/" in body  # where the snippet is
    assert "A funnel needs at least two goals" in body
    assert 'aria-current="page">Goals<' in body


def test_the_list_shows_goals_with_what_they_match_and_recent_completions(
    client_as_owner, site, signup, thanks, funnel
):
    now = timezone.now()
    session = Session.objects.create(
        site=site,
        visitor_hash="v1",
        started_at=now,
        last_seen_at=now,
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )
    for n, page in enumerate(["/thanks", "/thanks/pro", "/pricing"]):
        View.objects.create(
            site=site, session=session, view_id=f"v{n}", created_at=now, hostname="example.com", page=page
        )
    View.objects.create(
        site=site,
        session=session,
        view_id="old",
        created_at=now - dt.timedelta(days=31),
        hostname="x",
        page="/thanks",
    )
    for n in range(3):
        CustomEvent.objects.create(
            site=site, view_id="v0", uid=f"u{n}", name="Signup", created_at=now, visitor_hash="v1"
        )
    CustomEvent.objects.create(
        site=site, view_id="v0", uid="x", name="signup", created_at=now, visitor_hash="v1"
    )
    response = client_as_owner.get(url(site))
    rows = {goal.name: count for goal, count in response.context["goals"]}
    assert rows == {"Signup": 3, "Thank you page": 2}
    body = response.content.decode()
    assert "<code>/thanks*</code>" in body and "<code>Signup</code>" in body
    assert "Signup → Thank you page" in body
    assert url(site, f"{signup.pk}/edit/") in body and url(site, f"funnels/{funnel.pk}/edit/") in body
    assert f'href="/sites/{site.public_id}/funnels/{funnel.pk}/"' in body  # the funnel's report


def test_a_viewer_sees_the_list_read_only(client, site, viewer, signup, funnel):
    client.force_login(viewer)
    body = client.get(url(site)).content.decode()
    assert "Signup" in body and "Signup to thanks" in body
    assert "Add a goal" not in body and "Edit" not in body and "Delete…" not in body
    assert "only its owners can change goals" in body


@pytest.mark.parametrize(
    "suffix,method",
    [
        ("new/", "get"),
        ("new/", "post"),
        ("{goal}/edit/", "get"),
        ("{goal}/edit/", "post"),
        ("{goal}/delete/", "post"),
        ("funnels/new/", "get"),
        ("funnels/new/", "post"),
        ("funnels/{funnel}/edit/", "post"),
        ("funnels/{funnel}/delete/", "post"),
    ],
)
def test_a_viewer_cannot_change_anything(client, site, viewer, signup, funnel, suffix, method):
    client.force_login(viewer)
    target = url(site, suffix.format(goal=signup.pk, funnel=funnel.pk))
    response = getattr(client, method)(target, {**event_goal("Changed"), "confirmed": "yes"})
    assert response.status_code == 403
    assert list(Goal.objects.values_list("name", flat=True)) == ["Signup", "Thank you page"]
    assert Funnel.objects.get().name == "Signup to thanks"


@pytest.mark.parametrize(
    "suffix",
    [
        "",
        "new/",
        "{goal}/edit/",
        "{goal}/delete/",
        "funnels/new/",
        "funnels/{funnel}/edit/",
        "funnels/{funnel}/delete/",
    ],
)
def test_login_is_required(client, site, signup, funnel, suffix):
    target = url(site, suffix.format(goal=signup.pk, funnel=funnel.pk))
    response = client.post(target) if "delete" in suffix else client.get(target)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("suffix", ["", "new/", "{goal}/edit/", "funnels/new/", "funnels/{funnel}/edit/"])
def test_another_users_site_is_a_404(client, other_user, site, signup, funnel, suffix):
    client.force_login(other_user)
    assert client.get(url(site, suffix.format(goal=signup.pk, funnel=funnel.pk))).status_code == 404


def test_another_sites_goal_through_my_own_site_is_a_404(client, other_user, other_site, signup, funnel):
    client.force_login(other_user)
    for suffix in (
        f"{signup.pk}/edit/",
        f"{signup.pk}/delete/",
        f"funnels/{funnel.pk}/edit/",
        f"funnels/{funnel.pk}/delete/",
    ):
        assert (
            client.post(url(other_site, suffix), {**event_goal("x"), "confirmed": "yes"}).status_code == 404
        )
    assert (
        Goal.objects.filter(pk=signup.pk, name="Signup").exists()
        and Funnel.objects.filter(pk=funnel.pk).exists()
    )


@pytest.mark.parametrize("suffix", ["", "{goal}/delete/", "funnels/{funnel}/delete/"])
def test_wrong_methods_are_405(client_as_owner, site, signup, funnel, suffix):
    target = url(site, suffix.format(goal=signup.pk, funnel=funnel.pk))
    response = client_as_owner.get(target) if suffix else client_as_owner.post(target)
    assert response.status_code == 405


def test_a_put_is_405_on_the_forms(client_as_owner, site):
    assert client_as_owner.put(url(site, "new/")).status_code == 405


# ---- goals ---------------------------------------------------------------------------------------


def test_an_owner_adds_an_event_goal(client_as_owner, site):
    page = client_as_owner.get(url(site, "new/")).content.decode()
    assert "Event name" in page and "/thanks*" in page
    response = client_as_owner.post(url(site, "new/"), event_goal(" Signup ", " Signed up "))
    assert response.status_code == 302 and response["Location"] == url(site)
    goal = Goal.objects.get(site=site)
    assert (goal.name, goal.kind, goal.event_name, goal.page_pattern) == ("Signup", "event", "Signed up", "")
    assert "Goal “Signup” saved." in client_as_owner.get(url(site)).content.decode()


def test_an_owner_adds_a_page_goal_and_the_unused_event_field_is_ignored(client_as_owner, site):
    response = client_as_owner.post(url(site, "new/"), {**page_goal(), "event": "leftover"})
    assert response.status_code == 302
    goal = Goal.objects.get(site=site)
    assert (goal.kind, goal.event_name, goal.page_pattern) == ("page", "", "/thanks*")


def test_an_owner_edits_a_goal(client_as_owner, site, signup):
    page = client_as_owner.get(url(site, f"{signup.pk}/edit/"))
    assert page.status_code == 200 and 'value="Signup"' in page.content.decode()
    response = client_as_owner.post(url(site, f"{signup.pk}/edit/"), page_goal("Signed up", "/welcome"))
    assert response.status_code == 302
    signup.refresh_from_db()
    assert (signup.name, signup.kind, signup.event_name, signup.page_pattern) == (
        "Signed up",
        "page",
        "",
        "/welcome",
    )


@pytest.mark.parametrize(
    "data,field,message",
    [
        (event_goal(name=""), "name", "This field is required."),
        (event_goal(name="   "), "name", "This field is required."),
        (event_goal(name="x" * 121), "name", "at most 120 characters"),
        (event_goal(name="a\x00b"), "name", "Null characters are not allowed."),
        (event_goal(event=""), "event", "Enter the name your pages send"),
        (event_goal(event="x" * 121), "event", "at most 120 characters"),
        (event_goal(event="Sign\x00up"), "event", "Null characters are not allowed."),
        (page_goal(page=""), "page", "Enter a page path starting with /"),
        (page_goal(page="thanks"), "page", "A page path starts with /, e.g. /thanks."),
        (page_goal(page="https://example.com/thanks"), "page", "without the scheme and host"),
        (page_goal(page="/thanks?plan=pro"), "page", "without ?query or #fragment"),
        (page_goal(page="/thanks#top"), "page", "without ?query or #fragment"),
        (page_goal(page="/thank you"), "page", "no spaces"),
        (page_goal(page="/" + "x" * 500), "page", "at most 500 characters"),
        ({**event_goal(), "type": "revenue"}, "type", "Select a valid choice."),
        ({**event_goal(), "type": ""}, "type", "This field is required."),
    ],
)
def test_bad_goal_input_is_a_clear_form_error(client_as_owner, site, data, field, message):
    response = client_as_owner.post(url(site, "new/"), data)
    assert response.status_code == 400
    errors = response.context["form"].errors[field]
    assert any(message in error for error in errors), errors
    assert not Goal.objects.exists()


def test_a_goal_name_is_unique_per_site_whatever_the_case(client_as_owner, site, signup, other_site):
    save_goal(other_site, GoalSpec("Thanks", "page", page="/thanks"))
    response = client_as_owner.post(url(site, "new/"), page_goal(name="SIGNUP"))
    assert response.status_code == 400
    assert "already has a goal named “SIGNUP”" in response.content.decode()
    assert client_as_owner.post(url(site, "new/"), page_goal(name="Thanks")).status_code == 302


def test_a_goal_keeps_its_own_name_when_edited(client_as_owner, site, signup):
    response = client_as_owner.post(url(site, f"{signup.pk}/edit/"), event_goal(event="Registered"))
    assert response.status_code == 302
    assert Goal.objects.get(pk=signup.pk).event_name == "Registered"


def test_a_site_has_at_most_100_goals(client_as_owner, site, monkeypatch):
    monkeypatch.setattr(goals, "MAX_GOALS_PER_SITE", 2)
    for n in range(2):
        save_goal(site, GoalSpec(f"G{n}", "event", event=f"E{n}"))
    response = client_as_owner.post(url(site, "new/"), event_goal())
    assert response.status_code == 400 and "at most 2 goals" in response.content.decode()


def test_deleting_a_goal_asks_first(client_as_owner, site, signup):
    response = client_as_owner.post(url(site, f"{signup.pk}/delete/"))
    assert response.status_code == 200
    assert "Delete the goal “Signup”?" in response.content.decode()
    assert Goal.objects.filter(pk=signup.pk).exists()
    response = client_as_owner.post(url(site, f"{signup.pk}/delete/"), {"confirmed": "yes"})
    assert response.status_code == 302 and not Goal.objects.filter(pk=signup.pk).exists()


def test_a_goal_in_a_funnel_is_not_deleted_and_the_page_says_why(client_as_owner, site, signup, funnel):
    # Split tests that use a goal: tests/test_goals_split_tests.py (tracking's tests import no app above it).
    response = client_as_owner.post(url(site, f"{signup.pk}/delete/"), {"confirmed": "yes"}, follow=True)
    assert response.status_code == 200
    body = response.content.decode()
    assert "“Signup” is used by funnel “Signup to thanks”. Take it out of the funnel" in body
    assert Goal.objects.filter(pk=signup.pk).exists()


# ---- funnels -------------------------------------------------------------------------------------


def funnel_form(name="Onboarding", *steps):
    data = {"name": name}
    data.update({f"step_{n}": str(step) for n, step in enumerate(steps, start=1)})
    return data


def test_an_owner_adds_a_funnel_skipping_blank_steps(client_as_owner, site, signup, thanks):
    page = client_as_owner.get(url(site, "funnels/new/")).content.decode()
    assert "Step 8" in page and "Thank you page" in page
    data = {"name": "Onboarding", "step_2": str(thanks.pk), "step_5": str(signup.pk), "step_1": ""}
    response = client_as_owner.post(url(site, "funnels/new/"), data)
    assert response.status_code == 302
    funnel = Funnel.objects.get(site=site)
    assert list(funnel.steps.values_list("position", "goal_id")) == [(1, thanks.pk), (2, signup.pk)]


def test_an_owner_edits_a_funnel(client_as_owner, site, signup, thanks, funnel):
    third = save_goal(site, GoalSpec("Paid", "event", event="Paid"))
    page = client_as_owner.get(url(site, f"funnels/{funnel.pk}/edit/")).content.decode()
    assert f'<option value="{signup.pk}" selected>' in page
    response = client_as_owner.post(
        url(site, f"funnels/{funnel.pk}/edit/"), funnel_form("Paid path", thanks.pk, signup.pk, third.pk)
    )
    assert response.status_code == 302
    funnel.refresh_from_db()
    assert funnel.name == "Paid path"
    assert list(funnel.steps.values_list("goal_id", flat=True)) == [thanks.pk, signup.pk, third.pk]


@pytest.mark.parametrize(
    "steps,message",
    [
        ((), "A funnel needs at least 2 steps (it has 0)."),
        (("signup",), "A funnel needs at least 2 steps (it has 1)."),
        (("signup", "signup"), "Step 2 repeats step 1 (“Signup”)"),
    ],
)
def test_funnel_steps_are_checked(client_as_owner, site, signup, thanks, steps, message):
    ids = {"signup": signup.pk, "thanks": thanks.pk}
    response = client_as_owner.post(url(site, "funnels/new/"), funnel_form("F", *(ids[s] for s in steps)))
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Funnel.objects.exists()


def test_a_funnel_step_of_another_site_is_refused(client_as_owner, site, signup, other_site):
    theirs = save_goal(other_site, GoalSpec("Theirs", "event", event="X"))
    response = client_as_owner.post(url(site, "funnels/new/"), funnel_form("F", signup.pk, theirs.pk))
    assert response.status_code == 400
    assert "Select a valid choice." in response.content.decode()
    assert not Funnel.objects.exists()


def test_a_funnel_name_is_unique_per_site(client_as_owner, site, signup, thanks, funnel):
    response = client_as_owner.post(
        url(site, "funnels/new/"), funnel_form("signup TO thanks", signup.pk, thanks.pk)
    )
    assert response.status_code == 400
    assert "already has a funnel named" in response.content.decode()


def test_with_fewer_than_two_goals_the_funnel_page_says_to_add_goals(client_as_owner, site, signup):
    page = client_as_owner.get(url(site, "funnels/new/")).content.decode()
    assert "this site has 1" in page and url(site, "new/") in page
    response = client_as_owner.post(url(site, "funnels/new/"), funnel_form("F", signup.pk))
    assert "A funnel needs at least 2 steps: add 2 goals first." in response.content.decode()


def test_deleting_a_funnel_asks_first_and_keeps_its_goals(client_as_owner, site, funnel):
    response = client_as_owner.post(url(site, f"funnels/{funnel.pk}/delete/"))
    assert (
        response.status_code == 200 and "Delete the funnel “Signup to thanks”?" in response.content.decode()
    )
    assert Funnel.objects.exists()
    response = client_as_owner.post(url(site, f"funnels/{funnel.pk}/delete/"), {"confirmed": "yes"})
    assert response.status_code == 302
    assert not Funnel.objects.exists() and not FunnelStep.objects.exists()
    assert Goal.objects.count() == 2
    assert client_as_owner.post(url(site, f"funnels/{funnel.pk}/delete/")).status_code == 404


def test_a_goal_freed_from_its_funnel_can_be_deleted(client_as_owner, site, signup, funnel):
    client_as_owner.post(url(site, f"funnels/{funnel.pk}/delete/"), {"confirmed": "yes"})
    client_as_owner.post(url(site, f"{signup.pk}/delete/"), {"confirmed": "yes"})
    assert not Goal.objects.filter(pk=signup.pk).exists()


def test_deleting_a_site_with_a_funnel_deletes_its_goals_and_funnels(client_as_owner, site, funnel):
    # The funnel steps hold their goals with RESTRICT: PROTECT refused even when the steps go in the same
    # cascade as the goals, and the site could not be deleted (here, in the admin, in the demo's reset).
    response = client_as_owner.post(f"/sites/{site.public_id}/settings/delete/", {"confirm": site.domain})
    assert response.status_code == 302 and response["Location"] == "/"
    assert not Goal.objects.exists() and not Funnel.objects.exists() and not FunnelStep.objects.exists()


def test_the_admin_deletes_a_site_with_a_funnel(site, funnel):
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = get_user_model().objects.create_superuser("root", "root@example.com", "correct-horse-battery")
    client = Client()
    client.force_login(admin)
    response = client.post(f"/admin/tracking/site/{site.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Goal.objects.exists() and not FunnelStep.objects.exists()
