from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import parse_etags
from django.views.decorators.http import require_http_methods, require_POST

from revenue.reports import report_currency
from splittests import lifecycle, results, statistics
from splittests.forms import CalculatorForm, SplitTestForm, initial_for
from splittests.models import SplitTest
from splittests.snippet_config import Caching
from splittests.snippet_config import render as render_snippet
from tracking import ingest, snippet
from tracking.access import get_site_for_user


def _test_for(request, site_id: str, test_id: int, *, owner_only: bool = False):
    site, membership = get_site_for_user(request.user, site_id, owner_only=owner_only)
    test = get_object_or_404(
        SplitTest.objects.select_related("goal").prefetch_related("variants"), site=site, pk=test_id
    )
    return site, membership, test


@login_required
@require_http_methods(["GET"])
def list_split_tests(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id)
    tests = list(SplitTest.objects.filter(site=site).select_related("goal").prefetch_related("variants"))
    rows = []
    for test in tests:
        leader = None
        if test.status != SplitTest.Status.DRAFT:
            outcome, _ = results.results_for(test)
            challengers = [v for v in outcome.variants if v.visitors]
            if challengers:
                # The leader on the test's own goal: revenue per visitor, or the conversion rate.
                leader = max(challengers, key=lambda v: getattr(v, outcome.metric) or 0)
            rows.append((test, outcome, leader))
        else:
            rows.append((test, None, None))
    return render(
        request,
        "splittests/list.html",
        {"site": site, "membership": membership, "rows": rows, "section": "splittests"},
    )


def _apply_invalid(form: SplitTestForm, invalid: lifecycle.InvalidTest) -> None:
    for field, message in invalid.errors.items():
        target = {"page": "page", "name": "name", "goal_page": "goal_page", "goal": "goal_type"}.get(field)
        if field == "variants[1].url":
            target = "b_url"
        elif field == "variants[2].url":
            target = "c_url"
        form.add_error(target, f"{field.split('.')[-1].replace('_', ' ').capitalize()} {message}.")


@login_required
@require_http_methods(["GET", "POST"])
def new_split_test(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id, owner_only=request.method == "POST")
    currency = report_currency(site) or "usd"
    form = SplitTestForm(request.POST or None, currency=currency, site=site)
    if request.method == "POST" and form.is_valid():
        launch = request.POST.get("action") == "launch"
        try:
            test = lifecycle.create_test(site, form.to_spec(), launch=launch)
        except lifecycle.InvalidTest as invalid:
            _apply_invalid(form, invalid)
        else:
            messages.success(
                request, "Split test launched." if launch else "Draft saved. Launch it when ready."
            )
            return redirect("splittests:detail", site_id=site.public_id, test_id=test.pk)
    return render(
        request,
        "splittests/new.html",
        {"site": site, "membership": membership, "form": form, "currency": currency, "section": "splittests"},
    )


@login_required
@require_http_methods(["GET", "POST"])
def edit_split_test(request, site_id: str, test_id: int):
    site, membership, test = _test_for(request, site_id, test_id, owner_only=True)
    currency = report_currency(site) or "usd"
    if test.status != SplitTest.Status.DRAFT:
        messages.error(request, "Only drafts can be edited: a launched test keeps its definition.")
        return redirect("splittests:detail", site_id=site.public_id, test_id=test.pk)
    form = SplitTestForm(
        request.POST or None, currency=currency, site=site, initial=initial_for(test, currency)
    )
    if request.method == "POST" and form.is_valid():
        launch = request.POST.get("action") == "launch"
        try:
            lifecycle.update_draft(test, form.to_spec())
            if launch:
                lifecycle.launch_test(test)
        except lifecycle.InvalidTest as invalid:
            _apply_invalid(form, invalid)
        else:
            messages.success(request, "Split test launched." if launch else "Draft saved.")
            return redirect("splittests:detail", site_id=site.public_id, test_id=test.pk)
    return render(
        request,
        "splittests/new.html",
        {
            "site": site,
            "membership": membership,
            "form": form,
            "currency": currency,
            "editing": test,
            "section": "splittests",
        },
    )


@login_required
@require_http_methods(["GET"])
def split_test_detail(request, site_id: str, test_id: int):
    site, membership, test = _test_for(request, site_id, test_id)
    outcome, currency = results.results_for(test)
    return render(
        request,
        "splittests/detail.html",
        {
            "site": site,
            "membership": membership,
            "test": test,
            "results": outcome,
            "currency": currency or "usd",
            "snippet_hint": site.public_id,
            "section": "splittests",
        },
    )


@login_required
@require_POST
def launch_split_test(request, site_id: str, test_id: int):
    site, _, test = _test_for(request, site_id, test_id, owner_only=True)
    try:
        lifecycle.launch_test(test)
        messages.success(request, "Split test launched: visitors are now assigned.")
    except lifecycle.InvalidTest as invalid:
        messages.error(request, " ".join(invalid.errors.values()).capitalize() + ".")
    return redirect("splittests:detail", site_id=site.public_id, test_id=test.pk)


@login_required
@require_POST
def stop_split_test(request, site_id: str, test_id: int):
    """Stopping cannot be undone: the first POST asks, the confirmed one (``confirm=yes``) stops."""
    site, membership, test = _test_for(request, site_id, test_id, owner_only=True)
    if test.status == SplitTest.Status.RUNNING and request.POST.get("confirm") != "yes":
        outcome, _ = results.results_for(test)
        return render(
            request,
            "splittests/stop_confirm.html",
            {
                "site": site,
                "membership": membership,
                "test": test,
                "results": outcome,
                "section": "splittests",
            },
        )
    lifecycle.stop_test(test)
    messages.success(request, "Split test stopped. Visitors now all see the control page.")
    return redirect("splittests:detail", site_id=site.public_id, test_id=test.pk)


@login_required
@require_http_methods(["GET"])
def calculator(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id)
    form = CalculatorForm(request.GET or None)
    answer = None
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            per_variant = statistics.sample_size_per_variant(
                data["baseline"] / 100,
                data["mde"] / 100,
                significance=data["significance"],
                power=data["power"],
            )
            days = statistics.test_duration_days(
                data["daily_visitors"], per_variant, variants=data["variants"]
            )
            answer = {"per_variant": per_variant, "days": days, "total": per_variant * data["variants"]}
        except ValueError as exc:
            form.add_error(None, str(exc))
    return render(
        request,
        "splittests/calculator.html",
        {"site": site, "membership": membership, "form": form, "answer": answer, "section": "splittests"},
    )


@require_http_methods(["GET", "HEAD"])
def serve_snippet(request):
    """GET /hmbl.min.js?id=SITE_ID: the tracker, with the site's running split tests inlined."""
    public_id = request.GET.get("id", "")
    site = ingest.resolve_site(public_id) if ingest.SITE_ID_RE.match(public_id) else None
    if site is None:
        response = HttpResponse(
            f"/* Humblytics: unknown site id {public_id[:16]!r} */",
            status=404,
            content_type="text/javascript",
        )
        response["Cache-Control"] = "no-store"
        return response
    script, caching = render_snippet(site, request)
    # A script carrying this visitor's assignment, or the test-free one a crawler gets while tests
    # run, must not be shared by caches: one crawler hit would switch the tests off for everyone.
    return _script_response(
        request,
        script,
        cache_control="public, max-age=300" if caching is Caching.SHARED else "private, max-age=60",
        vary="Accept-Encoding, User-Agent" if caching is Caching.PER_AGENT else "Accept-Encoding",
    )


@require_http_methods(["GET", "HEAD"])
def serve_auto_script(request):
    """GET /hmbl.auto.js?v=VERSION: automatic events, fetched by the tracker when its tag asks for them."""
    # The core names the current version: that URL never changes meaning. Any other (a core cached
    # across a deploy, or none) gets today's script for a short while.
    is_current = request.GET.get("v") == snippet.auto_version()
    return _script_response(
        request,
        snippet.auto_script(),
        cache_control="public, max-age=31536000, immutable" if is_current else "public, max-age=300",
        vary="Accept-Encoding",
    )


def _script_response(request, script: str, *, cache_control: str, vary: str) -> HttpResponse:
    """The script compressed as the client accepts, or 304 when its ETag matches."""
    encoded = snippet.encode(script, request.headers.get("Accept-Encoding", ""))
    if encoded.etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(encoded.body, content_type="text/javascript; charset=utf-8")
        if encoded.encoding:
            response["Content-Encoding"] = encoded.encoding
    response["ETag"] = encoded.etag
    response["Cache-Control"] = cache_control
    response["Vary"] = vary
    response["Access-Control-Allow-Origin"] = "*"
    response["X-Content-Type-Options"] = "nosniff"
    return response
