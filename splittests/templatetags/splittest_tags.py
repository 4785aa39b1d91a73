"""Figures of split-test results as shown on the page, rounded so they never cross the threshold."""

import math

from django import template

from splittests.results import format_confidence, format_interval

register = template.Library()


@register.filter
def confidence_pct(value) -> str:
    """0.9495 → "94.9%": rounded down, so a confidence below the threshold never reads as 95.0%."""
    return "—" if value is None else format_confidence(value)


@register.filter
def interval_pct(interval) -> str:
    """A relative interval, rounded outwards: "+2.1% to +22.6%"."""
    return "—" if not interval else format_interval(interval)


@register.filter
def signed_pct(value) -> str:
    return "—" if value is None else f"{value:+.1%}"


@register.filter
def bar_width(progress) -> int:
    """Whole percent of the way to the threshold, rounded down: a full bar only once it is reached."""
    return 0 if progress is None else min(100, math.floor(progress * 100))
