"""How often Stripe keys may be checked. Saving a key makes this server call Stripe about ten times
(one per permission), so a new account could otherwise use it to test stolen keys without limit."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from tracking.access import get_site_for_user


def key_check_throttle_keys(request, view_kwargs) -> list[str]:
    """Counted per user and per site, and only for a POST that carries a key from one of the site's
    owners: anyone else is refused by the view before any check, and must not use up the site's count."""
    if not request.POST.get("secret_key") or not request.user.is_authenticated:
        return []
    try:
        site, _ = get_site_for_user(request.user, view_kwargs.get("site_id", ""), owner_only=True)
    except (Http404, PermissionDenied):
        return []
    return [f"stripe-key-check-user:{request.user.pk}", f"stripe-key-check-site:{site.pk}"]
