import json
import re

from splittests.lifecycle import create_test, stop_test
from tracking.models import Session, View

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


def config_of(response) -> dict | None:
    body = response.content.decode()
    match = re.search(r"var C=(\{.*?\});", body) or re.search(r"var C = (\{.*?\});", body)
    return json.loads(match.group(1)) if match else None


def fetch(client, site, ua=CHROME, ip="203.0.113.5"):
    return client.get(f"/hmbl.min.js?id={site.public_id}", HTTP_USER_AGENT=ua, REMOTE_ADDR=ip)


def test_no_running_test_serves_the_cacheable_core_script(client, site):
    response = fetch(client, site)
    assert response.status_code == 200
    assert response["Cache-Control"] == "public, max-age=300"
    body = response.content.decode()
    assert "/*!HMBL_CONFIG*/null" in body
    # The split-test block (assignment and redirect) is left out for sites with no running test.
    assert "l.replace(" not in body


def test_a_running_test_is_inlined_with_the_visitors_assignment(client, site, running_test):
    response = fetch(client, site)
    assert response["Cache-Control"] == "private, max-age=60"
    assert "l.replace(" in response.content.decode()
    config = config_of(response)
    (entry,) = config["t"]
    assert (
        entry["p"] == "/pricing"
        and entry["c"] == "control"
        and entry["v"] == ["/pricing-b"]
        and entry["n"] == 1
    )
    assert entry["a"] in ("control", "b")
    assert entry["u"] == {"control": "/pricing", "b": "/pricing-b"}[entry["a"]]


def test_bots_are_never_assigned(client, site, running_test):
    response = fetch(
        client, site, ua="Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
    )
    assert config_of(response) is None
    # Not for a shared cache: everyone behind it would get the test-free script.
    assert response["Cache-Control"] == "private, max-age=60"
    assert [part.strip() for part in response["Vary"].split(",")] == ["Accept-Encoding", "User-Agent"]


def test_user_level_gives_the_same_variant_to_the_same_visitor(client, site, make_spec):
    create_test(site, make_spec(randomization="user"), launch=True)
    first = {config_of(fetch(client, site, ip=f"198.51.100.{n}"))["t"][0]["a"] for n in range(1, 40)}
    assert first == {"control", "b"}
    for n in range(1, 10):
        ip = f"198.51.100.{n}"
        assert (
            config_of(fetch(client, site, ip=ip))["t"][0]["a"]
            == config_of(fetch(client, site, ip=ip))["t"][0]["a"]
        )


def test_session_level_keeps_the_variant_within_a_visit(client, site, running_test):
    from django.utils import timezone

    from tracking import visitors

    now = timezone.now()
    visitor = visitors.visitor_hashes(now, site.pk, "203.0.113.5", CHROME)[0]
    session = Session.objects.create(
        site=site,
        visitor_hash=visitor,
        started_at=now,
        last_seen_at=now,
        entry_page="/pricing-b",
        exit_page="/pricing-b",
        channel="Direct",
    )
    View.objects.create(
        site=site,
        session=session,
        view_id="x" * 22,
        created_at=now,
        hostname="example.com",
        page="/pricing-b",
        variant="b",
    )
    assert all(config_of(fetch(client, site))["t"][0]["a"] == "b" for _ in range(10))


def test_a_stopped_test_is_no_longer_served(client, site, running_test):
    stop_test(running_test)
    assert config_of(fetch(client, site)) is None


def test_test_urls_cannot_break_out_of_the_script(client, site, make_spec):
    from splittests.lifecycle import VariantSpec

    create_test(
        site,
        make_spec(
            variants=[
                VariantSpec("control", "C", "/pricing", 50, True),
                VariantSpec("b", "B", "/b?x=</script><script>alert(1)</script>", 50, False),
            ]
        ),
        launch=True,
    )
    body = fetch(client, site).content.decode()
    assert "</script>" not in body
