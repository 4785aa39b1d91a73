"""The event API's request body (``POST /api/event``): a JSON object of at most 8 KiB whose fields are
checked strictly, each refusal a ``BadEvent`` with the message the 400 (or 413) answer carries."""

import json
import re
from urllib.parse import parse_qsl, urlsplit

MAX_BODY_BYTES = 8 * 1024
MAX_URL_LENGTH = 2048
MAX_PAGE_LENGTH = 500
SITE_ID_RE = re.compile(r"^[a-z0-9]{7}$")
VIEW_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
VARIANT_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class BadEvent(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.message = message
        self.status = status


def string(data: dict, key: str, *, required: bool, max_length: int) -> str:
    value = data.get(key)
    if value is None:
        if required:
            raise BadEvent(f"{key} is required")
        return ""
    if not isinstance(value, str):
        raise BadEvent(f"{key} must be a string")
    if len(value) > max_length:
        raise BadEvent(f"{key} is longer than {max_length} characters")
    if "\x00" in value:
        # PostgreSQL text cannot hold NUL: refuse it here rather than fail when storing.
        raise BadEvent(f"{key} must not contain NUL characters")
    return value


def json_object(body: bytes) -> dict:
    if len(body) > MAX_BODY_BYTES:
        raise BadEvent(f"body is larger than {MAX_BODY_BYTES} bytes", status=413)
    try:
        data = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadEvent("body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BadEvent(f"body is not valid JSON: {exc.msg}") from None
    except RecursionError:
        raise BadEvent("body is not valid JSON: nested too deeply") from None
    except ValueError:
        # Python refuses to convert an integer of more than 4,300 digits (a CPU guard): not a 500.
        raise BadEvent("body is not valid JSON: a number is too long") from None
    if not isinstance(data, dict):
        raise BadEvent("body must be a JSON object")
    if b"\\u" in body:
        _refuse_lone_surrogates(data)
    return data


def _refuse_lone_surrogates(data: dict) -> None:
    """A ``\\ud800`` escape decodes to a string that cannot be encoded as UTF-8, so it could never be
    stored (raw UTF-8 bodies cannot carry one: the decoder refuses it); refuse it anywhere, keys too."""
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BadEvent("body contains a lone surrogate (\\ud800-\\udfff) escape") from None


# Query values that enrichment keeps (UTM tags; ref/source stand in for utm_source).
_CAMPAIGN_KEYS = frozenset({"ref", "source"})


def refuse_nul_in_campaign_values(url: str, name: str) -> None:
    """Percent-decoded, ``%00`` becomes NUL, which PostgreSQL text cannot hold: refuse it up front."""
    if "%00" not in url:
        return
    try:
        query = urlsplit(url).query
    except ValueError:
        return
    for key, value in parse_qsl(query, keep_blank_values=True):
        key = key.strip().lower()
        if "\x00" in value and (key.startswith("utm_") or key in _CAMPAIGN_KEYS):
            raise BadEvent(f"{name} has a NUL character (%00) in its {key} value")


def page(url: str) -> tuple[str, str]:
    """(hostname, path) of an absolute http(s) page URL; the path is cut to ``MAX_PAGE_LENGTH``."""
    try:
        parts = urlsplit(url)
        hostname = parts.hostname or ""
    except ValueError:
        raise BadEvent("url is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise BadEvent("url must be an absolute http(s) URL")
    return hostname, (parts.path or "/")[:MAX_PAGE_LENGTH]


def screen_width(data: dict) -> int | None:
    screen_width = data.get("screen_width")
    if screen_width is not None and (
        isinstance(screen_width, bool)
        or not isinstance(screen_width, int)
        or not 0 <= screen_width <= 100_000
    ):
        raise BadEvent("screen_width must be an integer between 0 and 100000")
    return screen_width
