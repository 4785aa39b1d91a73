from django.core.management.base import BaseCommand
from django_q.models import Schedule

from humblytics.schedules import schedules


class Command(BaseCommand):
    help = "Create or update the django-q2 schedules defined in humblytics/schedules.py."

    def handle(self, *args, **options):
        wanted = schedules()
        for spec in wanted:
            fields = {key: value for key, value in spec.items() if key != "name"}
            fields.setdefault("repeats", -1)
            _, created = Schedule.objects.update_or_create(name=spec["name"], defaults=fields)
            self.stdout.write(f"{'created' if created else 'updated'} {spec['name']} → {spec['func']}")
