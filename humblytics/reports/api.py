"""REST API reports: summary, breakdown, timeseries. Same query functions as the dashboard.

Goals (``humblytics.reports.goals`` defines their figures): ``summary`` adds ``events`` and ``goals``;
``breakdown`` takes ``dimension=goal``, ``event`` and ``prop:KEY`` (the properties of an event goal
selected by ``filter=goal:NAME``, or of ``event=NAME``); ``timeseries`` adds ``events`` per bucket and,
with ``goal=NAME``, ``conversions`` and ``completions``. Every report takes ``filter=goal:NAME``.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from humblytics.reports import goals as goals_half
from humblytics.reports import traffic, widgets
from humblytics.reports.budget import budgeted
from humblytics.reports.query import GOAL_FILTER, GRANULARITIES, QueryError, bucket_starts, parse_query
from tracking.access import api_site
from tracking.dimensions import DIMENSIONS
from tracking.models import Goal

RANGE_PARAMETERS = [
    OpenApiParameter(
        "start", OpenApiTypes.DATE, description="First day, inclusive (default: 29 days before end)"
    ),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, inclusive (default: today)"),
    OpenApiParameter("timezone", OpenApiTypes.STR, description="IANA time zone (default: the site's)"),
    OpenApiParameter(
        "filter",
        OpenApiTypes.STR,
        many=True,
        description="dimension:value, or goal:NAME (sessions that completed the goal), repeatable",
    ),
]
GOAL_DIMENSIONS = ("goal", "event")
PROP_PREFIX = "prop:"
GOAL_KEYS = ("id", "name", "visitors", "completions", "conversion_rate", "revenue")


def _money(help_text: str):
    return serializers.IntegerField(help_text=help_text + " (minor units of `currency`)")


def _ratio(help_text: str):
    return serializers.FloatField(allow_null=True, help_text=help_text + " (0..1)")


SummaryResponse = inline_serializer(
    "Summary",
    fields={
        "visitors": serializers.IntegerField(),
        "sessions": serializers.IntegerField(),
        "pageviews": serializers.IntegerField(),
        "bounce_rate": _ratio("Sessions with one view / sessions"),
        "revenue": _money("Net revenue of all payments in range"),
        "gross_revenue": _money("Captured amount"),
        "refunded": _money("Succeeded refunds + lost disputes"),
        "payments": serializers.IntegerField(),
        "conversion_rate": _ratio("Visitors with an attributed payment / visitors"),
        "revenue_per_visitor": serializers.FloatField(allow_null=True),
        "attributed_share": _ratio("Attributed net revenue / net revenue"),
        "currency": serializers.CharField(allow_null=True),
        "events": serializers.IntegerField(help_text="Custom events in range"),
        "goals": inline_serializer(
            "GoalFigures",
            many=True,
            fields={
                "id": serializers.IntegerField(),
                "name": serializers.CharField(),
                "visitors": serializers.IntegerField(help_text="Distinct visitors who completed the goal"),
                "completions": serializers.IntegerField(),
                "conversion_rate": _ratio("The goal's visitors / visitors"),
                "revenue": _money("Attributed net revenue of payments in range by the goal's visitors"),
            },
        ),
    },
)
BreakdownRow = inline_serializer(
    "BreakdownRow",
    many=True,
    fields={
        "value": serializers.CharField(),
        "visitors": serializers.IntegerField(),
        "sessions": serializers.IntegerField(required=False, help_text="Dimension rows"),
        "revenue": serializers.IntegerField(
            required=False,
            help_text="Attributed net revenue (minor units of `currency`); goal and event rows: the revenue"
            " of their visitors",
        ),
        "payments": serializers.IntegerField(required=False, help_text="Dimension rows"),
        "conversion_rate": serializers.FloatField(
            allow_null=True, required=False, help_text="Converting visitors / visitors (0..1)"
        ),
        "revenue_per_visitor": serializers.FloatField(
            allow_null=True, required=False, help_text="Dimension rows"
        ),
        "completions": serializers.IntegerField(required=False, help_text="Goal, event and prop rows"),
    },
)
BreakdownResponse = inline_serializer(
    "Breakdown",
    fields={"results": BreakdownRow, "currency": serializers.CharField(allow_null=True)},
)
TimeseriesRow = inline_serializer(
    "TimeseriesRow",
    many=True,
    fields={
        "date": serializers.CharField(),
        "visitors": serializers.IntegerField(),
        "sessions": serializers.IntegerField(),
        "pageviews": serializers.IntegerField(),
        "revenue": serializers.IntegerField(),
        "payments": serializers.IntegerField(),
        "events": serializers.IntegerField(help_text="Custom events in the bucket"),
        "conversions": serializers.IntegerField(
            required=False, help_text="With goal=NAME: distinct visitors completing it in the bucket"
        ),
        "completions": serializers.IntegerField(required=False, help_text="With goal=NAME"),
    },
)
TimeseriesResponse = inline_serializer(
    "Timeseries",
    fields={
        "results": TimeseriesRow,
        "currency": serializers.CharField(allow_null=True),
        "granularity": serializers.CharField(),
    },
)


def _query(request, site):
    if set(request.query_params) & {"period", "from", "to"}:
        raise exceptions.ValidationError({"start": ["use start and end (ISO dates) in the API"]})
    try:
        return parse_query(site, request.query_params)
    except QueryError as error:
        raise exceptions.ValidationError({error.param: [error.message]}) from None


@extend_schema(parameters=RANGE_PARAMETERS, responses=SummaryResponse)
@budgeted(api=True)
@api_view(["GET"])
def summary(request, site_id: str):
    """Visitors, sessions, page views, bounce rate and revenue figures for the range; the custom events
    in it and each goal's visitors, completions, conversion rate and revenue."""
    site = api_site(request, site_id)
    keys = [
        "visitors",
        "sessions",
        "pageviews",
        "bounce_rate",
        "revenue",
        "gross_revenue",
        "refunded",
        "payments",
        "conversion_rate",
        "revenue_per_visitor",
        "attributed_share",
        "currency",
    ]
    q = _query(request, site)
    figures = widgets.summary(q)
    body = {key: figures[key] for key in keys}
    report = goals_half.goals_report(q, figures["visitors"])
    body["events"] = report.total_events
    body["goals"] = [{key: row[key] for key in GOAL_KEYS} for row in report.goals]
    return Response(body)


@extend_schema(
    parameters=[
        *RANGE_PARAMETERS,
        OpenApiParameter(
            "dimension",
            {"type": "string", "pattern": f"^({'|'.join((*DIMENSIONS, *GOAL_DIMENSIONS))}|prop:.+)$"},
            required=True,
            description=f"One of {', '.join(DIMENSIONS)}; goal (rows per goal), event (per custom event name)"
            " or prop:KEY (values of one property of an event goal's events, with filter=goal:NAME, or of"
            " event=NAME)",
        ),
        OpenApiParameter("event", OpenApiTypes.STR, description="With dimension=prop:KEY: the event's name"),
        OpenApiParameter("order_by", OpenApiTypes.STR, enum=["visitors", "revenue"]),
        OpenApiParameter("limit", OpenApiTypes.INT, description="1..1000 rows (default 100)"),
    ],
    responses=BreakdownResponse,
)
@budgeted(api=True)
@api_view(["GET"])
def breakdown(request, site_id: str):
    """Visitors and attributed revenue per value of one dimension, per goal, per custom event name, or per
    value of one property of a custom event."""
    site = api_site(request, site_id)
    q = _query(request, site)
    dimension = request.query_params.get("dimension", "")
    if not dimension:
        choices = ", ".join((*DIMENSIONS, *GOAL_DIMENSIONS, "prop:KEY"))
        raise exceptions.ValidationError({"dimension": [f"is required: one of {choices}"]})
    order_by = request.query_params.get("order_by", "visitors")
    if order_by not in ("visitors", "revenue"):
        raise exceptions.ValidationError({"order_by": ['must be "visitors" or "revenue"']})
    try:
        limit = int(request.query_params.get("limit", 100))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise exceptions.ValidationError({"limit": ["must be a whole number from 1 to 1000"]})
    if dimension in GOAL_DIMENSIONS or dimension.startswith(PROP_PREFIX):
        rows = _goal_breakdown(request, q, dimension, order_by)
        return Response({"results": rows[:limit], "currency": q.currency})
    try:
        rows = widgets.breakdown(q, dimension, order_by=order_by, limit=limit)
    except QueryError as error:
        raise exceptions.ValidationError({error.param: [error.message]}) from None
    keys = ("value", "visitors", "sessions", "revenue", "payments", "conversion_rate", "revenue_per_visitor")
    return Response({"results": [{key: row[key] for key in keys} for row in rows], "currency": q.currency})


@extend_schema(
    parameters=[
        *RANGE_PARAMETERS,
        OpenApiParameter("granularity", OpenApiTypes.STR, enum=list(GRANULARITIES)),
        OpenApiParameter("goal", OpenApiTypes.STR, description="A goal's name: adds conversions per bucket"),
    ],
    responses=TimeseriesResponse,
)
@budgeted(api=True)
@api_view(["GET"])
def timeseries(request, site_id: str):
    """Visitors, sessions, page views and revenue per hour, day, week or month (in the time zone)."""
    site = api_site(request, site_id)
    q = _query(request, site)
    granularity = request.query_params.get("granularity", "day")
    goal_name = _name_param(request, "goal")
    goal = Goal.objects.filter(site=site, name=goal_name).first() if goal_name else None
    if goal_name and goal is None:
        raise exceptions.ValidationError(
            {"goal": [f"unknown goal {goal_name[:80]!r}: this site has no goal of that name"]}
        )
    try:
        rows = widgets.timeseries(q, granularity)
    except QueryError as error:
        raise exceptions.ValidationError({error.param: [error.message]}) from None
    events = goals_half.event_buckets(q, granularity)
    conversions = goals_half.goal_buckets(q, goal, granularity) if goal is not None else None
    for row, start in zip(rows, bucket_starts(q, granularity), strict=True):
        row["events"] = events.get(start, 0)
        if conversions is not None:
            row.update(conversions.get(start, {"conversions": 0, "completions": 0}))
    return Response({"results": rows, "currency": q.currency, "granularity": granularity})


def _name_param(request, name: str) -> str:
    """A goal or event name parameter: at most 120 characters, no NUL (PostgreSQL refuses it)."""
    value = request.query_params.get(name, "")
    if len(value) > 120 or "\x00" in value:
        raise exceptions.ValidationError({name: ["must be a name of at most 120 characters, without NUL"]})
    return value


def _goal_breakdown(request, q, dimension: str, order_by: str) -> list[dict]:
    """Rows of ``dimension=goal`` and ``event`` (``{value, visitors, completions, conversion_rate,
    revenue}``) or ``prop:KEY`` (``{value, visitors, completions}``), most visitors (or revenue) first."""
    if dimension.startswith(PROP_PREFIX):
        return _prop_breakdown(request, q, dimension[len(PROP_PREFIX) :])
    if dimension == "goal":
        goals = goals_half.site_goals(q)
    else:
        # Every event name as an unsaved event goal: the same figures, read raw.
        names = sorted(goals_half.event_figures(q))
        goals = [Goal(site=q.site, name=name, kind=Goal.Kind.EVENT, event_name=name) for name in names]
    visitors = traffic.traffic_summary(q)["visitors"]
    keys = ("visitors", "completions", "conversion_rate", "revenue")
    rows = [
        {"value": row["name"], **{key: row[key] for key in keys}}
        for row in goals_half.goal_rows(q, goals, visitors)
    ]
    if order_by == "revenue":
        rows.sort(key=lambda row: (-row["revenue"], -row["visitors"], row["value"]))
    return rows


def _prop_breakdown(request, q, key: str) -> list[dict]:
    if not key:
        raise exceptions.ValidationError({"dimension": ["prop:KEY needs a property key, e.g. prop:plan"]})
    event = _name_param(request, "event")
    if not event:
        selected = [q.goal(value) for dimension, value in q.filters if dimension == GOAL_FILTER]
        event_goals = [goal for goal in selected if goal.kind == Goal.Kind.EVENT]
        if not event_goals:
            raise exceptions.ValidationError(
                {
                    "dimension": [
                        "prop:KEY breaks down the properties of one custom event: add filter=goal:NAME"
                        " (a goal of the event kind) or event=NAME"
                    ]
                }
            )
        event = event_goals[-1].event_name
    rows = goals_half.property_rows(q, event, key)
    return [{key: row[key] for key in ("value", "visitors", "completions")} for row in rows]
