from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from humblytics.lib.access import get_site_for_user
from tracking import enrich, ingest, snippet
from tracking.forms import SignUpForm, SiteForm, timezone_choices
from tracking.models import Site, View
from tracking.sites import create_site


def snippet_for(request, site: Site) -> str:
    src = request.build_absolute_uri(f"/hmbl.min.js?id={site.public_id}")
    return f'<script defer src="{src}"></script>'


@require_http_methods(["GET", "POST"])
def sign_up(request):
    if request.user.is_authenticated:
        return redirect("tracking:sites")
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("tracking:new_site")
    return render(request, "registration/signup.html", {"form": form})


@login_required
@require_http_methods(["GET"])
def list_sites(request):
    sites = Site.objects.filter(memberships__user=request.user).order_by("name")
    return render(request, "tracking/sites.html", {"sites": sites})


@login_required
@require_http_methods(["GET", "POST"])
def new_site(request):
    form = SiteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        site = create_site(request.user, **form.cleaned_data)
        messages.success(request, f"{site.name} is ready. Paste the snippet into your pages.")
        return redirect("tracking:dashboard", site_id=site.public_id)
    return render(request, "tracking/new_site.html", {"form": form, "timezones": timezone_choices()})


@login_required
@require_http_methods(["GET", "POST"])
def site_settings(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id)
    if request.method == "POST":
        site, membership = get_site_for_user(request.user, site_id, owner_only=True)
    form = SiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Settings saved.")
        return redirect(reverse("tracking:settings", args=[site.public_id]))
    return render(
        request,
        "tracking/settings.html",
        {
            "site": site,
            "membership": membership,
            "form": form,
            "timezones": timezone_choices(),
            "snippet": snippet_for(request, site),
            "has_views": View.objects.filter(site=site).exists(),
            "tab": "general",
        },
    )


@login_required
@require_http_methods(["GET"])
def dashboard(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id)
    return render(
        request,
        "tracking/dashboard.html",
        {
            "site": site,
            "membership": membership,
            "snippet": snippet_for(request, site),
            "section": "dashboard",
        },
    )


def _cors(response: HttpResponse) -> HttpResponse:
    # Beacons come from the customer's own origin; nothing is read back, so any origin may post.
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "86400"
    return response


@csrf_exempt
def collect_event(request):
    """POST /api/event: 202 stored or dropped, 400 bad input, 404 unknown site, 413 too large."""
    if request.method == "OPTIONS":
        return _cors(HttpResponse(status=204))
    if request.method != "POST":
        response = JsonResponse({"error": "use POST"}, status=405)
        response["Allow"] = "POST, OPTIONS"
        return _cors(response)
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > ingest.MAX_BODY_BYTES:
        return _cors(
            JsonResponse({"error": f"body is larger than {ingest.MAX_BODY_BYTES} bytes"}, status=413)
        )
    try:
        event = ingest.parse_event(request.read(ingest.MAX_BODY_BYTES + 1))
    except ingest.BadEvent as exc:
        return _cors(JsonResponse({"error": exc.message}, status=exc.status))
    visitor = ingest.Visitor(
        ip=enrich.client_ip(
            request.META.get("REMOTE_ADDR", ""),
            request.META.get("HTTP_X_FORWARDED_FOR"),
            settings.TRUSTED_PROXY_COUNT,
        ),
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:1000],
        country_header=_country_header(request),
    )
    try:
        result = ingest.ingest(event, visitor, timezone.now())
    except ingest.UnknownSite:
        return _cors(JsonResponse({"error": f"unknown site {event.site}"}, status=404))
    if isinstance(result, ingest.Dropped):
        return _cors(JsonResponse({"ok": True, "dropped": result.reason}, status=202))
    return _cors(JsonResponse({"ok": True}, status=202))


def _country_header(request) -> str:
    if not settings.COUNTRY_HEADER:
        return ""
    meta_key = "HTTP_" + settings.COUNTRY_HEADER.upper().replace("-", "_")
    return request.META.get(meta_key, "")[:8]


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
    response = HttpResponse(snippet.render(site, request), content_type="text/javascript; charset=utf-8")
    response["Cache-Control"] = "public, max-age=300"
    response["Access-Control-Allow-Origin"] = "*"
    response["X-Content-Type-Options"] = "nosniff"
    return response
