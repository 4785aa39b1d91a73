import datetime as dt
import math
import re
from urllib.parse import urlencode

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from humblytics.lib.countries import country_name, flag
from humblytics.lib.money import format_money
from tracking.dimensions import LABELS

register = template.Library()


@register.simple_tag
def signup_open() -> bool:
    return settings.SIGNUP_OPEN


@register.simple_tag
def money(amount, currency):
    return format_money(amount, currency)


@register.filter
def percent(value, digits: int = 1):
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


@register.filter
def count(value) -> str:
    """``12345`` → ``12,345``; None → an em dash."""
    if value is None:
        return "—"
    return f"{value:,}"


@register.filter
def duration(seconds) -> str:
    """Seconds as ``45s``, ``1m 32s`` or ``2h 5m``; None → an em dash."""
    if seconds is None:
        return "—"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


@register.simple_tag
def money_or_dash(amount, currency):
    """Like ``money`` but a dash when there is no report currency (no payments at all)."""
    if not currency:
        return "—"
    return format_money(amount, currency)


@register.filter
def dimension_title(dimension: str) -> str:
    return LABELS.get(dimension, (dimension, dimension))[0]


@register.filter
def dimension_name(dimension: str) -> str:
    return LABELS.get(dimension, (dimension, dimension))[1]


@register.filter
def dimension_value(value: str, dimension: str) -> str:
    """How a breakdown value reads: a country by flag and name (the code stays in links), an empty
    referrer is direct traffic, other empty values unknown."""
    if value and dimension == "country":
        return f"{flag(value)} {country_name(value)}".strip()
    if value:
        return value
    return "Direct / none" if dimension == "referrer" else "(none)"


@register.simple_tag(takes_context=True)
def dashboard_url(context, **changes) -> str:
    """The dashboard's query string for the current ``query``/``metric``/``sort``/``compare`` with changes.

    ``period``/``start``/``end``, ``metric``, ``sort`` and ``compare`` replace; ``add_dimension`` with
    ``add_value`` adds a filter; ``remove`` drops the filter at that index. Built from the parsed query,
    so a bad parameter in the address is not carried along.
    """
    q = context["query"]
    period = changes.get("period", q.period)
    pairs: list[tuple[str, str]] = [("period", period)]
    if period == "custom":
        pairs += [("from", q.start.isoformat()), ("to", q.end.isoformat())]
    filters = [] if changes.get("clear") else list(q.filters)
    if "remove" in changes:
        del filters[int(changes["remove"])]
    if "add_dimension" in changes:
        added = (changes["add_dimension"], changes.get("add_value") or "")
        if added not in filters:
            filters.append(added)
    pairs += [("filter", f"{dimension}:{value}") for dimension, value in filters]
    metric = changes.get("metric", context.get("metric", "visitors"))
    if metric != "visitors":
        pairs.append(("metric", metric))
    sort = changes.get("sort", context.get("sort", "visitors"))
    if sort != "visitors":
        pairs.append(("sort", sort))
    compare = changes.get("compare", context.get("compare", "previous"))
    if compare != "previous":
        pairs.append(("compare", compare))
    return "?" + urlencode(pairs)


@register.simple_tag
def dashboard_periods() -> list[tuple[str, str]]:
    return [
        ("today", "Today"),
        ("yesterday", "Yesterday"),
        ("7d", "7 days"),
        ("30d", "30 days"),
        ("month", "This month"),
        ("lastmonth", "Last month"),
        ("90d", "90 days"),
        ("12mo", "12 months"),
    ]


@register.simple_tag
def bar_share(rows, row, key: str) -> str:
    """``row[key]`` as a percentage (0-100) of the largest ``key`` in ``rows``, for table bars."""
    top = max((r[key] for r in rows), default=0)
    if top <= 0 or row[key] <= 0:
        return "0"
    return f"{100 * row[key] / top:.1f}"


CHART_WIDTH, CHART_HEIGHT = 960, 260
CHART_LEFT, CHART_RIGHT, CHART_TOP, CHART_BOTTOM = 72, 8, 12, 28
MAX_X_LABELS = 8


def _nice_step(raw: float) -> int:
    """The smallest 1-2-5 step (a whole number, so integer axes stay whole) at least ``raw``."""
    if raw <= 1:
        return 1
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if multiple * magnitude >= raw:
            return int(multiple * magnitude)
    return int(10 * magnitude)  # pragma: no cover - the loop always returns


def _bucket_labels(date: str, granularity: str) -> tuple[str, str]:
    """(short axis label, full tooltip label) of a timeseries bucket."""
    if granularity == "hour":
        moment = dt.datetime.fromisoformat(date)
        return f"{moment:%H:%M}", f"{moment:%b} {moment.day}, {moment:%H:%M}"
    day = dt.date.fromisoformat(date)
    if granularity == "month":
        return f"{day:%b %Y}", f"{day:%B %Y}"
    full = f"{day:%b} {day.day}, {day.year}"
    return f"{day:%b} {day.day}", (f"Week of {full}" if granularity == "week" else full)


def _chart_value_label(value: float, metric: str, currency: str | None) -> str:
    if metric == "revenue":
        text = format_money(value, currency or "")
        # An axis reads better with "$50" than "$50.00"; "$0.20" keeps its decimals.
        return re.sub(r"\.0+\b", "", text)
    return f"{int(value):,}"


def _shown(row, metric: str, currency: str | None) -> str:
    if metric == "revenue":
        return format_money(row["revenue"], currency or "") if currency else "no revenue"
    value = max(0, row[metric])
    return f"{value:,} visitor{'' if value == 1 else 's'}"


@register.inclusion_tag("reports/_chart.html")
def bar_chart(rows, metric: str, currency: str | None, granularity: str, previous=None):
    """Geometry for a server-rendered SVG bar chart of ``rows[*][metric]`` (no JavaScript needed).

    ``previous``: the comparison period's rows, bucket by bucket (the n-th bucket of each), drawn as
    lighter bars behind; buckets it does not have stay empty."""
    previous = list(previous or [])
    values = [max(0, row[metric]) for row in rows]
    earlier = [max(0, row[metric]) for row in previous[: len(rows)]]
    plot_width = CHART_WIDTH - CHART_LEFT - CHART_RIGHT
    plot_height = CHART_HEIGHT - CHART_TOP - CHART_BOTTOM
    highest = max([*values, *earlier], default=0)
    step = _nice_step(highest / 4)
    top = step * max(1, math.ceil(highest / step))
    baseline = CHART_TOP + plot_height
    ticks = [
        {
            "y": round(baseline - plot_height * value / top, 1),
            "label": _chart_value_label(value, metric, currency),
        }
        for value in range(0, top + 1, step)
    ]
    slot = plot_width / max(1, len(rows))
    every = max(1, math.ceil(len(rows) / MAX_X_LABELS))
    bars = []
    for index, (row, value) in enumerate(zip(rows, values, strict=True)):
        short, full = _bucket_labels(row["date"], granularity)
        before = previous_title = None
        if index < len(earlier):
            before = round(plot_height * earlier[index] / top, 1)
            when = _bucket_labels(previous[index]["date"], granularity)[1]
            previous_title = f"{when}: {_shown(previous[index], metric, currency)}"
        height = plot_height * value / top
        bars.append(
            {
                "x": round(CHART_LEFT + index * slot + slot * 0.1, 1),
                "slot_x": round(CHART_LEFT + index * slot, 1),
                "center": round(CHART_LEFT + index * slot + slot / 2, 1),
                "width": round(max(1.0, slot * 0.8), 1),
                "slot": round(slot, 1),
                "y": round(baseline - height, 1),
                "height": round(height, 1),
                "previous_y": None if before is None else round(baseline - before, 1),
                "previous_height": before,
                "label": short if index % every == 0 else "",
                "title": f"{full}: {_shown(row, metric, currency)}",
                "previous_title": previous_title,
            }
        )
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "left": CHART_LEFT,
        "right": CHART_WIDTH - CHART_RIGHT,
        "label_x": CHART_LEFT - 8,
        "top": CHART_TOP,
        "baseline": baseline,
        "plot_height": plot_height,
        "label_y": baseline + 18,
        "ticks": ticks,
        "bars": bars,
        "has_previous": bool(earlier),
        "title": f"{'Revenue' if metric == 'revenue' else 'Visitors'} per {granularity}",
    }


@register.filter
def from_earlier_visits(row) -> bool:
    """A breakdown row whose payments all came through visits before the period: no visitors in range,
    or visitors of whom none paid (renewals and later purchases are credited to the original visit)."""
    return bool(row.get("payments")) and not row.get("conversion_rate")


@register.filter
def any_from_earlier_visits(rows) -> bool:
    return any(from_earlier_visits(row) for row in rows)


@register.simple_tag
def delta(current, previous, kind: str = "count", better: str = "up"):
    """The change from ``previous`` to ``current`` as a small badge: relative for counts and money,
    percentage points for rates (``kind="rate"``). ``better`` says which way is good (bounce rate: down).
    Empty when either side is unknown or both are zero."""
    if current is None or previous is None or (not current and not previous):
        return ""
    if kind == "rate":
        change = (current - previous) * 100
        text = f"{abs(change):.1f} pts"
    elif previous == 0:
        change, text = 1, "new"
    else:
        change = (current - previous) / previous * 100
        text = f"{abs(change):.0f}%"
    if round(change, 1) == 0:
        return mark_safe('<span class="delta flat" title="Same as the comparison period">= 0%</span>')
    direction = "up" if change > 0 else "down"
    arrow = "▲" if change > 0 else "▼"
    mood = "good" if direction == better else "bad"
    return format_html('<span class="delta {} {}">{} {}</span>', direction, mood, arrow, text)
