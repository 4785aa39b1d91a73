"""REST API reports: summary, breakdown, timeseries. Same query functions as the dashboard."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.decorators import api_view
from rest_framework.response import Response

from humblytics.reports import widgets
from humblytics.reports.budget import budgeted
from humblytics.reports.query import GRANULARITIES, QueryError, parse_query
from tracking.access import api_site
from tracking.dimensions import DIMENSIONS

RANGE_PARAMETERS = [
    OpenApiParameter(
        "start", OpenApiTypes.DATE, description="First day, inclusive (default: 29 days before end)"
    ),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, inclusive (default: today)"),
    OpenApiParameter("timezone", OpenApiTypes.STR, description="IANA time zone (default: the site's)"),
    OpenApiParameter("filter", OpenApiTypes.STR, many=True, description="dimension:value, repeatable"),
]


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
    },
)
BreakdownRow = inline_serializer(
    "BreakdownRow",
    many=True,
    fields={
        "value": serializers.CharField(),
        "visitors": serializers.IntegerField(),
        "sessions": serializers.IntegerField(),
        "revenue": _money("Attributed net revenue"),
        "payments": serializers.IntegerField(),
        "conversion_rate": _ratio("Converting visitors / visitors"),
        "revenue_per_visitor": serializers.FloatField(allow_null=True),
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
    """Visitors, sessions, page views, bounce rate and revenue figures for the range."""
    site = api_site(request, site_id)
    figures = widgets.summary(_query(request, site))
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
    return Response({key: figures[key] for key in keys})


@extend_schema(
    parameters=[
        *RANGE_PARAMETERS,
        OpenApiParameter("dimension", OpenApiTypes.STR, required=True, enum=list(DIMENSIONS)),
        OpenApiParameter("order_by", OpenApiTypes.STR, enum=["visitors", "revenue"]),
        OpenApiParameter("limit", OpenApiTypes.INT, description="1..1000 rows (default 100)"),
    ],
    responses=BreakdownResponse,
)
@budgeted(api=True)
@api_view(["GET"])
def breakdown(request, site_id: str):
    """Visitors and attributed revenue per value of one dimension."""
    site = api_site(request, site_id)
    q = _query(request, site)
    dimension = request.query_params.get("dimension", "")
    if not dimension:
        raise exceptions.ValidationError({"dimension": [f"is required: one of {', '.join(DIMENSIONS)}"]})
    order_by = request.query_params.get("order_by", "visitors")
    if order_by not in ("visitors", "revenue"):
        raise exceptions.ValidationError({"order_by": ['must be "visitors" or "revenue"']})
    try:
        limit = int(request.query_params.get("limit", 100))
    except ValueError:
        limit = 0
    if not 1 <= limit <= 1000:
        raise exceptions.ValidationError({"limit": ["must be a whole number from 1 to 1000"]})
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
    try:
        rows = widgets.timeseries(q, granularity)
    except QueryError as error:
        raise exceptions.ValidationError({error.param: [error.message]}) from None
    return Response({"results": rows, "currency": q.currency, "granularity": granularity})
