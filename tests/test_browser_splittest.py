"""Split tests in a real browser: the control page redirects to the visitor's variant, the address bar
loses hmbl_v, exactly one view (the variant's) is recorded, user-level assignment is sticky, and a
custom-event goal (``Humblytics.track``) counts each variant's converting visitors."""

import pytest

from splittests.lifecycle import TestSpec, VariantSpec, create_test
from splittests.models import SplitTest
from tests.test_browser_tracking import is_beacon, wait_for_rows
from tracking.models import CustomEvent, Goal, Membership, Site, View

PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script defer data-allow-local src="{src}"></script>
</head><body><h1>{title}</h1></body></html>
"""


@pytest.fixture
def shop(owner):
    site = Site.objects.create(name="Local shop", domain="localhost", timezone="UTC")
    Membership.objects.create(user=owner, site=site, role=Membership.Role.OWNER)
    return site


def serve_pages(static_page_server, live_server, site):
    src = f"{live_server.url}/hmbl.min.js?id={site.public_id}"
    static_page_server.serve("/pricing", PAGE.format(title="Control", src=src))
    static_page_server.serve("/pricing-b", PAGE.format(title="Variant B", src=src))


def launch(site, *, randomization, control_weight, b_weight):
    return create_test(
        site,
        TestSpec(
            name="Pricing",
            page="/pricing",
            randomization=randomization,
            variants=[
                VariantSpec("control", "Control", "/pricing", control_weight, True),
                VariantSpec("b", "Variant B", "/pricing-b", b_weight, False),
            ],
        ),
        launch=True,
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_control_page_redirects_to_the_variant_and_only_the_variant_is_counted(
    live_server, static_page_server, browser_context, shop
):
    serve_pages(static_page_server, live_server, shop)
    launch(shop, randomization="session", control_weight=0, b_weight=100)
    page = browser_context.new_page()
    shown = []
    # What the visitor could see: the control page's body must be hidden while it redirects.
    page.on(
        "domcontentloaded",
        lambda p: shown.append((p.url, p.evaluate("getComputedStyle(document.documentElement).visibility"))),
    )
    with page.expect_response(lambda r: r.url == f"{live_server.url}/api/event") as beacon:
        page.goto(static_page_server.url("/pricing?utm_source=ads"), referer="https://www.google.com/")
    assert beacon.value.status == 202
    page.wait_for_function("() => !location.search.includes('hmbl_v')")
    assert page.url == static_page_server.url("/pricing-b?utm_source=ads")
    assert page.title() == "Variant B"
    assert page.evaluate("document.querySelector('link[rel=canonical]').href") == static_page_server.url(
        "/pricing"
    )

    (view,) = wait_for_rows(View.objects.filter(site=shop), 1)
    assert (view.page, view.variant) == ("/pricing-b", "b")
    # The original referrer survived the redirect (carried as hmbl_r), so the visit keeps its source.
    assert (view.session.referrer, view.session.utm_source) == ("Google", "ads")
    assert not any(
        url.startswith(static_page_server.url("/pricing?")) and vis == "visible" for url, vis in shown
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_user_level_assignment_is_the_same_on_a_second_visit_the_same_day(
    live_server, static_page_server, browser, chrome_user_agent, shop
):
    serve_pages(static_page_server, live_server, shop)
    launch(shop, randomization="user", control_weight=50, b_weight=50)
    landed = []
    for _ in range(3):
        # A fresh context each time: no HTTP cache, no storage; only the cookie-free visitor hash.
        context = browser.new_context(user_agent=chrome_user_agent)
        try:
            page = context.new_page()
            with page.expect_response(lambda r: r.url == f"{live_server.url}/api/event"):
                page.goto(static_page_server.url("/pricing"))
            landed.append(page.title())
        finally:
            context.close()
    assert len(set(landed)) == 1, landed
    views = wait_for_rows(View.objects.filter(site=shop).order_by("pk"), 3)
    assert len({v.variant for v in views}) == 1
    assert {v.page for v in views} == {"/pricing" if landed[0] == "Control" else "/pricing-b"}


def log_in(page, live_server):
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "owner")
    page.fill("#id_password", "correct-horse-battery")
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_new_test_form_saves_the_names_as_typed(live_server, browser_context, shop):
    page = browser_context.new_page()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/sites/{shop.public_id}/split-tests/new/")
    # One input per name: the test's own, the control's and variant B's.
    assert page.locator("input[name=name]").count() == 1
    assert page.locator("#id_name").count() == 1
    # Goal fields follow the goal type.
    assert page.locator("#id_goal_page").is_hidden() and page.locator("#id_revenue_mode").is_visible()
    page.select_option("#id_goal_type", "pageview")
    assert page.locator("#id_goal_page").is_visible() and page.locator("#id_revenue_mode").is_hidden()
    page.select_option("#id_goal_type", "revenue")
    assert page.locator("#id_revenue_target").is_hidden()
    page.select_option("#id_revenue_mode", "target")
    assert page.locator("#id_revenue_target").is_visible()
    page.select_option("#id_revenue_mode", "any")

    page.fill("#id_name", "Homepage hero test")
    page.fill("#id_page", "/")
    page.fill("#id_control_name", "Original hero")
    page.fill("#id_b_name", "Bold hero")
    page.fill("#id_b_url", "/hero-b")
    page.click("button[value=draft]")
    page.wait_for_url(f"{live_server.url}/sites/{shop.public_id}/split-tests/*/")
    assert page.locator("h1").inner_text() == "Homepage hero test"
    test = SplitTest.objects.get(site=shop)
    assert test.name == "Homepage hero test"
    assert [(v.name, v.is_control) for v in test.variants.all()] == [
        ("Original hero", True),
        ("Bold hero", False),
    ]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_stop_asks_for_confirmation_before_stopping(live_server, browser_context, shop):
    test = launch(shop, randomization="session", control_weight=50, b_weight=50)
    page = browser_context.new_page()
    log_in(page, live_server)
    detail = f"{live_server.url}/sites/{shop.public_id}/split-tests/{test.pk}/"
    page.goto(detail)
    page.click("#stop-test")
    page.wait_for_selector("#stop-confirmation")
    assert "cannot be undone" in page.inner_text("#stop-confirmation")
    test.refresh_from_db()
    assert test.status == "running"
    # Changing one's mind leaves it running.
    page.click("text=Keep it running")
    page.wait_for_url(detail)
    test.refresh_from_db()
    assert test.status == "running"
    page.click("#stop-test")
    page.click("#confirm-stop")
    page.wait_for_url(detail)
    assert page.inner_text("#test-status") == "Stopped"
    assert "Stopped" in page.inner_text("#test-verdict")
    test.refresh_from_db()
    assert test.status == "stopped"


SIGNUP_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<script defer data-allow-local src="{src}"></script>
</head><body><h1>{title}</h1>
<button id="signup" onclick="window.Humblytics.track('Signup', {{plan: 'pro'}})">Sign up</button>
</body></html>
"""


def visit_and_sign_up(browser, user_agent, live_server, static_page_server, *, signups: int) -> str:
    """One visitor (a fresh context; its own user agent, so its own cookie-free visitor hash) lands on
    the control page and clicks Sign up ``signups`` times; the title of the page it ended on."""
    context = browser.new_context(user_agent=user_agent)
    try:
        page = context.new_page()
        beacon = is_beacon(live_server)
        with page.expect_response(beacon):
            page.goto(static_page_server.url("/pricing"))
        page.wait_for_function("() => !location.search.includes('hmbl_v')")
        for _ in range(signups):
            with page.expect_response(beacon) as sent:
                page.click("#signup")
            assert sent.value.status == 202
        return page.title()
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_custom_event_goal_counts_each_variants_visitors_who_sign_up(
    live_server, static_page_server, browser, browser_context, chrome_user_agent, shop
):
    src = f"{live_server.url}/hmbl.min.js?id={shop.public_id}"
    static_page_server.serve("/pricing", SIGNUP_PAGE.format(title="Control", src=src))
    static_page_server.serve("/pricing-b", SIGNUP_PAGE.format(title="Variant B", src=src))
    signup = Goal.objects.create(site=shop, name="Signed up", kind=Goal.Kind.EVENT, event_name="Signup")

    # Created in the form: the goal is one of the choices, and it hides the revenue and page fields.
    page = browser_context.new_page()
    log_in(page, live_server)
    page.goto(f"{live_server.url}/sites/{shop.public_id}/split-tests/new/")
    page.select_option("#id_goal_type", label="Signed up (event Signup)")
    assert page.locator("#id_revenue_mode").is_hidden() and page.locator("#id_goal_page").is_hidden()
    page.fill("#id_name", "Signup button")
    page.fill("#id_page", "/pricing")
    page.fill("#id_b_url", "/pricing-b")
    # Assignment is random; the weights steer it: everyone to the control first, then to B.
    page.fill("#id_control_weight", "100")
    page.fill("#id_b_weight", "0")
    page.click("button[value=launch]")
    page.wait_for_url(f"{live_server.url}/sites/{shop.public_id}/split-tests/*/")
    test = SplitTest.objects.get(site=shop)
    assert (test.status, test.goal_type, test.goal) == ("running", "goal", signup)

    agents = [chrome_user_agent.replace(".0.0.0 ", f".0.{n}.0 ") for n in range(1, 5)]
    assert len(set(agents)) == 4
    landed = [
        visit_and_sign_up(browser, agents[0], live_server, static_page_server, signups=1),
        visit_and_sign_up(browser, agents[1], live_server, static_page_server, signups=0),
    ]
    test.variants.filter(key="control").update(weight=0)
    test.variants.filter(key="b").update(weight=100)
    landed += [
        visit_and_sign_up(browser, agents[2], live_server, static_page_server, signups=2),
        visit_and_sign_up(browser, agents[3], live_server, static_page_server, signups=1),
    ]
    assert landed == ["Control", "Control", "Variant B", "Variant B"]
    test.variants.update(weight=50)  # the split the results' ratio check reads
    wait_for_rows(View.objects.filter(site=shop), 4)
    # Counted once their page view links them to a session (the same batch, or the linking job).
    wait_for_rows(CustomEvent.objects.filter(site=shop, name="Signup", session__isnull=False), 4)

    page.goto(f"{live_server.url}/sites/{shop.public_id}/split-tests/{test.pk}/")
    assert "Goal: Signed up" in page.inner_text(".overview")
    rows = {
        key: page.locator(f"#results tr[data-variant={key}] td").all_inner_texts()[1:3]
        for key in ("control", "b")
    }
    # Visitors and conversions: B's visitor who signed up twice converts once.
    assert rows == {"control": ["2", "1"], "b": ["2", "2"]}
