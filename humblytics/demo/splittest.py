"""The demo's running split test: the pricing page, monthly plan first against annual plan first."""

from __future__ import annotations

import datetime as dt

from humblytics.demo.shop import TEST_NAME, TEST_PAGE, TEST_VARIANT_PAGE
from splittests.lifecycle import TestSpec, VariantSpec, create_test
from splittests.models import SplitTest
from tracking.models import Site


def create_split_test(site: Site, started_at: dt.datetime) -> SplitTest:
    spec = TestSpec(
        name=TEST_NAME,
        page=TEST_PAGE,
        randomization=SplitTest.Randomization.SESSION,
        goal_type=SplitTest.GoalType.REVENUE,
        revenue_target=None,
        variants=[
            VariantSpec(key="control", name="Monthly plan first", url=TEST_PAGE, weight=50, is_control=True),
            VariantSpec(
                key="b", name="Annual plan first", url=TEST_VARIANT_PAGE, weight=50, is_control=False
            ),
        ],
    )
    test = create_test(site, spec, launch=True)
    # Launching stamps "now"; the demo's test has been running for a while already.
    SplitTest.objects.filter(pk=test.pk).update(started_at=started_at)
    test.refresh_from_db()
    return test


def find_split_test(site: Site) -> SplitTest | None:
    return SplitTest.objects.filter(site=site, name=TEST_NAME).first()
