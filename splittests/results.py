"""Statistics for split tests, including tests whose goal is revenue.

Pure functions and frozen dataclasses: no Django, no numpy/scipy, only the standard library, so the
module can be called from views, tasks and the API alike and tested against independent references.

Units and conventions
---------------------
* Money is an integer in the currency's smallest unit (cents for USD). Sums of money stay ``int``;
  per-visitor figures (means, revenue per visitor) are ``float`` in the same minor units.
* Rates, probabilities, p-values, confidences and chances are fractions in ``0..1`` (0.95, not 95).
* "Confidence" is ``1 - p_value`` of a two-sided test of "no difference" against the control.
* Variance is the sample variance (denominator ``n - 1``); a group of fewer than two has variance 0.
* A test whose answer is undefined (no visitors, no variation at all, fewer than two visitors)
  reports ``p_value = 1.0`` (no evidence of a difference) and a chance to beat control of ``0.5``;
  nothing here divides by zero or returns NaN.
* With several challengers, each one is compared with the control on its own; there is no
  multiple-comparison correction (as in most A/B tools), so with many variants the chance that one
  of them crosses the threshold by luck grows: keep the number of variants small.

Special functions (Student t and chi-square survival functions) are computed here from the
regularized incomplete beta and gamma functions, evaluated with continued fractions (modified Lentz)
and a power series, plus the 1/df expansion of the t distribution for df >= 1e5; they agree with
SciPy to about 1e-11 or better (the tests check 1e-9 absolute and 1e-8 relative).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import Any, NamedTuple

__all__ = [
    "SRM_P_VALUE_THRESHOLD",
    "Results",
    "Srm",
    "Summary",
    "TTest",
    "VariantData",
    "VariantResult",
    "ZTest",
    "cap_outliers",
    "chance_to_beat_control",
    "chi_square_sf",
    "conversion_chance_to_beat_control",
    "evaluate",
    "lift",
    "regularized_incomplete_beta",
    "regularized_upper_gamma",
    "revenue_cap",
    "revenue_chance_to_beat_control",
    "sample_size_per_variant",
    "srm_check",
    "stats_from_sums",
    "student_t_sf",
    "summary_stats",
    "test_duration_days",
    "two_proportion_test",
    "welch_from_stats",
    "welch_t_test",
]

#: A sample-ratio-mismatch is flagged when the chi-square p-value is below this (GrowthBook's
#: default). It is deliberately strict: with real traffic a p-value this small almost always means
#: broken assignment or tracking (redirect losses, bots, caching), not chance.
SRM_P_VALUE_THRESHOLD = 0.001

_STANDARD_NORMAL = NormalDist()
_EPS = 1e-16
_FPMIN = 1e-300
_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_STIRLING_MIN = 10.0
_ASYMPTOTIC_DF = 1e5


# --------------------------------------------------------------------------------------------------
# Special functions
# --------------------------------------------------------------------------------------------------


def _stirling_error(x: float) -> float:
    """lgamma(x) - [(x - 1/2) ln x - x + ln sqrt(2 pi)] for x >= 10 (asymptotic series)."""
    inv = 1.0 / x
    inv2 = inv * inv
    return inv * (
        1.0 / 12.0
        - inv2 * (1.0 / 360.0 - inv2 * (1.0 / 1260.0 - inv2 * (1.0 / 1680.0 - inv2 * (1.0 / 1188.0))))
    )


def _log_beta(a: float, b: float) -> float:
    """ln B(a, b), without the cancellation of lgamma(a) - lgamma(a + b) when a is large."""
    if a < b:
        a, b = b, a
    if b >= _STIRLING_MIN:
        return (
            _LOG_SQRT_2PI
            - (a - 0.5) * math.log1p(b / a)
            + (b - 0.5) * math.log(b / (a + b))
            - 0.5 * math.log(a + b)
            + _stirling_error(a)
            + _stirling_error(b)
            - _stirling_error(a + b)
        )
    if a >= _STIRLING_MIN:
        # lgamma(a) - lgamma(a + b) from Stirling's formula, rearranged to avoid cancellation.
        diff = (
            -(a - 0.5) * math.log1p(b / a)
            - b * math.log(a + b)
            + b
            + _stirling_error(a)
            - _stirling_error(a + b)
        )
        return math.lgamma(b) + diff
    return math.lgamma(a) + math.lgamma(b) - math.lgamma(a + b)


def _max_iterations(size: float) -> int:
    # The continued fractions and the series need O(sqrt(size)) terms near their switch points.
    return 1000 + 20 * math.isqrt(int(min(size, 1e12)) + 1)


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """Continued fraction for I_x(a, b) (modified Lentz); converges fast for x < (a+1)/(a+b+2)."""
    a_plus_b = a + b
    a_plus_1 = a + 1.0
    a_minus_1 = a - 1.0
    c = 1.0
    d = 1.0 - a_plus_b * x / a_plus_1
    if abs(d) < _FPMIN:
        d = _FPMIN
    d = 1.0 / d
    result = d
    for m in range(1, _max_iterations(max(a, b)) + 1):
        two_m = 2 * m
        # Even step: d_{2m} = m (b - m) x / ((a + 2m - 1)(a + 2m)).
        numerator = m * (b - m) * x / ((a_minus_1 + two_m) * (a + two_m))
        d = 1.0 + numerator * d
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = 1.0 + numerator / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        result *= d * c
        # Odd step: d_{2m+1} = -(a + m)(a + b + m) x / ((a + 2m)(a + 2m + 1)).
        numerator = -(a + m) * (a_plus_b + m) * x / ((a + two_m) * (a_plus_1 + two_m))
        d = 1.0 + numerator * d
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = 1.0 + numerator / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        step = d * c
        result *= step
        if abs(step - 1.0) < _EPS:
            break
    return result


def _incomplete_beta(a: float, b: float, x: float, y: float) -> float:
    """I_x(a, b) given both x and y = 1 - x (each computed accurately by the caller)."""
    if x <= 0.0:
        return 0.0
    if y <= 0.0:
        return 1.0
    log_x = math.log(x) if x <= 0.5 else math.log1p(-y)
    log_y = math.log(y) if y <= 0.5 else math.log1p(-x)
    log_front = a * log_x + b * log_y - _log_beta(a, b)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, y) / b


def regularized_incomplete_beta(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta function I_x(a, b), for 0 <= x <= 1 and a, b > 0."""
    if not (a > 0.0 and b > 0.0) or math.isinf(a) or math.isinf(b):
        raise ValueError(f"a and b must be positive and finite (got a={a}, b={b})")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"x must be between 0 and 1 (got {x})")
    return _incomplete_beta(a, b, x, 1.0 - x)


def _t_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df degrees of freedom: I_{df/(df+t^2)}(df/2, 1/2)."""
    t_squared = t * t
    if math.isinf(t_squared):
        return 0.0
    if t_squared == 0.0:
        return 1.0
    if df >= _ASYMPTOTIC_DF and t_squared * t_squared <= 1e-3 * df:
        # For very large df the continued fraction works at x = df/(df + t²) within 1e-10 of 1, where
        # rounding costs digits. Use the expansion in 1/df around the normal instead (Abramowitz &
        # Stegun 26.7.5): P(T > t) = Q(t) + φ(t) (g1(t)/df + g2(t)/df² + O(df⁻³)). From df = 1e5 on
        # its truncation error is below 1e-15 absolute, and below 1e-10 relative while t⁴ <= df/1000
        # (further out, x is far enough from 1 for the continued fraction).
        x = abs(t)
        g1 = (x**3 + x) / 4.0
        g2 = (3.0 * x**7 - 7.0 * x**5 - 5.0 * x**3 - 3.0 * x) / 96.0
        density = math.exp(-0.5 * t_squared) / math.sqrt(2.0 * math.pi)
        upper = 0.5 * math.erfc(x / math.sqrt(2.0)) + density * (g1 / df + g2 / (df * df))
        return min(1.0, max(0.0, 2.0 * upper))
    total = df + t_squared
    return min(1.0, max(0.0, _incomplete_beta(0.5 * df, 0.5, df / total, t_squared / total)))


def _check_df(df: float) -> None:
    if not df > 0.0 or math.isinf(df):
        raise ValueError(f"degrees of freedom must be positive and finite (got {df})")


def student_t_sf(t: float, df: float) -> float:
    """Survival function P(T > t) of Student's t distribution with df > 0 (non-integer allowed)."""
    _check_df(df)
    if math.isnan(t):
        raise ValueError("t must be a number")
    tail = 0.5 * _t_two_sided(t, df)
    return tail if t >= 0.0 else 1.0 - tail


def _gamma_series(a: float, x: float) -> float:
    """Lower regularized gamma P(a, x) by its power series (for x < a + 1)."""
    term = 1.0 / a
    total = term
    denominator = a
    for _ in range(_max_iterations(a)):
        denominator += 1.0
        term *= x / denominator
        total += term
        if abs(term) < abs(total) * _EPS:
            break
    return total * math.exp(-x + a * math.log(x) - math.lgamma(a))


def _gamma_continued_fraction(a: float, x: float) -> float:
    """Upper regularized gamma Q(a, x) by its continued fraction, modified Lentz (for x >= a + 1)."""
    b = x + 1.0 - a
    c = 1.0 / _FPMIN
    d = 1.0 / b
    result = d
    for i in range(1, _max_iterations(a) + 1):
        numerator = -i * (i - a)
        b += 2.0
        d = numerator * d + b
        if abs(d) < _FPMIN:
            d = _FPMIN
        c = b + numerator / c
        if abs(c) < _FPMIN:
            c = _FPMIN
        d = 1.0 / d
        step = d * c
        result *= step
        if abs(step - 1.0) < _EPS:
            break
    return math.exp(-x + a * math.log(x) - math.lgamma(a)) * result


def regularized_upper_gamma(a: float, x: float) -> float:
    """The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), a > 0, x >= 0."""
    if not a > 0.0 or math.isinf(a):
        raise ValueError(f"a must be positive and finite (got {a})")
    if math.isnan(x) or x < 0.0:
        raise ValueError(f"x must be non-negative (got {x})")
    if x == 0.0:
        return 1.0
    if math.isinf(x):
        return 0.0
    if x < a + 1.0:
        return min(1.0, max(0.0, 1.0 - _gamma_series(a, x)))
    return min(1.0, max(0.0, _gamma_continued_fraction(a, x)))


def chi_square_sf(x: float, df: float) -> float:
    """Survival function P(X > x) of the chi-square distribution with df > 0 degrees of freedom."""
    _check_df(df)
    if math.isnan(x):
        raise ValueError("x must be a number")
    if x <= 0.0:
        return 1.0
    return regularized_upper_gamma(0.5 * df, 0.5 * x)


def _normal_two_sided(z: float) -> float:
    """P(|Z| >= |z|) for a standard normal, accurate in the tails (erfc, not 1 - cdf)."""
    return math.erfc(abs(z) / math.sqrt(2.0))


# --------------------------------------------------------------------------------------------------
# Conversion rate: pooled two-proportion z-test
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZTest:
    """Two-sided pooled z-test of two conversion rates (B minus A)."""

    rate_a: float  # conversions / visitors of A, 0..1 (0 when no visitors)
    rate_b: float
    z: float  # (rate_b - rate_a) / pooled standard error; 0 when undefined
    p_value: float  # two-sided, 0..1; 1.0 when undefined
    confidence: float  # 1 - p_value


def _check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer (got {value!r})")


def _check_conversions(conversions: int, visitors: int, label: str) -> None:
    _check_count(f"visitors of {label}", visitors)
    _check_count(f"conversions of {label}", conversions)
    if conversions > visitors:
        raise ValueError(f"conversions of {label} ({conversions}) exceed its visitors ({visitors})")


def two_proportion_test(conv_a: int, n_a: int, conv_b: int, n_b: int) -> ZTest:
    """Pooled two-proportion z-test: does B's conversion rate differ from A's?

    z = (p_b - p_a) / sqrt(p (1 - p) (1/n_a + 1/n_b)) with the pooled rate p = (conv_a + conv_b) /
    (n_a + n_b). When either group has no visitors, or nobody / everybody converted (no variation),
    the test is undefined: z = 0 and p_value = 1.0.
    """
    _check_conversions(conv_a, n_a, "A")
    _check_conversions(conv_b, n_b, "B")
    rate_a = conv_a / n_a if n_a else 0.0
    rate_b = conv_b / n_b if n_b else 0.0
    if n_a == 0 or n_b == 0:
        return ZTest(rate_a, rate_b, 0.0, 1.0, 0.0)
    pooled = (conv_a + conv_b) / (n_a + n_b)
    variance = pooled * (1.0 - pooled) * (1.0 / n_a + 1.0 / n_b)
    if variance <= 0.0:
        return ZTest(rate_a, rate_b, 0.0, 1.0, 0.0)
    z = (rate_b - rate_a) / math.sqrt(variance)
    p_value = _normal_two_sided(z)
    return ZTest(rate_a, rate_b, z, p_value, 1.0 - p_value)


# --------------------------------------------------------------------------------------------------
# Revenue per visitor: Welch's t-test
# --------------------------------------------------------------------------------------------------


class Summary(NamedTuple):
    """Count, mean and sample variance (n - 1) of one group; unpacks as ``n, mean, variance``."""

    n: int
    mean: float
    variance: float

    @property
    def standard_error(self) -> float:
        """Standard error of the mean, sqrt(variance / n); 0 for an empty group."""
        return math.sqrt(self.variance / self.n) if self.n else 0.0


def summary_stats(values: Sequence[float]) -> Summary:
    """n, mean and sample variance of values (two-pass, compensated sums). Empty → (0, 0.0, 0.0)."""
    n = len(values)
    if n == 0:
        return Summary(0, 0.0, 0.0)
    mean = math.fsum(values) / n
    if n == 1:
        return Summary(1, mean, 0.0)
    variance = math.fsum((v - mean) ** 2 for v in values) / (n - 1)
    return Summary(n, mean, variance)


def stats_from_sums(n: int, total: float, total_sq: float) -> Summary:
    """n, mean and sample variance from n, Σx and Σx² (as aggregated in SQL).

    Zeros contribute nothing to the sums, so a group where only the payers' revenues were summed
    still gets the right figures when n counts every visitor. The variance is computed in exact
    rational arithmetic from the given sums (integers stay exact), so there is no catastrophic
    cancellation in Σx² - (Σx)²/n; a negative result from inconsistent sums is clamped to 0.
    """
    _check_count("n", n)
    if n == 0:
        return Summary(0, 0.0, 0.0)
    mean = total / n
    if n == 1:
        return Summary(1, float(mean), 0.0)
    numerator = n * Fraction(total_sq) - Fraction(total) ** 2
    variance = float(numerator / (n * (n - 1))) if numerator > 0 else 0.0
    return Summary(n, float(mean), variance)


@dataclass(frozen=True, slots=True)
class TTest:
    """Welch's unequal-variance t-test of two means (B minus A)."""

    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    var_a: float  # sample variances (n - 1)
    var_b: float
    t: float  # (mean_b - mean_a) / sqrt(var_a/n_a + var_b/n_b); 0 when undefined
    df: float  # Welch-Satterthwaite degrees of freedom; 0 when undefined
    p_value: float  # two-sided, 0..1; 1.0 when undefined
    confidence: float  # 1 - p_value


def welch_from_stats(mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int) -> TTest:
    """Welch's t-test from summary statistics (sample variances with denominator n - 1).

    t = (mean_b - mean_a) / sqrt(var_a/n_a + var_b/n_b);
    df = (var_a/n_a + var_b/n_b)² / ((var_a/n_a)²/(n_a - 1) + (var_b/n_b)²/(n_b - 1)).
    Undefined (either group under two, or no variance in either) → t = 0, df = 0, p_value = 1.0.
    """
    _check_count("n_a", n_a)
    _check_count("n_b", n_b)
    for name, value in (("mean_a", mean_a), ("mean_b", mean_b), ("var_a", var_a), ("var_b", var_b)):
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite (got {value})")
    if var_a < 0.0 or var_b < 0.0:
        raise ValueError("variances must be non-negative")

    def undefined() -> TTest:
        return TTest(n_a, n_b, mean_a, mean_b, var_a, var_b, 0.0, 0.0, 1.0, 0.0)

    if n_a < 2 or n_b < 2:
        return undefined()
    se2_a = var_a / n_a
    se2_b = var_b / n_b
    se2 = se2_a + se2_b
    if se2 <= 0.0:
        return undefined()
    t = (mean_b - mean_a) / math.sqrt(se2)
    # Welch-Satterthwaite, written with the shares of se2 so that tiny variances cannot underflow.
    share_a = se2_a / se2
    share_b = se2_b / se2
    df = 1.0 / (share_a * share_a / (n_a - 1) + share_b * share_b / (n_b - 1))
    p_value = _t_two_sided(t, df)
    return TTest(n_a, n_b, mean_a, mean_b, var_a, var_b, t, df, p_value, 1.0 - p_value)


def welch_t_test(values_a: Sequence[float], values_b: Sequence[float]) -> TTest:
    """Welch's t-test on per-visitor values (e.g. revenue per visitor, mostly zeros)."""
    a = summary_stats(values_a)
    b = summary_stats(values_b)
    return welch_from_stats(a.mean, a.variance, a.n, b.mean, b.variance, b.n)


# --------------------------------------------------------------------------------------------------
# Outlier capping (winsorizing) for revenue
# --------------------------------------------------------------------------------------------------


def _check_percentile(percentile: float) -> None:
    if not 0.0 < percentile <= 100.0:
        raise ValueError(f"percentile must be in (0, 100] (got {percentile})")


def _percentile(sorted_values: Sequence[float], percentile: float) -> float:
    """Linear interpolation between closest ranks (numpy's default "linear" method)."""
    position = (len(sorted_values) - 1) * percentile / 100.0
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (position - low) * (sorted_values[high] - sorted_values[low])


def revenue_cap(groups: Iterable[Iterable[float]], percentile: float = 99.0) -> float | None:
    """The cap for winsorizing: the given percentile of the positive values pooled over all groups.

    Pooling (rather than a cap per variant) applies the same cap to every variant, so capping cannot
    by itself create a difference. Zeros (non-buyers) are left out: with most visitors at zero a
    percentile over all visitors would be 0. Returns None when there is no positive value.
    """
    _check_percentile(percentile)
    positives = sorted(float(v) for group in groups for v in group if v > 0)
    if not positives:
        return None
    return _percentile(positives, percentile)


def cap_outliers(
    values: Sequence[float], percentile: float = 99.0, *, cap: float | None = None
) -> list[float]:
    """Winsorize the top: every value above the cap is replaced by the cap.

    Revenue per visitor is heavy-tailed: one enterprise order can outweigh thousands of small ones,
    swing the mean and inflate the variance, so a test either "wins" on one lucky buyer or never
    reaches significance. Capping the top (here at the ``percentile`` of the positive values, 99th by
    default) trades a little bias for a large drop in variance. Pass ``cap`` (from
    :func:`revenue_cap` over all variants) to use the pooled cap; without it the cap is computed
    from these values alone. Zeros and negative values are never changed.
    """
    if cap is None:
        cap = revenue_cap([values], percentile)
        if cap is None:
            return [float(v) for v in values]
    return [min(float(v), cap) for v in values]


# --------------------------------------------------------------------------------------------------
# Bayesian chance to beat control (normal approximation)
# --------------------------------------------------------------------------------------------------


def chance_to_beat_control(mean_a: float, se_a: float, mean_b: float, se_b: float) -> float:
    """P(B > A) when A ~ N(mean_a, se_a²) and B ~ N(mean_b, se_b²), independent.

    = Φ((mean_b - mean_a) / sqrt(se_a² + se_b²)). With no uncertainty at all (both standard errors
    0: no data, or no variation) nothing can be said and the answer is 0.5.
    """
    spread = math.hypot(se_a, se_b)
    if not spread > 0.0 or not math.isfinite(spread):
        return 0.5
    return _STANDARD_NORMAL.cdf((mean_b - mean_a) / spread)


def _beta_posterior(conversions: int, visitors: int) -> tuple[float, float]:
    alpha = 1.0 + conversions
    beta = 1.0 + visitors - conversions
    total = alpha + beta
    mean = alpha / total
    variance = alpha * beta / (total * total * (total + 1.0))
    return mean, math.sqrt(variance)


def conversion_chance_to_beat_control(conv_a: int, n_a: int, conv_b: int, n_b: int) -> float:
    """P(rate_B > rate_A) with Beta(1 + conversions, 1 + non-conversions) posteriors (uniform
    Beta(1, 1) prior), each approximated by a normal with the Beta's mean and variance."""
    _check_conversions(conv_a, n_a, "A")
    _check_conversions(conv_b, n_b, "B")
    mean_a, se_a = _beta_posterior(conv_a, n_a)
    mean_b, se_b = _beta_posterior(conv_b, n_b)
    return chance_to_beat_control(mean_a, se_a, mean_b, se_b)


def revenue_chance_to_beat_control(control: Summary, variant: Summary) -> float:
    """P(revenue per visitor of the variant > the control's), normal posteriors N(mean, se²)."""
    return chance_to_beat_control(control.mean, control.standard_error, variant.mean, variant.standard_error)


# --------------------------------------------------------------------------------------------------
# Sample ratio mismatch
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Srm:
    """Chi-square goodness-of-fit of visitor counts against the configured traffic split."""

    observed: tuple[int, ...]
    expected: tuple[float, ...]  # total * weight / Σweights
    statistic: float  # Σ (observed - expected)² / expected over cells with a positive weight
    df: int  # cells with a positive weight - 1
    p_value: float  # chi-square survival of statistic with df degrees of freedom; 1.0 if untestable
    is_mismatch: bool  # p_value < SRM_P_VALUE_THRESHOLD (0.001)


def srm_check(observed: Sequence[int], weights: Sequence[float]) -> Srm:
    """Sample-ratio-mismatch check: are visitors split as the weights say they should be?

    Weights are relative (50/50, 1/1 and 0.5/0.5 are the same split). A variant with weight 0
    should get nobody: any visitor there is a mismatch (statistic inf, p_value 0). No visitors at
    all, or fewer than two variants with a positive weight → p_value 1.0, no mismatch.
    ``is_mismatch`` uses p < 0.001, GrowthBook's default, strict enough that a healthy test almost
    never trips it even when checked every day.
    """
    if len(observed) != len(weights):
        raise ValueError(f"{len(observed)} observed counts but {len(weights)} weights")
    for count in observed:
        _check_count("observed count", count)
    for weight in weights:
        if not (weight >= 0.0 and math.isfinite(weight)):
            raise ValueError(f"weights must be non-negative numbers (got {weight!r})")
    weight_total = math.fsum(weights)
    if weight_total <= 0.0:
        raise ValueError("at least one weight must be positive")
    total = sum(observed)
    expected = tuple(total * w / weight_total for w in weights)
    cells = sum(1 for w in weights if w > 0)
    df = max(cells - 1, 0)
    if total == 0 or df == 0:
        return Srm(tuple(observed), expected, 0.0, df, 1.0, False)
    if any(o > 0 and w == 0 for o, w in zip(observed, weights, strict=True)):
        return Srm(tuple(observed), expected, math.inf, df, 0.0, True)
    statistic = math.fsum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True) if e > 0)
    p_value = chi_square_sf(statistic, df)
    return Srm(tuple(observed), expected, statistic, df, p_value, p_value < SRM_P_VALUE_THRESHOLD)


# --------------------------------------------------------------------------------------------------
# Planning: sample size and duration
# --------------------------------------------------------------------------------------------------


def _check_fraction(name: str, value: float, example: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ValueError(
            f"{name} must be a fraction strictly between 0 and 1, e.g. {example} (got {value!r})"
        )


def sample_size_per_variant(
    baseline_rate: float,
    minimum_detectable_effect: float,
    *,
    relative: bool = False,
    significance: float = 0.95,
    power: float = 0.80,
) -> int:
    """Visitors needed in each variant to detect a change of the conversion rate.

    n = (z_{1-alpha/2} + z_{1-beta})² · (p1(1 - p1) + p2(1 - p2)) / (p2 - p1)², rounded up, where
    p1 = ``baseline_rate`` (0..1), alpha = 1 - ``significance`` (two-sided), 1 - beta = ``power``, and
    p2 = p1 + mde (``relative=False``: 0.01 means one percentage point) or p1 · (1 + mde)
    (``relative=True``: 0.25 means +25%). A negative mde plans for detecting a drop.

    Example: 4% baseline, +1 point, 95% significance, 80% power → 6,742.2 → 6,743 per variant
    (90% power → 9,026).
    """
    _check_fraction("baseline_rate", baseline_rate, "0.04 for 4%")
    _check_fraction("significance", significance, "0.95")
    _check_fraction("power", power, "0.8")
    if isinstance(minimum_detectable_effect, bool) or not isinstance(minimum_detectable_effect, int | float):
        raise ValueError("minimum_detectable_effect must be a number")
    if not math.isfinite(minimum_detectable_effect) or minimum_detectable_effect == 0:
        raise ValueError("minimum_detectable_effect must be a non-zero number, e.g. 0.01 for one point")
    p1 = baseline_rate
    p2 = p1 * (1.0 + minimum_detectable_effect) if relative else p1 + minimum_detectable_effect
    if p2 >= 1.0:
        raise ValueError(f"baseline plus the effect must stay below 100% (got {p2:.2%})")
    if p2 <= 0.0:
        raise ValueError(f"baseline minus the effect must stay above 0% (got {p2:.2%})")
    z_alpha = _STANDARD_NORMAL.inv_cdf(1.0 - (1.0 - significance) / 2.0)
    z_beta = _STANDARD_NORMAL.inv_cdf(power)
    n = (z_alpha + z_beta) ** 2 * (p1 * (1.0 - p1) + p2 * (1.0 - p2)) / (p2 - p1) ** 2
    # A hair of tolerance so that float noise on an exact integer does not add a visitor.
    return max(1, math.ceil(n - 1e-9 * max(1.0, n)))


def test_duration_days(daily_visitors: float, per_variant: int, variants: int = 2) -> int:
    """Days to run: ceil(per_variant * variants / daily_visitors), assuming an even split and all
    of the daily visitors entering the test. 6,743 * 2 / 1,200 per day = 11.2 → 12 days."""
    if isinstance(daily_visitors, bool) or not isinstance(daily_visitors, int | float):
        raise ValueError("daily visitors must be a number")
    if not (daily_visitors > 0 and math.isfinite(daily_visitors)):
        raise ValueError(f"daily visitors must be positive (got {daily_visitors!r})")
    if isinstance(per_variant, bool) or not isinstance(per_variant, int) or per_variant <= 0:
        raise ValueError(f"visitors per variant must be a positive integer (got {per_variant!r})")
    if isinstance(variants, bool) or not isinstance(variants, int) or variants < 1:
        raise ValueError(f"variants must be a positive integer (got {variants!r})")
    total = per_variant * variants
    if isinstance(daily_visitors, int):
        return -(-total // daily_visitors)
    return math.ceil(total / daily_visitors)


test_duration_days.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def lift(control_value: float, variant_value: float) -> float | None:
    """Relative lift (variant - control) / control, e.g. 0.25 for +25%; None when control is 0."""
    if control_value == 0:
        return None
    return (variant_value - control_value) / control_value


# --------------------------------------------------------------------------------------------------
# Evaluating a test
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VariantData:
    """What the app measured for one variant.

    ``revenue_values`` holds the attributed net revenue (minor units) of each exposed visitor who
    has any, one entry per visitor, zeros left out to keep memory small: the other
    ``visitors - len(revenue_values)`` visitors count as 0 in every statistic.
    """

    key: str
    name: str
    is_control: bool
    visitors: int
    conversions: int
    revenue_values: Sequence[int]


@dataclass(frozen=True, slots=True)
class VariantResult:
    key: str
    name: str
    is_control: bool
    visitors: int
    conversions: int
    conversion_rate: float  # conversions / visitors, 0..1 (0 without visitors)
    revenue: int  # attributed net revenue, minor units (never capped)
    revenue_per_visitor: float  # revenue / visitors, minor units (0 without visitors; never capped)
    average_order_value: float | None  # revenue / conversions, minor units; None without conversions
    lift: float | None  # revenue per visitor vs control, relative; None for control / control at 0
    conversion_lift: float | None  # conversion rate vs control, relative
    confidence: float | None  # Welch 1 - p on revenue per visitor (capped if capping); None: control
    conversion_confidence: float | None  # z-test 1 - p on conversion rate; None for the control
    chance_to_beat_control: float | None  # P(revenue per visitor > control's); None for control
    conversion_chance_to_beat_control: float | None  # P(conversion rate > control's)
    has_minimum_sample: bool  # visitors >= minimum_sample
    progress_to_threshold: float | None  # min(1, confidence / threshold); None for the control

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "is_control": self.is_control,
            "visitors": self.visitors,
            "conversions": self.conversions,
            "conversion_rate": self.conversion_rate,
            "revenue": self.revenue,
            "revenue_per_visitor": self.revenue_per_visitor,
            "average_order_value": self.average_order_value,
            "lift": self.lift,
            "conversion_lift": self.conversion_lift,
            "confidence": self.confidence,
            "conversion_confidence": self.conversion_confidence,
            "chance_to_beat_control": self.chance_to_beat_control,
            "conversion_chance_to_beat_control": self.conversion_chance_to_beat_control,
            "has_minimum_sample": self.has_minimum_sample,
            "progress_to_threshold": self.progress_to_threshold,
        }


#: Values of ``Results.outcome``.
OUTCOME_COLLECTING = "collecting_data"
OUTCOME_WINNER = "winner"
OUTCOME_NO_DIFFERENCE = "no_significant_difference"


@dataclass(frozen=True, slots=True)
class Results:
    variants: list[VariantResult]  # in the order given, control included
    srm_p_value: float  # sample-ratio-mismatch chi-square p-value, 0..1
    srm_warning: bool  # srm_p_value < 0.001
    winner: str | None  # key of the winning variant (may be the control), else None
    outcome: str  # "collecting_data" | "winner" | "no_significant_difference"
    status_text: str  # one line for people, e.g. "Variant B wins with 97.1% confidence"
    minimum_sample: int
    confidence_threshold: float
    revenue_cap: float | None  # winsorizing cap used for confidence / chance (minor units), if any

    @property
    def control(self) -> VariantResult:
        return next(v for v in self.variants if v.is_control)

    def variant(self, key: str) -> VariantResult:
        for result in self.variants:
            if result.key == key:
                return result
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict with DESIGN.md's result fields plus extras (no NaN or infinity).

        The test's lifecycle ``status`` (running, stopped…) is not known here: add it beside.
        """
        return {
            "variants": [v.to_dict() for v in self.variants],
            "srm_p_value": self.srm_p_value,
            "srm_warning": self.srm_warning,
            "winner": self.winner,
            "outcome": self.outcome,
            "status_text": self.status_text,
            "minimum_sample": self.minimum_sample,
            "confidence_threshold": self.confidence_threshold,
            "revenue_cap": self.revenue_cap,
        }


def _format_confidence(confidence: float) -> str:
    """Percent with one decimal, rounded down so 94.96% never shows as "95.0%"; ">99.9%" above."""
    if confidence > 0.999:
        return ">99.9%"
    tenths = math.floor(confidence * 1000.0 + 1e-9)
    return f"{tenths / 10:.1f}%"


def _resolve_weights(
    variants: Sequence[VariantData], weights: Sequence[float] | Mapping[str, float] | None
) -> list[float]:
    if weights is None:
        return [1.0] * len(variants)
    if isinstance(weights, Mapping):
        missing = [v.key for v in variants if v.key not in weights]
        if missing:
            raise ValueError(f"no weight for variant(s) {', '.join(missing)}")
        return [float(weights[v.key]) for v in variants]
    if len(weights) != len(variants):
        raise ValueError(f"{len(variants)} variants but {len(weights)} weights")
    return [float(w) for w in weights]


COMPARISON_FIELDS = (
    "lift",
    "conversion_lift",
    "confidence",
    "conversion_confidence",
    "chance_to_beat_control",
    "conversion_chance_to_beat_control",
    "progress_to_threshold",
)


def evaluate(
    variants: Sequence[VariantData],
    *,
    weights: Sequence[float] | Mapping[str, float] | None,
    minimum_sample: int,
    cap_percentile: float | None = None,
    confidence_threshold: float = 0.95,
) -> Results:
    """Results of a split test whose primary goal is revenue per visitor.

    * ``weights``: the configured traffic split, aligned with ``variants`` (or by key; None: even),
      used only for the sample-ratio-mismatch check.
    * ``minimum_sample``: visitors every variant needs before a winner can be declared.
    * ``cap_percentile``: when set (e.g. 99), per-visitor revenue is winsorized at that percentile of
      the positive values pooled over all variants before the Welch test and the chance to beat
      control; displayed revenue, revenue per visitor and lift stay the real (uncapped) figures.
    * Each challenger is compared with the control alone (no multiple-comparison correction).

    Winner: only once every variant has ``minimum_sample`` visitors. Then, among challengers whose
    revenue per visitor beats the control's (capped figures when capping) with confidence >=
    ``confidence_threshold``, the one with the highest revenue per visitor; if there is none but
    every challenger is worse than the control with confidence >= threshold, the control; else
    None. A sample-ratio mismatch does not change the winner but is flagged (``srm_warning``) and
    appended to ``status_text``: results under a broken split should not be trusted.
    """
    if not variants:
        raise ValueError("a split test needs at least one variant")
    controls = [v for v in variants if v.is_control]
    if len(controls) != 1:
        raise ValueError(f"exactly one variant must be the control (got {len(controls)})")
    keys = [v.key for v in variants]
    if len(set(keys)) != len(keys):
        raise ValueError("variant keys must be unique")
    _check_count("minimum_sample", minimum_sample)
    _check_fraction("confidence_threshold", confidence_threshold, "0.95")
    for v in variants:
        _check_conversions(v.conversions, v.visitors, f"variant {v.key!r}")
        if len(v.revenue_values) > v.visitors:
            raise ValueError(
                f"variant {v.key!r} has {len(v.revenue_values)} revenue values but {v.visitors} visitors"
            )
        if any(not math.isfinite(x) for x in v.revenue_values):
            raise ValueError(f"variant {v.key!r} has a revenue value that is not a finite number")
    weight_list = _resolve_weights(variants, weights)

    cap = (
        revenue_cap((v.revenue_values for v in variants), cap_percentile)
        if cap_percentile is not None
        else None
    )

    def stats(v: VariantData) -> Summary:
        values: Iterable[float] = v.revenue_values
        if cap is not None:
            values = cap_outliers(v.revenue_values, cap=cap)
        values = list(values)
        if all(isinstance(x, int) for x in values):
            return stats_from_sums(v.visitors, sum(values), sum(x * x for x in values))
        return stats_from_sums(v.visitors, math.fsum(values), math.fsum(x * x for x in values))

    control = controls[0]
    control_stats = stats(control)
    control_rate = control.conversions / control.visitors if control.visitors else 0.0
    control_revenue = sum(control.revenue_values)
    control_rpv = control_revenue / control.visitors if control.visitors else 0.0

    results: list[VariantResult] = []
    tested: list[tuple[VariantData, Summary, TTest]] = []
    for v in variants:
        total = sum(v.revenue_values)
        revenue = total if isinstance(total, int) else round(total)
        rpv = total / v.visitors if v.visitors else 0.0
        rate = v.conversions / v.visitors if v.visitors else 0.0
        aov = total / v.conversions if v.conversions else None
        common = {
            "key": v.key,
            "name": v.name,
            "is_control": v.is_control,
            "visitors": v.visitors,
            "conversions": v.conversions,
            "conversion_rate": rate,
            "revenue": revenue,
            "revenue_per_visitor": rpv,
            "average_order_value": aov,
            "has_minimum_sample": v.visitors >= minimum_sample,
        }
        if v.is_control:
            # The control is what the others are compared with: it has no comparison figures.
            results.append(VariantResult(**common, **dict.fromkeys(COMPARISON_FIELDS)))
            continue
        own = stats(v)
        welch = welch_from_stats(
            control_stats.mean, control_stats.variance, control_stats.n, own.mean, own.variance, own.n
        )
        ztest = two_proportion_test(control.conversions, control.visitors, v.conversions, v.visitors)
        tested.append((v, own, welch))
        results.append(
            VariantResult(
                **common,
                lift=lift(control_rpv, rpv),
                conversion_lift=lift(control_rate, rate),
                confidence=welch.confidence,
                conversion_confidence=ztest.confidence,
                chance_to_beat_control=revenue_chance_to_beat_control(control_stats, own),
                conversion_chance_to_beat_control=conversion_chance_to_beat_control(
                    control.conversions, control.visitors, v.conversions, v.visitors
                ),
                progress_to_threshold=min(1.0, welch.confidence / confidence_threshold),
            )
        )

    srm = srm_check([v.visitors for v in variants], weight_list)

    winner: VariantData | None = None
    winner_confidence = 0.0
    enough = all(v.visitors >= minimum_sample for v in variants)
    if enough and tested:
        better = [
            (v, own, welch)
            for v, own, welch in tested
            if welch.confidence >= confidence_threshold and own.mean > control_stats.mean
        ]
        worse = [
            welch
            for _, own, welch in tested
            if welch.confidence >= confidence_threshold and own.mean < control_stats.mean
        ]
        if better:
            best = max(better, key=lambda item: (item[1].mean, item[2].confidence))
            winner, winner_confidence = best[0], best[2].confidence
        elif len(worse) == len(tested):
            winner, winner_confidence = control, min(w.confidence for w in worse)

    if not enough:
        outcome = OUTCOME_COLLECTING
        fewest = min(v.visitors for v in variants)
        status = f"Collecting data: {fewest:,} of {minimum_sample:,} visitors per variant"
    elif winner is not None:
        outcome = OUTCOME_WINNER
        status = f"{winner.name} wins with {_format_confidence(winner_confidence)} confidence"
    else:
        outcome = OUTCOME_NO_DIFFERENCE
        status = "No significant difference yet"
    if srm.is_mismatch:
        status += f" (sample ratio mismatch, p = {srm.p_value:.1g}: check the traffic split)"

    return Results(
        variants=results,
        srm_p_value=srm.p_value,
        srm_warning=srm.is_mismatch,
        winner=winner.key if winner is not None else None,
        outcome=outcome,
        status_text=status,
        minimum_sample=minimum_sample,
        confidence_threshold=confidence_threshold,
        revenue_cap=cap,
    )
