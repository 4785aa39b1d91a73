"""Variant URLs are read as browsers read them: nothing that a browser would send to another site."""

import pytest

from splittests import lifecycle
from splittests.lifecycle import InvalidTest, VariantSpec, create_test, launch_test
from splittests.models import SplitTest, Variant
from splittests.snippet_config import MAX_CONFIG_BYTES
from splittests.variant_urls import UnsafeUrl, check_url
from tracking.models import Membership, Site

ATTACKS = [
    "/\\evil.example/x",
    "https://evil.example\\@alice.example.com/",
    "//evil.example/x",
    "/\t/evil.example/x",
    "/\n/evil.example",
    "https:evil.example",
    "https:///evil.example/",
    "https://alice.example.com@evil.example/",
    "https://user:pass@alice.example.com/",
    "https://alice.example.com.evil.example/",
    "https://evil.example/alice.example.com",
    "https://%65vil.example/",
    "http://alice.example.com/b",
    "javascript:alert(1)",
    "data:text/html,hi",
    " /\\evil.example",
    "\x00/b",
    "b",
]


@pytest.fixture
def alice(owner):
    site = Site.objects.create(name="Alice", domain="alice.example.com", timezone="UTC")
    Membership.objects.create(user=owner, site=site, role=Membership.Role.OWNER)
    return site


def spec_with(url: str) -> lifecycle.TestSpec:
    return lifecycle.TestSpec(
        name="Home",
        page="/",
        variants=[VariantSpec("control", "Control", "/", 0, True), VariantSpec("b", "B", url, 100, False)],
    )


@pytest.mark.parametrize("url", ATTACKS)
def test_urls_a_browser_would_read_as_another_site_are_refused(alice, url):
    with pytest.raises(UnsafeUrl):
        check_url(alice, url)
    with pytest.raises(InvalidTest) as caught:
        create_test(alice, spec_with(url), launch=True)
    assert "variants[1].url" in caught.value.errors
    assert not SplitTest.objects.exists()


def test_the_two_reported_bypasses_are_refused_with_the_reason(alice):
    with pytest.raises(UnsafeUrl, match="backslash"):
        check_url(alice, "/\\evil.example/x")
    with pytest.raises(UnsafeUrl, match="backslash"):
        check_url(alice, "https://evil.example\\@alice.example.com/")


@pytest.mark.parametrize(
    "url, path",
    [
        ("/pricing-b", "/pricing-b"),
        ("/pricing-b?plan=annual#top", "/pricing-b"),
        ("https://alice.example.com/b", "/b"),
        ("HTTPS://Shop.Alice.Example.com:8443/b?x=1", "/b"),
        ("https://www.alice.example.com", "/"),
        ("/users/@alice", "/users/@alice"),
    ],
)
def test_paths_and_https_urls_on_the_site_and_its_subdomains_are_accepted(alice, url, path):
    assert check_url(alice, url).path == path


def test_the_api_refuses_the_reported_bypasses(client, alice):
    from tracking.apikeys import create_api_key

    key = create_api_key(alice, "ci")[1]
    for url in ("/\\evil.example/x", "https://evil.example\\@alice.example.com/"):
        body = {
            "name": "Home",
            "page": "/",
            "goal": {"type": "revenue", "target": None},
            "status": "running",
            "variants": [
                {"key": "control", "name": "C", "url": "/", "weight": 0, "is_control": True},
                {"key": "b", "name": "B", "url": url, "weight": 100, "is_control": False},
            ],
        }
        response = client.post(
            f"/api/v1/sites/{alice.public_id}/split-tests",
            body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {key}",
        )
        assert response.status_code == 400
        assert "backslash" in response.json()["error"]
    assert not SplitTest.objects.exists()


def test_a_stored_unsafe_url_is_never_served(client, alice):
    test = create_test(alice, spec_with("/b"), launch=True)
    Variant.objects.filter(test=test, key="b").update(url="/\\evil.example/x")
    body = client.get(f"/hmbl.min.js?id={alice.public_id}", HTTP_USER_AGENT=CHROME).content.decode()
    assert "evil.example" not in body
    assert '"t":[]' in body


CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"


def test_running_tests_per_site_are_capped(alice):
    for index in range(lifecycle.MAX_RUNNING_TESTS_PER_SITE):
        create_test(alice, _on_page(f"/p{index}"), launch=True)
    with pytest.raises(InvalidTest, match="at most"):
        create_test(alice, _on_page("/one-more"), launch=True)
    draft = create_test(alice, _on_page("/one-more"))
    with pytest.raises(InvalidTest, match="at most"):
        launch_test(draft)


def _on_page(page: str, url: str | None = None) -> lifecycle.TestSpec:
    return lifecycle.TestSpec(
        name=page,
        page=page,
        variants=[
            VariantSpec("control", "C", page, 50, True),
            VariantSpec("b", "B", url or page + "-b", 50, False),
        ],
    )


def test_the_inlined_config_is_capped(client, alice):
    long_url = "/" + "x" * 480
    for index in range(lifecycle.MAX_RUNNING_TESTS_PER_SITE):
        spec = _on_page(f"/p{index}", url=f"{long_url}{index:02d}")
        spec.variants[1].weight = 10_000
        spec.variants[0].weight = 0
        create_test(alice, spec, launch=True)
    body = client.get(f"/hmbl.min.js?id={alice.public_id}", HTTP_USER_AGENT=CHROME).content.decode()
    served = body.count('"u":"' + long_url)
    assert 0 < served < lifecycle.MAX_RUNNING_TESTS_PER_SITE
    assert len(body) < 4 * 1024 + MAX_CONFIG_BYTES + 2048


def test_the_test_free_script_a_crawler_gets_is_not_cacheable_for_everyone(client, alice):
    create_test(alice, spec_with("/b"), launch=True)
    bot = client.get(f"/hmbl.min.js?id={alice.public_id}", HTTP_USER_AGENT="Googlebot/2.1")
    assert '"t":' not in bot.content.decode()
    assert "public" not in bot["Cache-Control"] and "private" in bot["Cache-Control"]
    assert "User-Agent" in bot["Vary"]
    person = client.get(f"/hmbl.min.js?id={alice.public_id}", HTTP_USER_AGENT=CHROME)
    assert person["Cache-Control"].startswith("private")
