"""Creating, launching and stopping split tests: one entry point each for pages, API and admin."""

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.utils import timezone

from revenue.reports import report_currency
from splittests.models import SplitTest, Variant
from splittests.variant_urls import UnsafeUrl, check_url
from tracking.models import Goal, Site

KEY_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")

#: Every running test of a site rides in each visitor's copy of the tracker: keep it small.
MAX_RUNNING_TESTS_PER_SITE = 20
TOO_MANY_RUNNING = f"a site can run at most {MAX_RUNNING_TESTS_PER_SITE} tests at once; stop one first"


class InvalidTest(ValueError):
    """Carries ``errors``: {field: message} for forms and the API."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{key}: {message}" for key, message in errors.items()))
        self.errors = errors


@dataclass
class VariantSpec:
    key: str
    name: str
    url: str
    weight: int
    is_control: bool


@dataclass
class TestSpec:
    __test__ = False  # not a pytest test class, despite the name
    name: str
    page: str
    randomization: str = SplitTest.Randomization.SESSION
    goal_type: str = SplitTest.GoalType.REVENUE
    revenue_target: int | None = None
    goal_page: str = ""
    goal_id: int | None = None  # a GOAL goal: the id of one of the site's goals
    minimum_sample: int = 100
    minimum_conversions: int = 10
    method: str = SplitTest.Method.SEQUENTIAL
    auto_stop_days: int | None = None
    cap_percentile: float | None = 99.0
    canonical_to_control: bool = True
    variants: list[VariantSpec] = field(default_factory=list)


def _path_on_site(site: Site, value: str, field_name: str, errors: dict[str, str]) -> str:
    """The URL if it is a path or an https URL on the site (as browsers parse it), else "" with the
    reason recorded under ``field_name``."""
    try:
        return check_url(site, value).url
    except UnsafeUrl as unsafe:
        errors[field_name] = str(unsafe)
        return ""


def _site_goal(site: Site, goal_id) -> Goal | None:
    """The site's own goal with that id; another site's goal is as unknown as a made-up id."""
    if isinstance(goal_id, bool) or not isinstance(goal_id, int) or not 0 < goal_id < 2**63:
        return None
    return Goal.objects.filter(site=site, pk=goal_id).first()


def _goal_problem(goal_id) -> str:
    if goal_id is None:
        return (
            'give the id of one of this site\'s goals (Settings → Goals), e.g. {"type": "goal", "goal": 12}'
        )
    return f"{goal_id!r} is not one of this site's goals (Settings → Goals lists them with their ids)"


def validate(site: Site, spec: TestSpec) -> TestSpec:
    """Check a test definition; raises InvalidTest naming every problem."""
    errors: dict[str, str] = {}
    spec.name = (spec.name or "").strip()[:120]
    if not spec.name:
        errors["name"] = "is required"
    page = _path_on_site(site, spec.page, "page", errors)
    spec.page = urlsplit(page).path if page else ""
    if spec.randomization not in SplitTest.Randomization.values:
        errors["randomization"] = 'must be "session" or "user"'
    if spec.goal_type not in SplitTest.GoalType.values:
        errors["goal"] = 'type must be "revenue", "pageview" or "goal"'
    elif spec.goal_type == SplitTest.GoalType.GOAL:
        if _site_goal(site, spec.goal_id) is None:
            errors["goal"] = _goal_problem(spec.goal_id)
    elif spec.goal_type == SplitTest.GoalType.REVENUE:
        if spec.revenue_target is not None and (
            isinstance(spec.revenue_target, bool)
            or not isinstance(spec.revenue_target, int)
            or spec.revenue_target <= 0
        ):
            errors["goal"] = "target must be a positive amount in minor units, or null for Any Revenue"
    else:
        goal_page = _path_on_site(site, spec.goal_page, "goal_page", errors)
        spec.goal_page = urlsplit(goal_page).path if goal_page else ""
    if not isinstance(spec.minimum_sample, int) or not 1 <= spec.minimum_sample <= 10_000_000:
        errors["minimum_sample"] = "must be between 1 and 10,000,000 visitors"
    if not isinstance(spec.minimum_conversions, int) or not 1 <= spec.minimum_conversions <= 1_000_000:
        errors["minimum_conversions"] = "must be between 1 and 1,000,000 conversions"
    if spec.method not in SplitTest.Method.values:
        errors["method"] = 'must be "sequential" or "fixed_horizon"'
    if spec.auto_stop_days is not None and (
        not isinstance(spec.auto_stop_days, int) or not 1 <= spec.auto_stop_days <= 365
    ):
        errors["auto_stop_days"] = "must be between 1 and 365 days, or empty"
    if spec.cap_percentile is not None and not 50 <= spec.cap_percentile <= 100:
        errors["cap_percentile"] = "must be between 50 and 100, or empty for no capping"

    variants = spec.variants
    if len(variants) < 2:
        errors["variants"] = "a test needs a control and at least one variant"
    elif len(variants) > 10:
        errors["variants"] = "at most 10 variants"
    else:
        keys = [v.key for v in variants]
        paths = []
        for index, variant in enumerate(variants):
            if not KEY_RE.match(variant.key or ""):
                errors[f"variants[{index}].key"] = "must be 1-64 letters, digits, - or _"
            variant.name = (variant.name or variant.key or "").strip()[:120]
            url = _path_on_site(site, variant.url, f"variants[{index}].url", errors)
            variant.url = url
            paths.append(urlsplit(url).path if url else "")
            if (
                isinstance(variant.weight, bool)
                or not isinstance(variant.weight, int)
                or not 0 <= variant.weight <= 10_000
            ):
                errors[f"variants[{index}].weight"] = "must be a whole number from 0 to 10000"
        if len(set(keys)) != len(keys):
            errors["variants"] = "variant keys must be unique"
        controls = [v for v in variants if v.is_control]
        if len(controls) != 1:
            errors["variants"] = "exactly one variant must be the control"
        elif spec.page and urlsplit(controls[0].url).path != spec.page:
            errors["variants"] = "the control's URL must be the test page"
        if len({p for p in paths if p}) != len([p for p in paths if p]):
            errors["variants"] = "each variant needs its own URL path"
        if (
            not any(k in errors for k in ("variants",))
            and sum(v.weight for v in variants if isinstance(v.weight, int)) <= 0
        ):
            errors["variants"] = "weights must add up to more than zero"
    if errors:
        raise InvalidTest(errors)
    return spec


def _launch_problem(site: Site, page: str, exclude_pk: int | None = None) -> str | None:
    """Why a test on ``page`` cannot start now, or None. Call inside the transaction that launches:
    the site's row is locked so that two launches cannot both pass the count."""
    Site.objects.select_for_update().filter(pk=site.pk).first()
    running = SplitTest.objects.filter(site=site, status=SplitTest.Status.RUNNING)
    if exclude_pk:
        running = running.exclude(pk=exclude_pk)
    if running.filter(page=page).exists():
        return CONFLICT_MESSAGE
    if running.count() >= MAX_RUNNING_TESTS_PER_SITE:
        return TOO_MANY_RUNNING
    return None


CONFLICT_MESSAGE = "another test is already running on this page; stop it first"


def _definition(spec: TestSpec) -> dict:
    """The SplitTest fields a definition sets (a draft's edit replaces exactly these)."""
    return {
        "name": spec.name,
        "page": spec.page,
        "randomization": spec.randomization,
        "goal_type": spec.goal_type,
        "revenue_target": spec.revenue_target if spec.goal_type == SplitTest.GoalType.REVENUE else None,
        "goal_page": spec.goal_page if spec.goal_type == SplitTest.GoalType.PAGEVIEW else "",
        "goal_id": spec.goal_id if spec.goal_type == SplitTest.GoalType.GOAL else None,
        "minimum_sample": spec.minimum_sample,
        "minimum_conversions": spec.minimum_conversions,
        "method": spec.method,
        "auto_stop_days": spec.auto_stop_days,
        "cap_percentile": spec.cap_percentile,
        "canonical_to_control": spec.canonical_to_control,
    }


def _create_variants(test: SplitTest, spec: TestSpec) -> None:
    Variant.objects.bulk_create(
        [
            Variant(test=test, key=v.key, name=v.name, url=v.url, weight=v.weight, is_control=v.is_control)
            for v in spec.variants
        ]
    )


def create_test(site: Site, spec: TestSpec, *, launch: bool = False) -> SplitTest:
    spec = validate(site, spec)
    try:
        with transaction.atomic():
            problem = _launch_problem(site, spec.page) if launch else None
            if problem:
                raise InvalidTest({"page": problem})
            test = SplitTest.objects.create(
                site=site,
                **_definition(spec),
                status=SplitTest.Status.RUNNING if launch else SplitTest.Status.DRAFT,
                started_at=timezone.now() if launch else None,
                currency=(report_currency(site) or "") if launch else "",
            )
            _create_variants(test, spec)
    except IntegrityError:
        raise InvalidTest({"page": CONFLICT_MESSAGE}) from None
    return test


def update_draft(test: SplitTest, spec: TestSpec) -> SplitTest:
    """Replace a draft's definition (a launched test keeps its definition: results depend on it)."""
    if test.status != SplitTest.Status.DRAFT:
        raise InvalidTest({"status": "only a draft can be edited; stop this test and create a new one"})
    spec = validate(test.site, spec)
    with transaction.atomic():
        SplitTest.objects.filter(pk=test.pk).update(**_definition(spec))
        Variant.objects.filter(test=test).delete()
        _create_variants(test, spec)
    test.refresh_from_db()
    return test


def launch_test(test: SplitTest) -> SplitTest:
    """Start a draft. The revenue currency is fixed now: the site's settlement currency, so that a
    payment in another currency later cannot switch the test's figures to it."""
    if test.status != SplitTest.Status.DRAFT:
        raise InvalidTest({"status": f"only a draft can be launched; this test is {test.status}"})
    try:
        with transaction.atomic():
            problem = _launch_problem(test.site, test.page, exclude_pk=test.pk)
            if problem:
                raise InvalidTest({"status": problem})
            changed = SplitTest.objects.filter(pk=test.pk, status=SplitTest.Status.DRAFT).update(
                status=SplitTest.Status.RUNNING,
                started_at=timezone.now(),
                currency=report_currency(test.site) or "",
            )
    except IntegrityError:
        raise InvalidTest({"status": CONFLICT_MESSAGE}) from None
    if changed != 1:
        raise InvalidTest({"status": "the test changed meanwhile; reload"})
    test.refresh_from_db()
    return test


def stop_test(test: SplitTest) -> SplitTest:
    if test.status == SplitTest.Status.STOPPED:
        return test
    SplitTest.objects.filter(pk=test.pk).exclude(status=SplitTest.Status.STOPPED).update(
        status=SplitTest.Status.STOPPED, stopped_at=timezone.now()
    )
    test.refresh_from_db()
    return test


def stop_expired_tests(now=None) -> int:
    """Stop running tests past their auto-stop days. Scheduled hourly; idempotent."""
    now = now or timezone.now()
    stopped = 0
    for test in SplitTest.objects.filter(status=SplitTest.Status.RUNNING, auto_stop_days__isnull=False):
        if test.started_at and (now - test.started_at).days >= test.auto_stop_days:
            stop_test(test)
            stopped += 1
    return stopped
