""" "Visitors now" refreshes in the browser every 30 s without reloading the dashboard (the page's clock
is Playwright's, fast-forwarded: no sleeping)."""

import datetime as dt

import pytest
from django.utils import timezone

from tracking import sharing
from tracking.models import Session, View


def visit(site, visitor: str) -> None:
    now = timezone.now()
    session = Session.objects.create(
        site=site,
        visitor_hash=visitor * 32,
        started_at=now - dt.timedelta(minutes=1),
        last_seen_at=now,
        entry_page="/",
        exit_page="/",
        channel="Direct",
    )
    View.objects.create(
        site=site, session=session, view_id=visitor.ljust(22, "x"), created_at=now, hostname="x", page="/"
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("shared", [False, True])
def test_visitors_now_refreshes_without_a_reload(live_server, browser, client, site, owner, shared):
    visit(site, "a")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.clock.install()
        if shared:
            token = sharing.create_share_link(site, "Board", created_by=owner)[1]
            url = f"{live_server.url}/share/{token}/"
        else:
            client.force_login(owner)
            cookie = client.cookies["sessionid"]
            context.add_cookies([{"name": "sessionid", "value": cookie.value, "url": live_server.url}])
            url = f"{live_server.url}/sites/{site.public_id}/"
        page.goto(url)
        figure = page.locator("#visitors-now strong")
        assert figure.text_content() == "1"
        page.evaluate("window.loadedOnce = true")
        visit(site, "b")
        with page.expect_response(lambda response: response.url.endswith("/now/")):
            page.clock.run_for(30_000)
        page.wait_for_function("document.querySelector('#visitors-now strong').textContent === '2'")
        assert page.evaluate("window.loadedOnce") is True  # the same page, not a reload
        assert page.locator("#visitors-now .live-label").text_content() == "visitors now"
    finally:
        context.close()
