"""The reports API's goal and event figures over ``test_goals_panel``'s shop (figures counted there)."""

import pytest

from humblytics.reports.tests.test_goals_panel import build_goal_shop
from tracking.apikeys import create_api_key

WEEK = {"start": "2025-03-01", "end": "2025-03-07"}


@pytest.fixture
def key(site):
    return create_api_key(site, "goals")[1]


@pytest.fixture
def goal_shop(site):
    return build_goal_shop(site)


def get(client, site, path, key, **params):
    return client.get(f"/api/v1/sites/{site.public_id}/{path}", params, HTTP_AUTHORIZATION=f"Bearer {key}")


def test_summary_adds_events_and_goals_and_keeps_every_field(client, site, key, goal_shop):
    body = get(client, site, "summary", key, **WEEK).json()
    assert (body["visitors"], body["revenue"], body["currency"], body["payments"]) == (4, 24500, "usd", 6)
    assert body["events"] == 7
    assert body["goals"] == [
        {"id": goal_shop.pricing.pk, "name": "Pricing", "visitors": 4, "completions": 5, "conversion_rate": 1.0, "revenue": 18500},
        {"id": goal_shop.signed_up.pk, "name": "Signed up", "visitors": 3, "completions": 4, "conversion_rate": 0.75, "revenue": 10000},
        {"id": goal_shop.checkout.pk, "name": "Checkout", "visitors": 2, "completions": 2, "conversion_rate": 0.5, "revenue": 4500},
        {"id": goal_shop.refund.pk, "name": "Refund asked", "visitors": 0, "completions": 0, "conversion_rate": 0.0, "revenue": 0},
    ]  # fmt: skip


def test_breakdown_per_goal(client, site, key, goal_shop):
    body = get(client, site, "breakdown", key, dimension="goal", order_by="revenue", **WEEK).json()
    assert body["currency"] == "usd"
    assert [(r["value"], r["visitors"], r["completions"], r["revenue"]) for r in body["results"]] == [
        ("Pricing", 4, 5, 18500),
        ("Signed up", 3, 4, 10000),
        ("Checkout", 2, 2, 4500),
        ("Refund asked", 0, 0, 0),
    ]
    assert body["results"][1]["conversion_rate"] == 0.75
    limited = get(client, site, "breakdown", key, dimension="goal", limit=1, **WEEK).json()["results"]
    assert [row["value"] for row in limited] == ["Pricing"]


def test_breakdown_per_event_name(client, site, key, goal_shop):
    rows = get(client, site, "breakdown", key, dimension="event", **WEEK).json()["results"]
    assert rows == [
        {"value": "Signup", "visitors": 3, "completions": 4, "conversion_rate": 0.75, "revenue": 10000},
        {"value": "Clicked CTA", "visitors": 2, "completions": 3, "conversion_rate": 0.5, "revenue": 4500},
    ]


def test_property_breakdown_of_an_event_goal_or_an_event(client, site, key, goal_shop):
    rows = get(client, site, "breakdown", key, dimension="prop:plan", filter="goal:Signed up", **WEEK).json()
    # Under the goal filter only events in sessions that completed it: E4 (no session yet) is left out.
    assert rows["results"] == [
        {"value": "pro", "visitors": 2, "completions": 2},
        {"value": "free", "visitors": 1, "completions": 1},
    ]
    rows = get(client, site, "breakdown", key, dimension="prop:plan", event="Signup", **WEEK).json()[
        "results"
    ]
    assert rows == [
        {"value": "pro", "visitors": 3, "completions": 3},  # v1, v3 and v9 (not linked yet)
        {"value": "free", "visitors": 1, "completions": 1},
    ]
    rows = get(client, site, "breakdown", key, dimension="prop:where", event="Clicked CTA", **WEEK).json()
    assert rows["results"] == [
        {"value": "hero", "visitors": 1, "completions": 2},
        {"value": "nav", "visitors": 1, "completions": 1},
    ]


def test_timeseries_adds_events_and_a_goals_conversions(client, site, key, goal_shop):
    rows = get(client, site, "timeseries", key, **WEEK).json()["results"]
    assert [row["events"] for row in rows] == [1, 1, 2, 0, 1, 1, 1]
    assert "conversions" not in rows[0] and rows[0]["visitors"] == 1  # existing fields stay
    rows = get(client, site, "timeseries", key, goal="Pricing", **WEEK).json()["results"]
    assert [row["conversions"] for row in rows] == [2, 1, 1, 0, 0, 0, 1]
    assert [row["completions"] for row in rows] == [2, 1, 1, 0, 0, 0, 1]
    weekly = get(client, site, "timeseries", key, goal="Pricing", granularity="week", **WEEK).json()
    # Feb 24 (Sat 1, Sun 2) and Mar 3: v1 converts on two days, once a week.
    assert [(row["date"], row["conversions"], row["completions"]) for row in weekly["results"]] == [
        ("2025-02-24", 2, 3),
        ("2025-03-03", 2, 2),
    ]


def test_a_goal_filter_restricts_every_report(client, site, key, goal_shop):
    params = {"filter": "goal:Signed up", **WEEK}
    summary = get(client, site, "summary", key, **params).json()
    # Sessions S1, S2, S4 completed Signup: v1 and v3; P1 (S1) is their only payment.
    assert (summary["visitors"], summary["sessions"], summary["pageviews"]) == (2, 3, 4)
    assert (summary["revenue"], summary["payments"]) == (10000, 1)
    channels = get(client, site, "breakdown", key, dimension="channel", **params).json()["results"]
    assert {row["value"]: row["sessions"] for row in channels} == {"Organic Search": 2, "Direct": 1}
    days = get(client, site, "timeseries", key, **params).json()["results"]
    assert [row["sessions"] for row in days] == [1, 1, 0, 0, 1, 0, 0]


@pytest.mark.parametrize(
    "path, params, param, words",
    [
        ("summary", {"filter": "goal:Nope"}, "filter", "unknown goal 'Nope'"),
        ("breakdown", {"dimension": "channel", "filter": "goal:Nope"}, "filter", "unknown goal"),
        ("timeseries", {"goal": "Nope"}, "goal", "unknown goal 'Nope'"),
        ("timeseries", {"goal": "x\x00"}, "goal", "NUL"),
        ("breakdown", {"dimension": "prop:plan"}, "dimension", "filter=goal:NAME"),
        ("breakdown", {"dimension": "prop:plan", "filter": "goal:Pricing"}, "dimension", "event=NAME"),
        ("breakdown", {"dimension": "prop:"}, "dimension", "property key"),
        ("breakdown", {"dimension": "prop:plan", "event": "a" * 121}, "event", "120"),
        ("breakdown", {"dimension": "goals"}, "dimension", "unknown dimension"),
    ],
)
def test_bad_goal_parameters_are_400_saying_what_is_wrong(
    client, site, key, goal_shop, path, params, param, words
):
    response = get(client, site, path, key, **WEEK, **params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(param) and words in response.json()["error"]


def test_another_sites_key_cannot_read_goals(client, site, other_site, goal_shop):
    other_key = create_api_key(other_site, "x")[1]
    assert get(client, site, "breakdown", other_key, dimension="goal").status_code == 403
