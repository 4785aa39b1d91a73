"""Data retention and deletion."""

import datetime as dt

from django.db import transaction

from tracking import ingest
from tracking.models import Site, View


def apply_retention(now: dt.datetime) -> int:
    """Delete raw page views past each site's retention. Sessions (visits, with their source,
    country and device) and payments are kept, so visitor, session and revenue reports stay whole;
    page-level figures (page views, pages) before the cut-off are gone. Returns views deleted.
    Scheduled daily; idempotent."""
    deleted = 0
    for site in Site.objects.filter(retention_days__isnull=False):
        cutoff = now - dt.timedelta(days=site.retention_days)
        count, _ = View.objects.filter(site=site, created_at__lt=cutoff).delete()
        deleted += count
    return deleted


def delete_site(site: Site) -> None:
    """Remove the site and everything it owns: views, visits, payments, its Stripe key (and with it
    the connection's cache and sync history), API keys and split tests. Sync is global (one schedule
    for all connections), so no per-site schedule remains; a queued "Sync now" finds no connection
    and does nothing."""
    public_id = site.public_id
    with transaction.atomic():
        site.delete()
    ingest.forget_site(public_id)
