"""Data retention and deletion."""

import datetime as dt

from django.db import transaction

from tracking import ingest
from tracking.models import MAX_RETENTION_DAYS, CustomEvent, Site, View
from tracking.sitework import for_each_site


def apply_retention(now: dt.datetime) -> int:
    """Delete raw page views and custom events past each site's retention. Sessions (visits, with their
    source, country and device) and payments are kept, so visitor, session and revenue reports stay whole;
    page-level figures (page views, pages) and event goals before the cut-off are gone. Returns views and
    events deleted.
    Scheduled daily; idempotent. Site by site (``for_each_site``): one that fails stops no other."""
    days_by_site = dict(Site.objects.filter(retention_days__isnull=False).values_list("pk", "retention_days"))
    return for_each_site(
        "retention", days_by_site, lambda site_id: _apply_site_retention(site_id, days_by_site[site_id], now)
    )


def _apply_site_retention(site_id: int, days: int, now: dt.datetime) -> int:
    # A value stored before the bound existed counts as the bound (ten years), never as an overflow.
    cutoff = now - dt.timedelta(days=min(days, MAX_RETENTION_DAYS))
    views, _ = View.objects.filter(site_id=site_id, created_at__lt=cutoff).delete()
    custom_events, _ = CustomEvent.objects.filter(site_id=site_id, created_at__lt=cutoff).delete()
    return views + custom_events


def delete_site(site: Site) -> None:
    """Remove the site and everything it owns: views, visits, custom events, payments, its Stripe key
    (and with it the connection's cache and sync history), API keys and split tests. Sync is global
    (one schedule for all connections), so no per-site schedule remains; a queued "Sync now" finds no
    connection and does nothing."""
    public_id = site.public_id
    with transaction.atomic():
        # Lock the row first: on PostgreSQL every insert that references the site (a view, a session,
        # a payment) takes a key-share lock on it, so this waits for those in flight and holds off new
        # ones until the delete commits. Without it, rows inserted between the cascade's collection
        # and the final DELETE broke the foreign key and the deletion failed.
        Site.objects.select_for_update().filter(pk=site.pk).first()
        site.delete()
    ingest.forget_site(public_id)
