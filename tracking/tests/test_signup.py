import pytest
from django.contrib.auth import get_user_model

from humblytics.lib.env import env_bool

SIGN_UP = {
    "username": "newbie",
    "email": "n@example.com",
    "password1": "Tr1cky-pass-phrase",
    "password2": "Tr1cky-pass-phrase",
}


def test_open_sign_up_is_linked_from_the_log_in_page(client, db, settings):
    settings.SIGNUP_OPEN = True
    assert 'href="/accounts/signup/"' in client.get("/accounts/login/").content.decode()
    assert client.post("/accounts/signup/", SIGN_UP).status_code == 302


def test_closed_sign_up_says_so_and_refuses_a_post(client, db, settings):
    settings.SIGNUP_OPEN = False
    page = client.get("/accounts/signup/")
    assert page.status_code == 200
    assert "Sign-up is closed" in page.content.decode()
    assert 'name="password1"' not in page.content.decode()
    response = client.post("/accounts/signup/", SIGN_UP)
    assert response.status_code == 403
    assert not get_user_model().objects.filter(username="newbie").exists()


def test_closed_sign_up_hides_the_links(client, db, settings):
    settings.SIGNUP_OPEN = False
    body = client.get("/accounts/login/").content.decode()
    assert "/accounts/signup/" not in body


@pytest.mark.parametrize("value, expected", [("false", False), ("true", True), ("0", False)])
def test_signup_open_is_read_from_the_environment(value, expected, monkeypatch):
    monkeypatch.setenv("SIGNUP_OPEN", value)
    assert env_bool("SIGNUP_OPEN", True) is expected
