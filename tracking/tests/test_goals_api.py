"""The goals and funnels API: /api/v1/sites/SITE_ID/goals[/<id>] and /funnels[/<id>]."""

import pytest
from django.contrib.auth import get_user_model

from tracking.apikeys import create_api_key
from tracking.goals import FunnelSpec, GoalSpec, save_funnel, save_goal
from tracking.models import Funnel, Goal, Membership


@pytest.fixture
def key(site):
    return create_api_key(site, "ci")[1]


@pytest.fixture
def signup(site):
    return save_goal(site, GoalSpec("Signup", "event", event="Signup"))


@pytest.fixture
def thanks(site):
    return save_goal(site, GoalSpec("Thank you page", "page", page="/thanks*"))


@pytest.fixture
def funnel(site, signup, thanks):
    return save_funnel(site, FunnelSpec("Signup to thanks", (signup.pk, thanks.pk)))


def call(client, method, path, key=None, body=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return getattr(client, method)(path, body, content_type="application/json", **headers)


def goals_url(site, suffix=""):
    return f"/api/v1/sites/{site.public_id}/goals{suffix}"


def funnels_url(site, suffix=""):
    return f"/api/v1/sites/{site.public_id}/funnels{suffix}"


# ---- goals ---------------------------------------------------------------------------------------


def test_create_list_get_patch_delete_a_goal(client, site, key):
    created = call(
        client, "post", goals_url(site), key, {"name": "Signup", "type": "event", "event": "Signup"}
    )
    assert created.status_code == 201
    goal_id = created.json()["id"]
    assert created.json() == {"id": goal_id, "name": "Signup", "type": "event", "event": "Signup"}
    page = call(client, "post", goals_url(site), key, {"name": "Thanks", "type": "page", "page": "/thanks*"})
    assert page.json() == {"id": page.json()["id"], "name": "Thanks", "type": "page", "page": "/thanks*"}
    listed = call(client, "get", goals_url(site), key).json()["results"]
    assert [g["name"] for g in listed] == ["Signup", "Thanks"]
    assert call(client, "get", goals_url(site, f"/{goal_id}"), key).json() == created.json()
    renamed = call(client, "patch", goals_url(site, f"/{goal_id}"), key, {"name": "Sign-up"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Sign-up"
    assert renamed.json()["event"] == "Signup"
    retyped = call(client, "patch", goals_url(site, f"/{goal_id}"), key, {"type": "page", "page": "/welcome"})
    assert retyped.json() == {"id": goal_id, "name": "Sign-up", "type": "page", "page": "/welcome"}
    assert Goal.objects.get(pk=goal_id).event_name == ""
    deleted = call(client, "delete", goals_url(site, f"/{goal_id}"), key)
    assert deleted.status_code == 204 and not Goal.objects.filter(pk=goal_id).exists()
    assert call(client, "get", goals_url(site, f"/{goal_id}"), key).status_code == 404


def test_a_logged_in_owner_uses_the_api_without_a_key(client_as_owner, site):
    created = call(
        client_as_owner, "post", goals_url(site), body={"name": "S", "type": "event", "event": "S"}
    )
    assert created.status_code == 201


def test_a_logged_in_viewer_reads_but_cannot_write(client, site, signup, funnel):
    viewer = get_user_model().objects.create_user("viewer", "v@example.com", "correct-horse-battery")
    Membership.objects.create(user=viewer, site=site, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert call(client, "get", goals_url(site)).status_code == 200
    assert call(client, "get", funnels_url(site, f"/{funnel.pk}")).status_code == 200
    for method, path in [
        ("post", goals_url(site)),
        ("patch", goals_url(site, f"/{signup.pk}")),
        ("delete", goals_url(site, f"/{signup.pk}")),
        ("post", funnels_url(site)),
        ("patch", funnels_url(site, f"/{funnel.pk}")),
        ("delete", funnels_url(site, f"/{funnel.pk}")),
    ]:
        response = call(client, method, path, body={"name": "x", "type": "event", "event": "x"})
        assert response.status_code == 403, (method, path)
        assert response.json() == {"error": "Only the site's owners can change this."}
    assert Goal.objects.count() == 2 and Funnel.objects.get().name == "Signup to thanks"


@pytest.mark.parametrize(
    "body,message",
    [
        ({}, "name: This field is required."),
        ({"name": "", "type": "event", "event": "S"}, "name: This field may not be blank."),
        ({"name": "x" * 121, "type": "event", "event": "S"}, "name: Ensure this field has no more than 120"),
        ({"name": "a\x00", "type": "event", "event": "S"}, "name: Null characters are not allowed."),
        ({"name": "S", "type": "revenue", "event": "S"}, 'type: "revenue" is not a valid choice.'),
        ({"name": "S", "event": "S"}, "type: This field is required."),
        ({"name": "S", "type": "event"}, "event: Enter the name your pages send"),
        ({"name": "S", "type": "event", "event": "  "}, "event: Enter the name your pages send"),
        ({"name": "S", "type": "event", "event": "x" * 121}, "event: Ensure this field has no more than 120"),
        ({"name": "S", "type": "event", "event": "S", "page": "/x"}, 'page: only for goals of type "page"'),
        ({"name": "S", "type": "page"}, "page: Enter a page path starting with /"),
        ({"name": "S", "type": "page", "page": "thanks"}, "page: A page path starts with /"),
        ({"name": "S", "type": "page", "page": "/a?b=c"}, "page: Pages are matched on their path alone"),
        (
            {"name": "S", "type": "page", "page": "/" + "x" * 500},
            "page: Ensure this field has no more than 500",
        ),
        ({"name": "S", "type": "page", "page": "/x", "event": "S"}, 'event: only for goals of type "event"'),
        ({"name": 5, "type": "page", "page": ["/x"]}, "page: Not a valid string."),
    ],
)
def test_bad_goal_bodies_are_400_naming_the_problem(client, site, key, body, message):
    response = call(client, "post", goals_url(site), key, body)
    assert response.status_code == 400
    assert message in response.json()["error"], response.json()
    assert not Goal.objects.exists()


@pytest.mark.parametrize("raw", ["[]", '"x"', "1", "null", "{", "not json"])
def test_a_body_that_is_not_an_object_is_a_400(client, site, key, raw):
    response = client.post(
        goals_url(site), raw, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
    )
    assert response.status_code == 400 and response.json()["error"]


def test_a_duplicate_goal_name_is_a_400(client, site, key, signup):
    response = call(client, "post", goals_url(site), key, {"name": "signup", "type": "event", "event": "X"})
    assert response.status_code == 400
    assert response.json()["error"] == "name: This site already has a goal named “signup”."


def test_patch_checks_the_goal_it_would_become(client, site, key, signup, thanks):
    path = goals_url(site, f"/{signup.pk}")
    assert "page: Enter a page path" in call(client, "patch", path, key, {"type": "page"}).json()["error"]
    assert "page: only for goals" in call(client, "patch", path, key, {"page": "/x"}).json()["error"]
    taken = call(client, "patch", path, key, {"name": "Thank You Page"})
    assert taken.status_code == 400 and "already has a goal named" in taken.json()["error"]
    assert call(client, "patch", path, key, {}).status_code == 200
    signup.refresh_from_db()
    assert (signup.name, signup.kind, signup.event_name) == ("Signup", "event", "Signup")


def test_a_goal_in_a_funnel_is_not_deleted_409_naming_the_funnel(client, site, key, signup, funnel):
    response = call(client, "delete", goals_url(site, f"/{signup.pk}"), key)
    assert response.status_code == 409
    assert response.json() == {
        "error": "“Signup” is used by funnel “Signup to thanks”. Take it out of the funnel, or delete the "
        "funnel, first."
    }
    assert Goal.objects.filter(pk=signup.pk).exists()


# ---- funnels -------------------------------------------------------------------------------------


def test_create_list_get_patch_delete_a_funnel(client, site, key, signup, thanks):
    created = call(
        client, "post", funnels_url(site), key, {"name": "Onboarding", "steps": [thanks.pk, signup.pk]}
    )
    assert created.status_code == 201
    body = created.json()
    assert body["name"] == "Onboarding" and body["steps"] == [thanks.pk, signup.pk]
    assert [g["name"] for g in body["goals"]] == ["Thank you page", "Signup"]
    path = funnels_url(site, f"/{body['id']}")
    assert call(client, "get", funnels_url(site), key).json()["results"] == [body]
    assert call(client, "get", path, key).json() == body
    patched = call(client, "patch", path, key, {"steps": [signup.pk, thanks.pk]})
    assert patched.status_code == 200 and patched.json()["steps"] == [signup.pk, thanks.pk]
    assert patched.json()["name"] == "Onboarding"
    renamed = call(client, "patch", path, key, {"name": "Renamed"})
    assert renamed.json()["name"] == "Renamed" and renamed.json()["steps"] == [signup.pk, thanks.pk]
    assert call(client, "delete", path, key).status_code == 204
    assert not Funnel.objects.exists() and Goal.objects.count() == 2
    assert call(client, "delete", path, key).status_code == 404


@pytest.mark.parametrize(
    "steps,message",
    [
        ([], "steps: Ensure this field has at least 2 elements."),
        (["signup"], "steps: Ensure this field has at least 2 elements."),
        (["signup"] * 9, "steps: Ensure this field has no more than 8 elements."),
        (["signup", "signup"], "steps: Step 2 repeats step 1 (“Signup”)"),
        (["signup", 999999], "steps: Step 2: 999999 is not one of this site's goals."),
        (["signup", "theirs"], "is not one of this site's goals."),
        (["signup", 0], "Ensure this value is greater than or equal to 1."),
        (["signup", 2**64], "Ensure this value is less than or equal to"),
        (["signup", "x"], "A valid integer is required."),
        (["signup", None], "This field may not be null."),
        ("1,2", 'Expected a list of items but got type "str".'),
    ],
)
def test_bad_funnel_steps_are_400_naming_the_problem(client, site, key, signup, other_site, steps, message):
    theirs = save_goal(other_site, GoalSpec("Theirs", "event", event="T"))
    ids = {"signup": signup.pk, "theirs": theirs.pk}
    body = {"name": "F", "steps": [ids.get(s, s) for s in steps] if isinstance(steps, list) else steps}
    response = call(client, "post", funnels_url(site), key, body)
    assert response.status_code == 400
    assert message in response.json()["error"], response.json()
    assert not Funnel.objects.exists()


def test_a_funnel_needs_a_unique_name(client, site, key, signup, thanks, funnel):
    body = {"name": "SIGNUP to thanks", "steps": [signup.pk, thanks.pk]}
    response = call(client, "post", funnels_url(site), key, body)
    assert response.status_code == 400 and "already has a funnel named" in response.json()["error"]
    assert "name: This field is required." in call(client, "post", funnels_url(site), key, {}).json()["error"]


def test_a_goal_taken_out_of_its_funnel_can_be_deleted(client, site, key, signup, thanks, funnel):
    third = save_goal(site, GoalSpec("Paid", "event", event="Paid"))
    call(client, "patch", funnels_url(site, f"/{funnel.pk}"), key, {"steps": [thanks.pk, third.pk]})
    assert call(client, "delete", goals_url(site, f"/{signup.pk}"), key).status_code == 204


# ---- access --------------------------------------------------------------------------------------


def test_no_credentials_is_401(client, site, signup):
    for path in (goals_url(site), goals_url(site, f"/{signup.pk}"), funnels_url(site)):
        response = client.get(path)
        assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_another_sites_key_is_403_and_their_ids_are_404(client, site, other_site, signup, funnel):
    their_key = create_api_key(other_site, "theirs")[1]
    for method in ("get", "post", "patch", "delete"):
        path = goals_url(site, f"/{signup.pk}") if method != "post" else goals_url(site)
        assert call(client, method, path, their_key, {}).status_code == 403
    for method in ("get", "patch", "delete"):
        assert call(client, method, goals_url(other_site, f"/{signup.pk}"), their_key, {}).status_code == 404
        assert (
            call(client, method, funnels_url(other_site, f"/{funnel.pk}"), their_key, {}).status_code == 404
        )
    assert Goal.objects.filter(site=site).count() == 2 and Funnel.objects.filter(site=site).count() == 1


def test_another_users_session_is_404(client, site, other_user, signup):
    client.force_login(other_user)
    assert call(client, "get", goals_url(site)).status_code == 404
    assert call(client, "delete", goals_url(site, f"/{signup.pk}")).status_code == 404
    assert Goal.objects.filter(pk=signup.pk).exists()


def test_wrong_methods_are_405(client, site, key, signup, funnel):
    assert call(client, "put", goals_url(site, f"/{signup.pk}"), key, {}).status_code == 405
    assert call(client, "delete", goals_url(site), key).status_code == 405
    assert call(client, "post", funnels_url(site, f"/{funnel.pk}"), key, {}).status_code == 405


def test_the_schema_documents_goals_and_funnels(client):
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]
    assert set(paths["/api/v1/sites/{site_id}/goals"]) >= {"get", "post"}
    assert set(paths["/api/v1/sites/{site_id}/goals/{goal_id}"]) >= {"get", "patch", "delete"}
    assert set(paths["/api/v1/sites/{site_id}/funnels"]) >= {"get", "post"}
    assert set(paths["/api/v1/sites/{site_id}/funnels/{funnel_id}"]) >= {"get", "patch", "delete"}
    assert "409" in paths["/api/v1/sites/{site_id}/goals/{goal_id}"]["delete"]["responses"]


def test_a_funnel_taking_the_goal_during_its_delete_is_a_409_not_a_500(
    client, site, key, signup, funnel, monkeypatch
):
    from tracking import goals

    real, calls = goals.goal_users, []

    def first_check_misses_the_funnel(goal):  # as if the funnel had been saved just after it
        calls.append(goal)
        return [] if len(calls) == 1 else real(goal)

    monkeypatch.setattr(goals, "goal_users", first_check_misses_the_funnel)
    response = call(client, "delete", goals_url(site, f"/{signup.pk}"), key)
    assert response.status_code == 409 and "funnel “Signup to thanks”" in response.json()["error"]
    assert len(calls) == 2  # the database refused the delete, and the answer looked again
    assert Goal.objects.filter(pk=signup.pk).exists()


def test_a_name_taken_during_a_funnel_save_is_a_400_not_a_500(
    client, site, key, signup, thanks, funnel, monkeypatch
):
    from tracking import goals

    real, calls = goals._others, []

    def first_check_misses_the_name(*args):  # as if another request had taken it just after
        calls.append(args)
        return Funnel.objects.none() if len(calls) == 1 else real(*args)

    monkeypatch.setattr(goals, "_others", first_check_misses_the_name)
    body = {"name": "Signup to thanks", "steps": [thanks.pk, signup.pk]}
    response = call(client, "post", funnels_url(site), key, body)
    assert response.status_code == 400
    assert response.json()["error"] == "name: This site already has a funnel named “Signup to thanks”."
    assert len(calls) == 2 and Funnel.objects.count() == 1
