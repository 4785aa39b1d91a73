"""Typed environment readers that refuse nonsense at start-up."""

import os
from urllib.parse import parse_qsl, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip()


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, got {value!r}")


def env_int(name: str, default: int, minimum: int | None = None, maximum: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    try:
        number = int(value.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from None
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name} must be at most {maximum}, got {number}")
    return number


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return list(default or [])
    return [item.strip() for item in value.split(",") if item.strip()]


def check_production_secrets(values: dict[str, list[str]], published: dict[str, str]) -> None:
    """Refuse to start without DEBUG when a secret is missing or is the development value in the source.

    The development values are public (they are in settings.py), so a server using one has no secret.
    """
    missing = [name for name, given in values.items() if not given]
    if missing:
        raise ImproperlyConfigured(
            f"{' and '.join(missing)} must be set when DEBUG is off "
            "(see .env.example; generate a Fernet key with "
            "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`)"
        )
    for name, given in values.items():
        if published.get(name) in given:
            raise ImproperlyConfigured(
                f"{name} is the published development value from settings.py; with DEBUG off set your own "
                "secret (or set DEBUG=true for a local run)"
            )


_EMAIL_SCHEMES = {
    "smtp": (False, False),
    "smtp+tls": (True, False),
    "submission": (True, False),
    "smtps": (False, True),
}


def email_settings(url: str) -> dict[str, object]:
    """Django e-mail settings from ``EMAIL_URL``: ``console:``, ``smtp://user:password@host:25``,
    ``smtp+tls://…:587`` (STARTTLS, also ``?tls=true``) or ``smtps://…:465`` (implicit TLS).

    User and password are percent-decoded, so an ``@`` in a password is written ``%40``.
    """
    parsed = urlsplit(url.strip())
    scheme = parsed.scheme.lower()
    if scheme == "console":
        return {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}
    if scheme not in _EMAIL_SCHEMES:
        raise ImproperlyConfigured(
            f"EMAIL_URL must start with console:, smtp://, smtp+tls:// or smtps://, got {parsed.scheme!r}"
        )
    try:
        port = parsed.port
    except ValueError:
        raise ImproperlyConfigured("EMAIL_URL has a port that is not a number") from None
    if not parsed.hostname:
        raise ImproperlyConfigured(
            "EMAIL_URL must name the mail server, e.g. smtp://user:pass@mail.example.com:587"
        )
    use_tls, use_ssl = _EMAIL_SCHEMES[scheme]
    query = {key.lower(): value.lower() for key, value in parse_qsl(parsed.query)}
    use_tls = use_tls or query.get("tls") in _TRUE
    use_ssl = use_ssl or query.get("ssl") in _TRUE
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": parsed.hostname,
        "EMAIL_PORT": port or (465 if use_ssl else 587 if use_tls else 25),
        "EMAIL_HOST_USER": unquote(parsed.username or ""),
        "EMAIL_HOST_PASSWORD": unquote(parsed.password or ""),
        "EMAIL_USE_TLS": use_tls,
        "EMAIL_USE_SSL": use_ssl,
    }
