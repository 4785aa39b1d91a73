from decimal import Decimal, InvalidOperation

from django import forms

from humblytics.lib.money import exponent, to_major
from splittests.lifecycle import TestSpec, VariantSpec
from splittests.models import SplitTest
from tracking.models import Goal

#: A site's goal in the goal choice: "goal:<id>" beside "revenue" and "pageview".
GOAL_CHOICE_PREFIX = "goal:"


def _goal_choices(site) -> list:
    """Revenue, Page view, then each of the site's own goals (never another site's)."""
    choices: list = [
        (value, label) for value, label in SplitTest.GoalType.choices if value != SplitTest.GoalType.GOAL
    ]
    goals = list(Goal.objects.filter(site=site)) if site is not None else []
    if goals:
        choices.append(
            (
                "Your goals",
                [(f"{GOAL_CHOICE_PREFIX}{goal.pk}", f"{goal.name} ({_describe(goal)})") for goal in goals],
            )
        )
    return choices


def _describe(goal: Goal) -> str:
    if goal.kind == Goal.Kind.EVENT:
        return f"event {goal.event_name}"
    return f"visit {goal.page_pattern}"


class SplitTestForm(forms.Form):
    """The four steps: the test on your site, the goal type, the target (or Any Revenue), launch."""

    name = forms.CharField(max_length=120, label="Test name")
    page = forms.CharField(
        max_length=500, label="Control page", help_text="Path of the page under test, e.g. /pricing"
    )
    randomization = forms.ChoiceField(choices=SplitTest.Randomization.choices, initial="session")
    goal_type = forms.ChoiceField(
        choices=(),  # set per site in __init__
        initial="revenue",
        label="Goal type",
        help_text="Revenue, a visit to one page, or one of your goals.",
        error_messages={"invalid_choice": "Choose Revenue, Page view or one of this site's goals."},
    )
    goal_page = forms.CharField(
        required=False,
        max_length=500,
        label="Goal page",
        help_text="A visit to this path converts, e.g. /thanks",
    )
    revenue_mode = forms.ChoiceField(
        choices=[("any", "Any Revenue"), ("target", "Target revenue amount")],
        initial="any",
        label="Revenue goal",
    )
    revenue_target = forms.CharField(
        required=False, max_length=20, label="Target amount", help_text="Per visitor, in your Stripe currency"
    )
    control_name = forms.CharField(max_length=120, initial="Control", label="Control name")
    control_weight = forms.IntegerField(min_value=0, max_value=10000, initial=50, label="Control weight")
    b_name = forms.CharField(max_length=120, initial="Variant B", label="Variant B name")
    b_url = forms.CharField(max_length=500, label="Variant B URL", help_text="e.g. /pricing-b")
    b_weight = forms.IntegerField(min_value=0, max_value=10000, initial=50, label="Variant B weight")
    c_name = forms.CharField(max_length=120, required=False, label="Variant C name (optional)")
    c_url = forms.CharField(max_length=500, required=False, label="Variant C URL")
    c_weight = forms.IntegerField(min_value=0, max_value=10000, required=False, label="Variant C weight")
    method = forms.ChoiceField(
        choices=SplitTest.Method.choices,
        initial=SplitTest.Method.SEQUENTIAL,
        label="Statistics",
        help_text="Sequential stays valid however often you look. Fixed horizon: plan the sample with "
        "the calculator and read the result once it is reached.",
    )
    minimum_sample = forms.IntegerField(
        min_value=1,
        max_value=10_000_000,
        initial=100,
        label="Minimum visitors per variant",
        help_text="With fixed horizon: the planned sample per variant.",
    )
    minimum_conversions = forms.IntegerField(
        min_value=1, max_value=1_000_000, initial=10, label="Minimum conversions per variant"
    )
    auto_stop_days = forms.IntegerField(
        min_value=1, max_value=365, required=False, label="Stop automatically after (days)"
    )
    cap_percentile = forms.FloatField(
        min_value=50,
        max_value=100,
        required=False,
        initial=99.0,
        label="Cap revenue outliers at percentile",
        help_text="Each visitor's revenue counts at most this percentile of buyers' revenue, in every "
        "figure. Empty: no capping.",
    )
    canonical_to_control = forms.BooleanField(
        required=False, initial=True, label="Variant pages: canonical link to the control"
    )

    #: (legend, fields, the goal type it belongs to or "") in the order shown. Explicit lists: a
    #: substring test on names once showed the test's Name twice and saved the wrong one.
    FIELDSETS = (
        ("1. The test", ("name", "page", "randomization"), ""),
        ("2. Goal type", ("goal_type",), ""),
        ("3. Goal page", ("goal_page",), "pageview"),
        ("3. Revenue target", ("revenue_mode", "revenue_target"), "revenue"),
        (
            "Variants",
            ("control_name", "control_weight", "b_name", "b_url", "b_weight", "c_name", "c_url", "c_weight"),
            "",
        ),
        (
            "Statistics",
            ("method", "minimum_sample", "minimum_conversions", "auto_stop_days", "cap_percentile"),
            "",
        ),
        ("Variant pages", ("canonical_to_control",), ""),
    )

    def __init__(self, *args, currency: str | None = None, site=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.currency = currency or "usd"
        self.fields["goal_type"].choices = _goal_choices(site)

    def fieldsets(self) -> list[tuple[str, list, str]]:
        return [(legend, [self[name] for name in names], goal) for legend, names, goal in self.FIELDSETS]

    def clean_revenue_target(self) -> int | None:
        raw = (self.cleaned_data.get("revenue_target") or "").strip().replace(",", "")
        if not raw or (self.data.get("goal_type") or "revenue") != SplitTest.GoalType.REVENUE:
            return None
        try:
            amount = Decimal(raw)
        except InvalidOperation:
            raise forms.ValidationError("Enter an amount like 49.00") from None
        if not amount.is_finite():  # NaN, Infinity: a 500 in the comparisons below
            raise forms.ValidationError("Enter an amount like 49.00")
        minor = amount.scaleb(exponent(self.currency))
        if minor > 10**12:  # a larger number overflowed the database column (a 500)
            raise forms.ValidationError("Enter a smaller amount")
        if minor <= 0 or minor != minor.to_integral_value():
            raise forms.ValidationError(
                f"Enter a positive amount with at most {exponent(self.currency)} decimals"
            )
        return int(minor)

    def clean(self):
        cleaned = super().clean()
        goal = cleaned.get("goal_type")
        if (
            goal == "revenue"
            and cleaned.get("revenue_mode") == "target"
            and not cleaned.get("revenue_target")
        ):
            self.add_error("revenue_target", "Enter the target amount, or choose Any Revenue")
        if goal == "pageview" and not (cleaned.get("goal_page") or "").strip():
            self.add_error("goal_page", "Enter the page that counts as a conversion, e.g. /thanks")
        if cleaned.get("c_url") and cleaned.get("c_weight") is None:
            self.add_error("c_weight", "Give variant C a weight")
        return cleaned

    def to_spec(self) -> TestSpec:
        data = self.cleaned_data
        variants = [
            VariantSpec("control", data["control_name"], data["page"], data["control_weight"], True),
            VariantSpec("b", data["b_name"], data["b_url"], data["b_weight"], False),
        ]
        if data.get("c_url"):
            variants.append(
                VariantSpec("c", data.get("c_name") or "Variant C", data["c_url"], data["c_weight"], False)
            )
        goal_type, goal_id = data["goal_type"], None
        if goal_type.startswith(GOAL_CHOICE_PREFIX):
            goal_type, goal_id = SplitTest.GoalType.GOAL, int(goal_type.removeprefix(GOAL_CHOICE_PREFIX))
        is_revenue = goal_type == SplitTest.GoalType.REVENUE
        return TestSpec(
            name=data["name"],
            page=data["page"],
            randomization=data["randomization"],
            goal_type=goal_type,
            goal_id=goal_id,
            revenue_target=data["revenue_target"]
            if is_revenue and data.get("revenue_mode") == "target"
            else None,
            goal_page="" if is_revenue else (data.get("goal_page") or ""),
            minimum_sample=data["minimum_sample"],
            minimum_conversions=data["minimum_conversions"],
            method=data["method"],
            auto_stop_days=data.get("auto_stop_days"),
            cap_percentile=data.get("cap_percentile"),
            canonical_to_control=data.get("canonical_to_control", False),
            variants=variants,
        )


class CalculatorForm(forms.Form):
    baseline = forms.FloatField(
        min_value=0.0001, max_value=99.99, initial=4.0, label="Baseline conversion rate (%)"
    )
    mde = forms.FloatField(
        min_value=0.0001, max_value=99.99, initial=1.0, label="Minimum detectable effect (points)"
    )
    significance = forms.TypedChoiceField(
        choices=[("0.95", "95%"), ("0.99", "99%")], coerce=float, initial="0.95"
    )
    power = forms.TypedChoiceField(choices=[("0.8", "80%"), ("0.9", "90%")], coerce=float, initial="0.8")
    daily_visitors = forms.IntegerField(
        min_value=1, max_value=100_000_000, initial=1200, label="Average daily visitors"
    )
    variants = forms.IntegerField(min_value=2, max_value=10, initial=2, label="Variants (incl. control)")


def initial_for(test: SplitTest, currency: str) -> dict:
    """The form's values for an existing draft."""
    variants = list(test.variants.all())
    control = next((v for v in variants if v.is_control), None)
    others = [v for v in variants if not v.is_control]
    initial = {
        "name": test.name,
        "page": test.page,
        "randomization": test.randomization,
        "goal_type": f"{GOAL_CHOICE_PREFIX}{test.goal_id}"
        if test.goal_type == SplitTest.GoalType.GOAL
        else test.goal_type,
        "revenue_mode": "target" if test.revenue_target else "any",
        "revenue_target": str(to_major(test.revenue_target, currency)) if test.revenue_target else "",
        "goal_page": test.goal_page,
        "control_name": control.name if control else "Control",
        "control_weight": control.weight if control else 50,
        "method": test.method,
        "minimum_sample": test.minimum_sample,
        "minimum_conversions": test.minimum_conversions,
        "auto_stop_days": test.auto_stop_days,
        "cap_percentile": test.cap_percentile,
        "canonical_to_control": test.canonical_to_control,
    }
    for prefix, variant in zip(("b", "c"), others, strict=False):
        initial.update(
            {f"{prefix}_name": variant.name, f"{prefix}_url": variant.url, f"{prefix}_weight": variant.weight}
        )
    return initial
