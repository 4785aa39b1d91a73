"""Tests of splittests.results: the verdict of a split test (figures, winner, status, to_dict)."""

import json
import math
import random
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from splittests import results as r
from splittests import statistics
from splittests.measure import VariantData
from splittests.tests.test_statistics import reference_z_test

# --------------------------------------------------------------------------------------------------
# evaluate(): capping outliers
# --------------------------------------------------------------------------------------------------


def test_capping_removes_a_win_made_by_a_few_whales():
    rng = random.Random(7)
    control = [rng.choice([2000, 3000, 4000]) for _ in range(2000)]
    variant = [rng.choice([2000, 3000, 4000]) for _ in range(2000)] + [300_000] * 15
    data = [
        VariantData("a", "Control", True, 20_000, 2000, control),
        VariantData("b", "Variant B", False, 20_000, 2015, variant),
    ]
    uncapped = r.evaluate(data, weights=[1, 1], minimum_sample=100)
    capped = r.evaluate(data, weights=[1, 1], minimum_sample=100, cap_percentile=99)
    assert uncapped.winner == "b"
    assert capped.winner is None
    assert capped.revenue_cap == pytest.approx(np.percentile([v for v in control + variant if v > 0], 99))
    # Displayed money stays real, only the statistics use the capped values.
    assert capped.variant("b").revenue == sum(variant)
    assert capped.variant("b").revenue_per_visitor == uncapped.variant("b").revenue_per_visitor
    assert capped.variant("b").confidence < 0.95 <= uncapped.variant("b").confidence


# --------------------------------------------------------------------------------------------------
# evaluate(): the results page
# --------------------------------------------------------------------------------------------------


def payers(count, amount):
    return [amount] * count


def two_way(control_visitors, control_payers, variant_visitors, variant_payers, amount=5000):
    return [
        VariantData("ctl", "Control", True, control_visitors, control_payers, payers(control_payers, amount)),
        VariantData(
            "b", "Variant B", False, variant_visitors, variant_payers, payers(variant_payers, amount)
        ),
    ]


def test_winner_at_95_percent_after_minimum_sample():
    results = r.evaluate(two_way(2000, 100, 2000, 134), weights=[50, 50], minimum_sample=2000)
    b = results.variant("b")
    assert 0.95 <= b.confidence < 0.999 and b.lift > 0
    assert results.winner == "b"
    assert results.outcome == "winner"
    assert re.fullmatch(r"Variant B wins with \d{2}\.\d% confidence", results.status_text)
    assert (
        results.status_text == f"Variant B wins with {math.floor(b.confidence * 1000) / 10:.1f}% confidence"
    )
    assert b.progress_to_threshold == 1.0


def test_no_winner_below_minimum_sample_even_at_high_confidence():
    results = r.evaluate(two_way(1234, 20, 1500, 200), weights=[1234, 1500], minimum_sample=2000)
    assert results.variant("b").confidence > 0.999
    assert results.winner is None
    assert results.outcome == "collecting_data"
    assert results.status_text == "Collecting data: 1,234 of 2,000 visitors per variant"
    assert [v.has_minimum_sample for v in results.variants] == [False, False]


def test_no_winner_below_threshold():
    results = r.evaluate(two_way(2000, 100, 2000, 112), weights=[50, 50], minimum_sample=1000)
    b = results.variant("b")
    assert b.confidence < 0.95
    assert results.winner is None
    assert results.status_text == "No significant difference yet"
    assert b.progress_to_threshold == pytest.approx(b.confidence / 0.95)


def test_confidence_threshold_is_configurable():
    data = two_way(2000, 100, 2000, 125)
    confidence = r.evaluate(data, weights=None, minimum_sample=0).variant("b").confidence
    assert 0.8 < confidence < 0.95
    assert r.evaluate(data, weights=None, minimum_sample=0).winner is None
    assert r.evaluate(data, weights=None, minimum_sample=0, confidence_threshold=0.8).winner == "b"


def test_control_wins_when_every_challenger_is_significantly_worse():
    data = [
        VariantData("ctl", "Original", True, 3000, 200, payers(200, 5000)),
        VariantData("b", "B", False, 3000, 150, payers(150, 5000)),
        VariantData("c", "C", False, 3000, 155, payers(155, 5000)),
    ]
    results = r.evaluate(data, weights=[1, 1, 1], minimum_sample=1000)
    assert results.winner == "ctl"
    worst = min(results.variant("b").confidence, results.variant("c").confidence)
    assert results.status_text == f"Original wins with {math.floor(worst * 1000) / 10:.1f}% confidence"
    # One challenger not significantly worse: no winner.
    data[2] = VariantData("c", "C", False, 3000, 195, payers(195, 5000))
    assert r.evaluate(data, weights=[1, 1, 1], minimum_sample=1000).winner is None


def test_best_significant_challenger_wins():
    data = [
        VariantData("ctl", "Control", True, 3000, 100, payers(100, 5000)),
        VariantData("b", "B", False, 3000, 170, payers(170, 5000)),
        VariantData("c", "C", False, 3000, 200, payers(200, 5000)),
        VariantData("d", "D", False, 3000, 50, payers(50, 5000)),
    ]
    results = r.evaluate(data, weights={"ctl": 25, "b": 25, "c": 25, "d": 25}, minimum_sample=3000)
    assert results.winner == "c"
    assert results.status_text.startswith("C wins with ")


def test_every_variant_needs_the_minimum_sample():
    results = r.evaluate(two_way(5000, 100, 1999, 160), weights=[5000, 1999], minimum_sample=2000)
    assert results.winner is None
    assert results.status_text == "Collecting data: 1,999 of 2,000 visitors per variant"
    assert [v.has_minimum_sample for v in results.variants] == [True, False]


def test_srm_is_reported_and_mentioned():
    results = r.evaluate(two_way(5000, 200, 4500, 190), weights=[50, 50], minimum_sample=1000)
    assert results.srm_warning
    assert results.srm_p_value == pytest.approx(stats.chisquare([5000, 4500]).pvalue)
    assert "sample ratio mismatch" in results.status_text
    fine = r.evaluate(two_way(5000, 200, 4950, 190), weights=[50, 50], minimum_sample=1000)
    assert not fine.srm_warning
    assert "mismatch" not in fine.status_text
    uneven = r.evaluate(two_way(3000, 100, 1000, 40), weights=[75, 25], minimum_sample=100)
    assert not uneven.srm_warning and uneven.srm_p_value == pytest.approx(1.0)


def test_variant_figures():
    data = [
        VariantData("ctl", "Control", True, 1000, 30, [1000, 2000, 500] + [1500] * 27),
        VariantData("b", "Variant B", False, 1000, 36, [3000] * 36),
    ]
    results = r.evaluate(data, weights=[50, 50], minimum_sample=100)
    control, b = results.control, results.variant("b")
    assert control.revenue == 1000 + 2000 + 500 + 1500 * 27
    assert isinstance(control.revenue, int)
    assert control.revenue_per_visitor == control.revenue / 1000
    assert control.conversion_rate == 0.03
    assert control.average_order_value == control.revenue / 30
    assert (
        control.lift,
        control.confidence,
        control.chance_to_beat_control,
        control.progress_to_threshold,
    ) == (
        None,
        None,
        None,
        None,
    )
    assert b.lift == pytest.approx((108.0 - control.revenue_per_visitor) / control.revenue_per_visitor)
    assert b.conversion_lift == pytest.approx(0.2)
    reference = stats.ttest_ind(
        [3000] * 36 + [0] * 964, [1000, 2000, 500] + [1500] * 27 + [0] * 970, equal_var=False
    )
    assert b.confidence == pytest.approx(1 - reference.pvalue, abs=1e-10)
    _z, p = reference_z_test(30, 1000, 36, 1000)
    assert b.conversion_confidence == pytest.approx(1 - p, abs=1e-12)
    assert b.chance_to_beat_control == pytest.approx(
        statistics.revenue_chance_to_beat_control(
            statistics.summary_stats([1000, 2000, 500] + [1500] * 27 + [0] * 970),
            statistics.summary_stats([3000] * 36 + [0] * 964),
        )
    )
    assert 0.5 < b.conversion_chance_to_beat_control < 1
    with pytest.raises(KeyError):
        results.variant("zzz")


def test_zeros_in_revenue_values_change_nothing():
    with_zeros = [
        VariantData("ctl", "Control", True, 500, 10, [0, 0, 100, 200, 0] + [300] * 8),
        VariantData("b", "B", False, 500, 12, [400] * 12 + [0, 0]),
    ]
    without = [
        VariantData("ctl", "Control", True, 500, 10, [100, 200] + [300] * 8),
        VariantData("b", "B", False, 500, 12, [400] * 12),
    ]
    assert r.evaluate(with_zeros, weights=None, minimum_sample=1) == r.evaluate(
        without, weights=None, minimum_sample=1
    )


DESIGN_VARIANT_KEYS = {
    "key",
    "name",
    "is_control",
    "visitors",
    "conversions",
    "conversion_rate",
    "revenue",
    "revenue_per_visitor",
    "lift",
    "confidence",
    "chance_to_beat_control",
}


def test_to_dict_has_the_design_fields_and_is_json():
    results = r.evaluate(
        two_way(2000, 100, 2000, 160), weights=[50, 50], minimum_sample=2000, cap_percentile=99
    )
    payload = results.to_dict()
    assert {"variants", "srm_p_value", "winner"} <= payload.keys()
    assert {"srm_warning", "status_text", "outcome", "revenue_cap"} <= payload.keys()
    for variant in payload["variants"]:
        assert variant.keys() >= DESIGN_VARIANT_KEYS
        assert {
            "average_order_value",
            "conversion_confidence",
            "has_minimum_sample",
            "progress_to_threshold",
        } <= (variant.keys())
    assert payload["winner"] == "b"
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload


@pytest.mark.parametrize(
    "data",
    [
        two_way(0, 0, 0, 0),
        [
            VariantData("ctl", "Control", True, 100, 0, []),
            VariantData("b", "B", False, 100, 0, []),
        ],
        [
            VariantData("ctl", "Control", True, 1, 1, [5000]),
            VariantData("b", "B", False, 1, 0, []),
        ],
        two_way(1000, 50, 1000, 50),
        [VariantData("ctl", "Control", True, 10, 1, [100])],
    ],
    ids=["no-visitors", "all-zero", "one-visitor", "identical", "control-only"],
)
def test_degenerate_tests_do_not_crash(data):
    results = r.evaluate(data, weights=None, minimum_sample=0)
    assert results.winner is None
    assert results.status_text == "No significant difference yet"
    for variant in results.variants:
        if not variant.is_control:
            assert variant.confidence == pytest.approx(0.0)
            assert 0.0 <= variant.conversion_confidence < 0.95
            assert variant.chance_to_beat_control == pytest.approx(0.5)
    json.dumps(results.to_dict(), allow_nan=False)


def test_no_visitors_shows_collecting_data():
    results = r.evaluate(two_way(0, 0, 0, 0), weights=[50, 50], minimum_sample=100)
    assert results.status_text == "Collecting data: 0 of 100 visitors per variant"
    assert results.variants[0].revenue_per_visitor == 0.0
    assert results.variants[0].average_order_value is None
    assert results.variants[1].lift is None
    assert results.srm_p_value == 1.0 and not results.srm_warning


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        ([], {}, "at least one"),
        ([VariantData("a", "A", False, 1, 0, [])], {}, "control"),
        (
            [VariantData("a", "A", True, 1, 0, []), VariantData("b", "B", True, 1, 0, [])],
            {},
            "control",
        ),
        (
            [VariantData("a", "A", True, 1, 0, []), VariantData("a", "B", False, 1, 0, [])],
            {},
            "unique",
        ),
        ([VariantData("a", "A", True, 1, 2, [])], {}, "exceed"),
        ([VariantData("a", "A", True, 1, 0, [10, 20])], {}, "revenue values"),
        ([VariantData("a", "A", True, 1, 0, [math.inf])], {}, "finite"),
        ([VariantData("a", "A", True, 1, 0, [])], {"weights": [1, 1]}, "weights"),
        ([VariantData("a", "A", True, 1, 0, [])], {"weights": {"b": 1}}, "no weight"),
        ([VariantData("a", "A", True, 1, 0, [])], {"minimum_sample": -1}, "minimum_sample"),
        ([VariantData("a", "A", True, 1, 0, [])], {"confidence_threshold": 95}, "confidence_threshold"),
        ([VariantData("a", "A", True, 1, 0, [5])], {"cap_percentile": 0}, "percentile"),
    ],
)
def test_evaluate_validates(data, kwargs, message):
    arguments = {"weights": None, "minimum_sample": 0} | kwargs
    with pytest.raises(ValueError, match=message):
        r.evaluate(data, **arguments)


@pytest.mark.parametrize(
    ("confidence", "text"),
    [
        (0.9712, "97.1%"),
        (0.94996, "94.9%"),
        (0.95, "95.0%"),
        (0.99999, ">99.9%"),
        (1.0, ">99.9%"),
        (0.0, "0.0%"),
    ],
)
def test_confidence_is_shown_rounded_down(confidence, text):
    assert r._format_confidence(confidence) == text


variant_data = st.builds(
    lambda visitors, conv_share, payer_share, amounts: (visitors, conv_share, payer_share, amounts),
    st.integers(min_value=0, max_value=5000),
    st.floats(min_value=0, max_value=1),
    st.floats(min_value=0, max_value=1),
    st.lists(st.integers(min_value=1, max_value=10**7), min_size=0, max_size=60),
)


@settings(max_examples=150, deadline=None)
@given(
    raw=st.lists(variant_data, min_size=1, max_size=4),
    minimum_sample=st.integers(min_value=0, max_value=3000),
    cap=st.one_of(st.none(), st.floats(min_value=50, max_value=100)),
)
def test_evaluate_properties(raw, minimum_sample, cap):
    data = []
    for index, (visitors, conv_share, _payer_share, amounts) in enumerate(raw):
        values = amounts[:visitors]
        data.append(
            VariantData(
                f"v{index}", f"V{index}", index == 0, visitors, math.floor(visitors * conv_share), values
            )
        )
    results = r.evaluate(data, weights=[1] * len(data), minimum_sample=minimum_sample, cap_percentile=cap)
    payload = results.to_dict()
    json.dumps(payload, allow_nan=False)
    assert 0.0 <= results.srm_p_value <= 1.0
    for variant in results.variants:
        assert 0.0 <= variant.conversion_rate <= 1.0
        if not variant.is_control:
            assert 0.0 <= variant.confidence <= 1.0
            assert 0.0 <= variant.conversion_confidence <= 1.0
            assert 0.0 <= variant.chance_to_beat_control <= 1.0
            assert 0.0 <= variant.progress_to_threshold <= 1.0
    if results.winner is not None:
        assert all(v.visitors >= minimum_sample for v in data)
        assert results.outcome == "winner"
    elif any(v.visitors < minimum_sample for v in data):
        assert results.status_text.startswith("Collecting data")
