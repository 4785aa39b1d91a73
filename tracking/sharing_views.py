"""Settings → Sharing: owners create and revoke read-only dashboard links."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from tracking import sharing
from tracking.access import get_site_for_user
from tracking.forms import ShareLinkForm
from tracking.models import ShareLink


@login_required
@require_http_methods(["GET", "POST"])
def share_links(request, site_id: str):
    """Every member sees the links; owners create them (the address is shown once)."""
    site, membership = get_site_for_user(request.user, site_id, owner_only=request.method == "POST")
    form = ShareLinkForm(request.POST or None)
    new_link = None
    if request.method == "POST" and form.is_valid():
        _, token = sharing.create_share_link(site, form.cleaned_data["name"], created_by=request.user)
        new_link = request.build_absolute_uri(reverse("reports:shared_dashboard", args=[token]))
        form = ShareLinkForm()
    context = {
        "site": site,
        "membership": membership,
        "form": form,
        "new_link": new_link,
        "links": ShareLink.objects.filter(site=site),
        "tab": "sharing",
    }
    return render(request, "tracking/sharing.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def revoke_share_link(request, site_id: str, link_id: int):
    """Asks first; revokes on the confirmed POST."""
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    row = get_object_or_404(ShareLink, site=site, pk=link_id, revoked_at__isnull=True)
    if request.POST.get("confirmed") != "yes":
        question = {
            "title": f"Revoke the shared link “{row.name}”",
            "lines": ["Anyone opening it gets “not found” from now on. A revoked link cannot be restored."],
            "keep": {},
            "button": "Revoke link",
            "cancel_url": reverse("tracking:share_links", args=[site.public_id]),
        }
        return render(request, "tracking/confirm.html", {"site": site, "confirm": question, "tab": "sharing"})
    row.revoke(timezone.now())
    messages.success(request, f"Revoked {row.name}: the link no longer opens the dashboard.")
    return redirect("tracking:share_links", site_id=site.public_id)
