import pytest

from splittests.models import SplitTest
from tracking.models import Membership

FORM = {
    "name": "Pricing",
    "page": "/pricing",
    "randomization": "user",
    "goal_type": "revenue",
    "revenue_mode": "target",
    "revenue_target": "49.00",
    "control_name": "Monthly first",
    "control_weight": 50,
    "b_name": "Annual first",
    "b_url": "/pricing-b",
    "b_weight": 50,
    "method": "sequential",
    "minimum_sample": 200,
    "minimum_conversions": 10,
    "cap_percentile": 99,
    "canonical_to_control": "on",
}


def test_empty_list_explains_split_tests(client_as_owner, site):
    body = client_as_owner.get(f"/sites/{site.public_id}/split-tests/").content.decode()
    assert "No split tests yet" in body and "Any Revenue" in body


def test_create_and_launch_from_the_form(client_as_owner, site):
    response = client_as_owner.post(f"/sites/{site.public_id}/split-tests/new/", {**FORM, "action": "launch"})
    test = SplitTest.objects.get()
    assert (
        response.status_code == 302
        and response["Location"] == f"/sites/{site.public_id}/split-tests/{test.pk}/"
    )
    assert (test.status, test.randomization, test.revenue_target, test.minimum_sample) == (
        "running",
        "user",
        4900,
        200,
    )
    assert [(v.key, v.url, v.weight) for v in test.variants.all()] == [
        ("control", "/pricing", 50),
        ("b", "/pricing-b", 50),
    ]
    listing = client_as_owner.get(f"/sites/{site.public_id}/split-tests/").content.decode()
    assert "Pricing" in listing and "running" in listing
    detail = client_as_owner.get(f"/sites/{site.public_id}/split-tests/{test.pk}/").content.decode()
    assert "User-level" in detail and "Revenue target" in detail and "$49.00" in detail


def test_save_a_draft_then_launch_then_stop(client_as_owner, site):
    client_as_owner.post(f"/sites/{site.public_id}/split-tests/new/", {**FORM, "action": "draft"})
    test = SplitTest.objects.get()
    assert test.status == "draft"
    client_as_owner.post(f"/sites/{site.public_id}/split-tests/{test.pk}/launch/")
    test.refresh_from_db()
    assert test.status == "running"
    client_as_owner.post(f"/sites/{site.public_id}/split-tests/{test.pk}/stop/", {"confirm": "yes"})
    test.refresh_from_db()
    assert test.status == "stopped" and test.stopped_at is not None


def test_stop_asks_for_confirmation_first(client_as_owner, site, running_test):
    url = f"/sites/{site.public_id}/split-tests/{running_test.pk}/stop/"
    asked = client_as_owner.post(url)
    assert asked.status_code == 200
    page = asked.content.decode()
    assert "cannot be undone" in page and 'name="confirm" value="yes"' in page
    running_test.refresh_from_db()
    assert running_test.status == "running"
    assert client_as_owner.post(url, {"confirm": "yes"}).status_code == 302
    running_test.refresh_from_db()
    assert running_test.status == "stopped"


def test_the_form_shows_each_field_once_and_saves_the_names_as_typed(client_as_owner, site):
    page = client_as_owner.get(f"/sites/{site.public_id}/split-tests/new/").content.decode()
    for name in ("name", "page", "control_name", "b_name", "goal_page", "revenue_target", "method"):
        assert page.count(f'name="{name}"') == 1, name
        assert page.count(f'id="id_{name}"') == 1, name
    client_as_owner.post(
        f"/sites/{site.public_id}/split-tests/new/",
        {**FORM, "name": "Homepage hero test", "control_name": "Original hero", "action": "draft"},
    )
    test = SplitTest.objects.get()
    assert test.name == "Homepage hero test"
    assert [v.name for v in test.variants.all()] == ["Original hero", "Annual first"]


def test_goal_fields_belong_to_their_goal_type(client_as_owner, site):
    page = client_as_owner.get(f"/sites/{site.public_id}/split-tests/new/").content.decode()
    assert 'data-goal="pageview"' in page and 'data-goal="revenue"' in page
    missing = client_as_owner.post(
        f"/sites/{site.public_id}/split-tests/new/", {**FORM, "goal_type": "pageview", "action": "draft"}
    )
    assert "Enter the page that counts as a conversion" in missing.content.decode()
    # A page-view goal ignores the revenue target left in the (hidden) revenue fields.
    client_as_owner.post(
        f"/sites/{site.public_id}/split-tests/new/",
        {**FORM, "goal_type": "pageview", "goal_page": "/thanks", "revenue_target": "abc", "action": "draft"},
    )
    test = SplitTest.objects.get()
    assert (test.goal_type, test.goal_page, test.revenue_target) == ("pageview", "/thanks", None)


def test_the_page_tells_draft_running_and_stopped_apart(client_as_owner, site):
    client_as_owner.post(f"/sites/{site.public_id}/split-tests/new/", {**FORM, "action": "draft"})
    test = SplitTest.objects.get()
    url = f"/sites/{site.public_id}/split-tests/{test.pk}/"
    draft = client_as_owner.get(url).content.decode()
    assert "Once launched, the snippet" in draft and "The snippet already on your pages" not in draft
    assert "Draft: not launched yet" in draft
    client_as_owner.post(f"/sites/{site.public_id}/split-tests/{test.pk}/launch/")
    running = client_as_owner.get(url).content.decode()
    assert "The snippet already on your pages runs this test" in running
    assert "No winner yet: 0 of 200 visitors" in running
    client_as_owner.post(f"/sites/{site.public_id}/split-tests/{test.pk}/stop/", {"confirm": "yes"})
    stopped = client_as_owner.get(url).content.decode()
    assert "Collecting data" not in stopped and "No winner yet" not in stopped
    assert "Stopped before a verdict" in stopped and "This test is stopped" in stopped


@pytest.mark.parametrize(
    "change, message",
    [
        ({"b_url": "https://elsewhere.com/b"}, "must be on example.com or one of its subdomains"),
        ({"page": "pricing"}, "must be a path like /pricing-b or an https:// URL on example.com"),
        ({"b_url": "/\\evil.example/x"}, "must not contain a backslash"),
        ({"revenue_target": "abc"}, "Enter an amount like 49.00"),
        ({"revenue_target": ""}, "Enter the target amount"),
        ({"b_url": "/pricing"}, "own URL path"),
    ],
)
def test_form_errors_are_shown_and_nothing_saved(client_as_owner, site, change, message):
    response = client_as_owner.post(
        f"/sites/{site.public_id}/split-tests/new/", {**FORM, **change, "action": "launch"}
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not SplitTest.objects.exists()


def test_calculator_gives_the_worked_example(client_as_owner, site):
    body = client_as_owner.get(
        f"/sites/{site.public_id}/split-tests/calculator/",
        {
            "baseline": 4,
            "mde": 1,
            "significance": "0.95",
            "power": "0.8",
            "daily_visitors": 1200,
            "variants": 2,
        },
    ).content.decode()
    assert 'id="per-variant">6743<' in body and 'id="days">12<' in body


@pytest.mark.parametrize("suffix", ["", "new/", "calculator/", "{id}/"])
def test_pages_are_private(client, other_user, site, running_test, suffix):
    url = f"/sites/{site.public_id}/split-tests/" + suffix.format(id=running_test.pk)
    assert client.get(url).status_code == 302
    client.force_login(other_user)
    assert client.get(url).status_code == 404


@pytest.mark.parametrize("action", ["stop", "launch"])
def test_actions_are_private_and_post_only(client, client_as_owner, other_user, site, running_test, action):
    url = f"/sites/{site.public_id}/split-tests/{running_test.pk}/{action}/"
    assert client_as_owner.get(url).status_code == 405
    client.force_login(other_user)
    assert client.post(url).status_code == 404
    running_test.refresh_from_db()
    assert running_test.status == "running"


def test_viewers_cannot_stop(client, other_user, site, running_test):
    Membership.objects.create(user=other_user, site=site, role=Membership.Role.VIEWER)
    client.force_login(other_user)
    assert client.get(f"/sites/{site.public_id}/split-tests/{running_test.pk}/").status_code == 200
    assert client.post(f"/sites/{site.public_id}/split-tests/{running_test.pk}/stop/").status_code == 403
    running_test.refresh_from_db()
    assert running_test.status == "running"


def test_a_draft_can_be_edited_then_launched(client_as_owner, site):
    client_as_owner.post(f"/sites/{site.public_id}/split-tests/new/", {**FORM, "action": "draft"})
    test = SplitTest.objects.get()
    page = client_as_owner.get(f"/sites/{site.public_id}/split-tests/{test.pk}/edit/").content.decode()
    assert 'value="/pricing-b"' in page and 'value="49.00"' in page
    response = client_as_owner.post(
        f"/sites/{site.public_id}/split-tests/{test.pk}/edit/",
        {**FORM, "b_url": "/pricing-annual", "b_weight": 30, "revenue_mode": "any", "action": "launch"},
    )
    assert response.status_code == 302
    test.refresh_from_db()
    assert (test.status, test.revenue_target) == ("running", None)
    assert [(v.key, v.url, v.weight) for v in test.variants.all()] == [
        ("control", "/pricing", 50),
        ("b", "/pricing-annual", 30),
    ]


def test_a_running_test_cannot_be_edited(client_as_owner, site, running_test):
    response = client_as_owner.post(
        f"/sites/{site.public_id}/split-tests/{running_test.pk}/edit/",
        {**FORM, "b_url": "/other", "action": "draft"},
    )
    assert response.status_code == 302
    assert [v.url for v in running_test.variants.all()] == ["/pricing", "/pricing-b"]


def test_editing_is_for_owners_only(client, other_user, site, running_test):
    client.force_login(other_user)
    assert client.get(f"/sites/{site.public_id}/split-tests/{running_test.pk}/edit/").status_code == 404
    Membership.objects.create(user=other_user, site=site, role=Membership.Role.VIEWER)
    assert client.get(f"/sites/{site.public_id}/split-tests/{running_test.pk}/edit/").status_code == 403
