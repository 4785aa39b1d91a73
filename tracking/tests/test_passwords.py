import re

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured

from humblytics.lib.env import email_settings


@pytest.fixture(autouse=True)
def _fresh_counters():
    cache.clear()
    yield
    cache.clear()


def test_header_links_to_password_change(client_as_owner):
    assert 'href="/accounts/password_change/"' in client_as_owner.get("/").content.decode()


def test_password_change_requires_login(client, db):
    response = client.get("/accounts/password_change/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_owner_changes_password(client_as_owner, owner):
    response = client_as_owner.post(
        "/accounts/password_change/",
        {
            "old_password": "correct-horse-battery",
            "new_password1": "An0ther-long-phrase",
            "new_password2": "An0ther-long-phrase",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/password_change/done/"
    owner.refresh_from_db()
    assert owner.check_password("An0ther-long-phrase")


def test_wrong_old_password_is_said_plainly(client_as_owner, owner):
    response = client_as_owner.post(
        "/accounts/password_change/",
        {
            "old_password": "nope",
            "new_password1": "An0ther-long-phrase",
            "new_password2": "An0ther-long-phrase",
        },
    )
    assert response.status_code == 200
    assert "incorrectly" in response.content.decode()
    owner.refresh_from_db()
    assert owner.check_password("correct-horse-battery")


def test_reset_mails_a_link_that_sets_a_new_password(client, owner):
    assert "Forgot your password?" in client.get("/accounts/login/").content.decode()
    response = client.post("/accounts/password_reset/", {"email": "owner@example.com"})
    assert response["Location"] == "/accounts/password_reset/done/"
    assert len(mail.outbox) == 1
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
    form_page = client.get(link, follow=True)
    assert "Choose a new password" in form_page.content.decode()
    done = client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": "Reset-phrase-2026", "new_password2": "Reset-phrase-2026"},
    )
    assert done["Location"] == "/accounts/reset/done/"
    owner.refresh_from_db()
    assert owner.check_password("Reset-phrase-2026")
    assert "no longer works" in client.get(link, follow=True).content.decode()


def test_reset_for_an_unknown_address_sends_nothing_and_says_the_same(client, owner):
    response = client.post("/accounts/password_reset/", {"email": "nobody@example.com"})
    assert response["Location"] == "/accounts/password_reset/done/"
    assert mail.outbox == []


def test_reset_requests_are_throttled(client, owner, settings):
    settings.PASSWORD_RESETS_PER_HOUR = 2
    for _ in range(2):
        assert client.post("/accounts/password_reset/", {"email": "owner@example.com"}).status_code == 302
    response = client.post("/accounts/password_reset/", {"email": "owner@example.com"})
    assert response.status_code == 429
    assert "Retry-After" in response
    assert len(mail.outbox) == 2


def test_console_backend_by_default(settings):
    assert settings.EMAIL_BACKEND in (
        "django.core.mail.backends.console.EmailBackend",
        "django.core.mail.backends.locmem.EmailBackend",  # pytest-django's during tests
    )


def test_email_url_gives_smtp_settings():
    values = email_settings("smtp+tls://mailer:p%40ss@mail.example.com:2525")
    assert values == {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 2525,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "p@ss",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
    }
    assert email_settings("smtps://mail.example.com")["EMAIL_PORT"] == 465
    assert email_settings("console:")["EMAIL_BACKEND"].endswith("console.EmailBackend")


@pytest.mark.parametrize("url", ["http://mail.example.com", "smtp://", "smtp://mail.example.com:port"])
def test_email_url_nonsense_is_refused(url):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        email_settings(url)
