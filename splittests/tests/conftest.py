import pytest

from revenue.tests.conftest import fake_stripe  # noqa: F401  (shared fixture: the fake Stripe server)
from splittests.lifecycle import TestSpec, VariantSpec, create_test


def spec(**overrides) -> TestSpec:
    values = {
        "name": "Pricing page",
        "page": "/pricing",
        "randomization": "session",
        "goal_type": "revenue",
        "revenue_target": None,
        "minimum_sample": 10,
        "variants": [
            VariantSpec("control", "Control", "/pricing", 50, True),
            VariantSpec("b", "Cheaper plan first", "/pricing-b", 50, False),
        ],
    }
    values.update(overrides)
    return TestSpec(**values)


@pytest.fixture
def make_spec():
    return spec


@pytest.fixture
def running_test(site):
    return create_test(site, spec(), launch=True)
