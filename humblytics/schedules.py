"""Every django-q2 schedule, as data. ``manage.py sync_schedules`` applies them (idempotent)."""

from django.conf import settings
from django_q.models import Schedule


def schedules() -> list[dict]:
    return [
        {
            "name": "rotate-salts",
            "func": "tracking.tasks.rotate_salts",
            "schedule_type": Schedule.HOURLY,
        },
        {
            "name": "sync-stripe",
            "func": "revenue.tasks.sync_all_connections",
            "schedule_type": Schedule.MINUTES,
            "minutes": settings.STRIPE_SYNC_INTERVAL_MINUTES,
        },
        {
            "name": "apply-retention",
            "func": "tracking.tasks.apply_retention",
            "schedule_type": Schedule.DAILY,
        },
        {
            "name": "stop-expired-split-tests",
            "func": "splittests.tasks.stop_expired_tests",
            "schedule_type": Schedule.HOURLY,
        },
        {
            "name": "link-custom-events",
            "func": "tracking.tasks.link_custom_events",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
        },
        {
            "name": "roll-up-reports",
            "func": "tracking.tasks.roll_up_reports",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
        },
    ]
