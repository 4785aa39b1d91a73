"""Creating sites: one entry point for the web form, the command and the demo."""

from django.db import IntegrityError, transaction

from tracking.models import Membership, Site, new_public_id


def create_site(
    owner, *, name: str, domain: str, timezone: str = "UTC", retention_days: int | None = None
) -> Site:
    """Create a site owned by ``owner``; domain and timezone must already be validated."""
    for _ in range(10):
        try:
            with transaction.atomic():
                site = Site.objects.create(
                    public_id=new_public_id(),
                    name=name or domain,
                    domain=domain,
                    timezone=timezone,
                    retention_days=retention_days,
                )
                Membership.objects.create(user=owner, site=site, role=Membership.Role.OWNER)
                return site
        except IntegrityError:
            # A public id collision (36^7 ids) is rare but possible: draw again.
            continue
    raise RuntimeError("Could not allocate a unique site id")


def same_domain_site(user, domain: str, *, exclude: Site | None = None) -> Site | None:
    """One of ``user``'s sites that already has ``domain`` (two would split its visitors), if any."""
    sites = Site.objects.filter(memberships__user=user, domain=domain)
    if exclude is not None:
        sites = sites.exclude(pk=exclude.pk)
    return sites.first()
