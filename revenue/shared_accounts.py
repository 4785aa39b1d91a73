"""One Stripe account connected to several sites: each imports every payment, and on all but the site
whose pages carry the view ids they stay unattributed. Found by the same key or by the same charges."""

from django.db.models import Q

from revenue.models import Payment, StripeConnection
from tracking.models import Site

# The newest charges are enough: two sites fed by one account share all of them.
_SAMPLE = 5


def sites_sharing_account(site: Site) -> list[Site]:
    """Other sites whose Stripe connection is the same key as ``site``'s, or whose imported charges
    include ``site``'s newest ones. Cheap: a handful of indexed lookups."""
    connection = StripeConnection.objects.filter(site=site).first()
    site_ids: set[int] = set()
    if connection is not None:
        same_hint = StripeConnection.objects.filter(key_hint=connection.key_hint).exclude(site=site)
        site_ids |= {other.site_id for other in same_hint if other.secret_key == connection.secret_key}
    newest = list(
        Payment.objects.filter(site=site)
        .order_by("-created_at")
        .values_list("stripe_id", flat=True)[:_SAMPLE]
    )
    if newest:
        connected = StripeConnection.objects.exclude(site=site).values("site_id")
        site_ids |= set(
            Payment.objects.filter(site_id__in=connected, stripe_id__in=newest).values_list(
                "site_id", flat=True
            )
        )
    return list(Site.objects.filter(pk__in=site_ids).order_by("name")) if site_ids else []


def shared_account_warning(site: Site, user) -> str | None:
    """What to tell ``user`` about ``site``: the other sites by name when they are the user's own, else
    only that some other site exists (another customer's site name is not ours to show)."""
    sites = sites_sharing_account(site)
    if not sites:
        return None
    mine = Site.objects.filter(Q(pk__in=[s.pk for s in sites]) & Q(memberships__user=user)).order_by("name")
    named = ", ".join(f"“{s.name}”" for s in mine)
    where = f"also connected to {named}" if named else "also connected to another site on this Humblytics"
    return (
        f"The Stripe account of {site.name} is {where}: every payment is imported into each, and on a site "
        "whose pages did not produce the payment it stays unattributed. Connect each site to the account "
        "that takes its payments (a restricted key per account), or disconnect the extra site."
    )
