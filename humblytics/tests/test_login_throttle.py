"""One log-in throttle (django-axes) for /accounts/login/ and /admin/login/, counted per user name and
client address together, the address taken as ingest takes it (TRUSTED_PROXY_COUNT)."""

import datetime as dt

import pytest
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model

PASSWORD = "correct-horse-battery"
LOCKED = "Too many log-in attempts"


@pytest.fixture
def operator(db):
    return get_user_model().objects.create_superuser("operator", "op@example.com", PASSWORD)


def log_in(client, path, username, password, **extra):
    data = {"username": username, "password": password}
    if path.startswith("/admin/"):
        data["next"] = "/admin/"
    return client.post(path, data, **extra)


def is_logged_in(client) -> bool:
    return "_auth_user_id" in client.session


def test_the_limit_is_login_failures_allowed():
    assert django_settings.AXES_FAILURE_LIMIT == django_settings.LOGIN_FAILURES_ALLOWED == 5


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_after_the_allowed_failures_even_the_right_password_is_refused(client, operator, path):
    for _ in range(4):
        response = log_in(client, path, "operator", "wrong")
        assert response.status_code == 200
        assert b"correct username and password" in response.content
    assert LOCKED in log_in(client, path, "operator", "wrong").content.decode()  # the 5th failure
    response = log_in(client, path, "operator", PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert not is_logged_in(client)


def test_admin_and_app_logins_share_one_count(client, operator):
    for _ in range(3):
        log_in(client, "/admin/login/", "operator", "wrong")
    for _ in range(2):
        log_in(client, "/accounts/login/", "operator", "wrong")
    assert log_in(client, "/admin/login/", "operator", PASSWORD).status_code == 429


def test_an_attacker_cannot_lock_the_user_out_from_another_address(client, owner):
    for _ in range(30):
        log_in(client, "/accounts/login/", "owner", "wrong", REMOTE_ADDR="198.51.100.66")
    assert log_in(client, "/accounts/login/", "owner", "x", REMOTE_ADDR="198.51.100.66").status_code == 429
    response = log_in(client, "/accounts/login/", "owner", PASSWORD, REMOTE_ADDR="203.0.113.10")
    assert response.status_code == 302
    assert is_logged_in(client)


def test_an_attacker_locks_only_the_names_they_tried(client, owner, other_user):
    for _ in range(5):
        log_in(client, "/accounts/login/", "owner", "wrong", REMOTE_ADDR="198.51.100.66")
    response = log_in(client, "/accounts/login/", "other", PASSWORD, REMOTE_ADDR="198.51.100.66")
    assert response.status_code == 302


def test_behind_a_proxy_the_forwarded_client_address_counts(client, owner, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    for _ in range(20):
        log_in(client, "/accounts/login/", "owner", "wrong", HTTP_X_FORWARDED_FOR="198.51.100.66", **proxy)
    assert (
        log_in(
            client, "/accounts/login/", "owner", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.66", **proxy
        ).status_code
        == 429
    )
    # Everyone else comes through the same proxy: not locked out.
    response = log_in(
        client, "/accounts/login/", "owner", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.10", **proxy
    )
    assert response.status_code == 302


def test_a_spoofed_forwarded_for_does_not_escape_the_count_without_a_proxy(client, owner):
    for n in range(5):
        log_in(client, "/accounts/login/", "owner", "wrong", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}")
    response = log_in(client, "/accounts/login/", "owner", PASSWORD, HTTP_X_FORWARDED_FOR="192.0.2.200")
    assert response.status_code == 429


def test_a_success_clears_the_failures(client, owner):
    for _ in range(4):
        log_in(client, "/accounts/login/", "owner", "wrong")
    assert log_in(client, "/accounts/login/", "owner", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        log_in(client, "/accounts/login/", "owner", "wrong")
    assert log_in(client, "/accounts/login/", "owner", PASSWORD).status_code == 302


def test_the_lockout_ends_15_minutes_after_the_last_failure(client, owner):
    for _ in range(5):
        log_in(client, "/accounts/login/", "owner", "wrong")
    assert log_in(client, "/accounts/login/", "owner", PASSWORD).status_code == 429
    AccessAttempt.objects.update(attempt_time=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16))
    assert log_in(client, "/accounts/login/", "owner", PASSWORD).status_code == 302


def test_a_nul_in_any_login_field_is_a_form_error_not_a_500(client, owner):
    response = client.post("/accounts/login/", {"username": "own\x00er", "password": "x", "junk": "\x00"})
    assert response.status_code == 200
    assert response.context["form"].errors["username"] == ["Null characters are not allowed."]
    response = client.post("/accounts/login/", {"username": "owner", "password": "wrong", "junk": "\x00"})
    assert response.status_code == 200
    assert b"correct username and password" in response.content


def test_failed_attempts_keep_no_raw_address(client, operator):
    log_in(client, "/accounts/login/", "operator", "wrong", REMOTE_ADDR="203.0.113.9")
    log_in(client, "/accounts/login/", "operator", "wrong", REMOTE_ADDR="203.0.113.9")
    attempt = AccessAttempt.objects.get(username="operator")
    assert attempt.failures_since_start == 2  # one client, still counted together
    assert attempt.ip_address.startswith("fd") and "203.0.113.9" not in attempt.ip_address


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/"])
def test_an_overlong_user_name_is_a_form_error_and_never_reaches_the_throttle(client, operator, path):
    # axes records a failure's user name in a 255-character column: on PostgreSQL a longer one was a 500.
    response = log_in(client, path, "9" * 300, " ")
    assert response.status_code == 200
    assert b"at most 150 characters" in response.content
    assert not AccessAttempt.objects.exists()
