import datetime as dt

import pytest
from django.utils import timezone

from splittests import lifecycle
from splittests.assignment import assign_session_level, assign_user_level, pick, unit_interval
from splittests.lifecycle import InvalidTest, VariantSpec, create_test, launch_test, stop_test
from splittests.models import SplitTest


def test_create_draft_and_launch(site, make_spec):
    test = create_test(site, make_spec())
    assert test.status == "draft" and test.started_at is None
    assert [v.key for v in test.variants.all()] == ["control", "b"]
    launch_test(test)
    assert test.status == "running" and test.started_at is not None


@pytest.mark.parametrize(
    "overrides, field",
    [
        ({"name": " "}, "name"),
        ({"page": "pricing"}, "page"),
        ({"page": "https://evil.com/pricing"}, "page"),
        ({"randomization": "visitor"}, "randomization"),
        ({"goal_type": "clicks"}, "goal"),
        ({"revenue_target": -5}, "goal"),
        ({"goal_type": "pageview", "goal_page": ""}, "goal_page"),
        ({"variants": [VariantSpec("control", "C", "/pricing", 50, True)]}, "variants"),
        (
            {
                "variants": [
                    VariantSpec("control", "C", "/pricing", 50, True),
                    VariantSpec("b", "B", "/b", 50, True),
                ]
            },
            "variants",
        ),
        (
            {
                "variants": [
                    VariantSpec("control", "C", "/pricing", 0, True),
                    VariantSpec("b", "B", "/b", 0, False),
                ]
            },
            "variants",
        ),
        (
            {
                "variants": [
                    VariantSpec("control", "C", "/other", 50, True),
                    VariantSpec("b", "B", "/b", 50, False),
                ]
            },
            "variants",
        ),
        (
            {
                "variants": [
                    VariantSpec("control", "C", "/pricing", 50, True),
                    VariantSpec("b", "B", "https://evil.com/b", 50, False),
                ]
            },
            "variants[1].url",
        ),
        (
            {
                "variants": [
                    VariantSpec("control", "C", "/pricing", 50, True),
                    VariantSpec("b c", "B", "/b", 50, False),
                ]
            },
            "variants[1].key",
        ),
        (
            {
                "variants": [
                    VariantSpec("control", "C", "/pricing", 50, True),
                    VariantSpec("control", "B", "/b", 50, False),
                ]
            },
            "variants",
        ),
    ],
)
def test_invalid_definitions_name_the_problem(site, make_spec, overrides, field):
    with pytest.raises(InvalidTest) as caught:
        create_test(site, make_spec(**overrides))
    assert field in caught.value.errors
    assert not SplitTest.objects.exists()


def test_variant_urls_may_be_absolute_on_the_sites_domain(site, make_spec):
    test = create_test(
        site,
        make_spec(
            variants=[
                VariantSpec("control", "C", "https://www.example.com/pricing", 50, True),
                VariantSpec("b", "B", "https://shop.example.com/pricing-b", 50, False),
            ]
        ),
    )
    assert {v.path for v in test.variants.all()} == {"/pricing", "/pricing-b"}


def test_two_running_tests_on_one_page_are_refused(site, make_spec, running_test):
    with pytest.raises(InvalidTest, match="already running"):
        create_test(site, make_spec(name="Second"), launch=True)
    draft = create_test(site, make_spec(name="Second"))
    with pytest.raises(InvalidTest, match="already running"):
        launch_test(draft)
    stop_test(running_test)
    launch_test(draft)
    assert draft.is_running()


def test_stopping_is_idempotent(running_test):
    stop_test(running_test)
    stopped_at = running_test.stopped_at
    stop_test(running_test)
    assert running_test.stopped_at == stopped_at and running_test.status == "stopped"


def test_only_drafts_launch(running_test):
    stop_test(running_test)
    with pytest.raises(InvalidTest, match="only a draft"):
        launch_test(running_test)


def test_auto_stop_after_n_days(site, make_spec):
    test = create_test(site, make_spec(auto_stop_days=7), launch=True)
    assert lifecycle.stop_expired_tests(timezone.now() + dt.timedelta(days=6)) == 0
    assert lifecycle.stop_expired_tests(timezone.now() + dt.timedelta(days=7, minutes=1)) == 1
    test.refresh_from_db()
    assert test.status == "stopped"


def test_pick_follows_the_weights():
    weighted = [("control", 20), ("b", 80)]
    assert pick(weighted, 0.0) == "control"
    assert pick(weighted, 0.199) == "control"
    assert pick(weighted, 0.2) == "b"
    assert pick(weighted, 0.999) == "b"
    with pytest.raises(ValueError):
        pick([("a", 0)], 0.5)


def test_user_level_assignment_is_sticky_and_balanced():
    weighted = [("control", 50), ("b", 50)]
    assert assign_user_level(1, "abc", weighted) == assign_user_level(1, "abc", weighted)
    counts = {"control": 0, "b": 0}
    for n in range(4000):
        counts[assign_user_level(1, f"visitor-{n}", weighted)] += 1
    assert 1800 < counts["b"] < 2200
    assert 0 <= unit_interval("x") < 1


def test_session_level_keeps_the_variant_already_shown():
    weighted = [("control", 50), ("b", 50)]
    assert all(assign_session_level("b", weighted) == "b" for _ in range(20))
    drawn = {assign_session_level(None, weighted) for _ in range(200)}
    assert drawn == {"control", "b"}
