"""Security headers Django 5.2 does not set itself: a Content-Security-Policy for app pages."""

from django.conf import settings

# No inline script anywhere in the app: scripts load from our own origin only.
APP_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
# The tracker and the event endpoint are used from customers' sites: they must not carry app rules.
EXEMPT_PREFIXES = ("/hmbl.min.js", "/hmbl.auto.js", "/api/event", "/static/")


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith(EXEMPT_PREFIXES):
            return response
        response.setdefault(
            "Content-Security-Policy", getattr(settings, "CONTENT_SECURITY_POLICY", APP_POLICY)
        )
        response.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()"
        )
        return response
