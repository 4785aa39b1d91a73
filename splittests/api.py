"""REST API for split tests: list/create, get (results inline)/patch, stop."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from splittests import lifecycle, results
from splittests.models import SplitTest
from tracking.access import api_site


class VariantSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=120, required=False, allow_blank=True)
    url = serializers.CharField(max_length=500)
    weight = serializers.IntegerField(min_value=0, max_value=10_000)
    is_control = serializers.BooleanField()


class GoalSerializer(serializers.Serializer):
    type = serializers.ChoiceField(choices=SplitTest.GoalType.values)
    # Bounded well inside the database's bigint: a larger number was a 500 (OverflowError) on save.
    target = serializers.IntegerField(allow_null=True, required=False, min_value=1, max_value=10**12)
    page = serializers.CharField(required=False, allow_blank=True, max_length=500)
    # type "goal": the id of one of the site's goals (GET /api/v1/sites/SITE_ID/goals); another
    # site's id is refused as unknown by lifecycle.validate. Bounded: a larger number is no id.
    goal = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=2**63 - 1)


class SplitTestCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    page = serializers.CharField(max_length=500)
    randomization = serializers.ChoiceField(choices=SplitTest.Randomization.values, default="session")
    goal = GoalSerializer()
    variants = VariantSerializer(many=True)
    status = serializers.ChoiceField(choices=["draft", "running"], default="draft")
    minimum_sample = serializers.IntegerField(min_value=1, max_value=10_000_000, default=100)
    minimum_conversions = serializers.IntegerField(min_value=1, max_value=1_000_000, default=10)
    method = serializers.ChoiceField(choices=SplitTest.Method.values, default=SplitTest.Method.SEQUENTIAL)
    auto_stop_days = serializers.IntegerField(min_value=1, max_value=365, allow_null=True, default=None)
    cap_percentile = serializers.FloatField(min_value=50, max_value=100, allow_null=True, default=99.0)
    canonical_to_control = serializers.BooleanField(default=True)

    def to_spec(self) -> lifecycle.TestSpec:
        data = self.validated_data
        goal = data["goal"]
        return lifecycle.TestSpec(
            name=data["name"],
            page=data["page"],
            randomization=data["randomization"],
            goal_type=goal["type"],
            revenue_target=goal.get("target"),
            goal_page=goal.get("page") or "",
            goal_id=goal.get("goal"),
            minimum_sample=data["minimum_sample"],
            minimum_conversions=data["minimum_conversions"],
            method=data["method"],
            auto_stop_days=data["auto_stop_days"],
            cap_percentile=data["cap_percentile"],
            canonical_to_control=data["canonical_to_control"],
            variants=[
                lifecycle.VariantSpec(
                    v["key"], v.get("name") or v["key"], v["url"], v["weight"], v["is_control"]
                )
                for v in data["variants"]
            ],
        )


class SplitTestPatchSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=["running", "stopped"], required=False)
    name = serializers.CharField(max_length=120, required=False)
    goal = serializers.JSONField(required=False)

    def validate_goal(self, value):
        # Refused rather than ignored: a client sending it expects it to take effect.
        raise serializers.ValidationError(
            "cannot be changed here: a launched test keeps its goal (its results depend on it); "
            "a draft's goal is changed on its edit page, or create a new test"
        )


def _goal(test: SplitTest) -> dict:
    if test.goal_type == SplitTest.GoalType.GOAL:
        return {"type": test.goal_type, "goal": test.goal_id, "name": test.goal.name if test.goal else None}
    return {"type": test.goal_type, "target": test.revenue_target, "page": test.goal_page or None}


def represent(test: SplitTest, *, with_results: bool) -> dict:
    body = {
        "id": test.pk,
        "name": test.name,
        "page": test.page,
        "status": test.status,
        "randomization": test.randomization,
        "goal": _goal(test),
        "minimum_sample": test.minimum_sample,
        "minimum_conversions": test.minimum_conversions,
        "method": test.method,
        "currency": test.currency or None,
        "auto_stop_days": test.auto_stop_days,
        "cap_percentile": test.cap_percentile,
        "canonical_to_control": test.canonical_to_control,
        "started_at": test.started_at,
        "stopped_at": test.stopped_at,
        "variants": [
            {"key": v.key, "name": v.name, "url": v.url, "weight": v.weight, "is_control": v.is_control}
            for v in test.variants.all()
        ],
    }
    if with_results:
        outcome, currency = results.results_for(test)
        body["results"] = {**outcome.to_dict(), "status": test.status, "currency": currency}
    return body


def _invalid(exc: lifecycle.InvalidTest) -> ValidationError:
    return ValidationError(exc.errors)


def _flat(errors, prefix: str = "") -> dict[str, list[str]]:
    """Nested serializer errors by path ("goal.goal", "variants[1].url"): a message names its field
    instead of showing a Python dict."""
    if isinstance(errors, dict):
        pairs = [(f"{prefix}.{key}" if prefix else str(key), value) for key, value in errors.items()]
    elif errors and all(isinstance(item, dict | list) for item in errors):
        pairs = [(f"{prefix}[{index}]", value) for index, value in enumerate(errors)]
    else:
        return {prefix: [str(error) for error in errors]}
    flat: dict[str, list[str]] = {}
    for path, value in pairs:
        flat.update(_flat(value, path))
    return flat


def _valid(serializer: serializers.Serializer) -> None:
    if not serializer.is_valid():
        raise ValidationError(_flat(serializer.errors))


TestBody = inline_serializer(
    "SplitTest", fields={"id": serializers.IntegerField(), "name": serializers.CharField()}
)


@extend_schema(methods=["GET"], responses={200: TestBody}, operation_id="split_tests_list")
@extend_schema(
    methods=["POST"],
    request=SplitTestCreateSerializer,
    responses={201: TestBody},
    operation_id="split_tests_create",
)
@api_view(["GET", "POST"])
def split_tests(request, site_id: str):
    """List the site's split tests, or create one (status draft or running)."""
    if request.method == "GET":
        site = api_site(request, site_id)
        tests = SplitTest.objects.filter(site=site).select_related("goal").prefetch_related("variants")
        return Response({"results": [represent(test, with_results=False) for test in tests]})
    site = api_site(request, site_id, write=True)
    serializer = SplitTestCreateSerializer(data=request.data)
    _valid(serializer)
    try:
        test = lifecycle.create_test(
            site, serializer.to_spec(), launch=serializer.validated_data["status"] == "running"
        )
    except lifecycle.InvalidTest as exc:
        raise _invalid(exc) from None
    return Response(represent(test, with_results=False), status=status.HTTP_201_CREATED)


def _get_test(site, test_id: int) -> SplitTest:
    test = (
        SplitTest.objects.filter(site=site, pk=test_id)
        .select_related("goal")
        .prefetch_related("variants")
        .first()
    )
    if test is None:
        raise Http404
    return test


@extend_schema(methods=["GET"], responses={200: TestBody}, operation_id="split_test_retrieve")
@extend_schema(
    methods=["PATCH"],
    request=SplitTestPatchSerializer,
    responses={200: TestBody},
    operation_id="split_test_update",
)
@api_view(["GET", "PATCH"])
def split_test(request, site_id: str, test_id: int):
    """One split test with its results; PATCH {"status": "running"} launches a draft."""
    if request.method == "GET":
        site = api_site(request, site_id)
        return Response(represent(_get_test(site, test_id), with_results=True))
    site = api_site(request, site_id, write=True)
    test = _get_test(site, test_id)
    serializer = SplitTestPatchSerializer(data=request.data)
    _valid(serializer)
    data = serializer.validated_data
    try:
        if "name" in data:
            name = data["name"].strip()
            if not name:
                raise lifecycle.InvalidTest({"name": "is required"})
            SplitTest.objects.filter(pk=test.pk).update(name=name)
        if data.get("status") == "running" and test.status != SplitTest.Status.RUNNING:
            lifecycle.launch_test(test)
        elif data.get("status") == "stopped":
            lifecycle.stop_test(test)
    except lifecycle.InvalidTest as exc:
        raise _invalid(exc) from None
    return Response(represent(_get_test(site, test_id), with_results=True))


@extend_schema(request=None, responses={200: TestBody})
@api_view(["POST"])
def stop_split_test(request, site_id: str, test_id: int):
    site = api_site(request, site_id, write=True)
    test = lifecycle.stop_test(_get_test(site, test_id))
    return Response(represent(test, with_results=True))
