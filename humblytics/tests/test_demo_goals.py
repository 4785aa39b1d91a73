from humblytics.demo.goals import FUNNEL_NAME, create_goals
from tracking.models import Funnel, Goal


def test_the_demo_defines_two_goals_and_a_funnel_over_them(site):
    funnel = create_goals(site)
    goals = {g.name: (g.kind, g.event_name, g.page_pattern) for g in Goal.objects.filter(site=site)}
    assert goals == {"Signup": ("event", "Signup", ""), "Thank you page": ("page", "", "/thanks*")}
    assert funnel.name == FUNNEL_NAME
    assert [step.goal.name for step in funnel.steps.all()] == ["Signup", "Thank you page"]


def test_creating_the_demo_goals_twice_keeps_one_of_each(site):
    create_goals(site)
    create_goals(site)
    assert Goal.objects.filter(site=site).count() == 2 and Funnel.objects.filter(site=site).count() == 1
