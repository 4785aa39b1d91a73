import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.cache import cache

from humblytics.lib import ratelimit

CHROME = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def one_window(monkeypatch):
    """Counters count per fixed minute: pin the clock mid-minute so a slow run cannot cross into the next."""
    monkeypatch.setattr(ratelimit, "time", SimpleNamespace(time=lambda: 1_800_000_030.0))


def test_app_pages_forbid_inline_script_and_framing(client_as_owner, site):
    response = client_as_owner.get(f"/sites/{site.public_id}/")
    policy = response["Content-Security-Policy"]
    assert (
        "script-src 'self'" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    )
    assert "frame-ancestors 'none'" in policy
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert b"<script>" not in response.content


def test_the_tracker_and_event_endpoint_carry_no_app_policy(client, site):
    assert "Content-Security-Policy" not in client.get(f"/hmbl.min.js?id={site.public_id}")
    response = client.post("/api/event", "{}", content_type="text/plain")
    assert "Content-Security-Policy" not in response


def test_session_cookie_is_http_only(client, owner):
    response = client.post("/accounts/login/", {"username": "owner", "password": "correct-horse-battery"})
    assert response.cookies["sessionid"]["httponly"]
    assert response.cookies["sessionid"]["samesite"] == "Lax"


def test_production_settings_turn_on_hsts_and_secure_cookies():
    code = (
        "import humblytics.settings as s; "
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.X_FRAME_OPTIONS)"
    )
    env = {
        "DEBUG": "false",
        "SECRET_KEY": "x" * 50,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PATH": "/usr/bin:/bin",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True
    )
    assert result.stdout.split() == ["31536000", "True", "True", "DENY"], result.stderr


def test_ingest_is_rate_limited_per_ip(client, site, settings, one_window):
    settings.INGEST_RATE_PER_IP = 3
    statuses = []
    for n in range(5):
        body = json.dumps(
            {"site": site.public_id, "view_id": f"rate{n}".ljust(22, "x"), "url": "https://example.com/"}
        )
        statuses.append(
            client.post("/api/event", body, content_type="text/plain", HTTP_USER_AGENT=CHROME).status_code
        )
    assert statuses == [202, 202, 202, 429, 429]
    other_ip = client.post(
        "/api/event",
        json.dumps(
            {"site": site.public_id, "view_id": "otherip".ljust(22, "x"), "url": "https://example.com/"}
        ),
        content_type="text/plain",
        HTTP_USER_AGENT=CHROME,
        REMOTE_ADDR="198.51.100.7",
    )
    assert other_ip.status_code == 202


def test_ingest_is_rate_limited_per_site(client, site, settings, one_window):
    settings.INGEST_RATE_PER_SITE = 2
    statuses = [
        client.post(
            "/api/event",
            json.dumps(
                {"site": site.public_id, "view_id": f"site{n}".ljust(22, "x"), "url": "https://example.com/"}
            ),
            content_type="text/plain",
            HTTP_USER_AGENT=CHROME,
            REMOTE_ADDR=f"198.51.100.{n}",
        ).status_code
        for n in range(4)
    ]
    assert statuses == [202, 202, 429, 429]


def test_rate_limit_counters_hold_no_raw_ip(client, site):
    from django.core.cache import caches

    client.post(
        "/api/event",
        json.dumps(
            {"site": site.public_id, "view_id": "cachekey".ljust(22, "x"), "url": "https://example.com/"}
        ),
        content_type="text/plain",
        HTTP_USER_AGENT=CHROME,
        REMOTE_ADDR="203.0.113.99",
    )
    keys = list(caches["default"]._cache.keys())
    assert keys and not any("203.0.113.99" in key for key in keys)
