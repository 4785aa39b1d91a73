import logging
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.db import DatabaseError
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from humblytics.lib import ratelimit
from tracking import apikeys, drops, enrich, ingest, payload, retention, snippet, team
from tracking.access import get_site_for_user
from tracking.forms import ApiKeyForm, DeleteSiteForm, SignUpForm, SiteForm, timezone_choices
from tracking.models import ApiKey, Site, View
from tracking.sites import create_site, same_domain_site

logger = logging.getLogger(__name__)


@sensitive_post_parameters("password1", "password2")
@require_http_methods(["GET", "POST"])
def sign_up(request):
    if request.user.is_authenticated:
        return redirect("tracking:sites")
    invited = team.open_invitation(_invitation_token(request.GET.get("next", "")), timezone.now())
    if not settings.SIGNUP_OPEN and invited is None:
        status = 403 if request.method == "POST" else 200
        return render(request, "registration/signup.html", {"closed": True}, status=status)
    form = SignUpForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        # An invitation link sends people here with ?next=/invite/…/: back there to accept it.
        next_url = request.POST.get("next", "")
        if url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
            return redirect(next_url)
        return redirect("tracking:new_site")
    return render(request, "registration/signup.html", {"form": form, "next": request.GET.get("next", "")})


def _invitation_token(next_url: str) -> str:
    """The token of an invitation link given as ``next`` (its holder may sign up when sign-up is
    closed), else an empty string."""
    try:
        match = resolve(urlsplit(next_url).path)
    except Resolver404:
        return ""
    return match.kwargs.get("token", "") if match.view_name == "tracking:accept_invitation" else ""


@login_required
@require_http_methods(["GET"])
def list_sites(request):
    sites = Site.objects.filter(memberships__user=request.user).order_by("name")
    return render(request, "tracking/sites.html", {"sites": sites})


@login_required
@require_http_methods(["GET", "POST"])
def new_site(request):
    form = SiteForm(request.POST or None)
    if request.method == "POST" and form.is_valid() and not _duplicate_domain(form, request.user):
        site = create_site(request.user, **form.cleaned_data)
        messages.success(request, f"{site.name} is ready. Paste the snippet into your pages.")
        return redirect("reports:dashboard", site_id=site.public_id)
    return render(request, "tracking/new_site.html", {"form": form, "timezones": timezone_choices()})


@login_required
@require_http_methods(["GET", "POST"])
def site_settings(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id)
    if request.method == "POST":
        site, membership = get_site_for_user(request.user, site_id, owner_only=True)
    form = SiteForm(request.POST or None, instance=site)
    if request.method == "POST" and form.is_valid() and not _duplicate_domain(form, request.user, site):
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
            "snippet": snippet.tag_for(request, site),
            "has_views": View.objects.filter(site=site).exists(),
            "drops": drops.recent_drops(site, timezone.now()),
            "delete_form": DeleteSiteForm(site=site),
            "tab": "general",
        },
    )


def _duplicate_domain(form: SiteForm, user, site: Site | None = None) -> bool:
    """Refuses a domain the user already tracks in another site: its visitors would be split."""
    twin = same_domain_site(user, form.cleaned_data["domain"], exclude=site)
    if twin is not None:
        form.add_error(
            "domain",
            f"Your site “{twin.name}” already tracks {twin.domain}. Two sites for one domain would split "
            "its visitors and payments between them: use that site, or delete it first.",
        )
    return twin is not None


def _cors(response: HttpResponse) -> HttpResponse:
    # Beacons come from the customer's own origin; nothing is read back, so any origin may post.
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
    response["Access-Control-Allow-Headers"] = "Content-Type"
    response["Access-Control-Max-Age"] = "86400"
    return response


def _unavailable(message: str, retry_after: int) -> HttpResponse:
    response = JsonResponse({"error": message}, status=503)
    response["Retry-After"] = str(retry_after)
    return _cors(response)


@csrf_exempt
def collect_event(request):
    """POST /api/event: 202 stored (or spooled) or dropped, 400 bad input, 404 unknown site, 413 too large,
    503 (JSON, Retry-After) when the view cannot be kept now.

    Everything that decides the answer runs before it; with ``INGEST_BUFFER`` the view is in this
    worker's spool before the 202 and written to the database a moment later (``ingest.submit``). The
    answer is always JSON with CORS headers, whatever fails: a beacon's page must never see an HTML 500.
    """
    try:
        return _collect_event(request)
    except DatabaseError:
        logger.warning("event API: database error", exc_info=True)
        return _unavailable("the database is unavailable; try again shortly", 10)
    except Exception:
        logger.exception("event API failed")
        return _cors(JsonResponse({"error": "internal error"}, status=500))


def _collect_event(request):
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
    if length > payload.MAX_BODY_BYTES:
        return _cors(
            JsonResponse({"error": f"body is larger than {payload.MAX_BODY_BYTES} bytes"}, status=413)
        )
    try:
        event = ingest.parse_event(request.read(payload.MAX_BODY_BYTES + 1))
    except ingest.BadEvent as exc:
        return _cors(JsonResponse({"error": exc.message}, status=exc.status))
    ip = enrich.client_ip(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        settings.TRUSTED_PROXY_COUNT,
    )
    # Counted per minute before any database work (a limit of 0 is off: skip the keyed digest too).
    if (
        settings.INGEST_RATE_PER_IP
        and not ratelimit.hit(f"ip:{ratelimit.anonymous(ip)}", settings.INGEST_RATE_PER_IP, 60)
    ) or not ratelimit.hit(f"site:{event.site}", settings.INGEST_RATE_PER_SITE, 60):
        response = JsonResponse({"error": "too many events; slow down"}, status=429)
        response["Retry-After"] = "60"
        return _cors(response)
    visitor = ingest.Visitor(
        ip=ip,
        user_agent=request.META.get("HTTP_USER_AGENT", "")[:1000],
        country_header=_country_header(request),
    )
    try:
        result = ingest.submit(event, visitor, timezone.now())
    except ingest.UnknownSite:
        return _cors(JsonResponse({"error": f"unknown site {event.site}"}, status=404))
    except ingest.Unavailable as exc:
        return _unavailable(exc.message, exc.retry_after)
    if isinstance(result, ingest.Dropped):
        return _cors(JsonResponse({"ok": True, "dropped": result.reason}, status=202))
    return _cors(JsonResponse({"ok": True}, status=202))


def _country_header(request) -> str:
    if not settings.COUNTRY_HEADER:
        return ""
    meta_key = "HTTP_" + settings.COUNTRY_HEADER.upper().replace("-", "_")
    return request.META.get(meta_key, "")[:8]


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request, site_id: str):
    """Settings → API: create keys (the plaintext is shown once) and revoke them."""
    site, membership = get_site_for_user(request.user, site_id, owner_only=request.method == "POST")
    new_key = None
    form = ApiKeyForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        _, new_key = apikeys.create_api_key(site, form.cleaned_data["name"], created_by=request.user)
        form = ApiKeyForm()
    return render(
        request,
        "tracking/api_keys.html",
        {
            "site": site,
            "membership": membership,
            "form": form,
            "new_key": new_key,
            "keys": ApiKey.objects.filter(site=site),
            "api_base": request.build_absolute_uri(f"/api/v1/sites/{site.public_id}/"),
            "tab": "api",
        },
    )


@login_required
@require_POST
def revoke_api_key(request, site_id: str, key_id: int):
    """Asks first; revokes on the confirmed POST."""
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    row = get_object_or_404(ApiKey, site=site, pk=key_id)
    if request.POST.get("confirmed") != "yes":
        question = {
            "title": f"Revoke the API key “{row.name}”",
            "lines": [
                f"Programs using {row.prefix}… get 401 from now on. A revoked key cannot be restored; "
                "create a new one instead."
            ],
            "keep": {},
            "button": "Revoke key",
            "cancel_url": reverse("tracking:api_keys", args=[site.public_id]),
        }
        return render(request, "tracking/confirm.html", {"site": site, "confirm": question, "tab": "api"})
    apikeys.revoke_api_key(row)
    messages.success(request, f"Revoked {row.name}. Programs using it now get 401.")
    return redirect("tracking:api_keys", site_id=site.public_id)


@login_required
@require_POST
def delete_site(request, site_id: str):
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    form = DeleteSiteForm(request.POST, site=site)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("confirm", ["Confirm with the domain."])))
        return redirect("tracking:settings", site_id=site.public_id)
    name = site.name
    retention.delete_site(site)
    messages.success(request, f"{name} and all its data were deleted.")
    return redirect("tracking:sites")
