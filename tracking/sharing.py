"""Shared read-only dashboards: an unguessable token per link, stored hashed, revocable."""

import hashlib
import re
import secrets

from tracking.models import ShareLink, Site

# secrets.token_urlsafe(24): 32 URL-safe characters, 192 random bits.
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def create_share_link(site: Site, name: str, *, created_by) -> tuple[ShareLink, str]:
    """The new link and its token (shown once: only the hash is kept)."""
    token = secrets.token_urlsafe(24)
    row = ShareLink.objects.create(
        site=site, name=name, prefix=token[:6], token_hash=_hash(token), created_by=created_by
    )
    return row, token


def site_for_token(token: str) -> Site | None:
    """The site a live link shows; None for anything else (malformed, unknown or revoked)."""
    if not _TOKEN_RE.match(token):
        return None
    row = (
        ShareLink.objects.select_related("site")
        .filter(token_hash=_hash(token), revoked_at__isnull=True)
        .first()
    )
    return row.site if row is not None else None
