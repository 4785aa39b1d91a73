"""Cookie-free visitor ids.

A visitor hash is a keyed BLAKE2b over (site, IP, user agent) with a random salt that lives for one
UTC day. Salts older than yesterday are deleted, so once a day has passed nobody, including us, can
recompute which IP and browser a hash came from. The IP and user agent themselves are never stored.
"""

import datetime as dt
import hashlib
import secrets

from django.db import IntegrityError, transaction

from tracking.models import Salt

_cache: dict[dt.date, bytes] = {}


def salt_for(day: dt.date) -> bytes:
    """Today's (or yesterday's) salt, created on first use; safe under concurrent workers."""
    cached = _cache.get(day)
    if cached is not None:
        return cached
    salt = Salt.objects.filter(day=day).values_list("secret", flat=True).first()
    if salt is None:
        try:
            with transaction.atomic():
                salt = Salt.objects.create(day=day, secret=secrets.token_bytes(32)).secret
        except IntegrityError:
            # Another worker created it first: use theirs so both hash alike.
            salt = Salt.objects.get(day=day).secret
    salt = bytes(salt)
    if len(_cache) > 4:
        _cache.clear()
    _cache[day] = salt
    return salt


def visitor_hash(salt: bytes, site_id: int, ip: str, user_agent: str) -> str:
    digest = hashlib.blake2b(
        f"{site_id}\x00{ip}\x00{user_agent}".encode("utf-8", "surrogatepass"), key=salt, digest_size=16
    )
    return digest.hexdigest()


def visitor_hashes(now: dt.datetime, site_id: int, ip: str, user_agent: str) -> tuple[str, str]:
    """(today's hash, yesterday's hash) so a visit running over UTC midnight stays one session."""
    today = now.astimezone(dt.UTC).date()
    yesterday = today - dt.timedelta(days=1)
    return (
        visitor_hash(salt_for(today), site_id, ip, user_agent),
        visitor_hash(salt_for(yesterday), site_id, ip, user_agent),
    )


def rotate_salts(now: dt.datetime) -> int:
    """Ensure today's salt exists and delete every salt older than yesterday. Returns rows deleted."""
    today = now.astimezone(dt.UTC).date()
    salt_for(today)
    deleted, _ = Salt.objects.filter(day__lt=today - dt.timedelta(days=1)).delete()
    for day in list(_cache):
        if day < today - dt.timedelta(days=1):
            _cache.pop(day, None)
    return deleted
