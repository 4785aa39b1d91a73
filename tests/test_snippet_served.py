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
