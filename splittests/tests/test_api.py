import pytest

from splittests.models import SplitTest
from tracking.apikeys import create_api_key
from tracking.models import Membership

BODY = {
    "name": "Pricing",
    "page": "/pricing",
    "randomization": "session",
    "goal": {"type": "revenue", "target": None},
    "variants": [
        {"key": "control", "name": "Control", "url": "/pricing", "weight": 50, "is_control": True},
        {"key": "b", "name": "B", "url": "/pricing-b", "weight": 50, "is_control": False},
    ],
    "status": "draft",
}


@pytest.fixture
def key(site):
    return create_api_key(site, "ci")[1]


def call(client, method, url, key=None, body=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
    return getattr(client, method)(url, body, content_type="application/json", **headers)


def test_create_list_get_launch_stop(client, site, key):
    base = f"/api/v1/sites/{site.public_id}/split-tests"
    created = call(client, "post", base, key, BODY)
    assert created.status_code == 201
    test_id = created.json()["id"]
    assert created.json()["status"] == "draft" and created.json()["goal"] == {
        "type": "revenue",
        "target": None,
        "page": None,
    }
    listed = call(client, "get", base, key).json()["results"]
    assert [t["id"] for t in listed] == [test_id]
    detail = call(client, "get", f"{base}/{test_id}", key).json()
    assert [v["key"] for v in detail["results"]["variants"]] == ["control", "b"]
    launched = call(client, "patch", f"{base}/{test_id}", key, {"status": "running"})
    assert launched.status_code == 200 and launched.json()["status"] == "running"
    stopped = call(client, "post", f"{base}/{test_id}/stop", key)
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"


@pytest.mark.parametrize(
    "change, needle",
    [
        ({"variants": []}, "variants"),
        ({"goal": {"type": "revenue", "target": -1}}, "target"),
        ({"randomization": "sometimes"}, "randomization"),
        ({"page": "https://evil.com/x"}, "page"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_bodies_are_400_with_the_reason(client, site, key, change, needle):
    response = call(client, "post", f"/api/v1/sites/{site.public_id}/split-tests", key, {**BODY, **change})
    assert response.status_code == 400
    assert needle in response.json()["error"]
    assert not SplitTest.objects.exists()


def test_launching_a_second_test_on_the_same_page_is_400(client, site, key, running_test):
    response = call(
        client, "post", f"/api/v1/sites/{site.public_id}/split-tests", key, {**BODY, "status": "running"}
    )
    assert response.status_code == 400 and "already running" in response.json()["error"]


def test_access_rules(client, site, other_site, running_test, owner, other_user):
    url = f"/api/v1/sites/{site.public_id}/split-tests/{running_test.pk}"
    assert call(client, "get", url).status_code == 401
    other_key = create_api_key(other_site, "x")[1]
    assert call(client, "get", url, other_key).status_code == 403
    assert call(client, "patch", url, other_key, {"status": "stopped"}).status_code == 403
    client.force_login(other_user)
    assert call(client, "get", url).status_code == 404
    Membership.objects.create(user=other_user, site=site, role=Membership.Role.VIEWER)
    assert call(client, "get", url).status_code == 200
    assert call(client, "post", url + "/stop").status_code == 403
    running_test.refresh_from_db()
    assert running_test.status == "running"


def test_unknown_test_is_404(client, site, key):
    assert call(client, "get", f"/api/v1/sites/{site.public_id}/split-tests/999", key).status_code == 404
