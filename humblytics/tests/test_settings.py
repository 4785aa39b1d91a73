import os
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured

from humblytics.lib.env import env_bool, env_int, env_list, env_str


def test_env_bool_accepts_common_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert env_bool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "off")
    assert env_bool("FLAG", True) is False


def test_env_bool_rejects_nonsense(monkeypatch):
    monkeypatch.setenv("FLAG", "maybe")
    with pytest.raises(ImproperlyConfigured, match="FLAG must be true or false"):
        env_bool("FLAG", False)


def test_env_int_rejects_non_numbers_and_out_of_range(monkeypatch):
    monkeypatch.setenv("NUMBER", "five")
    with pytest.raises(ImproperlyConfigured, match="NUMBER must be an integer"):
        env_int("NUMBER", 1)
    monkeypatch.setenv("NUMBER", "0")
    with pytest.raises(ImproperlyConfigured, match="at least 1"):
        env_int("NUMBER", 1, minimum=1)
    monkeypatch.setenv("NUMBER", " 7 ")
    assert env_int("NUMBER", 1, minimum=1) == 7


def test_env_list_and_str_defaults(monkeypatch):
    monkeypatch.delenv("ITEMS", raising=False)
    assert env_list("ITEMS", ["a"]) == ["a"]
    monkeypatch.setenv("ITEMS", "a, b,,c ")
    assert env_list("ITEMS") == ["a", "b", "c"]
    monkeypatch.delenv("NAME", raising=False)
    assert env_str("NAME", "x") == "x"


DEV_SECRET_KEY = "dev-insecure-humblytics-secret-key-change-me"
DEV_FIELD_KEY = "ZGV2LW9ubHktaHVtYmx5dGljcy1maWVsZC1rZXktMDA="


def _load_settings(*, debug: str | None = "true", **env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with ``env`` (DEBUG on unless ``debug`` says otherwise)."""
    clean = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "FIELD_ENCRYPTION_KEYS"}}
    if debug is not None:
        clean["DEBUG"] = debug
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import humblytics.settings as s; print(s.DATABASES['default']['ENGINE'], 'DEBUG', s.DEBUG)",
        ],
        env=clean,
        cwd=django_settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_production_without_secrets_refuses_to_start():
    result = _load_settings(debug="false")
    assert result.returncode != 0
    assert "SECRET_KEY and FIELD_ENCRYPTION_KEYS must be set when DEBUG is off" in result.stderr


def test_debug_is_off_unless_set():
    result = _load_settings(debug=None)
    assert result.returncode != 0
    assert "SECRET_KEY and FIELD_ENCRYPTION_KEYS must be set when DEBUG is off" in result.stderr
    result = _load_settings(
        debug=None, SECRET_KEY="x" * 50, FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode()
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["DEBUG", "False"]


def test_production_with_secrets_starts():
    result = _load_settings(
        debug="false", SECRET_KEY="x" * 50, FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode()
    )
    assert result.returncode == 0, result.stderr


def test_production_refuses_the_published_development_secret_key():
    result = _load_settings(
        debug="false", SECRET_KEY=DEV_SECRET_KEY, FIELD_ENCRYPTION_KEYS=Fernet.generate_key().decode()
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is the published development value" in result.stderr


def test_production_refuses_the_published_development_encryption_key_even_as_an_old_key():
    keys = f"{Fernet.generate_key().decode()},{DEV_FIELD_KEY}"
    result = _load_settings(debug="false", SECRET_KEY="x" * 50, FIELD_ENCRYPTION_KEYS=keys)
    assert result.returncode != 0
    assert "ImproperlyConfigured: FIELD_ENCRYPTION_KEYS is the published development value" in result.stderr


def test_development_runs_with_the_published_keys():
    result = _load_settings(debug="true")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-2:] == ["DEBUG", "True"]


def test_invalid_encryption_key_is_rejected():
    result = _load_settings(FIELD_ENCRYPTION_KEYS="not-a-key")
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS entry 1 is not a valid Fernet key" in result.stderr


def test_bad_integer_setting_is_rejected():
    result = _load_settings(STRIPE_SYNC_INTERVAL_MINUTES="often")
    assert result.returncode != 0
    assert "STRIPE_SYNC_INTERVAL_MINUTES must be an integer" in result.stderr


def test_database_url_selects_postgresql():
    result = _load_settings(DATABASE_URL="postgres://u:p@db.example:5432/h")
    assert result.returncode == 0, result.stderr
    assert "postgresql" in result.stdout


def test_redis_url_selects_redis_broker(monkeypatch):
    code = "import humblytics.settings as s; print('redis' in s.Q_CLUSTER, 'orm' in s.Q_CLUSTER, s.Q_CLUSTER['max_attempts'])"
    env = dict(os.environ, REDIS_URL="redis://127.0.0.1:6379/0")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=django_settings.BASE_DIR, capture_output=True, text=True
    )
    assert result.stdout.split() == ["True", "False", "3"], result.stderr
