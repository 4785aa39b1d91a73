"""Tests of splittests.results against independent references (SciPy, NumPy, exact arithmetic).

SciPy and NumPy are test-only dependencies: the module under test must not import them.
"""

import ast
import json
import math
import random
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate, special, stats

from splittests import results as r
from splittests.results import VariantData

# --------------------------------------------------------------------------------------------------
# The module itself
# --------------------------------------------------------------------------------------------------


def test_runtime_imports_only_the_standard_library():
    tree = ast.parse(Path(r.__file__).read_text())
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
    }


# --------------------------------------------------------------------------------------------------
# Special functions
# --------------------------------------------------------------------------------------------------

T_DFS = [
    1,
    1.5,
    2,
    2.5,
    3,
    4,
    5,
    7.3,
    10,
    17.8,
    30,
    50,
    100,
    250.5,
    1000,
    4321.7,
    10_000,
    50_000,
    99_999,
    100_000,
]
T_DFS += [123_456.7, 500_000, 1_000_000]
T_VALUES = [0, 1e-9, 1e-4, 0.01, 0.1, 0.3, 0.5, 0.8, 1, 1.2, 1.5, 1.7, 1.73, 1.7320508, 1.75, 1.96]
T_VALUES += [2, 2.5, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50, 100, 1e3, 1e5]


@pytest.mark.parametrize("df", T_DFS)
def test_student_t_sf_matches_scipy_over_a_grid(df):
    for t in T_VALUES + [-t for t in T_VALUES]:
        ours = r.student_t_sf(t, df)
        ref = stats.t.sf(t, df)
        assert ours == pytest.approx(ref, abs=1e-9), (t, df)
        if ref > 1e-290:
            assert ours == pytest.approx(ref, rel=1e-8), (t, df)


@settings(max_examples=300, deadline=None)
@given(
    log_df=st.floats(min_value=0.0, max_value=6.0),
    t=st.floats(min_value=-40.0, max_value=40.0, allow_nan=False),
)
def test_student_t_sf_matches_scipy_property(log_df, t):
    df = 10**log_df
    assert r.student_t_sf(t, df) == pytest.approx(stats.t.sf(t, df), abs=1e-9)


def test_student_t_sf_very_large_df_tends_to_normal():
    for df in (1e7, 1e9, 1e12):
        for t in (0.5, 1.8, 3.0, 6.0):
            assert r.student_t_sf(t, df) == pytest.approx(stats.t.sf(t, df), abs=1e-12)
    assert r.student_t_sf(math.inf, 5) == 0.0
    assert r.student_t_sf(-math.inf, 5) == 1.0


@pytest.mark.parametrize("df", [1, 2, 3, 4, 5, 7, 9.5, 10, 20, 49, 100, 250, 1000])
def test_chi_square_sf_matches_scipy_over_a_grid(df):
    for x in [
        0,
        1e-10,
        1e-3,
        0.1,
        0.5,
        1,
        2,
        3,
        5,
        7.5,
        10,
        15,
        20,
        26.3,
        40,
        60,
        100,
        150,
        300,
        1000,
        1500,
        3000,
    ]:
        ours = r.chi_square_sf(x, df)
        ref = stats.chi2.sf(x, df)
        assert ours == pytest.approx(ref, abs=1e-9), (x, df)
        if ref > 1e-290:
            assert ours == pytest.approx(ref, rel=1e-8), (x, df)


@settings(max_examples=300, deadline=None)
@given(df=st.floats(min_value=0.5, max_value=500), x=st.floats(min_value=0, max_value=2000))
def test_chi_square_sf_matches_scipy_property(df, x):
    assert r.chi_square_sf(x, df) == pytest.approx(stats.chi2.sf(x, df), abs=1e-9)


@pytest.mark.parametrize("a", [0.5, 1, 2.5, 10, 40, 333.3, 5000])
@pytest.mark.parametrize("b", [0.5, 1, 3, 12.5, 80, 2000])
def test_regularized_incomplete_beta_matches_scipy(a, b):
    for x in [0, 1e-8, 0.001, 0.05, 0.2, 0.4, 0.5, 0.6, 0.8, 0.95, 0.999, 1 - 1e-8, 1]:
        assert r.regularized_incomplete_beta(x, a, b) == pytest.approx(special.betainc(a, b, x), abs=1e-10)


@pytest.mark.parametrize("a", [0.5, 1, 1.5, 3, 10, 37.5, 200, 1000])
def test_regularized_upper_gamma_matches_scipy(a):
    for x in [0, 1e-6, 0.1, 0.5, 1, 2, 5, 10, 30, 100, 250, 1000, 1200]:
        assert r.regularized_upper_gamma(a, x) == pytest.approx(special.gammaincc(a, x), abs=1e-10)


def test_special_functions_reject_bad_arguments():
    with pytest.raises(ValueError, match="degrees of freedom"):
        r.student_t_sf(1.0, 0)
    with pytest.raises(ValueError, match="degrees of freedom"):
        r.chi_square_sf(1.0, -1)
    with pytest.raises(ValueError):
        r.student_t_sf(math.nan, 3)
    with pytest.raises(ValueError):
        r.regularized_incomplete_beta(1.5, 1, 1)
    with pytest.raises(ValueError):
        r.regularized_incomplete_beta(0.5, 0, 1)
    with pytest.raises(ValueError):
        r.regularized_upper_gamma(0, 1)
    with pytest.raises(ValueError):
        r.regularized_upper_gamma(1, -1)


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
    result = r.two_proportion_test(ca, na, cb, nb)
    assert result.z == pytest.approx(z, rel=1e-12)
    assert result.p_value == pytest.approx(p, rel=1e-9, abs=1e-15)
    assert result.confidence == pytest.approx(1 - p, abs=1e-12)
    assert result.rate_a == ca / na and result.rate_b == cb / nb


@pytest.mark.parametrize(
    "args",
    [(0, 0, 0, 0), (0, 0, 5, 10), (5, 10, 0, 0), (0, 100, 0, 120), (100, 100, 120, 120), (0, 1, 0, 1)],
)
def test_two_proportion_test_degenerate_inputs_give_p_one(args):
    result = r.two_proportion_test(*args)
    assert result.p_value == 1.0
    assert result.confidence == 0.0
    assert result.z == 0.0


def test_two_proportion_test_rejects_impossible_counts():
    with pytest.raises(ValueError, match="exceed"):
        r.two_proportion_test(11, 10, 1, 10)
    with pytest.raises(ValueError, match="non-negative"):
        r.two_proportion_test(-1, 10, 1, 10)


counts = st.integers(min_value=0, max_value=100_000).flatmap(
    lambda n: st.tuples(st.integers(min_value=0, max_value=n), st.just(n))
)


@settings(max_examples=200, deadline=None)
@given(a=counts, b=counts)
def test_two_proportion_test_properties(a, b):
    forward = r.two_proportion_test(a[0], a[1], b[0], b[1])
    backward = r.two_proportion_test(b[0], b[1], a[0], a[1])
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
    ours = r.welch_t_test(a.tolist(), b.tolist())
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
    ours = r.welch_t_test(a, b)
    assert ours.t == pytest.approx(ref.statistic, rel=1e-10)
    assert ours.p_value == pytest.approx(ref.pvalue, abs=1e-10)
    assert ours.df == pytest.approx(ref.df, rel=1e-10)


def test_welch_from_sums_of_non_zero_values_equals_the_full_data():
    rng = np.random.default_rng(42)
    a = revenue_sample(rng, 3000, 0.03, 4000)
    b = revenue_sample(rng, 3500, 0.05, 4000)

    def from_non_zero(values):
        paid = [int(v) for v in values if v]
        return r.stats_from_sums(len(values), sum(paid), sum(v * v for v in paid))

    sa, sb = from_non_zero(a), from_non_zero(b)
    assert sa == pytest.approx(tuple(r.summary_stats(a.tolist())), rel=1e-12)
    n, mean, var = sb
    assert (n, mean, var) == (len(b), pytest.approx(b.mean()), pytest.approx(b.var(ddof=1)))
    from_stats = r.welch_from_stats(sa.mean, sa.variance, sa.n, sb.mean, sb.variance, sb.n)
    direct = r.welch_t_test(a.tolist(), b.tolist())
    assert from_stats.p_value == pytest.approx(direct.p_value, rel=1e-9)
    assert from_stats.t == pytest.approx(direct.t, rel=1e-9)


def test_stats_from_sums_is_exact_for_large_integers():
    # Large values with a small spread: Σx² - (Σx)²/n in floats would cancel catastrophically.
    values = [10**12 + d for d in (0, 1, 2, 3, 4, 5, 6)]
    n, total, total_sq = len(values), sum(values), sum(v * v for v in values)
    exact = Fraction(n * total_sq - total**2, n * (n - 1))
    summary = r.stats_from_sums(n, total, total_sq)
    assert summary.variance == float(exact) == pytest.approx(np.var(values, ddof=1))
    assert summary.mean == pytest.approx(10**12 + 3)


def test_summary_stats_edges_and_standard_error():
    assert r.summary_stats([]) == (0, 0.0, 0.0)
    assert r.summary_stats([7.0]) == (1, 7.0, 0.0)
    assert r.stats_from_sums(0, 0, 0) == (0, 0.0, 0.0)
    assert r.stats_from_sums(1, 500, 250_000) == (1, 500.0, 0.0)
    summary = r.summary_stats([1.0, 2.0, 3.0, 4.0])
    assert summary.standard_error == pytest.approx(stats.sem([1.0, 2.0, 3.0, 4.0]))
    assert r.Summary(0, 0.0, 0.0).standard_error == 0.0


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
    result = r.welch_t_test(a, b)
    assert 0.0 <= result.p_value <= 1.0
    assert math.isfinite(result.t) and math.isfinite(result.df)
    if a == b or len(a) < 2 or len(b) < 2 or not any(a + b):
        assert result.p_value == pytest.approx(1.0)
        assert result.confidence == pytest.approx(0.0)


def test_welch_from_stats_validates():
    with pytest.raises(ValueError):
        r.welch_from_stats(1.0, -1.0, 10, 1.0, 1.0, 10)
    with pytest.raises(ValueError):
        r.welch_from_stats(math.nan, 1.0, 10, 1.0, 1.0, 10)
    with pytest.raises(ValueError):
        r.welch_from_stats(1.0, 1.0, -1, 1.0, 1.0, 10)


summaries = st.tuples(
    st.floats(min_value=-1e6, max_value=1e6),
    st.floats(min_value=0, max_value=1e10),
    st.integers(min_value=0, max_value=10**7),
)


@settings(max_examples=300, deadline=None)
@given(a=summaries, b=summaries)
def test_welch_properties(a, b):
    forward = r.welch_from_stats(a[0], a[1], a[2], b[0], b[1], b[2])
    backward = r.welch_from_stats(b[0], b[1], b[2], a[0], a[1], a[2])
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
        assert r.revenue_cap([a, b], percentile) == pytest.approx(expected)


def test_cap_outliers_winsorizes_the_top_only():
    values = [0, 0, -300, 100, 200, 300, 400, 100_000]
    capped = r.cap_outliers(values, 90)
    cap = np.percentile([100, 200, 300, 400, 100_000], 90)
    assert capped == [0.0, 0.0, -300.0, 100.0, 200.0, 300.0, 400.0, pytest.approx(cap)]
    assert r.cap_outliers(values, 100) == [float(v) for v in values]
    assert r.cap_outliers([0, 0, 0], 99) == [0.0, 0.0, 0.0]
    assert r.cap_outliers([], 99) == []
    assert r.cap_outliers([10, 500, 90], cap=100.0) == [10.0, 100.0, 90.0]
    assert r.revenue_cap([[0, 0], []], 99) is None


@pytest.mark.parametrize("percentile", [0, -1, 100.5, math.nan])
def test_cap_percentile_must_be_in_range(percentile):
    with pytest.raises(ValueError, match="percentile"):
        r.revenue_cap([[1, 2, 3]], percentile)


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
# Chance to beat control
# --------------------------------------------------------------------------------------------------


def test_chance_to_beat_control_formula():
    assert r.chance_to_beat_control(100, 5, 110, 12) == pytest.approx(stats.norm.cdf(10 / math.hypot(5, 12)))
    assert r.chance_to_beat_control(100, 5, 90, 5) == pytest.approx(stats.norm.cdf(-10 / math.hypot(5, 5)))
    assert r.chance_to_beat_control(3, 0, 3, 0) == 0.5
    assert r.chance_to_beat_control(0, 0, 0, 0) == 0.5


def test_conversion_chance_uses_beta_posteriors_with_uniform_prior():
    ca, na, cb, nb = 40, 1000, 55, 1000
    post_a, post_b = stats.beta(1 + ca, 1 + na - ca), stats.beta(1 + cb, 1 + nb - cb)
    expected = stats.norm.cdf((post_b.mean() - post_a.mean()) / math.sqrt(post_a.var() + post_b.var()))
    assert r.conversion_chance_to_beat_control(ca, na, cb, nb) == pytest.approx(expected, rel=1e-12)
    # The normal approximation is close to the exact P(B > A) of the Beta posteriors.
    exact, _ = integrate.quad(lambda x: post_a.pdf(x) * post_b.sf(x), 0, 0.2, limit=200)
    assert r.conversion_chance_to_beat_control(ca, na, cb, nb) == pytest.approx(exact, abs=0.01)
    assert r.conversion_chance_to_beat_control(0, 0, 0, 0) == pytest.approx(0.5)


def test_revenue_chance_uses_mean_and_standard_error():
    control = r.stats_from_sums(1000, 500_000, 20_000_000_000)
    variant = r.stats_from_sums(1000, 560_000, 22_000_000_000)
    expected = stats.norm.cdf(
        (variant.mean - control.mean) / math.sqrt(control.variance / 1000 + variant.variance / 1000)
    )
    assert r.revenue_chance_to_beat_control(control, variant) == pytest.approx(expected)


@settings(max_examples=200, deadline=None)
@given(a=counts, b=counts)
def test_chance_properties(a, b):
    forward = r.conversion_chance_to_beat_control(a[0], a[1], b[0], b[1])
    backward = r.conversion_chance_to_beat_control(b[0], b[1], a[0], a[1])
    assert 0.0 <= forward <= 1.0
    assert forward + backward == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(a=summaries, b=summaries)
def test_revenue_chance_properties(a, b):
    sa, sb = r.Summary(a[2], a[0], a[1]), r.Summary(b[2], b[0], b[1])
    forward = r.revenue_chance_to_beat_control(sa, sb)
    assert 0.0 <= forward <= 1.0
    assert forward + r.revenue_chance_to_beat_control(sb, sa) == pytest.approx(1.0)


# --------------------------------------------------------------------------------------------------
# Sample ratio mismatch
# --------------------------------------------------------------------------------------------------


def test_srm_flags_5000_vs_4500_at_50_50():
    srm = r.srm_check([5000, 4500], [50, 50])
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
    srm = r.srm_check(observed, weights)
    assert srm.statistic == pytest.approx(ref.statistic)
    assert srm.p_value == pytest.approx(ref.pvalue, abs=1e-12, rel=1e-9)
    assert srm.is_mismatch == (ref.pvalue < 0.001)
    assert srm.df == len(observed) - 1


def test_srm_edge_cases():
    empty = r.srm_check([0, 0], [50, 50])
    assert (empty.p_value, empty.is_mismatch, empty.statistic) == (1.0, False, 0.0)
    single = r.srm_check([1234], [100])
    assert (single.p_value, single.is_mismatch, single.df) == (1.0, False, 0)
    paused = r.srm_check([500, 480, 0], [50, 50, 0])
    assert paused.df == 1 and not paused.is_mismatch
    assert paused.p_value == pytest.approx(stats.chisquare([500, 480], [490, 490]).pvalue)
    leaked = r.srm_check([500, 480, 3], [50, 50, 0])
    assert leaked.is_mismatch and leaked.p_value == 0.0
    with pytest.raises(ValueError):
        r.srm_check([1, 2], [1])
    with pytest.raises(ValueError):
        r.srm_check([1, 2], [0, 0])
    with pytest.raises(ValueError):
        r.srm_check([1, 2], [1, -1])
    with pytest.raises(ValueError):
        r.srm_check([1, -2], [1, 1])


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
    srm = r.srm_check(observed, weights)
    assert 0.0 <= srm.p_value <= 1.0
    assert srm.is_mismatch == (srm.p_value < r.SRM_P_VALUE_THRESHOLD)
    assert r.srm_check(observed, [w * scale for w in weights]).p_value == pytest.approx(
        srm.p_value, abs=1e-12
    )


# --------------------------------------------------------------------------------------------------
# Sample size and duration
# --------------------------------------------------------------------------------------------------


def test_sample_size_worked_example():
    # 4% baseline, +1 point, 95% significance: the formula, not Humblytics' quoted ~9,600.
    assert r.sample_size_per_variant(0.04, 0.01) == 6743
    assert r.sample_size_per_variant(0.04, 0.01, significance=0.95, power=0.80) == 6743
    assert r.sample_size_per_variant(0.04, 0.01, power=0.90) == 9026
    assert r.test_duration_days(1200, 6743) == 12
    assert r.test_duration_days(1200, 9026) == 16
    assert r.test_duration_days(1200, 6743, variants=2) == math.ceil(13_486 / 1200)


def test_sample_size_matches_the_formula_with_scipy_quantiles():
    for p1, mde, significance, power in [
        (0.04, 0.01, 0.95, 0.8),
        (0.1, 0.02, 0.99, 0.9),
        (0.5, -0.05, 0.9, 0.8),
    ]:
        p2 = p1 + mde
        z = stats.norm.ppf(1 - (1 - significance) / 2) + stats.norm.ppf(power)
        n = z**2 * (p1 * (1 - p1) + p2 * (1 - p2)) / (p2 - p1) ** 2
        assert r.sample_size_per_variant(p1, mde, significance=significance, power=power) == math.ceil(n)


def test_sample_size_relative_effect():
    # +25% of 4% is one point.
    assert r.sample_size_per_variant(0.04, 0.25, relative=True) == 6743
    assert r.sample_size_per_variant(0.04, 0.1, relative=True) > r.sample_size_per_variant(
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
        r.sample_size_per_variant(*args, **kwargs)


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
        r.test_duration_days(*args)


def test_duration_with_fractional_daily_visitors():
    assert r.test_duration_days(1200.5, 6743) == math.ceil(13486 / 1200.5)
    assert r.test_duration_days(1000, 500) == 1
    assert r.test_duration_days(1000, 1000, variants=3) == 3


@settings(max_examples=100, deadline=None)
@given(
    baseline=st.floats(min_value=0.001, max_value=0.5),
    mde=st.floats(min_value=0.001, max_value=0.3),
)
def test_sample_size_monotonic(baseline, mde):
    assume(baseline + 2 * mde < 0.99)
    n = r.sample_size_per_variant(baseline, mde)
    assert n >= 1
    assert r.sample_size_per_variant(baseline, mde, power=0.9) >= n
    assert r.sample_size_per_variant(baseline, mde, significance=0.99) >= n
    assert r.sample_size_per_variant(baseline, 2 * mde) <= n


# --------------------------------------------------------------------------------------------------
# Lift
# --------------------------------------------------------------------------------------------------


def test_lift():
    assert r.lift(100, 125) == pytest.approx(0.25)
    assert r.lift(0.04, 0.03) == pytest.approx(-0.25)
    assert r.lift(0, 5) is None
    assert r.lift(0.0, 0.0) is None


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
        r.revenue_chance_to_beat_control(
            r.summary_stats([1000, 2000, 500] + [1500] * 27 + [0] * 970),
            r.summary_stats([3000] * 36 + [0] * 964),
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
