"""`manage.py demo` (against an in-process fake Stripe) and `manage.py run_all` (as a real process tree)."""

import datetime as dt
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory
from django.utils import timezone

from humblytics import demo
from revenue.fakestripe import FakeStripe, FakeStripeServer
from revenue.models import Dispute, Payment, Refund, StripeConnection
from splittests.measure import exposures
from splittests.models import SplitTest
from tracking.models import CustomEvent, Funnel, Salt, Session, Site, View

# Small enough to run in seconds, big enough that every kind of payment appears.
SMALL = {"days": 45, "scale": 0.2}


def fresh_fake() -> FakeStripe:
    return FakeStripe(keys={demo.DEMO_STRIPE_KEY: None})


@pytest.fixture
def fake_stripe(settings):
    with FakeStripeServer(fresh_fake()) as server:
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_REQUESTS_PER_SECOND_TEST = 1000
        settings.STRIPE_BACKOFF_SECONDS = 0.01
        settings.STRIPE_TIMEOUT_SECONDS = 5
        yield server


def run_demo(**options) -> str:
    out = io.StringIO()
    call_command("demo", **{**SMALL, **options}, stdout=out)
    return out.getvalue()


def demo_site() -> Site:
    return Site.objects.get(domain=demo.DEMO_DOMAIN)


def snapshot(site: Site) -> dict:
    return {
        "views": View.objects.filter(site=site).count(),
        "sessions": Session.objects.filter(site=site).count(),
        "events": CustomEvent.objects.filter(site=site).count(),
        "payments": sorted(Payment.objects.filter(site=site).values_list("stripe_id", "net", "view_id")),
        "refunds": Refund.objects.filter(payment__site=site).count(),
        "disputes": Dispute.objects.filter(payment__site=site).count(),
        "tests": SplitTest.objects.filter(site=site).count(),
        "sites": Site.objects.count(),
    }


@pytest.mark.django_db
def test_demo_builds_a_site_with_traffic_payments_and_a_split_test(fake_stripe):
    output = run_demo()

    login = RequestFactory().post("/accounts/login/")  # the log-in throttle needs the request
    user = authenticate(login, username=demo.DEMO_USERNAME, password=demo.DEMO_PASSWORD)
    assert user is not None
    assert "username demo  password demo-humblytics" in output
    site = demo_site()
    assert site.name == "Demo Shop" and site.timezone == "Europe/Berlin"
    assert site.memberships.get().user == user

    sessions = Session.objects.filter(site=site)
    assert View.objects.filter(site=site).count() > 1000
    assert set(sessions.values_list("channel", flat=True)) >= {
        "Direct",
        "Organic Search",
        "Paid Search",
        "Organic Social",
        "Email",
        "Referral",
    }
    assert len(set(sessions.values_list("country", flat=True))) >= 8
    assert set(sessions.values_list("device", flat=True)) == {"desktop", "mobile", "tablet"}
    assert len(set(sessions.values_list("browser", flat=True))) >= 4
    assert sessions.filter(utm_medium="cpc", utm_campaign__gt="").exists()
    assert sessions.filter(pageviews__gt=1).count() > sessions.count() // 3  # SPA navigations
    weekday_views = [0] * 7
    for created_at in View.objects.filter(site=site).values_list("created_at", flat=True):
        weekday_views[created_at.astimezone(site.tzinfo).weekday()] += 1
    assert sum(weekday_views[5:]) / 2 < sum(weekday_views[:5]) / 5  # quieter weekends

    payments = Payment.objects.filter(site=site)
    assert set(payments.values_list("view_id_source", flat=True)) == {
        "payment_intent",
        "invoice",
        "subscription",
        "checkout_session",
        "customer",
        "",
    }
    assert (
        payments.filter(invoice__gt="", subscription__gt="").count()
        > payments.filter(subscription__gt="").values("subscription").distinct().count()
    )  # renewals
    assert payments.filter(status="partially_refunded").count() == 1
    assert payments.filter(status="dispute_lost").count() == 1
    assert {"eur", "jpy"} <= set(payments.values_list("currency", flat=True))
    assert set(payments.values_list("settlement_currency", flat=True)) == {"usd"}
    assert payments.filter(unattributed_reason="no_view_id").count() >= 2
    assert payments.filter(unattributed_reason="unknown_view_id").count() == 1
    attributed = payments.filter(session__isnull=False)
    assert attributed.count() >= payments.count() - 5
    assert not attributed.exclude(matched_view__page__in=("/pricing", "/pricing-b", "/checkout")).exists()
    assert StripeConnection.objects.get(site=site).status == StripeConnection.Status.CONNECTED

    test = SplitTest.objects.get(site=site)
    assert test.name == "Pricing page: annual plan first" and test.is_running()
    assert test.revenue_target is None and test.randomization == "session"
    assert test.started_at < timezone.now() - dt.timedelta(days=6)
    exposed = exposures(test, timezone.now())
    assert {key for key, _ in exposed.values()} == {"control", "b"}
    assert "Split test “Pricing page: annual plan first” (running)" in output

    yesterday = timezone.now().date() - dt.timedelta(days=1)
    assert not Salt.objects.filter(day__lt=yesterday).exists()


@pytest.mark.django_db
def test_demo_visitors_sign_up_click_out_and_send_forms_which_the_goals_and_funnel_count(fake_stripe, client):
    output = run_demo(days=30)
    site = demo_site()
    events = CustomEvent.objects.filter(site=site)
    assert set(events.values_list("name", flat=True)) == {
        "Signup",
        "Form: Submission",
        "Outbound Link: Click",
    }
    # Each sent after its page view, as the snippet does: on its visit at once.
    assert not events.filter(session__isnull=True).exists()
    signups = events.filter(name="Signup")
    assert signups.count() >= 10
    assert {e.props["plan"] for e in signups} == {"starter", "pro", "team"}
    signed_on = View.objects.filter(site=site, view_id__in=signups.values("view_id"))
    assert set(signed_on.values_list("page", flat=True)) == {"/checkout"}
    forms = {e.props["form"] for e in events.filter(name="Form: Submission")}
    assert forms == {"signup", "newsletter"}
    assert {e.props["url"].split("/")[2] for e in events.filter(name="Outbound Link: Click")} >= {
        "github.com"
    }
    thanks = View.objects.filter(site=site, page__startswith="/thanks/")
    # Most who sign up see the thank-you page (85% each: with a dozen sign-ups, now and then all of them,
    # so not "fewer than the sign-ups"; the demo's data follows today's date).
    assert signups.count() / 2 < thanks.count() <= signups.count()
    assert f"{events.count():,} custom events" in output

    client.force_login(site.memberships.get().user)
    dashboard = client.get(f"/sites/{site.public_id}/?period=30d")
    goals = {row["name"]: row for row in dashboard.context["report"].goals.goals}
    assert set(goals) == {"Signup", "Thank you page"}
    for row in goals.values():
        assert 0 < row["visitors"] <= row["completions"] and row["conversion_rate"] > 0
    assert (
        goals["Signup"]["visitors"] / 2 < goals["Thank you page"]["visitors"] <= goals["Signup"]["visitors"]
    )
    listed = {row["name"]: row for row in dashboard.context["report"].goals.events}
    assert set(listed) == {"Signup", "Form: Submission", "Outbound Link: Click"}
    assert all(row["completions"] > 0 for row in listed.values())
    assert 'id="goals-empty"' not in dashboard.content.decode()

    funnel = Funnel.objects.get(site=site)
    page = client.get(f"/sites/{site.public_id}/funnels/{funnel.pk}/?period=30d")
    first, second = page.context["steps"]
    assert first["visitors"] / 2 < second["visitors"] <= first["visitors"]  # a funnel only narrows


@pytest.mark.django_db
def test_running_the_demo_again_changes_nothing_even_with_a_fresh_fake_stripe(fake_stripe, settings):
    run_demo()
    site = demo_site()
    before = snapshot(site)

    output = run_demo()
    assert "traffic generation skipped" in output
    assert "0 new, 0 updated payments" in output
    assert snapshot(site) == before

    # `make run` starts the fake empty again: the demo rebuilds the same Stripe objects, imports nothing new.
    with FakeStripeServer(fresh_fake()) as restarted:
        settings.STRIPE_API_BASE = restarted.url
        output = run_demo()
        assert len(restarted.state.ground_truth()) == len(before["payments"])
    assert "0 new, 0 updated payments" in output
    assert snapshot(site) == before


@pytest.mark.django_db
def test_reset_rebuilds_the_demo_site(fake_stripe, settings):
    run_demo()
    old = demo_site()
    old_views = View.objects.filter(site=old).count()
    old_payments = Payment.objects.filter(site=old).count()

    with FakeStripeServer(fresh_fake()) as restarted:
        settings.STRIPE_API_BASE = restarted.url
        output = run_demo(reset=True)
    assert f"Deleted the demo site {old.public_id}" in output
    site = demo_site()
    assert site.pk != old.pk and Site.objects.count() == 1
    # Same seed, so the same traffic and payments (up to a view at the edge of the moving window).
    assert View.objects.filter(site=site).count() == pytest.approx(old_views, rel=0.02)
    assert Payment.objects.filter(site=site).count() == pytest.approx(old_payments, abs=2)
    assert not View.objects.filter(site_id=old.pk).exists()
    assert Payment.objects.count() == Payment.objects.filter(site=site).count()


@pytest.mark.django_db
def test_demo_without_a_fake_stripe_skips_payments_with_a_note(settings):
    settings.STRIPE_API_BASE = "https://api.stripe.com"
    output = run_demo(days=3, scale=0.2)
    assert "Payments skipped: no fake Stripe" in output
    assert View.objects.filter(site=demo_site()).exists()
    assert not Payment.objects.exists()


# ---------------------------------------------------------------------------------------------------
# run_all as a real process tree
# ---------------------------------------------------------------------------------------------------

ROOT = Path(django_settings.BASE_DIR)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def live_processes_in_groups(groups: set[int]) -> list[int]:
    """Pids (not zombies) whose process group is one of ``groups``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state, ppid, pgrp, ...
        if fields[0] != "Z" and int(fields[2]) in groups:
            found.append(int(entry.name))
    return found


def wait_for(predicate, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.own_db
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="reads /proc to find leftover processes")
def test_run_all_serves_the_demo_and_ctrl_c_stops_every_process(tmp_path):
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DEBUG": "true",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("STRIPE_API_BASE", None)
    python, manage = sys.executable, str(ROOT / "manage.py")
    subprocess.run(
        [python, manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True, timeout=120
    )
    port = free_port()
    log_path = tmp_path / "run_all.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [python, manage, "run_all", "--port", str(port), "--demo-days", "3", "--demo-scale", "0.2"],
            env=env,
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        line = wait_for(
            lambda: re.search(r"Processes: (.+)\. Ctrl-C", log_path.read_text()), 120, "run_all to start"
        )
        output = log_path.read_text()
        assert (
            f"Humblytics is running at http://127.0.0.1:{port}/  Log in as demo / demo-humblytics" in output
        )
        assert "Stripe sync: ok" in output
        children = {name: int(pid) for name, pid in re.findall(r"(\w+) (\d+)", line.group(1))}
        assert set(children) == {"fakestripe", "web", "worker"}
        assert all(live_processes_in_groups({pid}) for pid in children.values())

        base = f"http://127.0.0.1:{port}"
        browser = requests.Session()

        def login_page():
            try:
                return browser.get(f"{base}/accounts/login/", timeout=5)
            except requests.ConnectionError:
                return None

        page = wait_for(login_page, 60, "the login page")
        assert page.status_code == 200
        response = browser.post(
            f"{base}/accounts/login/",
            data={
                "username": "demo",
                "password": "demo-humblytics",
                "csrfmiddlewaretoken": browser.cookies["csrftoken"],
            },
            timeout=10,
        )
        assert response.status_code == 200 and response.url == f"{base}/"
        site_id = re.search(r'href="/sites/([a-z0-9]{7})/"', response.text).group(1)
        dashboard = browser.get(f"{base}/sites/{site_id}/", timeout=30)
        assert dashboard.status_code == 200
        assert "Demo Shop" in dashboard.text

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
        assert "Stopped." in log_path.read_text()
        wait_for(lambda: not live_processes_in_groups(set(children.values())), 10, "every child to exit")
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
