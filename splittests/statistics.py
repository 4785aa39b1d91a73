"""Statistics for split tests, including tests whose goal is revenue.

Pure functions and frozen dataclasses: no Django, so they can be called from the verdict
(``splittests.results``), views, tasks and the benchmark alike, and tested against independent
references.

Units and conventions
---------------------
* Money is an integer in the currency's smallest unit (cents for USD). Sums of money stay ``int``;
  per-visitor figures (means, revenue per visitor) are ``float`` in the same minor units.
* Rates, probabilities, p-values and confidences are fractions in ``0..1`` (0.95, not 95).
* Every metric is a mean per visitor: a conversion rate is the mean of 0/1 values. A challenger is
  tested against the control on the difference of the means (normal approximation, unpooled
  variances). The relative interval (on mean_b / mean_a - 1) is Fieller's: the ratios that the
  same test does not reject, so it leaves out zero exactly when the absolute interval does. It is
  None (unbounded) while the control's own mean is not clearly above zero.
* Variance is the sample variance (denominator ``n - 1``); a group of fewer than two has variance 0.
  A comparison that is undefined (fewer than two visitors, no variation at all) has ``p_value`` 1.0
  and no interval; nothing here divides by zero or returns NaN.

Sequential ("always valid") inference
-------------------------------------
A fixed-horizon p-value is valid only when it is read once, at a sample size chosen in advance:
read every day and stopped at the first "significant" day, an A/A test finds a false winner far
more often than 5%. The sequential mode uses a normal-mixture sequential probability ratio test
(mSPRT, Johari et al. 2017) whose intervals are the asymptotic confidence sequences GrowthBook
uses (Howard et al. 2021, Waudby-Smith et al. 2023). With V the variance of the estimate, z the
estimate over sqrt(V) and n the visitors of both groups:

    k = rho² n,  rho² = (-2 ln 0.05 + ln(1 - 2 ln 0.05)) / N*     (N* = ``SEQUENTIAL_TUNING``)
    likelihood ratio   L = exp(z² k / (2 (1 + k))) / sqrt(1 + k)
    p-value            p = min(1, 1 / L)
    interval           estimate ± sqrt(V (1 + k) / k · (2 ln(1 / alpha) + ln(1 + k)))

p < alpha exactly when the interval at level alpha leaves out zero, and the chance that p ever
drops below alpha while the test runs, however often it is looked at, is at most alpha. The price:
wider intervals than one fixed-horizon look (the narrowest, relative to it, around N* visitors).

Special functions are scipy.special's ``ndtr``/``ndtri`` (normal) and ``chdtrc`` (chi-square):
what ``scipy.stats.norm`` and ``scipy.stats.chi2`` call underneath. Measured: a ``scipy.stats``
call spends about 65 µs on argument handling against 0.2 µs for the function itself, and the
benchmark (bench/splittests.py) makes about a million of them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

from scipy import special

#: A sample-ratio-mismatch is flagged when the chi-square p-value is below this (GrowthBook's
#: default). It is deliberately strict: with real traffic a p-value this small almost always means
#: broken assignment or tracking (redirect losses, bots, caching), not chance.
SRM_P_VALUE_THRESHOLD = 0.001

#: N*: the visitors (both groups together) around which the sequential interval is narrowest;
#: GrowthBook's default. Any value keeps the guarantee; it only moves where the width is spent.
SEQUENTIAL_TUNING = 5000

SEQUENTIAL = "sequential"
FIXED_HORIZON = "fixed_horizon"

Interval = tuple[float, float]


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
# Per-visitor summaries
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


# --------------------------------------------------------------------------------------------------
# Comparing a challenger with the control
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Comparison:
    """A challenger (B) against the control (A) on one per-visitor metric."""

    difference: float  # mean_b - mean_a
    relative: float | None  # mean_b / mean_a - 1; None when the control's mean is 0
    z: float  # difference / sqrt(variance); 0 when undefined
    n: int  # visitors of both groups
    variance: float  # of the difference: var_a / n_a + var_b / n_b; 0 when undefined
    control: Summary
    variant: Summary
    p_value: float  # two-sided, of "no difference"; 1.0 when undefined
    method: str  # SEQUENTIAL or FIXED_HORIZON

    def intervals(self, alpha: float) -> tuple[Interval | None, Interval | None]:
        """(absolute, relative) intervals at level 1 - alpha; None where undefined or unbounded."""
        if not self.variance > 0.0:
            return None, None
        critical = _half_width(1.0, self.n, alpha, self.method)
        half = critical * math.sqrt(self.variance)
        absolute = (self.difference - half, self.difference + half)
        return absolute, _fieller(self.control, self.variant, critical)

    @property
    def chance_to_beat_control(self) -> float:
        """P(B > A) with a normal posterior for each mean (flat priors): Phi(difference / sd)."""
        if not self.variance > 0.0:
            return 0.5
        return float(special.ndtr(self.difference / math.sqrt(self.variance)))


#: The mixture is tuned once, for the 95% threshold; its p-values and intervals stay valid at every
#: level, which is what a correction for several challengers needs.
_RHO_SQUARED = (-2.0 * math.log(0.05) + math.log(1.0 - 2.0 * math.log(0.05))) / SEQUENTIAL_TUNING


def _p_value(z: float, n: int, method: str) -> float:
    if method == FIXED_HORIZON:
        return min(1.0, 2.0 * float(special.ndtr(-abs(z))))
    k = _RHO_SQUARED * n
    log_ratio = z * z * k / (2.0 * (1.0 + k)) - 0.5 * math.log1p(k)
    return 1.0 if log_ratio <= 0.0 else math.exp(-log_ratio)


def _half_width(variance: float, n: int, alpha: float, method: str) -> float:
    if method == FIXED_HORIZON:
        return float(special.ndtri(1.0 - alpha / 2.0)) * math.sqrt(variance)
    k = _RHO_SQUARED * n
    return math.sqrt(variance * (1.0 + k) / k * (2.0 * math.log(1.0 / alpha) + math.log1p(k)))


def _fieller(a: Summary, b: Summary, critical: float) -> Interval | None:
    """Ratios r = mean_b / mean_a (minus 1) with (mean_b - r mean_a)² <= c² (v_b + r² v_a)."""
    va, vb = a.variance / a.n, b.variance / b.n
    c2 = critical * critical
    leading = a.mean * a.mean - c2 * va
    discriminant = a.mean**2 * vb + b.mean**2 * va - c2 * va * vb
    if leading <= 0.0 or discriminant < 0.0:
        return None
    root = critical * math.sqrt(discriminant)
    return ((a.mean * b.mean - root) / leading - 1.0, (a.mean * b.mean + root) / leading - 1.0)


def compare(control: Summary, variant: Summary, method: str = SEQUENTIAL) -> Comparison:
    """Compare the per-visitor means of ``variant`` and ``control``.

    ``method``: ``SEQUENTIAL`` (valid at every look) or ``FIXED_HORIZON`` (valid for one look at a
    sample size planned in advance).
    """
    if method not in (SEQUENTIAL, FIXED_HORIZON):
        raise ValueError(f'method must be "{SEQUENTIAL}" or "{FIXED_HORIZON}" (got {method!r})')
    a, b = control, variant
    difference = b.mean - a.mean
    relative = difference / a.mean if a.mean > 0 else None
    n = a.n + b.n
    variance = a.variance / a.n + b.variance / b.n if a.n >= 2 and b.n >= 2 else 0.0
    if not variance > 0.0:
        return Comparison(difference, relative, 0.0, n, 0.0, a, b, 1.0, method)
    z = difference / math.sqrt(variance)
    return Comparison(difference, relative, z, n, variance, a, b, _p_value(z, n, method), method)


def holm(p_values: Sequence[float], alpha: float) -> tuple[list[float], list[float]]:
    """Holm's step-down correction for several challengers against one control.

    Returns (adjusted p-values, interval levels), each in the order given. Adjusted p: the running
    maximum of (m - rank) · p over the sorted p-values, at most 1. Level: alpha / (m - rank) while
    every smaller p-value was rejected, else alpha / m; so an interval leaves out zero exactly when
    its adjusted p-value is below alpha. A single p-value is left as it is, at level alpha.
    """
    m = len(p_values)
    adjusted = [1.0] * m
    levels = [alpha / max(m, 1)] * m
    running = 0.0
    rejecting = True
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
        rejecting = rejecting and running < alpha
        if rejecting:
            levels[index] = alpha / (m - rank)
    return adjusted, levels


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
    z_alpha = float(special.ndtri(1.0 - (1.0 - significance) / 2.0))
    z_beta = float(special.ndtri(power))
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
