"""Settings → Goals: every member sees the site's goals and funnels; owners add, change and delete them
(a viewer gets 403 on those pages, as on every other settings change)."""

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from tracking import goals
from tracking.access import get_site_for_user
from tracking.goal_forms import FunnelForm, GoalForm, add_errors
from tracking.models import Funnel, Goal

RECENT_DAYS = 30


@login_required
@require_http_methods(["GET"])
def goal_settings(request, site_id: str):
    site, membership = get_site_for_user(request.user, site_id)
    goal_rows = list(Goal.objects.filter(site=site))
    since = timezone.now() - dt.timedelta(days=RECENT_DAYS)
    completions = goals.recent_completions(site, goal_rows, since)
    funnels = Funnel.objects.filter(site=site).prefetch_related("steps__goal")
    context = {
        "site": site,
        "membership": membership,
        "goals": [(goal, completions[goal.pk]) for goal in goal_rows],
        "funnels": funnels,
        "recent_days": RECENT_DAYS,
        "track_example": goals.TRACK_EXAMPLE,
        "max_goals": goals.MAX_GOALS_PER_SITE,
        "tab": "goals",
    }
    return render(request, "tracking/goals.html", context)


def _goals_page(site) -> str:
    return reverse("tracking:goals", args=[site.public_id])


@login_required
@require_http_methods(["GET", "POST"])
def edit_goal(request, site_id: str, goal_id: int | None = None):
    """Add a goal (no ``goal_id``) or change one."""
    site, membership = get_site_for_user(request.user, site_id, owner_only=True)
    goal = get_object_or_404(Goal, site=site, pk=goal_id) if goal_id is not None else None
    initial = GoalForm.initial_for(goal) if goal else None
    form = GoalForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = goals.save_goal(site, form.spec, goal)
        except goals.InvalidGoal as invalid:
            add_errors(form, invalid.errors)
        else:
            messages.success(request, f"Goal “{saved.name}” saved.")
            return redirect(_goals_page(site))
    context = {"site": site, "membership": membership, "form": form, "goal": goal, "tab": "goals"}
    return render(request, "tracking/goals_goal_form.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def delete_goal(request, site_id: str, goal_id: int):
    """Asks first; deletes on the confirmed POST, or says what still uses the goal."""
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    goal = get_object_or_404(Goal, site=site, pk=goal_id)
    users = goals.goal_users(goal)
    if users:
        messages.error(request, goals.GoalInUse.for_goal(goal, users).message)
        return redirect(_goals_page(site))
    if request.POST.get("confirmed") != "yes":
        question = {
            "title": f"Delete the goal “{goal.name}”",
            "lines": ["Reports stop counting it. The events and page views it counted are kept."],
            "keep": {},
            "button": "Delete goal",
            "cancel_url": _goals_page(site),
        }
        return render(request, "tracking/confirm.html", {"site": site, "confirm": question, "tab": "goals"})
    try:
        goals.delete_goal(goal)
    except goals.GoalInUse as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Deleted the goal “{goal.name}”.")
    return redirect(_goals_page(site))


@login_required
@require_http_methods(["GET", "POST"])
def edit_funnel(request, site_id: str, funnel_id: int | None = None):
    """Add a funnel (no ``funnel_id``) or change one."""
    site, membership = get_site_for_user(request.user, site_id, owner_only=True)
    funnel = get_object_or_404(Funnel, site=site, pk=funnel_id) if funnel_id is not None else None
    initial = FunnelForm.initial_for(funnel) if funnel else None
    form = FunnelForm(request.POST or None, site=site, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = goals.save_funnel(site, form.spec(), funnel)
        except goals.InvalidGoal as invalid:
            add_errors(form, invalid.errors)
        else:
            messages.success(request, f"Funnel “{saved.name}” saved.")
            return redirect(_goals_page(site))
    context = {
        "site": site,
        "membership": membership,
        "form": form,
        "funnel": funnel,
        "goal_count": Goal.objects.filter(site=site).count(),
        "min_steps": Funnel.MIN_STEPS,
        "max_steps": Funnel.MAX_STEPS,
        "tab": "goals",
    }
    return render(request, "tracking/goals_funnel_form.html", context, status=400 if form.errors else 200)


@login_required
@require_POST
def delete_funnel(request, site_id: str, funnel_id: int):
    """Asks first; deletes on the confirmed POST (its goals stay)."""
    site, _ = get_site_for_user(request.user, site_id, owner_only=True)
    funnel = get_object_or_404(Funnel, site=site, pk=funnel_id)
    if request.POST.get("confirmed") != "yes":
        question = {
            "title": f"Delete the funnel “{funnel.name}”",
            "lines": ["Its goals stay, and so does everything they counted."],
            "keep": {},
            "button": "Delete funnel",
            "cancel_url": _goals_page(site),
        }
        return render(request, "tracking/confirm.html", {"site": site, "confirm": question, "tab": "goals"})
    goals.delete_funnel(funnel)
    messages.success(request, f"Deleted the funnel “{funnel.name}”.")
    return redirect(_goals_page(site))
