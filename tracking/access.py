"""The one place that decides who may see a site: a member (web pages and the API with a session) or
the site's own API key (the API). Anyone else gets a 404, so a site id reveals nothing."""

import ipaddress
import time

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.throttling import SimpleRateThrottle

from humblytics.lib import ratelimit
from tracking import enrich
from tracking.apikeys import verify_api_key
from tracking.models import PUBLIC_ID_ALPHABET, PUBLIC_ID_LENGTH, ApiKey, Membership, Site


def _is_public_id(value: str) -> bool:
    """A site id as issued; anything else (a NUL, which PostgreSQL refuses in a query) is a 404 early."""
    return len(value) == PUBLIC_ID_LENGTH and all(char in PUBLIC_ID_ALPHABET for char in value)


def get_site_for_user(user, public_id: str, *, owner_only: bool = False) -> tuple[Site, Membership]:
    if not user.is_authenticated or not _is_public_id(public_id):
        raise Http404
    membership = (
        Membership.objects.select_related("site").filter(user=user, site__public_id=public_id).first()
    )
    if membership is None:
        raise Http404("No such site")
    if owner_only and not membership.is_owner:
        raise PermissionDenied("Only the site's owners can do this.")
    return membership.site, membership


def request_ip(request) -> str:
    """The client's address by the rule ingest uses (``TRUSTED_PROXY_COUNT``), for the log-in throttle."""
    return enrich.client_ip(
        request.META.get("REMOTE_ADDR", ""),
        request.META.get("HTTP_X_FORWARDED_FOR"),
        settings.TRUSTED_PROXY_COUNT,
    )


def login_client_key(request) -> str:
    """The log-in throttle's client "address": a unique-local IPv6 address made from a keyed digest of
    the real one. django-axes stores it with every failed attempt; this way no raw address is kept, and
    attempts from one client still count together."""
    digest = ratelimit.anonymous(request_ip(request))  # 24 hex digits
    return str(ipaddress.IPv6Address(int("fd" + digest.ljust(30, "0")[:30], 16)))


def sign_up_throttle_keys(request, view_kwargs) -> list[str]:
    """Sign-ups count per client address (keyed digest: no raw address in the cache)."""
    return [f"signup-ip:{ratelimit.anonymous(request_ip(request))}"]


def password_reset_throttle_keys(request, view_kwargs) -> list[str]:
    """Reset e-mails count per client address and per e-mail address, so nobody can flood one inbox."""
    email = request.POST.get("email", "").strip().lower()
    return [
        f"reset-ip:{ratelimit.anonymous(request_ip(request))}",
        f"reset-email:{ratelimit.anonymous(email)}",
    ]


class ApiKeyUser:
    """Who a bearer key acts as: the key itself, for exactly one site."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key
        self.pk = None

    def __str__(self) -> str:
        return f"api key {self.api_key.prefix}…"


class SiteKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION", "")
        if not header:
            return None
        scheme, _, key = header.partition(" ")
        if scheme.lower() != "bearer":
            return None
        row = verify_api_key(key.strip())
        if row is None:
            raise exceptions.AuthenticationFailed("Unknown or revoked API key.")
        return ApiKeyUser(row), row

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="humblytics"'


def api_site(request, site_id: str, *, write: bool = False) -> Site:
    """The site the caller may use: its own key's site, or a site the logged-in user belongs to."""
    if isinstance(request.auth, ApiKey):
        if request.auth.site.public_id != site_id:
            raise exceptions.PermissionDenied("This API key belongs to another site.")
        return request.auth.site
    user = request.user
    if user is None or not user.is_authenticated:
        raise exceptions.NotAuthenticated("Send Authorization: Bearer <site API key> or log in.")
    if not _is_public_id(site_id):
        raise Http404
    membership = Membership.objects.select_related("site").filter(user=user, site__public_id=site_id).first()
    if membership is None:
        raise Http404
    if write and not membership.is_owner:
        raise exceptions.PermissionDenied("Only the site's owners can change this.")
    return membership.site


class ApiKeyThrottle(SimpleRateThrottle):
    """``API_THROTTLE_RATE`` per key (or user, or address) in fixed windows of the rate's period.

    DRF's own throttle reads a list of timestamps, appends and writes it back, so concurrent requests
    each read the same list and all pass (640 of 640 with 600/min). Here each request is one atomic
    increment of a shared counter (``ratelimit.count``: Redis INCR, or LocMem under its lock).
    """

    scope = "api"

    def allow_request(self, request, view) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = time.time()
        return ratelimit.count(self.key, self.duration, self.now) <= self.num_requests

    def wait(self) -> float:
        return self.duration - self.now % self.duration

    def get_cache_key(self, request, view):
        if isinstance(request.auth, ApiKey):
            ident = f"key-{request.auth.pk}"
        elif request.user is not None and request.user.is_authenticated:
            ident = f"user-{request.user.pk}"
        else:
            ident = self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


class SiteKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "tracking.access.SiteKeyAuthentication"
    name = "siteApiKey"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A site API key (Settings → API)."}
