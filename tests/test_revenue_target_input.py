"""A revenue target too large for the database, or NaN/Infinity, is a 400 or a form error, never a 500
(issue 14). Goes with the two-line validation edits in splittests/api.py and splittests/forms.py."""

import json

import pytest

from tests.test_bad_input import api, key  # noqa: F401  (fixtures)


def split_test_body(target: str) -> str:
    body = {
        "name": "t",
        "page": "/pricing",
        "randomization": "session",
        "goal": {"type": "revenue", "target": 1},
        "variants": [
            {"key": "control", "name": "c", "url": "/pricing", "weight": 50, "is_control": True},
            {"key": "b", "name": "b", "url": "/pricing-b", "weight": 50, "is_control": False},
        ],
        "status": "draft",
    }
    return json.dumps(body).replace('"target": 1', f'"target": {target}')


@pytest.mark.parametrize(
    "target", ["99999999999999999999999", str(10**30), "1e400", "NaN", "Infinity", "-Infinity", "9" * 5000]
)
def test_a_revenue_target_too_large_or_not_a_number_is_a_400_in_the_api(api, site, target):  # noqa: F811
    response = api("post", f"/api/v1/sites/{site.public_id}/split-tests", split_test_body(target))
    assert response.status_code == 400, response.content[:300]
    assert response.json()["error"]


@pytest.mark.parametrize("target", ["NaN", "Infinity", "-inf", "1e400", "99999999999999999999", "sNaN"])
def test_a_revenue_target_too_large_or_not_a_number_is_a_form_error(client_as_owner, site, target):
    from splittests.forms import SplitTestForm

    form = SplitTestForm(
        {"goal_type": "revenue", "revenue_mode": "target", "revenue_target": target}, currency="usd"
    )
    assert not form.is_valid()
    assert form.errors["revenue_target"]
