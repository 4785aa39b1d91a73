from pathlib import Path

import pytest
from django.test import override_settings

from tracking.enrich import client_ip, country_for


@pytest.mark.parametrize(
    ("remote_addr", "forwarded_for", "trusted", "expected"),
    [
        ("203.0.113.7", None, 0, "203.0.113.7"),
        # Without trusted proxies X-Forwarded-For is the client's word and is ignored.
        ("203.0.113.7", "198.51.100.1", 0, "203.0.113.7"),
        ("10.0.0.2", "198.51.100.1", 1, "198.51.100.1"),
        # A spoofed left-most entry is ignored.
        ("10.0.0.2", "6.6.6.6, 198.51.100.1", 1, "198.51.100.1"),
        ("10.0.0.3", "6.6.6.6, 198.51.100.1, 10.0.0.2", 2, "198.51.100.1"),
        ("10.0.0.3", "198.51.100.1, 10.0.0.2", 2, "198.51.100.1"),
        # Shorter than the proxy chain: the left-most entry.
        ("10.0.0.3", "198.51.100.1", 2, "198.51.100.1"),
        ("10.0.0.2", None, 1, "10.0.0.2"),
        ("10.0.0.2", "", 1, "10.0.0.2"),
        (" 10.0.0.2 ", " 6.6.6.6 ,  198.51.100.1 ", 1, "198.51.100.1"),
        # Ports, brackets, IPv6 normalisation, IPv4-mapped IPv6.
        ("10.0.0.2", "198.51.100.1:53211", 1, "198.51.100.1"),
        ("10.0.0.2", "2001:db8::1", 1, "2001:db8::1"),
        ("10.0.0.2", "[2001:DB8:0:0::1]:443", 1, "2001:db8::1"),
        ("10.0.0.2", "::ffff:198.51.100.1", 1, "198.51.100.1"),
        ("[2001:db8::2]:8000", None, 0, "2001:db8::2"),
        ("203.0.113.7:1234", None, 0, "203.0.113.7"),
        # Invalid entries fall back to REMOTE_ADDR.
        ("10.0.0.2", "unknown", 1, "10.0.0.2"),
        ("10.0.0.2", "6.6.6.6, <script>", 1, "10.0.0.2"),
        ("10.0.0.2", "999.1.1.1", 1, "10.0.0.2"),
        ("", None, 0, ""),
        ("garbage", "garbage", 1, ""),
    ],
)
def test_client_ip(remote_addr, forwarded_for, trusted, expected):
    assert client_ip(remote_addr, forwarded_for, trusted) == expected


@pytest.mark.parametrize(
    ("ip", "header", "expected"),
    [
        ("8.8.8.8", None, "US"),
        ("2001:4860:4860::8888", None, "US"),
        ("81.2.69.160", None, "GB"),
        ("8.8.8.8", "gb", "GB"),
        ("10.0.0.1", "DE", "DE"),
        # Not countries in the header: unknown, Tor, too long, not letters → the IP decides.
        ("8.8.8.8", "XX", "US"),
        ("8.8.8.8", "T1", "US"),
        ("8.8.8.8", "USA", "US"),
        ("8.8.8.8", "1 ", "US"),
        ("8.8.8.8", "", "US"),
        # Private, loopback, invalid and missing addresses have no country.
        ("10.0.0.1", None, ""),
        ("192.168.1.1", None, ""),
        ("127.0.0.1", None, ""),
        ("::1", None, ""),
        ("garbage", None, ""),
        ("", "XX", ""),
        (None, None, ""),
    ],
)
def test_country(ip, header, expected):
    assert country_for(ip, header) == expected


GEOIP_TEST_DB = str(Path(__file__).parent / "data" / "GeoLite2-Country-Test.mmdb")


def test_a_maxmind_database_is_asked_when_configured(settings):
    # MaxMind's own test database (tests/data, MIT): 89.160.20.112/28 is in Sweden there.
    settings.GEOIP_DATABASE = GEOIP_TEST_DB
    assert country_for("89.160.20.113") == "SE"
    # The proxy's header still wins; an address the file does not know falls back to the table.
    assert country_for("89.160.20.113", "DE") == "DE"
    assert country_for("8.8.8.8") == country_for_without_geoip("8.8.8.8")
    assert country_for("10.0.0.1") == ""


def country_for_without_geoip(ip):
    with override_settings(GEOIP_DATABASE=""):
        return country_for(ip)


def test_an_unreadable_database_falls_back_to_the_table(settings, caplog):
    settings.GEOIP_DATABASE = "/nonexistent/GeoLite2-Country.mmdb"
    assert country_for("8.8.8.8") == country_for_without_geoip("8.8.8.8") == "US"
