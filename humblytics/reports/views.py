"""The dashboard page: every widget of one Query, rendered on the server."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from humblytics.reports import export, funnels, widgets
from humblytics.reports.budget import budgeted
from humblytics.reports.query import (
    COMPARISONS,
    ORDERS,
    comparison_query,
    dashboard_notice,
    parse_query_or_default,
)
from revenue.shared_accounts import shared_account_warning
from tracking import drops, sharing, snippet
from tracking.access import get_site_for_user
from tracking.dimensions import DIMENSIONS
from tracking.models import Funnel

DETAILS_PER_PAGE = 50


@login_required
@require_http_methods(["GET"])
@budgeted(api=False)
def dashboard(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id)
    return _dashboard_page(request, site, membership)


@require_http_methods(["GET"])
@budgeted(api=False)
def shared_dashboard(request, token: str):
    """``/share/TOKEN/``: the dashboard read-only for anyone with a live link; anything else is a 404."""
    return _dashboard_page(request, _shared_site(token), None)


@login_required
@require_http_methods(["GET"])
def visitors_now(request, site_id: str):
    """The dashboard's "visitors now", polled every 30 s."""
    site, _ = get_site_for_user(request.user, site_id)
    return _visitors_now_json(site)


@require_http_methods(["GET"])
def shared_visitors_now(request, token: str):
    return _visitors_now_json(_shared_site(token))


@login_required
@require_http_methods(["GET"])
@budgeted(api=False)
def breakdown_details(request, site_id: str, dimension: str):
    site, _ = get_site_for_user(request.user, site_id)
    return _details_page(request, site, dimension, shared=False)


@require_http_methods(["GET"])
@budgeted(api=False)
def shared_breakdown_details(request, token: str, dimension: str):
    return _details_page(request, _shared_site(token), dimension, shared=True)


@login_required
@require_http_methods(["GET"])
@budgeted(api=False)
def export_dashboard(request, site_id: str):
    site, _ = get_site_for_user(request.user, site_id)
    return _dashboard_csv(request, site)


@require_http_methods(["GET"])
@budgeted(api=False)
def shared_export_dashboard(request, token: str):
    return _dashboard_csv(request, _shared_site(token))


@login_required
@require_http_methods(["GET"])
@budgeted(api=False)
def funnel(request, site_id: str, funnel_id: int):
    """``/sites/SITE_ID/funnels/<id>/``: one funnel over the dashboard's period and filters."""
    site, _ = get_site_for_user(request.user, site_id)
    chosen = get_object_or_404(Funnel, site=site, pk=funnel_id)
    query, error = parse_query_or_default(site, request.GET)
    context = {
        "site": site,
        "section": "dashboard",
        "query": query,
        "metric": "visitors",
        "sort": "visitors",
        "compare": "previous",
        "hide_compare": True,
        "funnel": chosen,
        "steps": funnels.funnel_report(query, funnels.funnel_steps(chosen)),
        "notices": [dashboard_notice(error)] if error else [],
    }
    return render(request, "reports/funnel.html", context)


def _shared_site(token: str):
    site = sharing.site_for_token(token)
    if site is None:
        raise Http404("No such shared dashboard")
    return site


def _csv_response(body: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _sort(request) -> str:
    sort = request.GET.get("sort", "visitors")
    return sort if sort in ORDERS else "visitors"


def _details_page(request, site, dimension: str, *, shared: bool):
    """One breakdown in full: search, 50 rows a page, or all of it as CSV (``format=csv``)."""
    if dimension not in DIMENSIONS:
        raise Http404("No such breakdown")
    query, error = parse_query_or_default(site, request.GET)
    search = request.GET.get("q", "")[:200]
    rows = widgets.breakdown_details(query, dimension, order_by=_sort(request), search=search)
    currency = query.currency or ""
    if request.GET.get("format") == "csv":
        name = f"{site.domain}-{dimension}-{query.start}-{query.end}.csv"
        return _csv_response(export.breakdown_csv(dimension, rows, currency), name)
    context = {
        "site": site,
        "shared": shared,
        "section": "dashboard",
        "query": query,
        "sort": _sort(request),
        "dimension": dimension,
        "search": search,
        "page": Paginator(rows, DETAILS_PER_PAGE).get_page(request.GET.get("page")),
        "total": len(rows),
        "currency": currency,
        "revenue_tracked": widgets.tracks_revenue(site),
        "notices": [dashboard_notice(error)] if error else [],
    }
    return render(request, "reports/details.html", context)


def _dashboard_csv(request, site) -> HttpResponse:
    query, _ = parse_query_or_default(site, request.GET)
    report = widgets.overview(query, order_by=_sort(request), limit=None)
    name = f"{site.domain}-{query.start}-{query.end}.csv"
    return _csv_response(export.dashboard_csv(query, report), name)


def _visitors_now_json(site) -> JsonResponse:
    response = JsonResponse({"visitors": widgets.visitors_now(site, timezone.now())})
    response["Cache-Control"] = "no-store"
    return response


def _dashboard_page(request, site, membership):
    """A member's dashboard, or (``membership`` None) a shared one: no settings links, snippet, drop
    details or other sites named."""
    shared = membership is None
    query, error = parse_query_or_default(site, request.GET)
    notices = []
    if error:
        notices.append(dashboard_notice(error))
    metric, sort = request.GET.get("metric", "visitors"), request.GET.get("sort", "visitors")
    if metric not in ("visitors", "revenue"):
        notices.append("The chart shows visitors or revenue: showing visitors.")
        metric = "visitors"
    if sort not in ORDERS:
        notices.append("Tables sort by visitors or revenue: sorting by visitors.")
        sort = "visitors"
    compare = request.GET.get("compare", "previous")
    if compare not in COMPARISONS:
        notices.append("Figures compare with the previous period, the same period last year, or nothing.")
        compare = "previous"
    compare_query = comparison_query(query, compare)
    warning = None if shared else shared_account_warning(site, request.user)
    if warning:
        notices.append(warning)
    has_views = widgets.has_views(site)
    return render(
        request,
        "reports/dashboard.html",
        {
            "site": site,
            "membership": membership,
            "shared": shared,
            "snippet": None if shared else snippet.tag_for(request, site),
            "section": "dashboard",
            "query": query,
            "notices": notices,
            "metric": metric,
            "sort": sort,
            "has_views": has_views,
            "visitors_now": widgets.visitors_now(site, timezone.now()) if has_views else 0,
            "revenue_tracked": has_views and widgets.tracks_revenue(site),
            "drops": [] if has_views or shared else drops.recent_drops(site, timezone.now()),
            "report": widgets.overview(query, order_by=sort) if has_views else None,
            "funnels": list(Funnel.objects.filter(site=site)) if has_views and not shared else [],
            "compare": compare,
            "compare_query": compare_query,
            # The same summary widget over the comparison range: a constant number of queries more.
            "previous": widgets.summary(compare_query) if has_views and compare_query else None,
            "previous_timeseries": widgets.timeseries(compare_query, widgets.default_granularity(query))
            if has_views and compare_query
            else None,
        },
    )
