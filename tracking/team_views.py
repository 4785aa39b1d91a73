"""Settings → Team: members, roles, invitations; and the invitation link itself."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from tracking import team
from tracking.access import get_site_for_user
from tracking.forms import InviteForm, RoleForm
from tracking.models import Invitation, Membership


def _page(request, site, membership, form, status=200):
    now = timezone.now()
    context = {
        "site": site,
        "membership": membership,
        "form": form,
        "members": team.members(site),
        "invitations": team.pending_invitations(site, now) if membership.is_owner else [],
        "tab": "team",
    }
    return render(request, "tracking/team.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def team_settings(request, site_id: str):
    """Every member sees who else is in; only owners invite."""
    site, membership = get_site_for_user(request.user, site_id, owner_only=request.method == "POST")
    form = InviteForm(request.POST or None)
    if request.method != "POST" or not form.is_valid():
        return _page(request, site, membership, form, status=400 if form.is_bound else 200)
    try:
        result = team.invite(
            site,
            form.cleaned_data["who"],
            form.cleaned_data["role"],
            invited_by=request.user,
            now=timezone.now(),
        )
    except team.TeamError as exc:
        form.add_error("who", exc.message)
        return _page(request, site, membership, form, status=400)
    if isinstance(result, team.Invited):
        link = request.build_absolute_uri(reverse("tracking:accept_invitation", args=[result.token]))
        team.send_invitation(result, link)
        messages.success(request, f"Invitation sent to {result.invitation.email}.")
    else:
        messages.success(request, f"{result.membership.user.get_username()} can now see {site.name}.")
    return redirect("tracking:team", site_id=site.public_id)


@login_required
@require_POST
def remove_member(request, site_id: str, membership_id: int):
    """Asks first; removes on the confirmed POST."""
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    row = get_object_or_404(Membership.objects.select_related("user"), site=site, pk=membership_id)
    if request.POST.get("confirmed") != "yes":
        question = {
            "title": f"Remove {row.user.get_username()} from {site.name}",
            "lines": ["They lose access to this site's reports and settings at once."],
            "keep": {},
            "button": "Remove",
            "cancel_url": reverse("tracking:team", args=[site.public_id]),
        }
        return render(request, "tracking/confirm.html", {"site": site, "confirm": question, "tab": "team"})
    try:
        team.remove_member(site, row)
    except team.TeamError as exc:
        messages.error(request, exc.message)
        return redirect("tracking:team", site_id=site.public_id)
    messages.success(request, f"{row.user.get_username()} was removed.")
    if row.user_id == request.user.pk:
        return redirect("tracking:sites")
    return redirect("tracking:team", site_id=site.public_id)


@login_required
@require_POST
def change_role(request, site_id: str, membership_id: int):
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    row = get_object_or_404(Membership.objects.select_related("user"), site=site, pk=membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role: owner or viewer.")
        return redirect("tracking:team", site_id=site.public_id)
    try:
        team.change_role(site, row, form.cleaned_data["role"])
    except team.TeamError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"{row.user.get_username()} is now {row.get_role_display().lower()}.")
    return redirect("tracking:team", site_id=site.public_id)


@login_required
@require_POST
def revoke_invitation(request, site_id: str, invitation_id: int):
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    row = get_object_or_404(Invitation, site=site, pk=invitation_id, accepted_at__isnull=True)
    team.revoke_invitation(row)
    messages.success(request, f"The invitation to {row.email} no longer works.")
    return redirect("tracking:team", site_id=site.public_id)


@require_http_methods(["GET", "POST"])
def accept_invitation(request, token: str):
    """GET shows what the link is for (log in or sign up first); the POST of a logged-in user accepts."""
    invitation = team.open_invitation(token, timezone.now())
    if request.method == "POST" and request.user.is_authenticated and invitation is not None:
        try:
            joined = team.accept_invitation(token, request.user, timezone.now())
        except team.TeamError as exc:
            messages.error(request, exc.message)
            return redirect("tracking:sites")
        messages.success(request, f"You can now see {joined.site.name}.")
        return redirect("reports:dashboard", site_id=joined.site.public_id)
    status = 200 if invitation is not None and request.method == "GET" else 404 if invitation is None else 403
    return render(
        request, "tracking/invitation.html", {"invitation": invitation, "next": request.path}, status=status
    )
