from django.utils.dateparse import parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.decorators import api_view
from rest_framework.pagination import CursorPagination

from revenue.models import Payment
from revenue.serializers import PaymentSerializer
from tracking.access import api_site


class PaymentCursor(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "limit"
    max_page_size = 200

    def decode_cursor(self, request):
        """DRF's, refusing a hand-made position that is not a timestamp: DRF would pass it on to the
        query, where the database (or the field's parser) fails with a 500."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                valid = "\x00" not in cursor.position and parse_datetime(cursor.position) is not None
            except ValueError:
                valid = False
            if not valid:
                raise exceptions.NotFound(self.invalid_cursor_message)
        return cursor


def parse_attributed(value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise exceptions.ValidationError({"attributed": ["must be true or false"]})


@extend_schema(
    parameters=[
        OpenApiParameter(
            "attributed", OpenApiTypes.BOOL, description="Only attributed (true) or unattributed"
        ),
        OpenApiParameter("cursor", OpenApiTypes.STR, description="From the `next` URL"),
        OpenApiParameter("limit", OpenApiTypes.INT, description="Page size, 1..200 (default 50)"),
    ],
    responses=PaymentSerializer(many=True),
)
@api_view(["GET"])
def payments(request, site_id: str):
    """Imported Stripe payments, newest first, with how each was (or was not) attributed."""
    site = api_site(request, site_id)
    attributed = parse_attributed(request.query_params.get("attributed"))
    queryset = Payment.objects.filter(site=site).select_related("session")
    if attributed is not None:
        queryset = queryset.filter(session__isnull=not attributed)
    paginator = PaymentCursor()
    page = paginator.paginate_queryset(queryset, request)
    return paginator.get_paginated_response(PaymentSerializer(page, many=True).data)
