"""REST API for goals and funnels: list/create, get/patch/delete, with the rules of ``tracking.goals``.

A goal is ``{"id", "name", "type": "event"|"page", "event": "Signup"}`` or ``{..., "page": "/thanks*"}``;
a funnel is ``{"id", "name", "steps": [goal ids in order], "goals": [the goals]}``.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import api_view
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response

from tracking import goals
from tracking.access import api_site
from tracking.models import Funnel, Goal

MAX_ID = 2**63 - 1


class SiteGoalSerializer(serializers.Serializer):
    """A goal in requests and answers alike (one schema component, so its "type" enum gets one name)."""

    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=goals.GOAL_NAME_MAX_LENGTH)
    type = serializers.ChoiceField(
        choices=Goal.Kind.values, help_text="event: a custom event; page: a visit to a page"
    )
    event = serializers.CharField(
        max_length=goals.EVENT_NAME_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="For type event: the name sent by Humblytics.track(name), exactly (case matters).",
    )
    page = serializers.CharField(
        max_length=goals.PAGE_PATTERN_MAX_LENGTH,
        required=False,
        allow_blank=True,
        help_text="For type page: a path starting with /; * matches any run of characters (/thanks*).",
    )


class FunnelSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    name = serializers.CharField(max_length=goals.GOAL_NAME_MAX_LENGTH)
    steps = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=Funnel.MIN_STEPS,
        max_length=Funnel.MAX_STEPS,
        help_text="Ids of the site's goals, in order; each goal at most once.",
    )
    goals = SiteGoalSerializer(many=True, read_only=True, help_text="The steps' goals, in order")


ErrorBody = inline_serializer("GoalError", fields={"error": serializers.CharField()})
GoalList = inline_serializer("GoalList", fields={"results": SiteGoalSerializer(many=True)})
FunnelList = inline_serializer("FunnelList", fields={"results": FunnelSerializer(many=True)})


def represent_goal(goal: Goal) -> dict:
    body = {"id": goal.pk, "name": goal.name, "type": goal.kind}
    if goal.kind == Goal.Kind.EVENT:
        body["event"] = goal.event_name
    else:
        body["page"] = goal.page_pattern
    return body


def represent_funnel(funnel: Funnel) -> dict:
    steps = [step.goal for step in funnel.steps.all()]
    return {
        "id": funnel.pk,
        "name": funnel.name,
        "steps": [goal.pk for goal in steps],
        "goals": [represent_goal(goal) for goal in steps],
    }


def _goal_spec(data: dict, current: goals.GoalSpec | None) -> goals.GoalSpec:
    """The spec a (partial, for PATCH) body asks for; the field of the other type is an error, not ignored."""
    base = current or goals.GoalSpec("", "")
    kind = data.get("type", base.type)
    keep = current is not None and kind == base.type
    wrong = "page" if kind == Goal.Kind.EVENT else "event"
    if data.get(wrong):
        raise ValidationError({wrong: [f'only for goals of type "{wrong}"; this goal is of type "{kind}"']})
    return goals.GoalSpec(
        name=data.get("name", base.name),
        type=kind,
        event=data.get("event", base.event if keep else ""),
        page=data.get("page", base.page if keep else ""),
    )


def _save_goal(site, data: dict, goal: Goal | None) -> Goal:
    spec = _goal_spec(data, goals.GoalSpec.of(goal) if goal else None)
    try:
        return goals.save_goal(site, spec, goal)
    except goals.InvalidGoal as invalid:
        raise ValidationError({field: [message] for field, message in invalid.errors.items()}) from None


@extend_schema(methods=["GET"], responses={200: GoalList}, operation_id="goals_list")
@extend_schema(
    methods=["POST"],
    request=SiteGoalSerializer,
    responses={201: SiteGoalSerializer, 400: ErrorBody},
    operation_id="goals_create",
)
@api_view(["GET", "POST"])
def goals_view(request, site_id: str):
    """The site's goals, by name; or create one."""
    if request.method == "GET":
        site = api_site(request, site_id)
        return Response({"results": [represent_goal(goal) for goal in Goal.objects.filter(site=site)]})
    site = api_site(request, site_id, write=True)
    serializer = SiteGoalSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    goal = _save_goal(site, serializer.validated_data, None)
    return Response(represent_goal(goal), status=status.HTTP_201_CREATED)


def _get(rows, pk: int):
    row = rows.filter(pk=pk).first()
    if row is None:
        raise Http404
    return row


@extend_schema(methods=["GET"], responses={200: SiteGoalSerializer}, operation_id="goal_retrieve")
@extend_schema(
    methods=["PATCH"],
    request=SiteGoalSerializer(partial=True),
    responses={200: SiteGoalSerializer, 400: ErrorBody},
    operation_id="goal_update",
)
@extend_schema(
    methods=["DELETE"],
    responses={
        204: None,
        409: OpenApiResponse(ErrorBody, description="A funnel or a split test still uses the goal"),
    },
    operation_id="goal_destroy",
)
@api_view(["GET", "PATCH", "DELETE"])
def goal_view(request, site_id: str, goal_id: int):
    """One goal; PATCH changes any of its fields; DELETE answers 409 while a funnel or split test uses it."""
    if request.method == "GET":
        return Response(represent_goal(_get(Goal.objects.filter(site=api_site(request, site_id)), goal_id)))
    site = api_site(request, site_id, write=True)
    goal = _get(Goal.objects.filter(site=site), goal_id)
    if request.method == "DELETE":
        try:
            goals.delete_goal(goal)
        except goals.GoalInUse as exc:
            return Response({"error": exc.message}, status=status.HTTP_409_CONFLICT)
        return Response(status=status.HTTP_204_NO_CONTENT)
    serializer = SiteGoalSerializer(data=request.data, partial=True)
    serializer.is_valid(raise_exception=True)
    return Response(represent_goal(_save_goal(site, serializer.validated_data, goal)))


def _funnels(site):
    return Funnel.objects.filter(site=site).prefetch_related("steps__goal")


def _save_funnel(site, data: dict, funnel: Funnel | None) -> Funnel:
    current = goals.FunnelSpec(funnel.name, tuple(s.goal_id for s in funnel.steps.all())) if funnel else None
    spec = goals.FunnelSpec(
        name=data.get("name", current.name if current else ""),
        steps=tuple(data["steps"]) if "steps" in data else current.steps if current else (),
    )
    try:
        saved = goals.save_funnel(site, spec, funnel)
    except goals.InvalidGoal as invalid:
        raise ValidationError({field: [message] for field, message in invalid.errors.items()}) from None
    return _funnels(site).get(pk=saved.pk)


@extend_schema(methods=["GET"], responses={200: FunnelList}, operation_id="funnels_list")
@extend_schema(
    methods=["POST"],
    request=FunnelSerializer,
    responses={201: FunnelSerializer, 400: ErrorBody},
    operation_id="funnels_create",
)
@api_view(["GET", "POST"])
def funnels_view(request, site_id: str):
    """The site's funnels, by name, each with its steps; or create one from 2 to 8 goal ids."""
    if request.method == "GET":
        site = api_site(request, site_id)
        return Response({"results": [represent_funnel(funnel) for funnel in _funnels(site)]})
    site = api_site(request, site_id, write=True)
    serializer = FunnelSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    funnel = _save_funnel(site, serializer.validated_data, None)
    return Response(represent_funnel(funnel), status=status.HTTP_201_CREATED)


@extend_schema(methods=["GET"], responses={200: FunnelSerializer}, operation_id="funnel_retrieve")
@extend_schema(
    methods=["PATCH"],
    request=FunnelSerializer(partial=True),
    responses={200: FunnelSerializer, 400: ErrorBody},
    operation_id="funnel_update",
)
@extend_schema(methods=["DELETE"], responses={204: None}, operation_id="funnel_destroy")
@api_view(["GET", "PATCH", "DELETE"])
def funnel_view(request, site_id: str, funnel_id: int):
    """One funnel; PATCH replaces its name or its steps; DELETE removes it (its goals stay)."""
    if request.method == "GET":
        return Response(represent_funnel(_get(_funnels(api_site(request, site_id)), funnel_id)))
    site = api_site(request, site_id, write=True)
    funnel = _get(_funnels(site), funnel_id)
    if request.method == "DELETE":
        goals.delete_funnel(funnel)
        return Response(status=status.HTTP_204_NO_CONTENT)
    serializer = FunnelSerializer(data=request.data, partial=True)
    serializer.is_valid(raise_exception=True)
    return Response(represent_funnel(_save_funnel(site, serializer.validated_data, funnel)))
