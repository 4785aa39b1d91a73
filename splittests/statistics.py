"""Statistics for split tests, including tests whose goal is revenue.

Pure functions and frozen dataclasses: no Django, so they can be called from the verdict
(``splittests.results``), views and tasks alike, and tested against independent references.

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

The Student t and chi-square tails are SciPy's ``scipy.special.stdtr`` and ``chdtrc``: the functions
``scipy.stats.t.sf`` and ``scipy.stats.chi2.sf`` call, without the ~40 µs of argument handling per
call of the distribution objects, and with half of ``scipy.stats``' import time. The normal comes
from the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import NamedTuple

from scipy import special

__all__ = [
    "SRM_P_VALUE_THRESHOLD",
    "Srm",
    "Summary",
    "TTest",
    "ZTest",
    "cap_outliers",
    "chance_to_beat_control",
    "check_conversions",
    "check_count",
    "check_fraction",
    "conversion_chance_to_beat_control",
    "lift",
    "revenue_cap",
    "revenue_chance_to_beat_control",
    "sample_size_per_variant",
    "srm_check",
    "stats_from_sums",
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


# --------------------------------------------------------------------------------------------------
# Checking arguments
# --------------------------------------------------------------------------------------------------


def check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer (got {value!r})")


def check_conversions(conversions: int, visitors: int, label: str) -> None:
    check_count(f"visitors of {label}", visitors)
    check_count(f"conversions of {label}", conversions)
    if conversions > visitors:
        raise ValueError(f"conversions of {label} ({conversions}) exceed its visitors ({visitors})")


def check_fraction(name: str, value: float, example: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 < value < 1.0:
        raise ValueError(
            f"{name} must be a fraction strictly between 0 and 1, e.g. {example} (got {value!r})"
        )


# --------------------------------------------------------------------------------------------------
# Two-sided tails
# --------------------------------------------------------------------------------------------------


def _t_two_sided(t: float, df: float) -> float:
    """P(|T| >= |t|) for Student's t with df > 0 degrees of freedom (not necessarily whole)."""
    return min(1.0, 2.0 * float(special.stdtr(df, -abs(t))))


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


def two_proportion_test(conv_a: int, n_a: int, conv_b: int, n_b: int) -> ZTest:
    """Pooled two-proportion z-test: does B's conversion rate differ from A's?

    z = (p_b - p_a) / sqrt(p (1 - p) (1/n_a + 1/n_b)) with the pooled rate p = (conv_a + conv_b) /
    (n_a + n_b). When either group has no visitors, or nobody / everybody converted (no variation),
    the test is undefined: z = 0 and p_value = 1.0.
    """
    check_conversions(conv_a, n_a, "A")
    check_conversions(conv_b, n_b, "B")
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
    check_count("n", n)
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
    check_count("n_a", n_a)
    check_count("n_b", n_b)
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
    check_conversions(conv_a, n_a, "A")
    check_conversions(conv_b, n_b, "B")
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
        check_count("observed count", count)
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
    p_value = float(special.chdtrc(df, statistic))
    return Srm(tuple(observed), expected, statistic, df, p_value, p_value < SRM_P_VALUE_THRESHOLD)


# --------------------------------------------------------------------------------------------------
# Planning: sample size and duration
# --------------------------------------------------------------------------------------------------


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
    check_fraction("baseline_rate", baseline_rate, "0.04 for 4%")
    check_fraction("significance", significance, "0.95")
    check_fraction("power", power, "0.8")
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
