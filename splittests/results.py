"""The verdict of a split test: each variant's figures, its comparison with the control, the winner.

``evaluate`` turns what was measured for each variant (``measure.VariantData``) into ``Results``
with the functions of ``splittests.statistics`` (whose docstring gives the units, conventions and
the sequential method); ``results_for`` measures a stored test and evaluates it.

The rules, in the order they apply:

* Capping: when the test caps outliers, each visitor's revenue is capped at the percentile of the
  buyers' revenue pooled over all variants, and every money figure (revenue, revenue per visitor,
  average order, lift, confidence, interval) uses the capped amounts.
* The primary metric decides: conversion rate for a page-view goal or a site's goal, revenue per
  visitor for a revenue goal. Both metrics are compared and shown either way.
* With several challengers, p-values are corrected with Holm's method, per metric.
* Guards: no winner while any variant is below the minimum visitors or conversions, while the
  control has no conversion, or while the traffic split is off (sample ratio mismatch).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from splittests import statistics as st
from splittests.measure import VariantData, collect
from splittests.models import SplitTest

__all__ = [
    "OUTCOME_COLLECTING",
    "OUTCOME_NO_DIFFERENCE",
    "OUTCOME_SAMPLE_RATIO_MISMATCH",
    "OUTCOME_WINNER",
    "MetricResult",
    "Results",
    "VariantResult",
    "evaluate",
    "format_confidence",
    "results_for",
]

#: Values of ``Results.outcome``.
OUTCOME_COLLECTING = "collecting_data"
OUTCOME_WINNER = "winner"
OUTCOME_NO_DIFFERENCE = "no_significant_difference"
OUTCOME_SAMPLE_RATIO_MISMATCH = "sample_ratio_mismatch"

CONVERSION_RATE = "conversion_rate"
REVENUE_PER_VISITOR = "revenue_per_visitor"
METRIC_LABELS = {CONVERSION_RATE: "conversion rate", REVENUE_PER_VISITOR: "revenue per visitor"}


@dataclass(frozen=True, slots=True)
class MetricResult:
    """A challenger against the control on one metric (Holm-corrected with 3+ variants)."""

    lift: float | None  # relative, e.g. 0.12 for +12%; None when the control's figure is 0
    difference: float  # absolute: variant - control (a rate, or minor units per visitor)
    confidence: float  # 1 - corrected p-value
    chance_to_beat_control: float
    absolute_interval: st.Interval | None
    relative_interval: st.Interval | None
    is_significant: bool  # confidence >= the threshold (both intervals leave out zero)

    def to_dict(self) -> dict[str, Any]:
        return {
            "lift": self.lift,
            "difference": self.difference,
            "confidence": self.confidence,
            "chance_to_beat_control": self.chance_to_beat_control,
            "absolute_interval": list(self.absolute_interval) if self.absolute_interval else None,
            "relative_interval": list(self.relative_interval) if self.relative_interval else None,
        }


@dataclass(frozen=True, slots=True)
class VariantResult:
    key: str
    name: str
    is_control: bool
    visitors: int
    conversions: int
    orders: int  # payments in the test's currency
    conversion_rate: float  # conversions / visitors, 0..1 (0 without visitors)
    revenue: int  # attributed net revenue, minor units, capped when the test caps
    revenue_per_visitor: float  # revenue / visitors, minor units (capped likewise)
    average_order_value: float | None  # revenue / orders (capped likewise); None without orders
    uncapped_revenue: int
    capped_visitors: int  # visitors whose revenue was above the cap
    has_minimum_sample: bool  # visitors >= minimum_sample
    conversion: MetricResult | None = None  # None for the control
    revenue_metric: MetricResult | None = None
    primary: MetricResult | None = None  # one of the two: the metric that decides
    progress_to_threshold: float | None = None  # confidence / threshold; 1.0 only once reached

    # DESIGN.md's fields: the primary metric's.
    @property
    def lift(self) -> float | None:
        return self.primary.lift if self.primary else None

    @property
    def confidence(self) -> float | None:
        return self.primary.confidence if self.primary else None

    @property
    def chance_to_beat_control(self) -> float | None:
        return self.primary.chance_to_beat_control if self.primary else None

    @property
    def lift_interval(self) -> st.Interval | None:
        return self.primary.relative_interval if self.primary else None

    def to_dict(self) -> dict[str, Any]:
        conversion, revenue = self.conversion, self.revenue_metric
        return {
            **{name: getattr(self, name) for name in _FIGURES},
            "lift": self.lift,
            "confidence": self.confidence,
            "chance_to_beat_control": self.chance_to_beat_control,
            "lift_interval": list(self.lift_interval) if self.lift_interval else None,
            "conversion_lift": conversion.lift if conversion else None,
            "conversion_confidence": conversion.confidence if conversion else None,
            "conversion_chance_to_beat_control": conversion.chance_to_beat_control if conversion else None,
            "revenue_lift": revenue.lift if revenue else None,
            "revenue_confidence": revenue.confidence if revenue else None,
            "intervals": {
                CONVERSION_RATE: conversion.to_dict() if conversion else None,
                REVENUE_PER_VISITOR: revenue.to_dict() if revenue else None,
            },
            "progress_to_threshold": self.progress_to_threshold,
        }


_FIGURES = (
    "key",
    "name",
    "is_control",
    "visitors",
    "conversions",
    "orders",
    "conversion_rate",
    "revenue",
    "revenue_per_visitor",
    "average_order_value",
    "uncapped_revenue",
    "capped_visitors",
    "has_minimum_sample",
)


@dataclass(frozen=True, slots=True)
class Results:
    variants: list[VariantResult]  # in the order given, control included
    srm_p_value: float  # sample-ratio-mismatch chi-square p-value, 0..1
    srm_warning: bool  # srm_p_value < 0.001
    winner: str | None  # key of the winning variant (may be the control), else None
    outcome: str  # one of the OUTCOME_* values
    status_text: str  # one line for people, e.g. "Variant B wins: +12.0% revenue per visitor …"
    guards: list[str]  # why there is no winner yet, one sentence each (empty when none applies)
    method: str  # "sequential" | "fixed_horizon"
    metric: str  # the primary metric: "conversion_rate" | "revenue_per_visitor"
    minimum_sample: int
    minimum_conversions: int
    confidence_threshold: float
    cap_percentile: float | None
    revenue_cap: float | None  # per-visitor cap (minor units) applied to every money figure
    excluded_payments: dict[str, int] = field(default_factory=dict)  # currency → payments left out

    @property
    def control(self) -> VariantResult:
        return next(v for v in self.variants if v.is_control)

    def variant(self, key: str) -> VariantResult:
        for result in self.variants:
            if result.key == key:
                return result
        raise KeyError(key)

    @property
    def capped_visitors(self) -> int:
        return sum(v.capped_visitors for v in self.variants)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict with DESIGN.md's result fields plus extras (no NaN or infinity).

        The test's lifecycle ``status`` (running, stopped…) is not known here: add it beside.
        """
        return {
            "variants": [v.to_dict() for v in self.variants],
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)[1:]},
            "capped_visitors": self.capped_visitors,
        }


def format_confidence(confidence: float) -> str:
    """Percent with one decimal, rounded down so 94.96% never shows as "95.0%"; ">99.9%" above."""
    if confidence > 0.999:
        return ">99.9%"
    tenths = math.floor(confidence * 1000.0 + 1e-9)
    return f"{tenths / 10:.1f}%"


def format_interval(interval: st.Interval) -> str:
    """A relative interval in percent, rounded outwards so it never looks narrower than it is."""
    low = math.floor(interval[0] * 1000.0) / 10
    high = math.ceil(interval[1] * 1000.0) / 10
    return f"{low:+.1f}% to {high:+.1f}%"


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
    st.check_count("minimum_sample", minimum_sample)
    st.check_fraction("confidence_threshold", confidence_threshold, "0.95")
    for v in variants:
        st.check_conversions(v.conversions, v.visitors, f"variant {v.key!r}")
        st.check_count(f"orders of variant {v.key!r}", v.orders)
        if len(v.revenue_values) > v.visitors:
            raise ValueError(
                f"variant {v.key!r} has {len(v.revenue_values)} revenue values but {v.visitors} visitors"
            )
        if any(not math.isfinite(x) for x in v.revenue_values):
            raise ValueError(f"variant {v.key!r} has a revenue value that is not a finite number")
    return controls[0]


def _summaries(v: VariantData, cap: float | None) -> tuple[st.Summary, st.Summary, list[float] | list[int]]:
    """(conversion, revenue per visitor, the revenue values used): capped when ``cap`` is set."""
    values = st.cap_outliers(v.revenue_values, cap=cap) if cap is not None else list(v.revenue_values)
    conversion = st.stats_from_sums(v.visitors, v.conversions, v.conversions)
    if all(isinstance(x, int) for x in values):
        revenue = st.stats_from_sums(v.visitors, sum(values), sum(x * x for x in values))
    else:
        revenue = st.stats_from_sums(v.visitors, math.fsum(values), math.fsum(x * x for x in values))
    return conversion, revenue, values


def _metric_results(comparisons: Sequence[st.Comparison], alpha: float) -> list[MetricResult]:
    """One metric's comparisons, Holm-corrected across the challengers."""
    adjusted, levels = st.holm([c.p_value for c in comparisons], alpha)
    out = []
    for comparison, p_value, level in zip(comparisons, adjusted, levels, strict=True):
        absolute, relative = comparison.intervals(level)
        out.append(
            MetricResult(
                lift=comparison.relative,
                difference=comparison.difference,
                confidence=1.0 - p_value,
                chance_to_beat_control=comparison.chance_to_beat_control,
                absolute_interval=absolute,
                relative_interval=relative,
                is_significant=p_value < alpha,
            )
        )
    return out


def _variant_results(
    variants: Sequence[VariantData], control: VariantData, cap: float | None, options: _Options
) -> list[VariantResult]:
    summaries = {v.key: _summaries(v, cap) for v in variants}
    challengers = [v for v in variants if not v.is_control]
    base_conversion, base_revenue, _ = summaries[control.key]
    metrics = {}
    for index, base in ((0, base_conversion), (1, base_revenue)):
        comparisons = [st.compare(base, summaries[v.key][index], options.method) for v in challengers]
        metrics[index] = dict(
            zip([v.key for v in challengers], _metric_results(comparisons, options.alpha), strict=True)
        )
    results = []
    for v in variants:
        _, _, values = summaries[v.key]
        primary = metrics[0 if options.metric == CONVERSION_RATE else 1].get(v.key)
        revenue = sum(values)
        revenue = revenue if isinstance(revenue, int) else round(revenue)
        conversion, revenue_metric = metrics[0].get(v.key), metrics[1].get(v.key)
        results.append(
            VariantResult(
                key=v.key,
                name=v.name,
                is_control=v.is_control,
                visitors=v.visitors,
                conversions=v.conversions,
                orders=v.orders,
                conversion_rate=v.conversions / v.visitors if v.visitors else 0.0,
                revenue=revenue,
                revenue_per_visitor=revenue / v.visitors if v.visitors else 0.0,
                average_order_value=revenue / v.orders if v.orders else None,
                uncapped_revenue=sum(v.revenue_values),
                capped_visitors=sum(1 for x in v.revenue_values if cap is not None and x > cap),
                has_minimum_sample=v.visitors >= options.minimum_sample,
                conversion=conversion,
                revenue_metric=revenue_metric,
                primary=primary,
                progress_to_threshold=_progress(primary, options.alpha),
            )
        )
    return results


def _progress(primary: MetricResult | None, alpha: float) -> float | None:
    """Share of the way to the threshold: 1.0 only once it is reached (never rounded up to it)."""
    if primary is None:
        return None
    return 1.0 if primary.is_significant else min(0.999, primary.confidence / (1.0 - alpha))


@dataclass(frozen=True, slots=True)
class _Options:
    method: str
    metric: str
    alpha: float
    minimum_sample: int
    minimum_conversions: int


def _guards(
    variants: Sequence[VariantData], control: VariantData, srm: st.Srm, options: _Options
) -> list[tuple[str, str]]:
    """Why no winner can be declared yet: (short reason, explanation) each."""
    guards = []
    fewest = min(v.visitors for v in variants)
    if fewest < options.minimum_sample:
        short = f"{fewest:,} of {options.minimum_sample:,} visitors in the smallest variant"
        if options.method == st.FIXED_HORIZON:
            guards.append(
                (
                    short,
                    (
                        f"Fixed horizon: the result is read once every variant has its planned "
                        f"{options.minimum_sample:,} visitors (the fewest has {fewest:,}); read earlier, a "
                        "fixed-horizon result finds false winners far more often than its confidence says."
                    ),
                )
            )
        else:
            guards.append(
                (
                    short,
                    (
                        f"Every variant needs {options.minimum_sample:,} visitors before a winner "
                        f"(the fewest has {fewest:,})."
                    ),
                )
            )
    if control.conversions == 0:
        guards.append(
            (
                "the control has no conversions yet",
                (
                    "The control has no conversions yet: against a baseline of zero no lift can be "
                    "measured, and a few conversions elsewhere would look like a certain win."
                ),
            )
        )
    short_of = [v for v in variants if v.conversions < options.minimum_conversions]
    if short_of:
        listed = ", ".join(f"{v.name} has {v.conversions:,}" for v in short_of[:3])
        more = f" and {len(short_of) - 3} more" if len(short_of) > 3 else ""
        guards.append(
            (
                f"fewer than {options.minimum_conversions:,} conversions in a variant",
                (
                    f"Every variant needs {options.minimum_conversions:,} conversions before a winner "
                    f"({listed}{more}): with fewer, the normal approximation behind confidence and "
                    "intervals is not reliable."
                ),
            )
        )
    if srm.is_mismatch:
        guards.append(
            (
                f"sample ratio mismatch (p = {srm.p_value:.1g}), check the traffic split",
                (
                    f"Sample ratio mismatch (p = {srm.p_value:.1g}): visitors are not split as the weights "
                    "say, so the groups may differ in more than the page. Look for redirects that lose "
                    "hmbl_v, caching of the control page, or bots, before trusting any result."
                ),
            )
        )
    return guards


def _winner(results: Sequence[VariantResult], metric: str) -> tuple[VariantResult | None, float]:
    """The best challenger significantly better than the control; else the control if every
    challenger is significantly worse; else None. Also the confidence to quote."""
    challengers = [v for v in results if not v.is_control]
    significant = [v for v in challengers if v.primary and v.primary.is_significant]
    better = [v for v in significant if v.primary.difference > 0]
    if better:
        best = max(better, key=lambda v: (getattr(v, metric), v.primary.confidence))
        return best, best.primary.confidence
    if challengers and len(significant) == len(challengers):
        control = next(v for v in results if v.is_control)
        return control, min(v.primary.confidence for v in challengers)
    return None, 0.0


def _status(
    winner: VariantResult | None, confidence: float, guards: list[tuple[str, str]], metric: str
) -> str:
    if winner is not None and winner.is_control:
        return (
            f"{winner.name} wins: every variant does worse, with {format_confidence(confidence)} confidence"
        )
    if winner is not None:
        interval = f" ({format_interval(winner.lift_interval)})" if winner.lift_interval else ""
        lift = f"{winner.lift:+.1%} {METRIC_LABELS[metric]}{interval}, " if winner.lift is not None else ""
        return f"{winner.name} wins: {lift}{format_confidence(confidence)} confidence"
    if guards:
        return "No winner yet: " + guards[0][0]
    return "No significant difference yet"


def evaluate(
    variants: Sequence[VariantData],
    *,
    weights: Sequence[float] | Mapping[str, float] | None,
    minimum_sample: int,
    cap_percentile: float | None = None,
    confidence_threshold: float = 0.95,
    method: str = st.SEQUENTIAL,
    goal: str = SplitTest.GoalType.REVENUE,
    minimum_conversions: int = 10,
) -> Results:
    """Results of a split test.

    * ``weights``: the configured traffic split, aligned with ``variants`` (or by key; None: even),
      used for the sample-ratio-mismatch check.
    * ``minimum_sample`` / ``minimum_conversions``: what every variant needs before a winner (with
      ``method="fixed_horizon"``, ``minimum_sample`` is the planned sample size).
    * ``cap_percentile``: cap each visitor's revenue at that percentile of the buyers' revenue
      pooled over all variants (e.g. 99); None: no capping.
    * ``goal``: "revenue" decides on revenue per visitor; "pageview" and "goal" (a site's goal) on
      the conversion rate.
    """
    control = _check_variants(variants, minimum_sample, confidence_threshold)
    st.check_count("minimum_conversions", minimum_conversions)
    options = _Options(
        method=method,
        metric=REVENUE_PER_VISITOR if goal == SplitTest.GoalType.REVENUE else CONVERSION_RATE,
        alpha=1.0 - confidence_threshold,
        minimum_sample=minimum_sample,
        minimum_conversions=minimum_conversions,
    )
    cap = st.revenue_cap((v.revenue_values for v in variants), cap_percentile) if cap_percentile else None
    results = _variant_results(variants, control, cap, options)
    srm = st.srm_check([v.visitors for v in variants], _resolve_weights(variants, weights))
    guards = _guards(variants, control, srm, options) if len(variants) > 1 else []
    winner, confidence = _winner(results, options.metric) if not guards else (None, 0.0)
    if winner is not None:
        outcome = OUTCOME_WINNER
    elif srm.is_mismatch:
        outcome = OUTCOME_SAMPLE_RATIO_MISMATCH
    elif guards:
        outcome = OUTCOME_COLLECTING
    else:
        outcome = OUTCOME_NO_DIFFERENCE
    return Results(
        variants=results,
        srm_p_value=srm.p_value,
        srm_warning=srm.is_mismatch,
        winner=winner.key if winner is not None else None,
        outcome=outcome,
        status_text=_status(winner, confidence, guards, options.metric),
        guards=[explanation for _, explanation in guards],
        method=method,
        metric=options.metric,
        minimum_sample=minimum_sample,
        minimum_conversions=minimum_conversions,
        confidence_threshold=confidence_threshold,
        cap_percentile=cap_percentile,
        revenue_cap=cap,
    )


def _lifecycle_status(test: SplitTest, results: Results) -> str:
    """The status line as the test's state reads it: a stopped test is not "collecting data"."""
    if test.status == SplitTest.Status.DRAFT:
        return "Draft: not launched yet"
    if test.status == SplitTest.Status.STOPPED:
        if results.winner is not None:
            return f"Stopped. Final result: {results.status_text}"
        if results.outcome == OUTCOME_NO_DIFFERENCE:
            return "Stopped. Final result: no significant difference"
        return "Stopped before a verdict. " + results.status_text.replace("No winner yet: ", "No winner: ", 1)
    return results.status_text


def results_for(test: SplitTest, now: dt.datetime | None = None) -> tuple[Results, str | None]:
    """The results of a stored test, measured up to its stop (or ``now``), and the currency its
    revenue figures are in (None when there is no payment to take one from)."""
    measured = collect(test, now)
    results = evaluate(
        measured.variants,
        weights=[v.weight for v in test.variants.all()],
        minimum_sample=test.minimum_sample,
        cap_percentile=test.cap_percentile,
        method=test.method,
        goal=test.goal_type,
        minimum_conversions=test.minimum_conversions,
    )
    results = dataclasses.replace(results, excluded_payments=measured.excluded_payments)
    return dataclasses.replace(results, status_text=_lifecycle_status(test, results)), measured.currency
