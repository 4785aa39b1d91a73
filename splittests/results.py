"""The verdict of a split test: each variant's figures, its comparison with the control, the winner.

``evaluate`` turns what was measured for each variant (``measure.VariantData``) into ``Results``
with the functions of ``splittests.statistics``, whose docstring gives the units and conventions;
``results_for`` measures a stored test and evaluates it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from splittests.measure import VariantData, collect
from splittests.models import SplitTest
from splittests.statistics import (
    Srm,
    Summary,
    TTest,
    cap_outliers,
    check_conversions,
    check_count,
    check_fraction,
    conversion_chance_to_beat_control,
    lift,
    revenue_cap,
    revenue_chance_to_beat_control,
    srm_check,
    stats_from_sums,
    two_proportion_test,
    welch_from_stats,
)

__all__ = [
    "COMPARISON_FIELDS",
    "OUTCOME_COLLECTING",
    "OUTCOME_NO_DIFFERENCE",
    "OUTCOME_WINNER",
    "Results",
    "VariantResult",
    "evaluate",
    "results_for",
]


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
    control = _check_variants(variants, minimum_sample, confidence_threshold)
    weight_list = _resolve_weights(variants, weights)
    cap = (
        revenue_cap((v.revenue_values for v in variants), cap_percentile)
        if cap_percentile is not None
        else None
    )
    baseline = _baseline(control, cap)
    results, tested = _variant_results(variants, baseline, cap, minimum_sample, confidence_threshold)
    srm = srm_check([v.visitors for v in variants], weight_list)
    enough = all(v.visitors >= minimum_sample for v in variants)
    winner, winner_confidence = (
        _winner(tested, baseline, confidence_threshold) if enough and tested else (None, 0.0)
    )
    outcome, status = _outcome(variants, minimum_sample, enough, winner, winner_confidence, srm)
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


def _check_variants(
    variants: Sequence[VariantData], minimum_sample: int, confidence_threshold: float
) -> VariantData:
    """Reject inconsistent input with a ValueError; return the control."""
    if not variants:
        raise ValueError("a split test needs at least one variant")
    controls = [v for v in variants if v.is_control]
    if len(controls) != 1:
        raise ValueError(f"exactly one variant must be the control (got {len(controls)})")
    keys = [v.key for v in variants]
    if len(set(keys)) != len(keys):
        raise ValueError("variant keys must be unique")
    check_count("minimum_sample", minimum_sample)
    check_fraction("confidence_threshold", confidence_threshold, "0.95")
    for v in variants:
        check_conversions(v.conversions, v.visitors, f"variant {v.key!r}")
        if len(v.revenue_values) > v.visitors:
            raise ValueError(
                f"variant {v.key!r} has {len(v.revenue_values)} revenue values but {v.visitors} visitors"
            )
        if any(not math.isfinite(x) for x in v.revenue_values):
            raise ValueError(f"variant {v.key!r} has a revenue value that is not a finite number")
    return controls[0]


def _revenue_stats(variant: VariantData, cap: float | None) -> Summary:
    """Revenue per visitor of every visitor (zeros included), winsorized at ``cap`` if one is given."""
    values: Iterable[float] = variant.revenue_values
    if cap is not None:
        values = cap_outliers(variant.revenue_values, cap=cap)
    values = list(values)
    if all(isinstance(x, int) for x in values):
        return stats_from_sums(variant.visitors, sum(values), sum(x * x for x in values))
    return stats_from_sums(variant.visitors, math.fsum(values), math.fsum(x * x for x in values))


class _Baseline(NamedTuple):
    """The control, as every challenger is compared with it."""

    variant: VariantData
    stats: Summary  # revenue per visitor, capped when capping
    conversion_rate: float
    revenue_per_visitor: float  # never capped


class _Tested(NamedTuple):
    """A challenger with its revenue per visitor and the Welch test of it against the control."""

    variant: VariantData
    stats: Summary
    welch: TTest


def _baseline(control: VariantData, cap: float | None) -> _Baseline:
    stats = _revenue_stats(control, cap)
    rate = control.conversions / control.visitors if control.visitors else 0.0
    revenue = sum(control.revenue_values)
    return _Baseline(control, stats, rate, revenue / control.visitors if control.visitors else 0.0)


def _figures(v: VariantData, minimum_sample: int) -> dict[str, Any]:
    """The fields of a VariantResult that need no control: the real (never capped) figures."""
    total = sum(v.revenue_values)
    return {
        "key": v.key,
        "name": v.name,
        "is_control": v.is_control,
        "visitors": v.visitors,
        "conversions": v.conversions,
        "conversion_rate": v.conversions / v.visitors if v.visitors else 0.0,
        "revenue": total if isinstance(total, int) else round(total),
        "revenue_per_visitor": total / v.visitors if v.visitors else 0.0,
        "average_order_value": total / v.conversions if v.conversions else None,
        "has_minimum_sample": v.visitors >= minimum_sample,
    }


def _variant_results(
    variants: Sequence[VariantData],
    baseline: _Baseline,
    cap: float | None,
    minimum_sample: int,
    confidence_threshold: float,
) -> tuple[list[VariantResult], list[_Tested]]:
    """Every variant's result, in the order given, and the challengers' Welch tests."""
    results: list[VariantResult] = []
    tested: list[_Tested] = []
    for v in variants:
        figures = _figures(v, minimum_sample)
        if v.is_control:
            # The control is what the others are compared with: it has no comparison figures.
            results.append(VariantResult(**figures, **dict.fromkeys(COMPARISON_FIELDS)))
            continue
        own = _revenue_stats(v, cap)
        welch = welch_from_stats(
            baseline.stats.mean, baseline.stats.variance, baseline.stats.n, own.mean, own.variance, own.n
        )
        tested.append(_Tested(v, own, welch))
        results.append(_challenger_result(figures, tested[-1], baseline, confidence_threshold))
    return results, tested


def _challenger_result(
    figures: dict[str, Any], tested: _Tested, baseline: _Baseline, confidence_threshold: float
) -> VariantResult:
    v, own, welch = tested
    control = baseline.variant
    ztest = two_proportion_test(control.conversions, control.visitors, v.conversions, v.visitors)
    return VariantResult(
        **figures,
        lift=lift(baseline.revenue_per_visitor, figures["revenue_per_visitor"]),
        conversion_lift=lift(baseline.conversion_rate, figures["conversion_rate"]),
        confidence=welch.confidence,
        conversion_confidence=ztest.confidence,
        chance_to_beat_control=revenue_chance_to_beat_control(baseline.stats, own),
        conversion_chance_to_beat_control=conversion_chance_to_beat_control(
            control.conversions, control.visitors, v.conversions, v.visitors
        ),
        progress_to_threshold=min(1.0, welch.confidence / confidence_threshold),
    )


def _winner(
    tested: Sequence[_Tested], baseline: _Baseline, confidence_threshold: float
) -> tuple[VariantData | None, float]:
    """The best challenger that beats the control with enough confidence; else the control if
    every challenger is worse than it with enough confidence; else None. Also its confidence."""
    sure = [t for t in tested if t.welch.confidence >= confidence_threshold]
    better = [t for t in sure if t.stats.mean > baseline.stats.mean]
    worse = [t for t in sure if t.stats.mean < baseline.stats.mean]
    if better:
        best = max(better, key=lambda t: (t.stats.mean, t.welch.confidence))
        return best.variant, best.welch.confidence
    if len(worse) == len(tested):
        return baseline.variant, min(t.welch.confidence for t in worse)
    return None, 0.0


def _outcome(
    variants: Sequence[VariantData],
    minimum_sample: int,
    enough: bool,
    winner: VariantData | None,
    winner_confidence: float,
    srm: Srm,
) -> tuple[str, str]:
    """``Results.outcome`` and the one-line status shown to people."""
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
    return outcome, status


def results_for(test: SplitTest, now: dt.datetime | None = None) -> tuple[Results, str | None]:
    """The results of a stored test, measured up to its stop (or ``now``), and the currency its
    revenue figures are in (None when the site has no payment to pick one from)."""
    data, currency = collect(test, now)
    weights = [v.weight for v in test.variants.all()]
    results = evaluate(
        data,
        weights=weights,
        minimum_sample=test.minimum_sample,
        cap_percentile=test.cap_percentile,
    )
    return results, currency
