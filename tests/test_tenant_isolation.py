"""Tenant isolation matrix: every site-scoped URL, walked from the resolver, against every kind of intruder.

The routes come from ``get_resolver()`` (recursing into includes), so a route added later is covered
without touching this file. Path parameters other than ``site_id`` are filled with real ids of the
victim's objects; a parameter nobody taught this file to fill fails the test, naming it.

Expected answers (see DESIGN.md, "another customer's site is a 404" and the API's 401/403):
- another logged-in user: 404 (or 405 for a method the view never allows), exactly what a site id that
  does not exist gets, so the answer leaks nothing; and nothing of the victim's changes;
- another site's API key on the API: 403 (405 for a method the view never allows);
- nobody: pages redirect to the login page, the API answers 401.
"""

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_q.models import OrmQ

from revenue.models import Payment, StripeConnection
from splittests.lifecycle import TestSpec as Spec
from splittests.lifecycle import VariantSpec, create_test
from splittests.models import SplitTest
from tracking import sharing, team
from tracking.apikeys import create_api_key
from tracking.goals import FunnelSpec, GoalSpec, save_funnel, save_goal
from tracking.models import ApiKey, Funnel, FunnelStep, Goal, Invitation, Membership, ShareLink, Site

SITE_PARAM = "<str:site_id>"
PARAM_RE = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>[^>]+)>")
MISSING_SITE_ID = "zzzzzzz"
# Path parameters that name no object of the site (a breakdown's dimension): nothing to reach by id.
NOT_OBJECTS = {"site_id", "dimension"}
# Query strings a route needs to answer 200 to its owner (the control test proves the URLs are real).
QUERIES = {"api-breakdown": "?dimension=channel"}
# Today: 15 page routes and 7 API routes carry a site id. Fewer means the walker broke.
MIN_PAGE_ROUTES = 15
MIN_API_ROUTES = 7

# Bodies that would change something if the access check let them through.
FORM_BODY = {
    "name": "pwned",
    "domain": "pwned.example",
    "timezone": "UTC",
    "secret_key": "sk_test_attackerattacker1234",
    "backfill_days": "30",
    "delete_payments": "on",
    "action": "launch",
    "page": "/pricing",
    "b_url": "/pricing-b",
}
API_CREATE_BODY = {
    "name": "pwned",
    "page": "/pwned",
    "randomization": "session",
    "goal": {"type": "revenue", "target": None},
    "variants": [
        {"key": "control", "name": "A", "url": "/pwned", "weight": 50, "is_control": True},
        {"key": "b", "name": "B", "url": "/pwned-b", "weight": 50, "is_control": False},
    ],
    "status": "running",
}
API_PATCH_BODY = {"status": "running", "name": "pwned"}


@dataclass(frozen=True)
class Route:
    route: str
    name: str
    callback: object

    @property
    def is_api(self) -> bool:
        return self.route.startswith("api/")

    @property
    def params(self) -> list[str]:
        return [m.group("name") for m in PARAM_RE.finditer(self.route)]

    def url(self, values: dict[str, object]) -> str:
        return "/" + PARAM_RE.sub(lambda m: str(values[m.group("name")]), self.route)

    def api_methods(self) -> set[str]:
        """Methods a DRF view implements (``@api_view`` builds a class with one handler per method)."""
        cls = getattr(self.callback, "cls", None)
        return {m for m in ("GET", "POST", "PATCH", "PUT", "DELETE") if cls and hasattr(cls, m.lower())}


def walk(resolver, prefix: str = "") -> Iterator[Route]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield Route(route=route, name=entry.name or "", callback=entry.callback)


def site_routes() -> list[Route]:
    routes = [r for r in walk(get_resolver()) if SITE_PARAM in r.route]
    return sorted(set(routes), key=lambda r: r.route)


ROUTES = site_routes()
PAGE_ROUTES = [r for r in ROUTES if not r.is_api]
API_ROUTES = [r for r in ROUTES if r.is_api]


def test_the_walker_found_every_site_route():
    assert len(PAGE_ROUTES) >= MIN_PAGE_ROUTES, [r.route for r in PAGE_ROUTES]
    assert len(API_ROUTES) >= MIN_API_ROUTES, [r.route for r in API_ROUTES]
    for expected in (
        "sites/<str:site_id>/",
        "sites/<str:site_id>/settings/revenue/disconnect/",
        "sites/<str:site_id>/settings/api/<int:key_id>/revoke/",
        "sites/<str:site_id>/split-tests/<int:test_id>/stop/",
        "api/v1/sites/<str:site_id>/payments",
        "api/v1/sites/<str:site_id>/split-tests/<int:test_id>",
        "sites/<str:site_id>/settings/goals/<int:goal_id>/delete/",
        "sites/<str:site_id>/settings/goals/funnels/<int:funnel_id>/edit/",
        "api/v1/sites/<str:site_id>/goals/<int:goal_id>",
        "api/v1/sites/<str:site_id>/funnels/<int:funnel_id>",
    ):
        assert expected in {r.route for r in ROUTES}


# ---- the victim and the intruders ------------------------------------------------------------------


def _spec(page: str) -> Spec:
    return Spec(
        name="Victim test",
        page=page,
        randomization="session",
        goal_type="revenue",
        revenue_target=None,
        minimum_sample=10,
        variants=[
            VariantSpec("control", "Control", page, 50, True),
            VariantSpec("b", "B", page + "-b", 50, False),
        ],
    )


@pytest.fixture
def victim(site):
    """The owner's site with one object of every kind a route can name or change."""
    test = create_test(site, _spec("/pricing"))  # a draft: launch and stop would both change it
    key_row, key = create_api_key(site, "Victim key")
    StripeConnection.objects.create(
        site=site, secret_key="sk_test_victimvictim4242", key_hint="sk_test_…4242", mode="test"
    )
    Payment.objects.create(
        site=site,
        stripe_id="ch_victim0001",
        created_at=timezone.now(),
        amount=5000,
        currency="usd",
        settlement_amount=5000,
        settlement_currency="usd",
        net=5000,
    )
    invitation = team.invite(site, "friend@example.com", "viewer", invited_by=None, now=timezone.now())
    link, _ = sharing.create_share_link(site, "Victim link", created_by=None)
    signup = save_goal(site, GoalSpec("Victim signup", "event", event="Signup"))
    thanks = save_goal(site, GoalSpec("Victim thanks", "page", page="/thanks*"))
    funnel = save_funnel(site, FunnelSpec("Victim funnel", (signup.pk, thanks.pk)))
    free_goal = save_goal(site, GoalSpec("Victim paid", "event", event="Paid"))  # deletable: in no funnel
    return {
        "site": site,
        "test_id": test.pk,
        "key_id": key_row.pk,
        "key": key,
        "membership_id": Membership.objects.get(site=site).pk,
        "invitation_id": invitation.invitation.pk,
        "link_id": link.pk,
        "goal_id": free_goal.pk,
        "funnel_id": funnel.pk,
    }


@pytest.fixture
def intruder(other_site, other_user):
    """Another customer with a site, a split test and an API key of their own."""
    test = create_test(other_site, _spec("/mine"))
    _, key = create_api_key(other_site, "Intruder key")
    return {"site": other_site, "user": other_user, "test_id": test.pk, "key": key}


def fill(route: Route, site_id: str, objects: dict) -> str:
    """The route's URL with the site id and real object ids; fails naming a parameter it cannot fill."""
    fillers = {"site_id": site_id, "dimension": "channel"}
    fillers |= {
        name: objects[name]
        for name in ("test_id", "key_id", "membership_id", "invitation_id", "link_id", "goal_id", "funnel_id")
    }
    unknown = [p for p in route.params if p not in fillers]
    if unknown:
        pytest.fail(
            f"Route {route.route!r} has path parameter(s) {unknown} that the tenant matrix cannot fill: "
            "create an object of the victim's for it in the `victim` fixture and map it in fill()."
        )
    return route.url(fillers) + QUERIES.get(route.name, "")


def snapshot(site: Site) -> dict:
    """Everything of the victim's that a leaked write could change."""
    connection = StripeConnection.objects.filter(site=site).first()
    site.refresh_from_db()
    return {
        "site": (site.name, site.domain, site.timezone, site.retention_days),
        "memberships": sorted(Membership.objects.filter(site=site).values_list("user_id", "role")),
        "split_tests": sorted(SplitTest.objects.filter(site=site).values_list("pk", "status", "name")),
        "api_keys": sorted(ApiKey.objects.filter(site=site).values_list("pk", "revoked_at", "name")),
        "goals": sorted(
            Goal.objects.filter(site=site).values_list("pk", "name", "kind", "event_name", "page_pattern")
        ),
        "funnels": sorted(Funnel.objects.filter(site=site).values_list("pk", "name")),
        "funnel_steps": sorted(
            FunnelStep.objects.filter(funnel__site=site).values_list("funnel_id", "position", "goal_id")
        ),
        "invitations": sorted(Invitation.objects.filter(site=site).values_list("pk", "email", "role")),
        "share_links": sorted(ShareLink.objects.filter(site=site).values_list("pk", "revoked_at", "name")),
        "stripe_connection": connection and (connection.pk, connection.status, connection.key_hint),
        "payments": Payment.objects.filter(site=site).count(),
        "queued_tasks": OrmQ.objects.count(),
    }


def send(client, method: str, url: str, *, api: bool, **extra):
    if method == "GET":
        return client.get(url, **extra)
    if api:
        body = API_PATCH_BODY if method == "PATCH" else API_CREATE_BODY
        return client.generic(method, url, json.dumps(body), content_type="application/json", **extra)
    body = "&".join(f"{k}={v}" for k, v in FORM_BODY.items())
    return client.generic(method, url, body, "application/x-www-form-urlencoded", **extra)


def methods_for(route: Route) -> tuple[str, ...]:
    return ("GET", "POST", "PATCH", "DELETE") if route.is_api else ("GET", "POST")


def assert_denied_not_found(route: Route, method: str, response, missing_response) -> str:
    """404, or 405 for a method the view never allows; identical to the answer for a missing site."""
    where = f"{method} {route.route}"
    assert response.status_code in (404, 405), f"{where}: {response.status_code}"
    if response.status_code == 405:
        assert method not in response.get("Allow", ""), f"{where}: 405 but Allow: {response.get('Allow')}"
    assert response.status_code == missing_response.status_code, (
        f"{where}: {response.status_code} for the victim's site but {missing_response.status_code} for "
        "a site that does not exist, which tells the intruder the site exists"
    )
    return f"{response.status_code}"


# ---- the matrix -----------------------------------------------------------------------------------


def test_another_users_session_gets_404_everywhere_and_changes_nothing(client, victim, intruder):
    client.force_login(intruder["user"])
    before = snapshot(victim["site"])
    answers = {}
    for route in ROUTES:
        url = fill(route, victim["site"].public_id, victim)
        missing_url = fill(route, MISSING_SITE_ID, victim)
        got_404 = False
        for method in methods_for(route):
            response = send(client, method, url, api=route.is_api)
            missing = send(client, method, missing_url, api=route.is_api)
            answers[(route.route, method)] = assert_denied_not_found(route, method, response, missing)
            got_404 |= response.status_code == 404
            assert snapshot(victim["site"]) == before, f"{method} {route.route} changed the victim's data"
            assert victim["key"] not in response.content.decode(errors="replace")
        assert got_404, f"{route.route}: no method reached the site access check"
    assert len(answers) >= 2 * MIN_PAGE_ROUTES + 3 * MIN_API_ROUTES


def test_another_user_cannot_reach_the_victims_objects_through_their_own_site(client, victim, intruder):
    """IDOR: the intruder's own site id with the victim's split test or API key id."""
    client.force_login(intruder["user"])
    before = snapshot(victim["site"])
    checked = 0
    for route in ROUTES:
        if set(route.params) <= NOT_OBJECTS:
            continue
        url = fill(route, intruder["site"].public_id, victim)
        got_404 = False
        for method in methods_for(route):
            response = send(client, method, url, api=route.is_api)
            assert response.status_code in (404, 405), f"{method} {url}: {response.status_code}"
            got_404 |= response.status_code == 404
            assert snapshot(victim["site"]) == before, f"{method} {url} changed the victim's data"
            checked += 1
        assert got_404, f"{route.route}: no method looked the object up in the intruder's site"
    assert checked >= 2 * 4 + 3 * 2  # 4 page and 2 API routes name an object today


def test_another_sites_api_key_gets_403_on_every_api_route(client, victim, intruder):
    before = snapshot(victim["site"])
    auth = {"HTTP_AUTHORIZATION": f"Bearer {intruder['key']}"}
    for route in API_ROUTES:
        url = fill(route, victim["site"].public_id, victim)
        allowed = route.api_methods()
        assert allowed, f"{route.route} is not a DRF view"
        for method in ("GET", "POST", "PATCH", "DELETE"):
            response = send(client, method, url, api=True, **auth)
            expected = 403 if method in allowed else 405
            assert response.status_code == expected, f"{method} {route.route}: {response.status_code}"
            if expected == 403:
                assert response.json() == {"error": "This API key belongs to another site."}
            assert snapshot(victim["site"]) == before, f"{method} {route.route} changed the victim's data"


def test_an_api_key_cannot_reach_another_sites_objects_through_its_own_site(client, victim, intruder):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {intruder['key']}"}
    before = snapshot(victim["site"])
    routes = [r for r in API_ROUTES if set(r.params) - NOT_OBJECTS]
    assert len(routes) >= 4
    for route in routes:
        url = fill(route, intruder["site"].public_id, victim)
        for method in sorted(route.api_methods()):
            response = send(client, method, url, api=True, **auth)
            assert response.status_code == 404, f"{method} {url}: {response.status_code}"
            assert snapshot(victim["site"]) == before


def test_an_api_key_is_no_login_for_pages(client, victim, intruder):
    """A bearer key (even the victim's own) authenticates the API only, never the HTML pages."""
    before = snapshot(victim["site"])
    for key in (intruder["key"], victim["key"]):
        for route in PAGE_ROUTES:
            url = fill(route, victim["site"].public_id, victim)
            for method in ("GET", "POST"):
                response = send(client, method, url, api=False, HTTP_AUTHORIZATION=f"Bearer {key}")
                assert response.status_code == 302, f"{method} {url}: {response.status_code}"
                assert response["Location"].startswith("/accounts/login/?next=")
    assert snapshot(victim["site"]) == before


def test_a_revoked_or_made_up_key_is_401(client, victim):
    ApiKey.objects.filter(pk=victim["key_id"]).update(revoked_at=timezone.now())
    for key in (victim["key"], "hmbl_" + "x" * 43, "not-even-a-key"):
        for route in API_ROUTES:
            url = fill(route, victim["site"].public_id, victim)
            method = "GET" if "GET" in route.api_methods() else "POST"
            response = send(client, method, url, api=True, HTTP_AUTHORIZATION=f"Bearer {key}")
            assert response.status_code == 401, f"{key[:10]} {method} {route.route}: {response.status_code}"


def test_nobody_logged_in_is_sent_to_login_or_gets_401(client, victim):
    before = snapshot(victim["site"])
    for route in ROUTES:
        url = fill(route, victim["site"].public_id, victim)
        for method in methods_for(route):
            response = send(client, method, url, api=route.is_api)
            if route.is_api:
                expected = 401 if method in route.api_methods() else 405
                assert response.status_code == expected, f"{method} {route.route}: {response.status_code}"
                if expected == 401:
                    assert response["WWW-Authenticate"].startswith("Bearer")
            else:
                assert response.status_code == 302, f"{method} {route.route}: {response.status_code}"
                assert response["Location"] == f"/accounts/login/?next={url}"
    assert snapshot(victim["site"]) == before


def test_the_matrix_urls_are_real_for_the_owner(client, victim, owner):
    """Control: the same URLs work for the owner, so the 404s above come from the access check."""
    key_auth = {"HTTP_AUTHORIZATION": f"Bearer {victim['key']}"}
    for route in API_ROUTES:
        if "GET" in route.api_methods():
            url = fill(route, victim["site"].public_id, victim)
            response = client.get(url, **key_auth)
            assert response.status_code == 200, (
                f"GET {route.route} with the site's key: {response.status_code}"
            )
    client.force_login(owner)
    for route in ROUTES:
        url = fill(route, victim["site"].public_id, victim)
        response = client.get(url)
        if response.status_code == 405:
            response = send(client, "POST", url, api=route.is_api)
            assert response.status_code in (200, 302), f"POST {route.route}: {response.status_code}"
        elif response.status_code == 302:
            # e.g. editing a test that is already running sends the owner back to its page.
            site_pages = f"/sites/{victim['site'].public_id}/"
            assert response["Location"].startswith(site_pages), (
                f"GET {route.route}: to {response['Location']}"
            )
        else:
            assert response.status_code == 200, f"GET {route.route}: {response.status_code}"
