"""Goals end to end, as a site owner and a visitor would do it, in Chromium against the live server.

The owner defines three event goals and a funnel in Settings → Goals; a visitor on the customer's page
(another context, another user agent, so another cookie-free visitor) signs up through
``Humblytics.track``, clicks an outbound link and submits a form (the automatic events of hmbl.auto.js);
the owner then reads the Goals panel, the Events list, the goal filter and the funnel page.
"""

from urllib.parse import parse_qs, urlsplit

import pytest
from django.utils import timezone

from tests.test_browser_splittest import log_in
from tests.test_browser_tracking import is_beacon, wait_for_rows
from tracking.events import link_events
from tracking.models import CustomEvent, Funnel, Goal, Membership, Site, View

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOP = """<!doctype html>
<html><head><meta charset="utf-8"><title>Pricing</title>
<script defer data-allow-local data-track-outbound data-track-forms src="{src}"></script>
</head><body><h1>Pro plan</h1>
<button id="signup" onclick="Humblytics.track('Signup', {{plan: 'pro'}})">Sign up</button>
<a id="partner" href="https://partner.test/offer" target="_blank">Our partner's offer</a>
<form id="contact" action="/thanks" method="get"><input name="email" value="a@example.com">
  <button id="send">Send</button></form>
</body></html>
"""
THANKS = """<!doctype html>
<html><head><meta charset="utf-8"><title>Thanks</title>
<script defer data-allow-local src="{src}"></script>
</head><body><h1>Thanks</h1></body></html>
"""
GOALS = [
    ("Signed up", "Signup"),
    ("Went outbound", "Outbound Link: Click"),
    ("Sent the form", "Form: Submission"),
]


@pytest.fixture
def shop(owner):
    # Through the ORM: the site form rightly refuses "localhost", the only host name a test page has.
    site = Site.objects.create(name="Local shop", domain="localhost", timezone="UTC")
    Membership.objects.create(user=owner, site=site, role=Membership.Role.OWNER)
    return site


def dropped(visitors: int, rate: str) -> str:
    """A funnel step's drop-off line (with the page's minus sign)."""
    return f"\u2212{visitors} ({rate}) dropped off"


def define_goals_and_funnel(page, live_server, site) -> Funnel:
    """Through Settings → Goals, as the owner would: three event goals, then a funnel of them."""
    settings_url = f"{live_server.url}/sites/{site.public_id}/settings/goals/"
    page.goto(settings_url)
    assert "No goals yet." in page.inner_text("#goals")
    for name, event in GOALS:
        page.click("#goals >> text=Add a goal")
        page.fill("#id_name", name)
        page.check("#id_type_0")  # Custom event
        page.fill("#id_event", event)
        page.click("text=Save goal")
        page.wait_for_url(settings_url)
        assert f"Goal “{name}” saved." in page.inner_text(".messages")
    goals_table = page.inner_text("#goals table")
    for name, event in GOALS:
        assert name in goals_table and f"event {event}" in goals_table

    page.click("#funnels >> text=Add a funnel")
    page.fill("#id_name", "Signup path")
    for position, (name, _) in enumerate(GOALS, start=1):
        page.select_option(f"#id_step_{position}", label=name)
    page.click("text=Save funnel")
    page.wait_for_url(settings_url)
    assert "Signed up → Went outbound → Sent the form" in page.inner_text("#funnels")
    return Funnel.objects.get(site=site)


def open_shop(context, live_server, static_page_server):
    """The visitor lands on the pricing page; returns once its page view is stored (so the events that
    follow find their visit at once) and the automatic-events script listens."""
    page = context.new_page()
    with page.expect_response(is_beacon(live_server)) as beacon:
        page.goto(static_page_server.url("/pricing"))
    assert beacon.value.status == 202
    page.wait_for_function("() => window.Humblytics && window.Humblytics.viewId && window.Humblytics.auto")
    return page


def test_the_goals_panel_and_a_funnel_show_a_visitors_signup_outbound_click_and_form(
    live_server, static_page_server, browser, browser_context, chrome_user_agent, shop
):
    src = f"{live_server.url}/hmbl.min.js?id={shop.public_id}"
    static_page_server.serve("/pricing", SHOP.format(src=src))
    static_page_server.serve("/thanks", THANKS.format(src=src))

    owner = browser_context.new_page()
    log_in(owner, live_server)
    funnel = define_goals_and_funnel(owner, live_server, shop)
    assert list(Goal.objects.filter(site=shop).order_by("pk").values_list("name", "kind", "event_name")) == [
        (name, "event", event) for name, event in GOALS
    ]

    # The visitor: signs up (twice: a double click), goes to the partner's offer in a new tab, comes
    # back and sends the contact form, in the funnel's order.
    agents = [chrome_user_agent.replace(".0.0.0 ", f".0.{n}.0 ") for n in (1, 2)]
    assert len({*agents, chrome_user_agent}) == 3
    visitor = browser.new_context(user_agent=agents[0])
    try:
        visitor.route(
            "https://partner.test/**",
            lambda route: route.fulfill(status=200, content_type="text/html", body="<title>Partner</title>"),
        )
        page = open_shop(visitor, live_server, static_page_server)
        wait_for_rows(View.objects.filter(site=shop), 1)
        for _ in range(2):
            with page.expect_response(is_beacon(live_server)) as sent:
                page.click("#signup")
            assert sent.value.status == 202
        with page.expect_response(is_beacon(live_server)) as sent, page.expect_popup() as popup:
            page.click("#partner")
        assert sent.value.status == 202
        assert popup.value.title() == "Partner"
        popup.value.close()
        # The submission's beacon, then the thank-you page's view.
        with page.expect_response(is_beacon(live_server)) as sent:
            page.click("#send")
        assert sent.value.status == 202
        page.wait_for_url(static_page_server.url("/thanks?email=a%40example.com"))
        wait_for_rows(View.objects.filter(site=shop), 2)
    finally:
        visitor.close()

    # What the scheduled pass would do for an event stored before its view (none here, normally).
    link_events(timezone.now())
    events = wait_for_rows(CustomEvent.objects.filter(site=shop, session__isnull=False).order_by("pk"), 4)
    assert [e.name for e in events] == ["Signup", "Signup", "Outbound Link: Click", "Form: Submission"]
    assert events[0].props == {"plan": "pro"}
    assert len({e.session_id for e in events}) == 1

    dashboard = f"{live_server.url}/sites/{shop.public_id}/?period=today"
    owner.goto(dashboard)
    assert owner.inner_text("#kpi-visitors") == "1"
    goal_rows = {
        name: owner.locator(f"#goals tbody tr#goal-{goal_id} td").all_inner_texts()[1:4]
        for name, goal_id in Goal.objects.filter(site=shop).values_list("name", "pk")
    }
    assert goal_rows == {
        "Signed up": ["1", "2", "100.0%"],
        "Went outbound": ["1", "1", "100.0%"],
        "Sent the form": ["1", "1", "100.0%"],
    }
    event_rows = [
        [cell.strip() for cell in row.locator("td").all_inner_texts()]
        for row in owner.locator("#events tbody tr").all()
    ]
    # Most visitors first, then most events, then by name; each is a goal, so none says "not a goal".
    assert event_rows == [
        ["Signup", "1", "2"],
        ["Form: Submission", "1", "1"],
        ["Outbound Link: Click", "1", "1"],
    ]
    assert "Signup path" in owner.inner_text("#funnel-links")

    # A goal's name filters the dashboard to the visits that completed it.
    owner.click("#goals >> text=Signed up")
    owner.wait_for_url("**filter=goal*")
    assert parse_qs(urlsplit(owner.url).query)["filter"] == ["goal:Signed up"]
    chip = " ".join(owner.inner_text("#filters .chip").split())
    assert chip.startswith("Completed goal Signed up ")
    assert owner.inner_text("#kpi-visitors") == "1"
    assert owner.locator("#goals tbody tr").count() == 3

    # The funnel page, from the dashboard's link: the visitor went through every step.
    owner.goto(dashboard)
    owner.click("#funnel-links >> text=Signup path")
    owner.wait_for_url(f"{live_server.url}/sites/{shop.public_id}/funnels/{funnel.pk}/*")
    assert owner.inner_text("h1") == "Signup path"
    steps = [owner.inner_text(f"#step-{n}") for n in (1, 2, 3)]
    for n, (name, _) in enumerate(GOALS, start=1):
        assert f"{n}. {name}" in steps[n - 1]
        assert "1 visitor · 1 visit" in steps[n - 1]
        assert "100.0% of step 1" in steps[n - 1]
    assert "dropped off" not in steps[0]
    assert dropped(0, "0.0%") in steps[1] and dropped(0, "0.0%") in steps[2]

    # A second visitor only signs up: in step 1, gone after it.
    second = browser.new_context(user_agent=agents[1])
    try:
        page = open_shop(second, live_server, static_page_server)
        wait_for_rows(View.objects.filter(site=shop), 3)
        with page.expect_response(is_beacon(live_server)) as sent:
            page.click("#signup")
        assert sent.value.status == 202
    finally:
        second.close()
    link_events(timezone.now())
    wait_for_rows(CustomEvent.objects.filter(site=shop, session__isnull=False), 5)

    owner.reload()
    steps = [owner.inner_text(f"#step-{n}") for n in (1, 2, 3)]
    assert "2 visitors · 2 visits" in steps[0]
    assert "1 visitor · 1 visit" in steps[1] and "50.0% of step 1" in steps[1]
    assert dropped(1, "50.0%") in steps[1]
    assert "1 visitor · 1 visit" in steps[2] and dropped(0, "0.0%") in steps[2]

    owner.goto(dashboard)
    signed_up = Goal.objects.get(site=shop, name="Signed up").pk
    assert owner.locator(f"#goal-{signed_up} td").all_inner_texts()[1:4] == ["2", "3", "100.0%"]
    assert owner.inner_text("#kpi-visitors") == "2"
