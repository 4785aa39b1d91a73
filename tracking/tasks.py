from django.utils import timezone

from tracking import events, rollups, visitors
from tracking.models import Site
from tracking.sitework import for_each_site


def rotate_salts() -> int:
    """Scheduled hourly; idempotent. Deletes salts older than yesterday."""
    return visitors.rotate_salts(timezone.now())


def link_custom_events() -> int:
    """Scheduled every minute; idempotent, bounded per run (``events.link_events``)."""
    return events.link_events(timezone.now())


def apply_retention() -> int:
    """Scheduled daily; idempotent."""
    from tracking import retention

    return retention.apply_retention(timezone.now())


def roll_up_reports() -> int:
    """Scheduled every minute; idempotent, and a run finding a site claimed by another skips it.
    Site by site: one site whose rollups fail stops no other's (``for_each_site``)."""
    now = timezone.now()
    site_ids = Site.objects.order_by("pk").values_list("pk", flat=True)
    return for_each_site("rollups", site_ids, lambda site_id: rollups.roll_up_site(site_id, now))
