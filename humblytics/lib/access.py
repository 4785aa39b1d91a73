"""The one place that decides whether a user may see a site: anyone else gets a 404."""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from tracking.models import Membership, Site


def get_site_for_user(user, public_id: str, *, owner_only: bool = False) -> tuple[Site, Membership]:
    if not user.is_authenticated:
        raise Http404
    membership = (
        Membership.objects.select_related("site").filter(user=user, site__public_id=public_id).first()
    )
    if membership is None:
        raise Http404("No such site")
    if owner_only and not membership.is_owner:
        raise PermissionDenied("Only the site's owners can do this.")
    return membership.site, membership
