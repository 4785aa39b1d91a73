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
from scipy import integrate, stats

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


@pytest.mark.parametrize("difference", [1.0001, 1.1, 1.5, 2, 3, 5, 10, 31.4, 100, 1e3, 1e4, 1e6])
def test_welch_p_value_matches_the_closed_forms_for_one_and_two_degrees_of_freedom(difference):
    # Two visitors each with equal variances: df = 2, P(|T| >= t) = 1 - t / sqrt(2 + t²).
    two = statistics.welch_t_test([0.0, 2.0], [difference, difference + 2.0])
    assert two.df == 2.0
    root = math.sqrt(2 + two.t**2)
    assert two.p_value == pytest.approx(2 / (root * (root + abs(two.t))), rel=1e-12)
    # No variance on one side and two visitors on the other: df = 1, Cauchy tails.
    one = statistics.welch_t_test([0.0, 2.0], [difference] * 5)
    assert one.df == 1.0
    assert one.p_value == pytest.approx(2 / math.pi * math.atan(1 / abs(one.t)), rel=1e-12)


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


def reference_z_test(ca, na, cb, nb):
    pa, pb = ca / na, cb / nb
    pooled = (ca + cb) / (na + nb)
    z = (pb - pa) / math.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    return z, 2 * stats.norm.sf(abs(z))


@pytest.mark.parametrize(
    ("ca", "na", "cb", "nb"),
    [
        (40, 1000, 50, 1000),
        (400, 10_000, 460, 10_000),
        (3, 17, 9, 20),
        (1, 1_000_000, 30, 1_000_000),
        (50, 80, 20, 90),
    ],
)
def test_two_proportion_test_matches_reference(ca, na, cb, nb):
    z, p = reference_z_test(ca, na, cb, nb)
    result = statistics.two_proportion_test(ca, na, cb, nb)
    assert result.z == pytest.approx(z, rel=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9, abs=1e-15)
    assert result.confidence == pytest.approx(1 - p, abs=1e-12)
    assert result.rate_a == ca / na and result.rate_b == cb / nb


@pytest.mark.parametrize(
    "args",
    [(0, 0, 0, 0), (0, 0, 5, 10), (5, 10, 0, 0), (0, 100, 0, 120), (100, 100, 120, 120), (0, 1, 0, 1)],
)
def test_two_proportion_test_degenerate_inputs_give_p_one(args):
    result = statistics.two_proportion_test(*args)
    assert result.p_value == 1.0
    assert result.confidence == 0.0
    assert result.z == 0.0


def test_two_proportion_test_rejects_impossible_counts():
    with pytest.raises(ValueError, match="exceed"):
        statistics.two_proportion_test(11, 10, 1, 10)
    with pytest.raises(ValueError, match="non-negative"):
        statistics.two_proportion_test(-1, 10, 1, 10)


counts = st.integers(min_value=0, max_value=100_000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@settings(max_examples=200, deadline=None)
@given(a=counts, b=counts)
def test_two_proportion_test_properties(a, b):
    forward = statistics.two_proportion_test(a[0], a[1], b[0], b[1])
    backward = statistics.two_proportion_test(b[0], b[1], a[0], a[1])
    assert 0.0 <= forward.p_value <= 1.0
    assert forward.confidence == pytest.approx(1 - forward.p_value)
    assert forward.p_value == pytest.approx(backward.p_value, abs=1e-15)
    assert forward.z == pytest.approx(-backward.z, abs=1e-12)


# --------------------------------------------------------------------------------------------------
# Welch's t-test on revenue per visitor
# --------------------------------------------------------------------------------------------------


def revenue_sample(rng, visitors, buy_rate, mean_order):
    """Per-visitor revenue in cents: mostly zeros, a heavy (log-normal) tail for buyers."""
    buyers = rng.random(visitors) < buy_rate
    orders = np.round(rng.lognormal(mean=math.log(mean_order), sigma=1.0, size=visitors))
    return np.where(buyers, orders, 0).astype(np.int64)


@pytest.mark.parametrize("seed", range(8))
def test_welch_t_test_matches_scipy_on_revenue_like_data(seed):
    rng = np.random.default_rng(seed)
    a = revenue_sample(rng, int(rng.integers(50, 5000)), 0.04, 5000)
    b = revenue_sample(rng, int(rng.integers(50, 5000)), 0.05, 5500)
    ref = stats.ttest_ind(b, a, equal_var=False)
    ours = statistics.welch_t_test(a.tolist(), b.tolist())
    assert ours.t == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-10, rel=1e-8)
    assert ours.df == pytest.approx(ref.df, rel=1e-10)
    assert ours.confidence == pytest.approx(1 - ref.pvalue, abs=1e-10)
    assert ours.mean_a == pytest.approx(a.mean()) and ours.var_b == pytest.approx(b.var(ddof=1))


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0, 10.0]),
        ([0, 0, 0, 0, 0, 12_000], [0, 0, 5000, 0, 0, 0, 7000, 0]),
        ([10.5, 10.25, 10.75], [3.0, 1000.0]),
        ([0.0, 0.0, 1.0], [5.0, 5.0, 5.0, 5.0]),
    ],
)
def test_welch_t_test_matches_scipy_on_small_samples(a, b):
    ref = stats.ttest_ind(b, a, equal_var=False)
    ours = statistics.welch_t_test(a, b)
    assert ours.t == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-10)
    assert ours.df == pytest.approx(ref.df, rel=1e-10)


def test_welch_from_sums_of_non_zero_values_equals_the_full_data():
    rng = np.random.default_rng(42)
    a = revenue_sample(rng, 3000, 0.03, 4000)
    b = revenue_sample(rng, 3500, 0.05, 4000)

    def from_non_zero(values):
        paid = [int(v) for v in values if v]
        return statistics.stats_from_sums(len(values), sum(paid), sum(v * v for v in paid))

    sa, sb = from_non_zero(a), from_non_zero(b)
    assert sa == pytest.approx(tuple(statistics.summary_stats(a.tolist())), rel=1e-12)
    n, mean, var = sb
    assert (n, mean, var) == (len(b), pytest.approx(b.mean()), pytest.approx(b.var(ddof=1)))
    from_stats = statistics.welch_from_stats(sa.mean, sa.variance, sa.n, sb.mean, sb.variance, sb.n)
    direct = statistics.welch_t_test(a.tolist(), b.tolist())
    assert from_stats.p_value == pytest.approx(direct.p_value, rel=1e-9)
    assert from_stats.t == pytest.approx(direct.t, rel=1e-9)


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


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([], []),
        ([], [1.0, 2.0]),
        ([5.0], [1.0, 2.0, 3.0]),
        ([0.0] * 50, [0.0] * 70),
        ([3.0, 3.0, 3.0], [3.0, 3.0]),
        ([1.0, 5.0, 9.0], [1.0, 5.0, 9.0]),
    ],
)
def test_welch_degenerate_inputs_do_not_crash(a, b):
    result = statistics.welch_t_test(a, b)
    assert 0.0 <= result.p_value <= 1.0
    assert math.isfinite(result.t) and math.isfinite(result.df)
    if a == b or len(a) < 2 or len(b) < 2 or not any(a + b):
        assert result.p_value == pytest.approx(1.0)
        assert result.confidence == pytest.approx(0.0)


def test_welch_from_stats_validates():
    with pytest.raises(ValueError):
        statistics.welch_from_stats(1.0, -1.0, 10, 1.0, 1.0, 10)
    with pytest.raises(ValueError):
        statistics.welch_from_stats(math.nan, 1.0, 10, 1.0, 1.0, 10)
    with pytest.raises(ValueError):
        statistics.welch_from_stats(1.0, 1.0, -1, 1.0, 1.0, 10)


summaries = st.tuples(
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=0, max_value=1e10),
    st.integers(min_value=0, max_value=10**7),
)


@settings(max_examples=300, deadline=None)
@given(a=summaries, b=summaries)
def test_welch_properties(a, b):
    forward = statistics.welch_from_stats(a[0], a[1], a[2], b[0], b[1], b[2])
    backward = statistics.welch_from_stats(b[0], b[1], b[2], a[0], a[1], a[2])
    assert 0.0 <= forward.p_value <= 1.0
    assert 0.0 <= forward.confidence <= 1.0
    assert forward.p_value == pytest.approx(backward.p_value, abs=1e-12)
    assert forward.t == pytest.approx(-backward.t)
    if forward.df > 0:
        assert forward.p_value == pytest.approx(2 * stats.t.sf(abs(forward.t), forward.df), abs=1e-9)


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


def test_chance_to_beat_control_formula():
    assert statistics.chance_to_beat_control(100, 5, 110, 12) == pytest.approx(
        stats.norm.cdf(10 / math.hypot(5, 12))
    )
    assert statistics.chance_to_beat_control(100, 5, 90, 5) == pytest.approx(
        stats.norm.cdf(-10 / math.hypot(5, 5))
    )
    assert statistics.chance_to_beat_control(3, 0, 3, 0) == 0.5
    assert statistics.chance_to_beat_control(0, 0, 0, 0) == 0.5


def test_conversion_chance_uses_beta_posteriors_with_uniform_prior():
    ca, na, cb, nb = 40, 1000, 55, 1000
    post_a, post_b = stats.beta(1 + ca, 1 + na - ca), stats.beta(1 + cb, 1 + nb - cb)
    expected = stats.norm.cdf((post_b.mean() - post_a.mean()) / math.sqrt(post_a.var() + post_b.var()))
    assert statistics.conversion_chance_to_beat_control(ca, na, cb, nb) == pytest.approx(expected, rel=1e-12)
    # The normal approximation is close to the exact P(B > A) of the Beta posteriors.
    exact, _ = integrate.quad(lambda x: post_a.pdf(x) * post_b.sf(x), 0, 0.2, limit=200)
    assert statistics.conversion_chance_to_beat_control(ca, na, cb, nb) == pytest.approx(exact, abs=0.01)
    assert statistics.conversion_chance_to_beat_control(0, 0, 0, 0) == pytest.approx(0.5)


def test_revenue_chance_uses_mean_and_standard_error():
    control = statistics.stats_from_sums(1000, 500_000, 20_000_000_000)
    variant = statistics.stats_from_sums(1000, 560_000, 22_000_000_000)
    expected = stats.norm.cdf(
        (variant.mean - control.mean) / math.sqrt(control.variance / 1000 + variant.variance / 1000)
    )
    assert statistics.revenue_chance_to_beat_control(control, variant) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(a=counts, b=counts)
def test_chance_properties(a, b):
    forward = statistics.conversion_chance_to_beat_control(a[0], a[1], b[0], b[1])
    backward = statistics.conversion_chance_to_beat_control(b[0], b[1], a[0], a[1])
    assert 0.0 <= forward <= 1.0
    assert forward + backward == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(a=summaries, b=summaries)
def test_revenue_chance_properties(a, b):
    sa, sb = statistics.Summary(a[2], a[0], a[1]), statistics.Summary(b[2], b[0], b[1])
    forward = statistics.revenue_chance_to_beat_control(sa, sb)
    assert 0.0 <= forward <= 1.0
    assert forward + statistics.revenue_chance_to_beat_control(sb, sa) == pytest.approx(1.0)


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
