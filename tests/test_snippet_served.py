"""GET /hmbl.min.js as it goes over the wire: compressed by the application, cached by ETag."""

import gzip

import brotli
import pytest

from revenue.models import StripeConnection
from tracking import snippet


@pytest.fixture
def url(site):
    return f"/hmbl.min.js?id={site.public_id}"


def test_brotli_is_preferred_and_decodes_to_the_script(client, url):
    plain = client.get(url).content
    response = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response["Content-Encoding"] == "br"
    assert brotli.decompress(response.content) == plain
    assert len(response.content) < len(plain)
    assert "Accept-Encoding" in response["Vary"]


def test_gzip_when_brotli_is_not_accepted(client, url):
    plain = client.get(url).content
    response = client.get(url, headers={"Accept-Encoding": "gzip, br;q=0"})
    assert response["Content-Encoding"] == "gzip"
    assert gzip.decompress(response.content) == plain


@pytest.mark.parametrize("accept", ["", "identity", "gzip;q=0, br;q=0", "deflate", "br;q=oops"])
def test_without_an_accepted_encoding_the_script_goes_as_is(client, url, accept):
    response = client.get(url, headers={"Accept-Encoding": accept})
    assert not response.has_header("Content-Encoding")
    assert response.content.startswith(b"(function")


def test_a_matching_etag_is_answered_304_per_encoding(client, url):
    first = client.get(url, headers={"Accept-Encoding": "br"})
    again = client.get(url, headers={"Accept-Encoding": "br", "If-None-Match": first["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    # The gzip representation has its own tag: the brotli one does not validate it.
    other = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": first["ETag"]})
    assert other.status_code == 200
    assert other["ETag"] != first["ETag"]


def test_the_etag_changes_with_the_script(client, url):
    before = client.get(url, headers={"Accept-Encoding": "br"})["ETag"]
    assert snippet.encode("changed();", "br").etag != before


def test_core_script_is_at_most_1_3_kib_on_the_wire(client, url):
    # The budget for the script a site without a running split test sends.
    assert len(client.get(url, headers={"Accept-Encoding": "br"}).content) <= 1.3 * 1024


def test_payment_link_tagging_is_sent_only_to_sites_with_stripe_connected(client, site, url):
    assert b"client_reference_id" not in client.get(url).content
    StripeConnection.objects.create(site=site, secret_key="sk_test_" + "x" * 24, key_hint="sk_test_…xxxx")
    assert b"client_reference_id" in client.get(url).content


def test_core_script_is_under_1_5_kib_gzipped(client, url):
    assert len(client.get(url, headers={"Accept-Encoding": "gzip"}).content) < 1.5 * 1024


def test_the_core_names_the_automatic_events_script_it_would_load(client, url):
    body = client.get(url).content.decode()
    assert f'"/hmbl.auto.js?v={snippet.auto_version()}"' in body
    assert "Outbound Link" not in body


@pytest.fixture
def auto_url():
    return f"/hmbl.auto.js?v={snippet.auto_version()}"


def test_the_automatic_events_script_is_served_compressed_and_cached_for_good(client, auto_url):
    plain = client.get(auto_url)
    assert plain.status_code == 200
    assert plain["Content-Type"] == "text/javascript; charset=utf-8"
    assert plain.content.decode() == snippet.auto_script()
    response = client.get(auto_url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert response["Content-Encoding"] == "br"
    assert brotli.decompress(response.content) == plain.content
    assert response["Cache-Control"] == "public, max-age=31536000, immutable"
    assert response["Vary"] == "Accept-Encoding"
    assert response["Access-Control-Allow-Origin"] == "*"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert not response.cookies
    gz = client.get(auto_url, headers={"Accept-Encoding": "gzip"})
    assert gzip.decompress(gz.content) == plain.content


@pytest.mark.parametrize("query", ["", "?v=", "?v=00000000", "?v=x&v=y"])
def test_another_version_of_the_automatic_events_script_is_cached_briefly(client, query):
    response = client.get(f"/hmbl.auto.js{query}", headers={"Accept-Encoding": "br"})
    assert response.status_code == 200
    assert brotli.decompress(response.content).decode() == snippet.auto_script()
    assert response["Cache-Control"] == "public, max-age=300"


def test_a_matching_etag_on_the_automatic_events_script_is_answered_304(client, auto_url):
    first = client.get(auto_url, headers={"Accept-Encoding": "gzip"})
    again = client.get(auto_url, headers={"Accept-Encoding": "gzip", "If-None-Match": first["ETag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again["Cache-Control"] == first["Cache-Control"]
    head = client.head(auto_url)
    assert head.status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_the_automatic_events_script_answers_only_get_and_head(client, auto_url, method):
    assert getattr(client, method)(auto_url).status_code == 405
