"""Tests of splittests.statistics against independent references (SciPy's distributions and tests,
NumPy, closed forms, exact arithmetic).

The module's t and chi-square tails are SciPy's own special functions, so a closed form (for one
and two degrees of freedom) checks them too, not only SciPy against itself.
"""

import ast
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import stats

from splittests import statistics

# --------------------------------------------------------------------------------------------------
# The module itself
# --------------------------------------------------------------------------------------------------


def test_it_imports_no_django_only_the_standard_library_and_scipy():
    tree = ast.parse(Path(statistics.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {
        "__future__",
        "math",
        "collections",
        "dataclasses",
        "fractions",
        "statistics",
        "typing",
        "scipy",
    }


# --------------------------------------------------------------------------------------------------
# Tails: closed forms for one and two degrees of freedom
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "observed",
    [(5000, 4500), (510, 490), (7, 1), (100, 900), (12, 30, 18), (500, 480, 530), (1000, 1200, 950)],
)
def test_srm_p_value_matches_the_closed_forms_for_one_and_two_degrees_of_freedom(observed):
    srm = statistics.srm_check(list(observed), [1] * len(observed))
    statistic = srm.statistic
    expected = math.erfc(math.sqrt(statistic / 2)) if srm.df == 1 else math.exp(-statistic / 2)
    assert srm.p_value == pytest.approx(expected, rel=1e-12)


# --------------------------------------------------------------------------------------------------
# Conversion rate z-test
# --------------------------------------------------------------------------------------------------


counts = st.integers(min_value=0, max_value=100_000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


# --------------------------------------------------------------------------------------------------
# Welch's t-test on revenue per visitor
# --------------------------------------------------------------------------------------------------


def revenue_sample(rng, visitors, buy_rate, mean_order):
    """Per-visitor revenue in cents: mostly zeros, a heavy (log-normal) tail for buyers."""
    buyers = rng.random(visitors) < buy_rate
    orders = np.round(rng.lognormal(mean=math.log(mean_order), sigma=1.0, size=visitors))
    return np.where(buyers, orders, 0).astype(np.int64)


def test_stats_from_sums_is_exact_for_large_integers():
    # Large values with a small spread: Σx² - (Σx)²/n in floats would cancel catastrophically.
    values = [10**12 + d for d in (0, 1, 2, 3, 4, 5, 6)]
    n, total, total_sq = len(values), sum(values), sum(v * v for v in values)
    exact = Fraction(n * total_sq - total**2, n * (n - 1))
    summary = statistics.stats_from_sums(n, total, total_sq)
    assert summary.variance == float(exact) == pytest.approx(np.var(values, ddof=1))
    assert summary.mean == pytest.approx(10**12 + 3)


def test_summary_stats_edges_and_standard_error():
    assert statistics.summary_stats([]) == (0, 0.0, 0.0)
    assert statistics.summary_stats([7.0]) == (1, 7.0, 0.0)
    assert statistics.stats_from_sums(0, 0, 0) == (0, 0.0, 0.0)
    assert statistics.stats_from_sums(1, 500, 250_000) == (1, 500.0, 0.0)
    summary = statistics.summary_stats([1.0, 2.0, 3.0, 4.0])
    assert summary.standard_error == pytest.approx(stats.sem([1.0, 2.0, 3.0, 4.0]))
    assert statistics.Summary(0, 0.0, 0.0).standard_error == 0.0


summaries = st.tuples(
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=0, max_value=1e10),
    st.integers(min_value=0, max_value=10**7),
)


# --------------------------------------------------------------------------------------------------
# Outlier capping
# --------------------------------------------------------------------------------------------------


def test_revenue_cap_is_the_pooled_percentile_of_positive_values():
    a = [0, 0, 1200, 900, 150_000, 1500]
    b = [0, 800, 2000, 0, 700, 2500, 99_000]
    positives = [v for v in a + b if v > 0]
    for percentile in (50, 90, 95, 99, 99.9, 100):
        expected = np.percentile(positives, percentile)
        assert statistics.revenue_cap([a, b], percentile) == pytest.approx(expected)


def test_cap_outliers_winsorizes_the_top_only():
    values = [0, 0, -300, 100, 200, 300, 400, 100_000]
    capped = statistics.cap_outliers(values, 90)
    cap = np.percentile([100, 200, 300, 400, 100_000], 90)
    assert capped == [0.0, 0.0, -300.0, 100.0, 200.0, 300.0, 400.0, pytest.approx(cap)]
    assert statistics.cap_outliers(values, 100) == [float(v) for v in values]
    assert statistics.cap_outliers([0, 0, 0], 99) == [0.0, 0.0, 0.0]
    assert statistics.cap_outliers([], 99) == []
    assert statistics.cap_outliers([10, 500, 90], cap=100.0) == [10.0, 100.0, 90.0]
    assert statistics.revenue_cap([[0, 0], []], 99) is None


@pytest.mark.parametrize("percentile", [0, -1, 100.5, math.nan])
def test_cap_percentile_must_be_in_range(percentile):
    with pytest.raises(ValueError, match="percentile"):
        statistics.revenue_cap([[1, 2, 3]], percentile)


# --------------------------------------------------------------------------------------------------
# Chance to beat control
# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Sample ratio mismatch
# --------------------------------------------------------------------------------------------------


def test_srm_flags_5000_vs_4500_at_50_50():
    srm = statistics.srm_check([5000, 4500], [50, 50])
    ref = stats.chisquare([5000, 4500], [4750, 4750])
    assert srm.statistic == pytest.approx(ref.statistic)
    assert srm.p_value == pytest.approx(ref.pvalue, rel=1e-9)
    assert 1e-7 < srm.p_value < 1e-6  # ≈ 2.9e-7
    assert srm.is_mismatch
    assert srm.df == 1
    assert srm.expected == (4750.0, 4750.0)


@pytest.mark.parametrize(
    ("observed", "weights"),
    [
        ([5000, 4950], [50, 50]),
        ([1000, 480, 530], [50, 25, 25]),
        ([300, 900], [1, 3]),
        ([120, 80, 95, 110, 101], [1, 1, 1, 1, 1]),
        ([7, 1], [0.5, 0.5]),
    ],
)
def test_srm_matches_scipy_chisquare(observed, weights):
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    ref = stats.chisquare(observed, expected)
    srm = statistics.srm_check(observed, weights)
    assert srm.statistic == pytest.approx(ref.statistic)
    assert srm.p_value == pytest.approx(ref.pvalue, abs=1e-12, rel=1e-9)
    assert srm.is_mismatch == (ref.pvalue < 0.001)
    assert srm.df == len(observed) - 1


def test_srm_edge_cases():
    empty = statistics.srm_check([0, 0], [50, 50])
    assert (empty.p_value, empty.is_mismatch, empty.statistic) == (1.0, False, 0.0)
    single = statistics.srm_check([1234], [100])
    assert (single.p_value, single.is_mismatch, single.df) == (1.0, False, 0)
    paused = statistics.srm_check([500, 480, 0], [50, 50, 0])
    assert paused.df == 1 and not paused.is_mismatch
    assert paused.p_value == pytest.approx(stats.chisquare([500, 480], [490, 490]).pvalue)
    leaked = statistics.srm_check([500, 480, 3], [50, 50, 0])
    assert leaked.is_mismatch and leaked.p_value == 0.0
    with pytest.raises(ValueError):
        statistics.srm_check([1, 2], [1])
    with pytest.raises(ValueError):
        statistics.srm_check([1, 2], [0, 0])
    with pytest.raises(ValueError):
        statistics.srm_check([1, 2], [1, -1])
    with pytest.raises(ValueError):
        statistics.srm_check([1, -2], [1, 1])


@settings(max_examples=200, deadline=None)
@given(
    data=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10**6), st.integers(min_value=1, max_value=100)),
        min_size=1,
        max_size=6,
    ),
    scale=st.sampled_from([0.01, 1, 7, 1000]),
)
def test_srm_properties(data, scale):
    observed = [o for o, _ in data]
    weights = [w for _, w in data]
    srm = statistics.srm_check(observed, weights)
    assert 0.0 <= srm.p_value <= 1.0
    assert srm.is_mismatch == (srm.p_value < statistics.SRM_P_VALUE_THRESHOLD)
    assert statistics.srm_check(observed, [w * scale for w in weights]).p_value == pytest.approx(
        srm.p_value, abs=1e-12
    )


# --------------------------------------------------------------------------------------------------
# Sample size and duration
# --------------------------------------------------------------------------------------------------


def test_sample_size_worked_example():
    # 4% baseline, +1 point, 95% significance: the formula, not Humblytics' quoted ~9,600.
    assert statistics.sample_size_per_variant(0.04, 0.01) == 6743
    assert statistics.sample_size_per_variant(0.04, 0.01, significance=0.95, power=0.80) == 6743
    assert statistics.sample_size_per_variant(0.04, 0.01, power=0.90) == 9026
    assert statistics.test_duration_days(1200, 6743) == 12
    assert statistics.test_duration_days(1200, 9026) == 16
    assert statistics.test_duration_days(1200, 6743, variants=2) == math.ceil(13_486 / 1200)


def test_sample_size_matches_the_formula_with_scipy_quantiles():
    for p1, mde, significance, power in [
        (0.04, 0.01, 0.95, 0.8),
        (0.1, 0.02, 0.99, 0.9),
        (0.5, -0.05, 0.9, 0.8),
    ]:
        p2 = p1 + mde
        z = stats.norm.ppf(1 - (1 - significance) / 2) + stats.norm.ppf(power)
        n = z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2
        assert statistics.sample_size_per_variant(
            p1, mde, significance=significance, power=power
        ) == math.ceil(n)


def test_sample_size_relative_effect():
    # +25% of 4% is one point.
    assert statistics.sample_size_per_variant(0.04, 0.25, relative=True) == 6743
    assert statistics.sample_size_per_variant(0.04, 0.1, relative=True) > statistics.sample_size_per_variant(
        0.04, 0.25, relative=True
    )


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((0, 0.01), {}, "baseline_rate"),
        ((1, 0.01), {}, "baseline_rate"),
        ((4, 0.01), {}, "baseline_rate"),
        ((0.04, 0), {}, "minimum_detectable_effect"),
        ((0.04, math.nan), {}, "minimum_detectable_effect"),
        ((0.95, 0.05), {}, "below 100%"),
        ((0.5, 1.0), {"relative": True}, "below 100%"),
        ((0.04, -0.05), {}, "above 0%"),
        ((0.04, 0.01), {"significance": 95}, "significance"),
        ((0.04, 0.01), {"power": 1.0}, "power"),
    ],
)
def test_sample_size_validation(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        statistics.sample_size_per_variant(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((0, 100), "daily visitors"),
        ((-5, 100), "daily visitors"),
        ((100, 0), "per variant"),
        ((100, 10, 0), "variants"),
    ],
)
def test_duration_validation(args, message):
    with pytest.raises(ValueError, match=message):
        statistics.test_duration_days(*args)


def test_duration_with_fractional_daily_visitors():
    assert statistics.test_duration_days(1200.5, 6743) == math.ceil(13486 / 1200.5)
    assert statistics.test_duration_days(1000, 500) == 1
    assert statistics.test_duration_days(1000, 1000, variants=3) == 3


@settings(max_examples=100, deadline=None)
@given(
    baseline=st.floats(min_value=0.001, max_value=0.5),
    mde=st.floats(min_value=0.001, max_value=0.3),
)
def test_sample_size_monotonic(baseline, mde):
    assume(baseline + 2 * mde < 0.99)
    n = statistics.sample_size_per_variant(baseline, mde)
    assert n >= 1
    assert statistics.sample_size_per_variant(baseline, mde, power=0.9) >= n
    assert statistics.sample_size_per_variant(baseline, mde, significance=0.99) >= n
    assert statistics.sample_size_per_variant(baseline, 2 * mde) <= n


# --------------------------------------------------------------------------------------------------
# Lift
# --------------------------------------------------------------------------------------------------


def test_lift():
    assert statistics.lift(100, 125) == pytest.approx(0.25)
    assert statistics.lift(0.04, 0.03) == pytest.approx(-0.25)
    assert statistics.lift(0, 5) is None
    assert statistics.lift(0.0, 0.0) is None


# --------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------
# Comparing a challenger with the control: fixed horizon, sequential, Holm
# --------------------------------------------------------------------------------------------------


def bernoulli(conversions, visitors):
    return statistics.stats_from_sums(visitors, conversions, conversions)


def test_fixed_horizon_matches_scipys_normal_test_on_the_difference():
    a, b = bernoulli(400, 10_000), bernoulli(470, 10_000)
    result = statistics.compare(a, b, statistics.FIXED_HORIZON)
    se = math.sqrt(a.variance / a.n + b.variance / b.n)
    z = (b.mean - a.mean) / se
    assert result.p_value == pytest.approx(2 * stats.norm.sf(z), rel=1e-12)
    absolute, relative = result.intervals(0.05)
    c = stats.norm.ppf(0.975)
    assert absolute == pytest.approx((b.mean - a.mean - c * se, b.mean - a.mean + c * se), rel=1e-12)
    # Fieller: the ratios rho with (mean_b - rho mean_a)² = c² (v_b + rho² v_a), minus one.
    va, vb = a.variance / a.n, b.variance / b.n
    roots = sorted(np.roots([a.mean**2 - c**2 * va, -2 * a.mean * b.mean, b.mean**2 - c**2 * vb]).real)
    assert relative == pytest.approx((roots[0] - 1, roots[1] - 1), rel=1e-9)
    assert result.chance_to_beat_control == pytest.approx(stats.norm.cdf(z), rel=1e-12)


def growthbook_half_width(variance, n, alpha, tuning=5000):
    """GrowthBook's published sequential interval: s2 = variance · n, rho from alpha and N*."""
    rho = math.sqrt((-2 * math.log(0.05) + math.log(-2 * math.log(0.05) + 1)) / tuning)
    s2 = variance * n
    return math.sqrt(s2) * math.sqrt(
        (2 * (n * rho**2 + 1)) / (n**2 * rho**2) * math.log(math.sqrt(n * rho**2 + 1) / alpha)
    )


@pytest.mark.parametrize("visitors", [200, 2_000, 20_000, 200_000])
def test_sequential_intervals_are_growthbooks_and_agree_with_the_p_value(visitors):
    a, b = bernoulli(visitors // 20, visitors), bernoulli(visitors // 20 + visitors // 150, visitors)
    result = statistics.compare(a, b)
    absolute, _ = result.intervals(0.05)
    half = growthbook_half_width(result.variance, result.n, 0.05)
    assert absolute == pytest.approx((result.difference - half, result.difference + half), rel=1e-12)
    # Duality: at level p, both intervals touch zero (the relative one is Fieller's).
    if result.p_value < 1:
        edges = [min(abs(low), abs(high)) / (high - low) for low, high in result.intervals(result.p_value)]
        assert max(edges) == pytest.approx(0.0, abs=1e-9)
        assert any(low < 0 < high for low, high in result.intervals(result.p_value * 0.999))
        assert not any(low < 0 < high for low, high in result.intervals(result.p_value * 1.001))
    # Always wider than one fixed-horizon look at the same data.
    fixed = statistics.compare(a, b, statistics.FIXED_HORIZON)
    assert result.p_value >= fixed.p_value
    assert half > stats.norm.ppf(0.975) * math.sqrt(result.variance)


def test_the_sequential_p_value_is_the_mixture_likelihood_ratio():
    a, b = bernoulli(100, 2000), bernoulli(140, 2000)
    result = statistics.compare(a, b)
    tau2 = (-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))) / 5000 * result.variance * result.n
    v = result.variance
    estimate = result.z * math.sqrt(v)
    ratio = math.sqrt(v / (v + tau2)) * math.exp(tau2 * estimate**2 / (2 * v * (v + tau2)))
    assert result.p_value == pytest.approx(min(1, 1 / ratio), rel=1e-10)


def test_undefined_comparisons_have_no_interval_and_p_one():
    for a, b in [
        (bernoulli(0, 0), bernoulli(0, 0)),
        (bernoulli(0, 100), bernoulli(0, 100)),
        (bernoulli(1, 1), bernoulli(0, 1)),
    ]:
        result = statistics.compare(a, b)
        assert result.p_value == 1.0 and result.intervals(0.05) == (None, None)
        assert result.chance_to_beat_control == 0.5
    zero_control = statistics.compare(bernoulli(0, 100), bernoulli(5, 100))
    assert zero_control.relative is None and zero_control.intervals(0.05)[1] is None
    # A control rate not yet clearly above zero leaves the relative interval unbounded.
    assert statistics.compare(bernoulli(10, 200), bernoulli(40, 200)).intervals(0.05)[1] is None
    with pytest.raises(ValueError, match="method"):
        statistics.compare(bernoulli(1, 10), bernoulli(2, 10), "bayesian")


def brute_force_holm(p_values, alpha):
    order = sorted(range(len(p_values)), key=lambda i: p_values[i])
    rejected = set()
    for rank, index in enumerate(order):
        if p_values[index] < alpha / (len(p_values) - rank):
            rejected.add(index)
        else:
            break
    return rejected


@settings(max_examples=300, deadline=None)
@given(p_values=st.lists(st.floats(min_value=0, max_value=1), min_size=1, max_size=10))
def test_holm_rejects_what_the_step_down_procedure_rejects(p_values):
    adjusted, levels = statistics.holm(p_values, 0.05)
    assert {i for i, p in enumerate(adjusted) if p < 0.05} == brute_force_holm(p_values, 0.05)
    assert all(p <= q <= 1 for p, q in zip(p_values, adjusted, strict=True))
    # An interval at its level leaves out zero exactly when the adjusted p-value is below alpha.
    assert all((p < level) == (q < 0.05) for p, q, level in zip(p_values, adjusted, levels, strict=True))
    if len(p_values) == 1:
        assert adjusted == [min(1.0, p_values[0])] and levels == [0.05]
