"""Settings → Goals forms. The rules are ``tracking.goals``' (shared with the API); these only read the
posted fields and put each problem next to its field."""

from django import forms

from tracking import goals
from tracking.models import Funnel, Goal, Site


def add_errors(form: forms.Form, errors: dict[str, str]) -> None:
    """A domain error dict on the form: known fields by name, anything else above the form."""
    for field, message in errors.items():
        form.add_error(field if field in form.fields else None, message)


class GoalForm(forms.Form):
    name = forms.CharField(
        max_length=goals.GOAL_NAME_MAX_LENGTH,
        help_text="How reports name it, e.g. “Signup” or “Thank you page”.",
    )
    type = forms.ChoiceField(
        label="Completed by", choices=Goal.Kind.choices, initial=Goal.Kind.EVENT, widget=forms.RadioSelect
    )
    event = forms.CharField(
        label="Event name",
        required=False,
        max_length=goals.EVENT_NAME_MAX_LENGTH,
        help_text=f"The name your pages send, exactly (case matters): Signup for {goals.TRACK_EXAMPLE}.",
    )
    page = forms.CharField(
        label="Page path",
        required=False,
        max_length=goals.PAGE_PATTERN_MAX_LENGTH,
        help_text="Starts with /. A * matches anything: /thanks* counts /thanks and /thanks/pro; "
        "/blog/*/signup counts every post's signup page. Without * the path must match exactly.",
    )

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        try:
            self.spec = goals.check_goal(
                goals.GoalSpec(data["name"], data["type"], data.get("event", ""), data.get("page", ""))
            )
        except goals.InvalidGoal as invalid:
            add_errors(self, invalid.errors)
        return data

    @classmethod
    def initial_for(cls, goal: Goal) -> dict:
        return {"name": goal.name, "type": goal.kind, "event": goal.event_name, "page": goal.page_pattern}


def _step_field(position: int, choices: list[tuple[str, str]]) -> forms.ChoiceField:
    return forms.ChoiceField(label=f"Step {position}", required=False, choices=choices)


class FunnelForm(forms.Form):
    """A name and up to eight step selects; blank selects are skipped, the rest keep their order."""

    name = forms.CharField(max_length=goals.GOAL_NAME_MAX_LENGTH, help_text="E.g. “Pricing to signup”.")

    def __init__(self, *args, site: Site, **kwargs):
        super().__init__(*args, **kwargs)
        choices = [("", "—")] + [(str(g.pk), g.name) for g in Goal.objects.filter(site=site)]
        for position in range(1, Funnel.MAX_STEPS + 1):
            self.fields[f"step_{position}"] = _step_field(position, choices)

    @property
    def step_fields(self) -> list:
        return [self[f"step_{position}"] for position in range(1, Funnel.MAX_STEPS + 1)]

    def spec(self) -> goals.FunnelSpec:
        data = self.cleaned_data
        steps = [data.get(f"step_{position}") for position in range(1, Funnel.MAX_STEPS + 1)]
        return goals.FunnelSpec(data["name"], tuple(int(step) for step in steps if step))

    @classmethod
    def initial_for(cls, funnel: Funnel) -> dict:
        initial = {"name": funnel.name}
        for step in funnel.steps.all():
            initial[f"step_{step.position}"] = str(step.goal_id)
        return initial
