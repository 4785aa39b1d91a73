from django.utils import timezone

from tracking import visitors


def rotate_salts() -> int:
    """Scheduled hourly; idempotent. Deletes salts older than yesterday."""
    return visitors.rotate_salts(timezone.now())


def apply_retention() -> int:
    """Scheduled daily; idempotent."""
    from tracking import retention

    return retention.apply_retention(timezone.now())


def roll_up_reports() -> int:
    """Scheduled every minute; idempotent, and a run finding a site claimed by another skips it."""
    from tracking import rollups

    return rollups.roll_up_all(timezone.now())
