from urllib.parse import urlsplit

from django.db import models
from django.db.models import Q
from django.utils import timezone

from tracking.models import Goal, Site


class SplitTest(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        STOPPED = "stopped", "Stopped"

    class Randomization(models.TextChoices):
        SESSION = "session", "Session-level (new assignment each visit)"
        USER = "user", "User-level (same variant for the same visitor that day)"

    class GoalType(models.TextChoices):
        REVENUE = "revenue", "Revenue"
        PAGEVIEW = "pageview", "Page view"
        GOAL = "goal", "Goal (custom event or page)"

    class Method(models.TextChoices):
        SEQUENTIAL = "sequential", "Sequential (safe to check every day)"
        FIXED_HORIZON = "fixed_horizon", "Fixed horizon (read once, at the planned sample)"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="split_tests")
    name = models.CharField(max_length=120)
    page = models.CharField(max_length=500, help_text="Path of the control page, e.g. /pricing")
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.DRAFT)
    randomization = models.CharField(
        max_length=8, choices=Randomization.choices, default=Randomization.SESSION
    )
    goal_type = models.CharField(max_length=8, choices=GoalType.choices, default=GoalType.REVENUE)
    revenue_target = models.BigIntegerField(
        null=True, blank=True, help_text="Minor units of the report currency; empty means Any Revenue"
    )
    goal_page = models.CharField(
        max_length=500, blank=True, help_text="For a page-view goal: the target path"
    )
    goal = models.ForeignKey(
        Goal,
        on_delete=models.RESTRICT,  # a goal a test measures stays, unless the whole site goes
        null=True,
        blank=True,
        related_name="split_tests",
        help_text="For a goal goal: the site's goal a visitor converts on",
    )
    minimum_sample = models.PositiveIntegerField(
        default=100, help_text="Visitors per variant before a winner"
    )
    minimum_conversions = models.PositiveIntegerField(
        default=10, help_text="Conversions every variant needs before a winner"
    )
    method = models.CharField(max_length=16, choices=Method.choices, default=Method.SEQUENTIAL)
    currency = models.CharField(
        max_length=3,
        blank=True,
        help_text="Settlement currency of the revenue figures, fixed at launch (lower case); empty "
        "until the site has a payment",
    )
    auto_stop_days = models.PositiveIntegerField(null=True, blank=True)
    cap_percentile = models.FloatField(
        null=True, blank=True, default=99.0, help_text="Cap per-visitor revenue at this percentile (outliers)"
    )
    canonical_to_control = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "page"], condition=Q(status="running"), name="splittest_one_running_per_page"
            )
        ]

    def __str__(self) -> str:
        return self.name

    def is_running(self) -> bool:
        return self.status == self.Status.RUNNING

    def control(self) -> "Variant | None":
        return next((v for v in self.variants.all() if v.is_control), None)

    def days_running(self) -> int | None:
        if self.started_at is None:
            return None
        end = self.stopped_at or timezone.now()
        return max(0, (end - self.started_at).days)

    def is_conversion_goal(self) -> bool:
        """A page view or a site goal: decided on the conversion rate (revenue: revenue per visitor)."""
        return self.goal_type in (self.GoalType.PAGEVIEW, self.GoalType.GOAL)

    def goal_label(self) -> str:
        if self.goal_type == self.GoalType.PAGEVIEW:
            return f"Visit {self.goal_page}"
        if self.goal_type == self.GoalType.GOAL:
            return f"Goal: {self.goal.name}" if self.goal_id else "Goal"
        if self.revenue_target is None:
            return "Any Revenue"
        return "Revenue target"


class Variant(models.Model):
    test = models.ForeignKey(SplitTest, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(max_length=64)
    name = models.CharField(max_length=120)
    url = models.CharField(max_length=500, help_text="Path (or URL on the site's domain) of this variant")
    weight = models.PositiveIntegerField(default=50)
    is_control = models.BooleanField(default=False)

    class Meta:
        ordering = ["-is_control", "pk"]
        constraints = [models.UniqueConstraint(fields=["test", "key"], name="variant_unique_key_per_test")]

    def __str__(self) -> str:
        return f"{self.test_id}:{self.key}"

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/"
