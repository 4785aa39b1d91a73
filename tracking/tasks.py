from django.utils import timezone

from tracking import visitors


def rotate_salts() -> int:
    """Scheduled hourly; idempotent. Deletes salts older than yesterday."""
    return visitors.rotate_salts(timezone.now())


def apply_retention() -> int:
    """Scheduled daily; idempotent."""
    from tracking import retention

    return retention.apply_retention(timezone.now())
