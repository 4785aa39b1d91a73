"""Every customer page at a desktop (1440x1000) and a phone (390x844) width: no sideways scrolling, no
table cell cut off, and a header that stays a header. Saves the screenshots README shows."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from revenue.fakestripe import FakeStripe, FakeStripeServer
from tracking.models import ApiKey, Funnel, Goal, Site

SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
VIEWPORTS = {"desktop": (1440, 1000), "phone": (390, 844)}
MAX_HEADER_HEIGHT = {"desktop": 80, "phone": 110}

# What overflows: the page itself, and any table cell reaching past the box that scrolls or clips it
# (a table wider than its panel) or whose own content is cut off.
LAYOUT_PROBLEMS = """() => {
  const problems = [];
  const doc = document.documentElement;
  if (doc.scrollWidth > window.innerWidth) {
    problems.push(`page is ${doc.scrollWidth}px wide in a ${window.innerWidth}px window`);
  }
  const clipper = (el) => {
    for (let p = el.parentElement; p && p !== document.body; p = p.parentElement) {
      const style = getComputedStyle(p);
      if (style.overflowX !== "visible") return p;
    }
    return null;
  };
  for (const cell of document.querySelectorAll("td, th")) {
    if (cell.offsetParent === null) continue;  // hidden on purpose (display: none)
    const text = cell.innerText.trim().slice(0, 40);
    const box = cell.getBoundingClientRect();
    const outer = clipper(cell);
    if (outer) {
      const o = outer.getBoundingClientRect();
      if (box.right > o.right + 1 || box.left < o.left - 1) {
        problems.push(`cell "${text}" is cut off by its ${outer.className || outer.tagName} box`);
      }
    }
    if (box.right > window.innerWidth + 1) problems.push(`cell "${text}" reaches past the window`);
    if (cell.scrollWidth > cell.clientWidth + 1) problems.push(`cell "${text}" overflows itself`);
  }
  return problems;
}"""


def customer_pages(site: Site, test_id: int) -> dict[str, str]:
    s = f"/sites/{site.public_id}"
    goal = Goal.objects.filter(site=site).order_by("pk").first()
    funnel = Funnel.objects.filter(site=site).order_by("pk").first()
    return {
        "sites": "/",
        "new-site": "/sites/new/",
        "dashboard": f"{s}/?period=30d&sort=revenue",
        "dashboard-filtered": f"{s}/?period=30d&filter=channel:Organic+Search",
        "breakdown-details": f"{s}/details/page/?period=30d",
        "settings": f"{s}/settings/",
        "revenue-settings": f"{s}/settings/revenue/",
        "api-keys": f"{s}/settings/api/",
        "team": f"{s}/settings/team/",
        "sharing": f"{s}/settings/sharing/",
        "goals": f"{s}/settings/goals/",
        "goal-new": f"{s}/settings/goals/new/",
        "goal-edit": f"{s}/settings/goals/{goal.pk}/edit/",
        "funnel-edit": f"{s}/settings/goals/funnels/{funnel.pk}/edit/",
        "funnel": f"{s}/funnels/{funnel.pk}/?period=30d",
        "password-change": "/accounts/password_change/",
        "payments": f"{s}/payments/",
        "split-tests": f"{s}/split-tests/",
        "split-test-new": f"{s}/split-tests/new/",
        "split-test-results": f"{s}/split-tests/{test_id}/",
        "split-test-calculator": f"{s}/split-tests/calculator/",
    }


@pytest.fixture
def demo_site(settings):
    from humblytics import demo
    from splittests.models import SplitTest

    state = FakeStripe(keys={demo.DEMO_STRIPE_KEY: None})
    with FakeStripeServer(state) as server:
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_REQUESTS_PER_SECOND_TEST = 1000
        call_command("demo", days=30, scale=0.6, stripe_url=server.url, stdout=io.StringIO())
    site = Site.objects.get(name=demo.DEMO_SITE_NAME)
    ApiKey.objects.create(
        site=site, name="Weekly revenue report to the team", prefix="hk_abcdefgh", key_hash="x"
    )
    return site, SplitTest.objects.get(site=site).pk


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_every_customer_page_fits_a_desktop_and_a_phone(live_server, browser, demo_site):
    from humblytics import demo

    site, test_id = demo_site
    pages = customer_pages(site, test_id)
    found = []
    for viewport, (width, height) in VIEWPORTS.items():
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=1)
        try:
            page = context.new_page()
            page.goto(f"{live_server.url}/accounts/login/")
            page.fill("#id_username", demo.DEMO_USERNAME)
            page.fill("#id_password", demo.DEMO_PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{live_server.url}/")
            for name, path in pages.items():
                response = page.goto(f"{live_server.url}{path}")
                assert response.status == 200, f"{name}: {response.status}"
                problems = page.evaluate(LAYOUT_PROBLEMS)
                header = page.locator("header.topbar").bounding_box()["height"]
                if header > MAX_HEADER_HEIGHT[viewport]:
                    problems.append(f"header is {header:.0f}px tall")
                found += [f"{name} at {width}px: {problem}" for problem in problems]
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                # Desktop: the whole page; phone: the first screen (a whole phone page is a long strip).
                page.screenshot(
                    path=str(SCREENSHOTS / f"{name}-{viewport}.png"), full_page=viewport == "desktop"
                )
        finally:
            context.close()
    assert not found, "\n".join(found)
