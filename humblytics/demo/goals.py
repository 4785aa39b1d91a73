"""The demo site's goals and funnel: a "Signup" custom event, a visit to a thank-you page (``/thanks*``),
and a funnel from one to the other. Definitions only: the demo's traffic decides what completes them."""

from __future__ import annotations

from tracking.goals import FunnelSpec, GoalSpec, save_funnel, save_goal
from tracking.models import Funnel, Goal, Site

SIGNUP = GoalSpec(name="Signup", type="event", event="Signup")
THANK_YOU = GoalSpec(name="Thank you page", type="page", page="/thanks*")
FUNNEL_NAME = "Signup to thank you"


def create_goals(site: Site) -> Funnel:
    """The two goals and the funnel over them; a goal or funnel the site already has is kept."""
    steps = []
    for spec in (SIGNUP, THANK_YOU):
        goal = Goal.objects.filter(site=site, name=spec.name).first() or save_goal(site, spec)
        steps.append(goal.pk)
    funnel = Funnel.objects.filter(site=site, name=FUNNEL_NAME).first()
    return funnel or save_funnel(site, FunnelSpec(FUNNEL_NAME, tuple(steps)))
