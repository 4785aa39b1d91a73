"""Site API keys: created once (the plaintext is shown only then), stored as a SHA-256, revocable."""

import datetime as dt
import hashlib
import secrets

from django.utils import timezone

from tracking.models import ApiKey, Site

KEY_PREFIX = "hmbl_"
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(site: Site, name: str, created_by=None) -> tuple[ApiKey, str]:
    """Returns the row and the plaintext key; the plaintext is not stored anywhere."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey.objects.create(
        site=site,
        name=name.strip() or "API key",
        prefix=key[:12],
        key_hash=hash_key(key),
        created_by=created_by,
    )
    return row, key


def verify_api_key(key: str, now: dt.datetime | None = None) -> ApiKey | None:
    """The active key row for ``key`` or None. Updates last-used at most once a minute."""
    if not key.startswith(KEY_PREFIX) or len(key) > 100:
        return None
    row = (
        ApiKey.objects.select_related("site").filter(key_hash=hash_key(key), revoked_at__isnull=True).first()
    )
    if row is None:
        return None
    now = now or timezone.now()
    if row.last_used_at is None or row.last_used_at < now - LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=row.pk).update(last_used_at=now)
        row.last_used_at = now
    return row


def revoke_api_key(row: ApiKey) -> None:
    if row.revoked_at is None:
        ApiKey.objects.filter(pk=row.pk).update(revoked_at=timezone.now())
