"""CSV of the dashboard and of one breakdown: the figures the page shows, money in major units of the
report currency, every cell safe to open in a spreadsheet."""

import csv
import io
from collections.abc import Iterable
from typing import Any

from humblytics.lib.countries import country_name
from humblytics.lib.money import exponent, to_major
from humblytics.reports.query import Query
from humblytics.reports.widgets import Overview
from tracking.dimensions import LABELS

BREAKDOWN_COLUMNS = ("visitors", "sessions", "pageviews", "revenue", "payments", "conversion_rate")


def csv_cell(value: Any) -> str:
    # Spreadsheet apps run cells starting with these as formulas; page paths and referrers come from
    # visitors' browsers.
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _money(amount, currency: str) -> str:
    if amount is None or not currency:
        return ""
    return f"{to_major(amount, currency):.{exponent(currency)}f}"


def _breakdown_lines(dimension: str, rows: list[dict], currency: str) -> Iterable[list[str]]:
    for row in rows:
        value = row["value"]
        yield [
            csv_cell(LABELS[dimension][1]),
            csv_cell(value),
            csv_cell(country_name(value) if dimension == "country" and value else value),
            str(row["visitors"]),
            str(row["sessions"]),
            str(row.get("pageviews", "")),
            _money(row["revenue"], currency),
            str(row["payments"]),
            "" if row["conversion_rate"] is None else f"{row['conversion_rate']:.4f}",
            _money(row["revenue_per_visitor"], currency),
            currency.upper(),
        ]


_HEADER = [
    "dimension",
    "value",
    "label",
    "visitors",
    "sessions",
    "pageviews",
    "revenue",
    "payments",
    "conversion_rate",
    "revenue_per_visitor",
    "currency",
]


def _write(lines: Iterable[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(lines)
    return out.getvalue()


def breakdown_csv(dimension: str, rows: list[dict], currency: str) -> str:
    return _write([_HEADER, *_breakdown_lines(dimension, rows, currency)])


def dashboard_csv(q: Query, report: Overview) -> str:
    """Summary lines (``figure,value``), a blank line, every breakdown in full, then (after a blank
    line each) the goals table and the custom events table when the site has any."""
    summary = report.summary
    currency = summary["currency"] or ""
    lines = [
        ["figure", "value"],
        ["site", csv_cell(q.site.domain)],
        ["from", q.start.isoformat()],
        ["to", q.end.isoformat()],
        *[["filter", csv_cell(f"{dimension}:{value}")] for dimension, value in q.filters],
    ]
    for key in ("visitors", "sessions", "pageviews", "bounce_rate", "payments", "conversion_rate"):
        value = summary[key]
        lines.append(
            [key, "" if value is None else str(round(value, 4) if isinstance(value, float) else value)]
        )
    for key in ("revenue", "gross_revenue", "refunded", "revenue_per_visitor"):
        lines.append([key, _money(summary[key], currency)])
    lines += [["currency", currency.upper()], [], _HEADER]
    for dimension, rows in report.breakdowns.items():
        lines += _breakdown_lines(dimension, rows, currency)
    goals = report.goals
    if goals is not None and goals.goals:
        lines += [[], ["goal", "visitors", "completions", "conversion_rate", "revenue", "currency"]]
        for row in goals.goals:
            rate = row["conversion_rate"]
            lines.append(
                [
                    csv_cell(row["name"]),
                    str(row["visitors"]),
                    str(row["completions"]),
                    "" if rate is None else f"{rate:.4f}",
                    _money(row["revenue"], currency),
                    currency.upper(),
                ]
            )
    if goals is not None and goals.events:
        lines += [[], ["event", "visitors", "completions"]]
        lines += [
            [csv_cell(row["name"]), str(row["visitors"]), str(row["completions"])] for row in goals.events
        ]
    return _write(lines)
