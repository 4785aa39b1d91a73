"""Tests of splittests.results: the verdict of a split test (figures, guards, winner, status, to_dict)."""

import html
import json
import math
import random

import numpy as np
import pytest
from django.template import Context, Template
from hypothesis import given, settings
from hypothesis import strategies as st

from splittests import results as r
from splittests import statistics
from splittests.measure import VariantData


def payers(count, amount):
    return [amount] * count


def variant(key, name, is_control, visitors, conversions, values=None):
    values = payers(conversions, 5000) if values is None else values
    return VariantData(key, name, is_control, visitors, conversions, values, len(values))


def two_way(control_visitors, control_payers, variant_visitors, variant_payers, amount=5000):
    return [
        variant("ctl", "Control", True, control_visitors, control_payers, payers(control_payers, amount)),
        variant("b", "Variant B", False, variant_visitors, variant_payers, payers(variant_payers, amount)),
    ]


# --------------------------------------------------------------------------------------------------
# Winners
# --------------------------------------------------------------------------------------------------


def test_a_clear_winner_is_declared_with_its_interval():
    results = r.evaluate(two_way(5000, 250, 5000, 360), weights=[50, 50], minimum_sample=1000)
    b = results.variant("b")
    assert results.winner == "b" and results.outcome == "winner" and results.method == "sequential"
    assert b.confidence >= 0.95 and b.lift == pytest.approx(0.44)
    low, high = b.lift_interval
    assert 0 < low < 0.44 < high
    assert results.status_text == (
        f"Variant B wins: +44.0% revenue per visitor ({r.format_interval(b.lift_interval)}), "
        f"{r.format_confidence(b.confidence)} confidence"
    )
    assert b.progress_to_threshold == 1.0
    assert results.guards == []


def test_no_winner_below_threshold_and_the_interval_includes_zero():
    results = r.evaluate(two_way(2000, 100, 2000, 112), weights=[50, 50], minimum_sample=1000)
    b = results.variant("b")
    assert results.winner is None and results.status_text == "No significant difference yet"
    assert b.confidence < 0.95 and b.lift_interval[0] < 0 < b.lift_interval[1]
    assert b.progress_to_threshold < 1


def test_sequential_is_more_cautious_than_one_fixed_horizon_look():
    data = two_way(3000, 150, 3000, 195)
    fixed = r.evaluate(data, weights=None, minimum_sample=100, method="fixed_horizon")
    sequential = r.evaluate(data, weights=None, minimum_sample=100)
    assert fixed.winner == "b" and sequential.winner is None
    assert sequential.variant("b").confidence < fixed.variant("b").confidence


def test_control_wins_when_every_challenger_is_significantly_worse():
    data = [
        variant("ctl", "Original", True, 6000, 400),
        variant("b", "B", False, 6000, 250),
        variant("c", "C", False, 6000, 260),
    ]
    results = r.evaluate(data, weights=[1, 1, 1], minimum_sample=1000)
    assert results.winner == "ctl"
    assert results.status_text.startswith("Original wins: every variant does worse")
    data[2] = variant("c", "C", False, 6000, 395)
    assert r.evaluate(data, weights=[1, 1, 1], minimum_sample=1000).winner is None


def test_best_significant_challenger_wins():
    data = [
        variant("ctl", "Control", True, 6000, 200),
        variant("b", "B", False, 6000, 340),
        variant("c", "C", False, 6000, 400),
        variant("d", "D", False, 6000, 100),
    ]
    results = r.evaluate(data, weights={"ctl": 25, "b": 25, "c": 25, "d": 25}, minimum_sample=3000)
    assert results.winner == "c"
    assert results.status_text.startswith("C wins: ")


def test_three_or_more_variants_are_corrected_with_holm():
    pair = two_way(4000, 200, 4000, 268)
    alone = r.evaluate(pair, weights=None, minimum_sample=100).variant("b")
    others = [variant(f"x{i}", f"X{i}", False, 4000, 200) for i in range(8)]
    crowded = r.evaluate(pair + others, weights=None, minimum_sample=100).variant("b")
    p_alone = 1 - alone.confidence
    assert 1 - crowded.confidence == pytest.approx(min(1, 9 * p_alone), rel=1e-9)
    assert (crowded.lift_interval[1] - crowded.lift_interval[0]) > (
        alone.lift_interval[1] - alone.lift_interval[0]
    )


# --------------------------------------------------------------------------------------------------
# Guards: each one alone blocks a winner, and is explained
# --------------------------------------------------------------------------------------------------


def test_guard_no_winner_below_the_minimum_sample():
    results = r.evaluate(two_way(1234, 20, 1500, 200), weights=[1234, 1500], minimum_sample=2000)
    assert results.variant("b").confidence > 0.99
    assert results.winner is None and results.outcome == "collecting_data"
    assert results.status_text == "No winner yet: 1,234 of 2,000 visitors in the smallest variant"
    assert results.guards == ["Every variant needs 2,000 visitors before a winner (the fewest has 1,234)."]
    assert [v.has_minimum_sample for v in results.variants] == [False, False]


def test_guard_fixed_horizon_waits_for_the_planned_sample():
    results = r.evaluate(two_way(900, 20, 900, 90), weights=None, minimum_sample=1000, method="fixed_horizon")
    assert results.winner is None
    assert results.guards[0].startswith(
        "Fixed horizon: the result is read once every variant has its planned"
    )


def test_guard_a_control_without_conversions_never_loses():
    # The cases: 0/100 vs 5/100 buyers (Fisher's exact p = 0.059) and 0/30 vs 4/30.
    for data in (two_way(100, 0, 100, 5), two_way(30, 0, 30, 4)):
        for method in ("sequential", "fixed_horizon"):
            results = r.evaluate(data, weights=None, minimum_sample=1, minimum_conversions=0, method=method)
            assert results.winner is None
            assert results.guards == [
                "The control has no conversions yet: against a baseline of zero no lift can be "
                "measured, and a few conversions elsewhere would look like a certain win."
            ]
            assert results.variant("b").lift is None and results.variant("b").lift_interval is None


def test_guard_every_variant_needs_the_minimum_conversions():
    # Significant on its own (even sequentially), but the control has only 4 conversions.
    data = [variant("ctl", "Control", True, 800, 4), variant("b", "Variant B", False, 800, 60)]
    results = r.evaluate(data, weights=None, minimum_sample=100)
    assert results.variant("b").confidence >= 0.95
    assert results.winner is None and results.minimum_conversions == 10
    assert results.guards == [
        "Every variant needs 10 conversions before a winner (Control has 4): with fewer, the normal "
        "approximation behind confidence and intervals is not reliable."
    ]
    assert r.evaluate(data, weights=None, minimum_sample=100, minimum_conversions=4).winner == "b"


def test_guard_no_winner_during_a_sample_ratio_mismatch():
    results = r.evaluate(two_way(5000, 200, 4500, 300), weights=[50, 50], minimum_sample=1000)
    assert results.srm_warning and results.variant("b").confidence >= 0.95
    assert results.winner is None and results.outcome == "sample_ratio_mismatch"
    assert results.status_text.startswith("No winner yet: sample ratio mismatch")
    assert len(results.guards) == 1 and results.guards[0].startswith("Sample ratio mismatch (p = ")
    fine = r.evaluate(two_way(5000, 200, 4950, 300), weights=[50, 50], minimum_sample=1000)
    assert not fine.srm_warning and fine.winner == "b"


# --------------------------------------------------------------------------------------------------
# Page-view goals decide on the conversion rate
# --------------------------------------------------------------------------------------------------


def test_page_view_goals_reach_a_verdict():
    data = [variant("ctl", "Control", True, 200, 10, []), variant("b", "Variant B", False, 200, 40, [])]
    results = r.evaluate(data, weights=None, minimum_sample=100, goal="pageview")
    b = results.variant("b")
    assert results.metric == "conversion_rate"
    assert b.lift == pytest.approx(3.0) and b.confidence >= 0.95
    assert results.winner == "b"
    assert "conversion rate" in results.status_text
    # Decided on revenue, the same visitors without revenue show nothing.
    assert r.evaluate(data, weights=None, minimum_sample=100).winner is None


# --------------------------------------------------------------------------------------------------
# Capping: one rule, every figure
# --------------------------------------------------------------------------------------------------


def test_capping_applies_to_every_revenue_figure():
    rng = random.Random(7)
    control = [rng.choice([2000, 3000, 4000]) for _ in range(2000)]
    whales = [rng.choice([2000, 3000, 4000]) for _ in range(2000)] + [300_000] * 15
    data = [
        VariantData("a", "Control", True, 20_000, 2000, control, 2000),
        VariantData("b", "Variant B", False, 20_000, 2015, whales, 2030),
    ]
    uncapped = r.evaluate(data, weights=[1, 1], minimum_sample=100)
    capped = r.evaluate(data, weights=[1, 1], minimum_sample=100, cap_percentile=99)
    cap = np.percentile([v for v in control + whales if v > 0], 99)
    assert capped.revenue_cap == pytest.approx(cap)
    assert uncapped.winner == "b" and capped.winner is None
    b = capped.variant("b")
    revenue = round(sum(min(v, cap) for v in whales))
    assert b.revenue == revenue and b.uncapped_revenue == sum(whales)
    assert b.revenue_per_visitor == pytest.approx(revenue / 20_000)
    assert b.average_order_value == pytest.approx(revenue / 2030)
    control_rpv = capped.control.revenue_per_visitor
    assert b.lift == pytest.approx(b.revenue_per_visitor / control_rpv - 1)
    capped_stats = statistics.summary_stats([min(v, cap) for v in whales] + [0] * (20_000 - len(whales)))
    expected = statistics.compare(statistics.summary_stats(control + [0] * 18_000), capped_stats)
    assert b.confidence == pytest.approx(1 - expected.p_value)
    assert b.lift_interval == pytest.approx(expected.intervals(0.05)[1])
    assert capped.capped_visitors == sum(1 for v in control + whales if v > cap)


def test_the_capping_rule_is_stated_on_the_page_and_the_uncapped_total_is_not_shown():
    data = [
        VariantData("a", "Control", True, 1000, 100, [5000] * 99 + [900_000], 100),
        VariantData("b", "Variant B", False, 1000, 100, [5000] * 100, 100),
    ]
    results = r.evaluate(data, weights=None, minimum_sample=100, cap_percentile=99)
    page = Template("{% include 'splittests/detail.html' %}").render(
        Context({"results": results, "currency": "usd", "test": _Test(), "site": _Site(), "membership": None})
    )
    assert "Every revenue figure on this page uses the capped amounts" in page
    assert "$9,000.00" not in page  # the uncapped 900,000 order
    assert "1 visitor was capped" in page


class _Test:
    name, page, status, goal_type, revenue_target, minimum_sample = "T", "/p", "running", "revenue", None, 100
    cap_percentile, randomization, started_at, stopped_at, pk = 99.0, "session", None, None, 1

    def get_status_display(self):
        return "Running"

    def goal_label(self):
        return "Any Revenue"

    def days_running(self):
        return 0

    class variants:
        @staticmethod
        def all():
            return []


class _Site:
    public_id, name, domain = "abc1234", "Site", "example.com"


# --------------------------------------------------------------------------------------------------
# Figures, rounding, the API shape
# --------------------------------------------------------------------------------------------------


def test_variant_figures():
    data = [
        VariantData("ctl", "Control", True, 1000, 30, [1000, 2000, 500] + [1500] * 27, 40),
        VariantData("b", "Variant B", False, 1000, 36, [3000] * 36, 36),
    ]
    results = r.evaluate(data, weights=[50, 50], minimum_sample=100)
    control, b = results.control, results.variant("b")
    assert control.revenue == 1000 + 2000 + 500 + 1500 * 27 and isinstance(control.revenue, int)
    assert control.revenue_per_visitor == control.revenue / 1000
    assert control.conversion_rate == 0.03
    assert control.average_order_value == control.revenue / 40  # revenue / orders, not / buyers
    assert (control.lift, control.confidence, control.lift_interval, control.progress_to_threshold) == (
        None,
        None,
        None,
        None,
    )
    assert b.lift == pytest.approx(108.0 / control.revenue_per_visitor - 1)
    assert b.conversion.lift == pytest.approx(0.2)
    assert 0 < b.conversion.chance_to_beat_control < 1
    with pytest.raises(KeyError):
        results.variant("zzz")


def test_zeros_in_revenue_values_change_nothing():
    with_zeros = [
        VariantData("ctl", "Control", True, 500, 10, [0, 0, 100, 200, 0] + [300] * 8, 10),
        VariantData("b", "B", False, 500, 12, [400] * 12 + [0, 0], 12),
    ]
    without = [
        VariantData("ctl", "Control", True, 500, 10, [100, 200] + [300] * 8, 10),
        VariantData("b", "B", False, 500, 12, [400] * 12, 12),
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
    "lift_interval",
}


def test_to_dict_has_the_design_fields_and_is_json():
    results = r.evaluate(
        two_way(5000, 250, 5000, 360), weights=[50, 50], minimum_sample=2000, cap_percentile=99
    )
    payload = results.to_dict()
    assert {"variants", "srm_p_value", "winner", "method", "guards"} <= payload.keys()
    assert {"srm_warning", "status_text", "outcome", "revenue_cap", "excluded_payments"} <= payload.keys()
    for item in payload["variants"]:
        assert item.keys() >= DESIGN_VARIANT_KEYS
        assert {
            "average_order_value",
            "orders",
            "conversion_confidence",
            "progress_to_threshold",
        } <= item.keys()
    b = payload["variants"][1]
    assert b["lift_interval"][0] < b["lift"] < b["lift_interval"][1]
    intervals = b["intervals"]
    assert set(intervals) == {"conversion_rate", "revenue_per_visitor"}
    assert {"absolute_interval", "relative_interval"} <= intervals["conversion_rate"].keys()
    assert payload["winner"] == "b" and payload["method"] == "sequential" and payload["guards"] == []
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload


@pytest.mark.parametrize(
    "data",
    [
        two_way(0, 0, 0, 0),
        [variant("ctl", "Control", True, 100, 0, []), variant("b", "B", False, 100, 0, [])],
        [variant("ctl", "Control", True, 1, 1, [5000]), variant("b", "B", False, 1, 0, [])],
        two_way(1000, 50, 1000, 50),
        [variant("ctl", "Control", True, 10, 1, [100])],
    ],
    ids=["no-visitors", "all-zero", "one-visitor", "identical", "control-only"],
)
def test_degenerate_tests_do_not_crash(data):
    results = r.evaluate(data, weights=None, minimum_sample=0, minimum_conversions=0)
    assert results.winner is None
    for item in results.variants:
        if not item.is_control:
            assert 0.0 <= item.confidence < 0.95
            assert 0.0 <= item.chance_to_beat_control <= 1.0
    json.dumps(results.to_dict(), allow_nan=False)


@pytest.mark.parametrize(
    ("data", "kwargs", "message"),
    [
        ([], {}, "at least one"),
        ([variant("a", "A", False, 1, 0, [])], {}, "control"),
        ([variant("a", "A", True, 1, 0, []), variant("b", "B", True, 1, 0, [])], {}, "control"),
        ([variant("a", "A", True, 1, 0, []), variant("a", "B", False, 1, 0, [])], {}, "unique"),
        ([variant("a", "A", True, 1, 2, [])], {}, "exceed"),
        ([variant("a", "A", True, 1, 0, [10, 20])], {}, "revenue values"),
        ([variant("a", "A", True, 1, 0, [math.inf])], {}, "finite"),
        ([variant("a", "A", True, 1, 0, [])], {"weights": [1, 1]}, "weights"),
        ([variant("a", "A", True, 1, 0, [])], {"weights": {"b": 1}}, "no weight"),
        ([variant("a", "A", True, 1, 0, [])], {"minimum_sample": -1}, "minimum_sample"),
        ([variant("a", "A", True, 1, 0, [])], {"confidence_threshold": 95}, "confidence_threshold"),
        ([variant("a", "A", True, 1, 0, [5])], {"cap_percentile": 101}, "percentile"),
        ([variant("a", "A", True, 2, 0, []), variant("b", "B", False, 2, 0, [])], {"method": "x"}, "method"),
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
        (0.9495, "94.9%"),
        (0.94996, "94.9%"),
        (0.95, "95.0%"),
        (1.0, ">99.9%"),
        (0.0, "0.0%"),
    ],
)
def test_percentages_are_never_rounded_up_across_the_threshold(confidence, text):
    assert r.format_confidence(confidence) == text
    rendered = Template("{% load splittest_tags %}{{ c|confidence_pct }}").render(Context({"c": confidence}))
    assert html.unescape(rendered) == text


def test_the_race_bar_is_full_only_once_the_threshold_is_reached():
    bar = Template("{% load splittest_tags %}{{ p|bar_width }}")
    assert bar.render(Context({"p": 0.9495 / 0.95})) == "99"
    assert bar.render(Context({"p": 0.999})) == "99"
    assert bar.render(Context({"p": 1.0})) == "100"
    near = r.evaluate(two_way(2000, 100, 2000, 130), weights=None, minimum_sample=100).variant("b")
    assert near.confidence < 0.95 and near.progress_to_threshold <= 0.999
    assert r.format_interval((-0.00041, 0.2)) == "-0.1% to +20.0%"


variant_data = st.tuples(
    st.integers(min_value=0, max_value=5000),
    st.floats(min_value=0, max_value=1),
    st.lists(st.integers(min_value=1, max_value=10**7), min_size=0, max_size=60),
)


@settings(max_examples=150, deadline=None)
@given(
    raw=st.lists(variant_data, min_size=1, max_size=4),
    minimum_sample=st.integers(min_value=0, max_value=3000),
    cap=st.one_of(st.none(), st.floats(min_value=50, max_value=100)),
    method=st.sampled_from(["sequential", "fixed_horizon"]),
)
def test_evaluate_properties(raw, minimum_sample, cap, method):
    data = [
        VariantData(
            f"v{i}",
            f"V{i}",
            i == 0,
            visitors,
            math.floor(visitors * share),
            amounts[:visitors],
            len(amounts[:visitors]),
        )
        for i, (visitors, share, amounts) in enumerate(raw)
    ]
    results = r.evaluate(
        data, weights=[1] * len(data), minimum_sample=minimum_sample, cap_percentile=cap, method=method
    )
    json.dumps(results.to_dict(), allow_nan=False)
    assert 0.0 <= results.srm_p_value <= 1.0
    for item in results.variants:
        assert 0.0 <= item.conversion_rate <= 1.0
        if not item.is_control:
            assert 0.0 <= item.confidence <= 1.0 and 0.0 <= item.chance_to_beat_control <= 1.0
            assert 0.0 <= item.progress_to_threshold <= 1.0
    if results.winner is not None:
        assert results.guards == [] and results.outcome == "winner"
        assert all(v.visitors >= minimum_sample and v.conversions >= 10 for v in data)
        assert data[0].conversions > 0 and not results.srm_warning
    elif len(data) > 1 and any(v.visitors < minimum_sample for v in data):
        assert results.status_text.startswith("No winner yet")
